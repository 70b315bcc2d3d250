"""The package layout: no import circle, and data flows one way (the library imports no app).

A static check: every module's ``import`` statements (also those inside functions and under
``TYPE_CHECKING``, which are dependencies all the same) become edges of a graph over the
project's modules, and that graph must have no cycle.  Importing every module in every order
would be far slower and would still miss a circle hidden behind a function-level import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ledger", "schemas", "producers", "consumers", "cli", "portal", "demo", "bench")
# What each package must never import: data flows producers → Kafka → consumers → ledger →
# cli and portal.
FORBIDDEN = {
    "ledger": ("producers", "consumers", "cli", "portal", "demo", "bench"),
    "schemas": ("ledger", "producers", "consumers", "cli", "portal", "demo", "bench"),
    "producers": ("consumers", "cli", "portal", "demo", "bench"),
    "consumers": ("producers", "cli", "portal", "demo", "bench"),
    "portal": ("producers", "consumers", "cli", "demo", "bench"),
    "demo": ("consumers", "cli", "portal", "bench"),
}
ROOMS = (
    "ledger.events",
    "ledger.trust",
    "ledger.log",
    "ledger.store",
    "ledger.index",
    "ledger.witness",
    "ledger.audit",
    "ledger.c2pa",
    "ledger.reports",
    "ledger.packet",
)
# Which rooms of ledger/ each room may import (docs/layout.md has the same table).
ROOM_MAY_IMPORT = {
    "ledger.events": ("ledger.errors", "schemas"),
    "ledger.store": ("ledger.errors", "ledger.events", "ledger.log.merkle"),
    "ledger.trust": ("ledger.errors", "ledger.events", "ledger.store"),
    "ledger.log": (
        "ledger.errors",
        "ledger.events",
        "ledger.trust",
        "ledger.store",
        # the checkpointer extends the index and verify replays it (docs/layout.md)
        "ledger.index.maintain",
        "ledger.index.replay",
    ),
    "ledger.index": (
        "ledger.errors",
        "ledger.events",
        "ledger.trust",
        "ledger.store",
        "ledger.log",
        # proofs about a key check the witnesses' cosignatures on their checkpoint
        "ledger.witness.cosignature",
    ),
    "ledger.witness": (
        "ledger.errors",
        "ledger.events",
        "ledger.trust",
        "ledger.store",
        "ledger.log",
    ),
    "ledger.audit": (
        "ledger.errors",
        "ledger.events",
        "ledger.trust",
        "ledger.store",
        "ledger.log",
        "ledger.index",
        "ledger.witness",
    ),
    "ledger.c2pa": (
        "ledger.errors",
        "ledger.events",
        "ledger.trust",
        "ledger.store",
        "ledger.log",
        "ledger.audit",
    ),
    "ledger.reports": (
        "ledger.errors",
        "ledger.events",
        "ledger.trust",
        "ledger.store",
        "ledger.log",
        "ledger.index",
        "ledger.witness",
        "ledger.audit",
    ),
    "ledger.packet": ("ledger",),
    "demo": ("ledger.errors",),
}

Graph = dict[str, set[str]]


def module_files(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of ``packages`` under ``root``."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _imported_names(module: str, path: Path, tree: ast.AST) -> Iterable[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(modules: Mapping[str, Path]) -> Graph:
    """Edges from each module to the project modules it imports.

    ``from P import m`` is an edge to P (its ``__init__`` runs) and, when m is a module, to P.m.
    """
    graph: Graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        graph[module] = {
            name for name in _imported_names(module, path, tree) if name in modules
        } - {module}
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def forbidden_imports(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """``importer -> imported`` for every import that goes against the flow of data."""
    return [
        f"{module} -> {target}"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if target.split(".")[0] in FORBIDDEN.get(module.split(".")[0], ())
    ]


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph(module_files(ROOT))


def test_the_project_has_no_import_circle(graph: Graph) -> None:
    assert len(graph) > 50, sorted(graph)  # the walk found the packages
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_data_flows_one_way(graph: Graph) -> None:
    assert forbidden_imports(graph) == []


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def room_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """``importer -> imported`` for every import a room's row of ROOM_MAY_IMPORT does not allow."""
    found = []
    for module, targets in sorted(graph.items()):
        room = next((r for r in ROOM_MAY_IMPORT if _within(module, [r])), None)
        if room is None:
            continue
        allowed = (room, *ROOM_MAY_IMPORT[room])
        project = [t for t in sorted(targets) if t.split(".")[0] in PACKAGES]
        found += [f"{module} -> {t}" for t in project if not _within(t, allowed) and t != "ledger"]
    return found


def test_rooms_import_only_the_rooms_below_them(graph: Graph) -> None:
    assert room_violations(graph) == []


def test_each_room_says_what_it_is_for() -> None:
    for room in (*ROOMS, "demo"):
        init = ROOT / room.replace(".", "/") / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert doc and "\n" not in doc.strip(), f"{init}: want a one-line docstring, got {doc!r}"


def test_the_ledger_has_no_loose_modules_but_its_errors() -> None:
    loose = sorted(p.name for p in (ROOT / "ledger").glob("*.py"))
    assert loose == ["__init__.py", "errors.py"]


# --- the checks themselves can fail ---------------------------------------------------------


def test_find_cycle_reports_a_circle_and_accepts_a_chain() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_graph_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "__init__.py").write_text("")
    (tmp_path / "ledger" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ledger.b import B\n"
    )
    (tmp_path / "ledger" / "b.py").write_text("def f():\n    from ledger import a\n")
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "__init__.py").write_text("")
    (tmp_path / "ledger" / "c.py").write_text("from . import b\nimport cli\n")
    graph = import_graph(module_files(tmp_path, ("ledger", "cli")))
    assert graph["ledger.a"] == {"ledger.b"}
    assert "ledger.a" in graph["ledger.b"]
    assert graph["ledger.c"] >= {"ledger.b", "cli"}
    assert find_cycle(graph) == ["ledger.a", "ledger.b", "ledger.a"]
    assert forbidden_imports(graph) == ["ledger.c -> cli"]


def test_room_violations_names_an_import_from_a_room_above() -> None:
    graph = {
        "ledger.events.base": {"ledger.errors", "ledger.trust.keys"},
        "ledger.store.base": {"ledger.log.merkle", "ledger.log.verify"},
        "ledger.trust.keys": {"ledger.errors", "cryptography"},
    }
    assert room_violations(graph) == [
        "ledger.events.base -> ledger.trust.keys",
        "ledger.store.base -> ledger.log.verify",
    ]
