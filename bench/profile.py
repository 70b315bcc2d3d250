"""Sampling profiles of the bench's runs (``python -m bench --profile DIR``), and their top frames.

py-spy samples a running process from outside (``py-spy record --pid``), so the measured code
runs unchanged: the consumer processes of the ingest runs (with their verification workers,
``--subprocesses``) and this process around the in-process measures (producer, verify, guard).
Each profile is written in py-spy's ``raw`` format (collapsed stacks: ``frame;frame;... N``)
and summarised here as the frames with the most samples, on their own (self) and with
everything they call (total).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

RATE = 200  # samples per second
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy executable beside this Python (the ``profile`` extra), or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Sampler:
    """``py-spy record`` attached to ``pid`` until :meth:`stop` (or until ``pid`` exits)."""

    def __init__(self, pid: int, out: Path, *, subprocesses: bool = False) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed: pip install -e '.[profile]'")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        command = [exe, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw"]
        command += ["--output", str(out), "--nonblocking"]
        if subprocesses:
            command.append("--subprocesses")
        command.append("--threads")
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        time.sleep(0.3)  # let it attach before the measured work starts

    def stop(self, timeout: float = 30.0) -> Path:
        """Stop sampling (if the process is still running) and wait for the file."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.out


@contextlib.contextmanager
def sampling(out: Path | None, *, pid: int | None = None) -> Iterator[None]:
    """Profile this process (or ``pid``) while the block runs; nothing when ``out`` is None."""
    if out is None:
        yield
        return
    sampler = Sampler(os.getpid() if pid is None else pid, out, subprocesses=True)
    try:
        yield
    finally:
        sampler.stop()


@dataclass(frozen=True)
class Frame:
    name: str  # "function (file)"
    self_share: float  # of all samples, with this frame on top
    total_share: float  # of all samples, with this frame anywhere on the stack


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    parts = Path(file).parts
    return f"{match['func']} ({'/'.join(parts[-2:])})"


def _is_idle(stack: list[str]) -> bool:
    """Samples of a thread that waits (py-spy records them only with --idle; be safe)."""
    return not stack or stack[-1].startswith(("wait (", "select (", "poll (", "_wait_for_tstate"))


def _role(frames: list[str]) -> str:
    """Whose sample: the sampled process itself, or one of the processes it started."""
    return "workers" if sum(f.startswith("process ") for f in frames) > 1 else "main"


def _is_main_thread(frames: list[str]) -> bool:
    return any("_run_module_as_main" in f or "<module>" in f for f in frames)


@dataclass
class Profile:
    """The busy samples of one profile, grouped by process role and thread."""

    samples: int = 0
    by_role: Counter[str] | None = None
    stacks: list[tuple[str, list[str], int]] | None = None  # (role, stack, count)

    def frames(self, role: str | None = None, limit: int = 12) -> tuple[int, list[Frame]]:
        """(samples of ``role``, its top frames by self share of those samples)."""
        own: Counter[str] = Counter()
        total: Counter[str] = Counter()
        samples = 0
        for r, stack, count in self.stacks or []:
            if role is not None and r != role:
                continue
            samples += count
            own[stack[-1]] += count
            for name in set(stack):
                total[name] += count
        return samples, [
            Frame(name, own[name] / samples, total[name] / samples)
            for name, _ in own.most_common(limit)
        ]


def _thread_id(frames: list[str]) -> str:
    return next((f for f in frames if f.startswith("thread (")), "")


def load(path: Path) -> Profile:
    """A py-spy raw profile (recorded with ``--threads``; ``--subprocesses`` optional).

    A process's main thread is the thread whose stacks reach its ``<module>`` (a sample's
    stack can be cut short, so it is told by thread id, not by each stack).
    """
    profile = Profile(0, Counter(), [])
    assert profile.by_role is not None and profile.stacks is not None
    lines = []
    main_threads: set[str] = set()
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        frames = stack_text.split(";")
        lines.append((frames, int(count_text)))
        if _is_main_thread(frames) and _thread_id(frames):
            main_threads.add(_thread_id(frames))
    for frames, count in lines:
        role = _role(frames)
        thread = _thread_id(frames)
        main_thread = thread in main_threads if thread else _is_main_thread(frames)
        if role == "main" and not main_thread:
            role = "main, other threads"
        stack = [_short(f) for f in frames if not f.startswith(("process ", "thread ("))]
        if _is_idle(stack):
            continue
        profile.samples += count
        profile.by_role[role] += count
        profile.stacks.append((role, stack, count))
    return profile


def top_frames(path: Path, limit: int = 12) -> tuple[int, list[Frame]]:
    """(busy samples, top frames by self share) of a raw profile, all processes together."""
    return load(path).frames(None, limit)


def summary(path: Path, limit: int = 12) -> dict[str, object]:
    profile = load(path)
    out: dict[str, object] = {"file": str(path), "samples": profile.samples}
    for role in sorted(profile.by_role or {}):
        samples, frames = profile.frames(role, limit)
        out[role] = {
            "samples": samples,
            "top": [(f.name, round(f.self_share, 4), round(f.total_share, 4)) for f in frames],
        }
    return out


def render(name: str, path: Path, limit: int = 12) -> str:
    """Markdown: each process role's share of the busy samples and its top frames."""
    profile = load(path)
    lines = [f"### {name}: {profile.samples:,} busy samples", ""]
    for role, count in (profile.by_role or Counter()).most_common():
        _, frames = profile.frames(role, limit)
        lines += [
            f"{role}: {count / max(profile.samples, 1):.0%} of the samples",
            "",
            "| self | total | frame |",
            "|---|---|---|",
        ]
        lines += [f"| {f.self_share:.1%} | {f.total_share:.1%} | `{f.name}` |" for f in frames]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.profile FILE...``: print each profile's top frames."""
    args = sys.argv[1:] if argv is None else argv
    for arg in args:
        sys.stdout.write(render(Path(arg).name, Path(arg)) + "\n\n")


if __name__ == "__main__":
    main()
