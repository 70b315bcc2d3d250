"""The emitting SDK stays valid on Python 3.10 (Nuke 15's embedded Python).

No Python 3.10 interpreter is reachable here, so the guarantee is static: ``make lint`` runs
``mypy --python-version 3.10 -p producers`` (which follows every import into ``ledger/``) and
ruff checks the modules listed under ``[tool.ruff.per-file-target-version]`` as py310.  This
test keeps that list equal to what ``producers/`` really imports, so a new import cannot slip
past the 3.10 checks.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).parents[2]
FIRST_PARTY = ("ledger", "producers", "schemas", "consumers", "cli")

PROBE = """
import importlib, pkgutil, sys
import producers
for info in pkgutil.walk_packages(producers.__path__, "producers."):
    importlib.import_module(info.name)
first = {FIRST_PARTY!r}
for name, module in sorted(sys.modules.items()):
    if name.split(".")[0] in first and getattr(module, "__file__", None):
        print(module.__file__)
"""


def _imported_files() -> set[str]:
    """Every first-party module file that importing all of ``producers/`` loads."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.replace("{FIRST_PARTY!r}", repr(FIRST_PARTY))],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    return {Path(line).resolve().relative_to(REPO).as_posix() for line in out.split()}


def _declared_py310() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    targets = config["tool"]["ruff"]["per-file-target-version"]
    return [glob for glob, version in targets.items() if version == "py310"]


def test_every_module_producers_imports_is_checked_as_python_310() -> None:
    globs = _declared_py310()
    undeclared = sorted(
        f for f in _imported_files() if not any(fnmatch.fnmatch(f, g) for g in globs)
    )
    assert not undeclared, (
        "producers/ imports these modules, which must stay valid on Python 3.10: add them to"
        f" [tool.ruff.per-file-target-version] as py310 in pyproject.toml: {undeclared}"
    )


def test_the_3_10_type_check_is_part_of_make_lint() -> None:
    lint = (REPO / "Makefile").read_text().split("\nlint:")[1].split("\n\n")[0]
    assert "mypy --python-version 3.10 -p producers" in lint
