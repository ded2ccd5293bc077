"""What every benchmark section shares: interleaved timing, a row of the ratio table, the tables as text or Markdown.

Absolute times on a shared machine are noise; a ratio of two things measured side by side, interleaved (A, B, A, B,
...), in one run, is not: the noise hits both alike. Every figure the benchmarks report is such a ratio of medians.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# TensorFlow reads these once, at import: the legacy Keras that TF1 cells need, and no C++ log lines.
TF_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


@dataclass(frozen=True)
class Row:
    """One line of the ratio table: ``value`` measured side by side with ``reference``; ``ratio`` = value / ref."""

    section: str
    case: str
    value: float  # seconds
    reference_name: str
    reference: float  # seconds
    target: float | None = None  # the ratio to stay within, when the issue sets one
    note: str = ""
    stat: str = "median"  # of the interleaved rounds: "median" (wall times of commands) or "min" (calls in-process)

    @property
    def ratio(self) -> float:
        return self.value / self.reference if self.reference > 0 else float("inf")

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return f"<= {self.target:g}x " + ("met" if self.ratio <= self.target else "MISSED")


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Call every function ``repeats`` times, round-robin, after ``warmup`` untimed rounds; seconds per call."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def best(values: Sequence[float]) -> float:
    """The least disturbed of the rounds: for calls inside one process on a shared machine, where another process
    taking a core for a moment stalls a multi-threaded kernel, the minimum is the figure that repeats."""
    return min(values)


def env(extra: dict[str, str] | None = None, pythonpath: str | None = None) -> dict[str, str]:
    """The environment a timed command runs in: this one, TensorFlow quiet, optionally another onnxgru source tree.
    Bytecode caching stays on (an installed package has its .pyc files; a source tree gets them in the warm-up)."""
    out = {**os.environ, **TF_ENV, **(extra or {})}
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    if pythonpath:
        out["PYTHONPATH"] = pythonpath + (os.pathsep + out["PYTHONPATH"] if out.get("PYTHONPATH") else "")
    return out


class Command:
    """Runs ``args`` to completion (output discarded) when called, and fails loudly if it cannot run at all.
    ``cpu`` collects each run's CPU seconds (user + system) of the whole process tree, children it waited for
    included: on a busy machine that is the work a command makes, where wall time is also everyone else's."""

    def __init__(self, args: Sequence[str], environment: dict[str, str], cwd: Path = ROOT,
                 ok: tuple[int, ...] = (0, 1)) -> None:
        self.args, self.environment, self.cwd, self.ok = list(args), environment, cwd, ok
        self.cpu: list[float] = []

    def __call__(self) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            self.args, cwd=self.cwd, env=self.environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode not in self.ok:  # by default 1 is a failed verdict: the command still did its work
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{' '.join(self.args)} exited with {done.returncode}: {' | '.join(tail)}")


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def worker(script: str, args: Sequence[str]) -> list[dict]:
    """Run a section's script in its own process (TensorFlow and torch never share one) and read its JSON rows."""
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args, "--json"], cwd=ROOT, env=env(), stdin=subprocess.DEVNULL,
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def emit(rows: Sequence[Row | dict]) -> None:
    """A worker's result: one JSON line, last on stdout."""
    print(json.dumps([asdict(r) if isinstance(r, Row) else r for r in rows]))


def seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} us"


def table(headers: Sequence[str], lines: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(c[i]) for c in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in lines]
    return "\n".join(line.rstrip() for line in out)


def ratio_table(rows: Sequence[Row], markdown: bool = False) -> str:
    headers = ["section", "case", "time", "side by side with", "its time", "ratio", "target"]
    lines = [
        [r.section, r.case + (f" ({r.note})" if r.note else ""), f"{seconds(r.value)} {r.stat}", r.reference_name,
         seconds(r.reference), f"{r.ratio:.2f}x", r.verdict]
        for r in rows
    ]
    return table(headers, lines, markdown)
