"""How ``onnxgru check --onnx`` scales: wall time and peak memory as the steps grow 100 -> 10,000 and the hidden
size 64 -> 1,024, on a generated one-layer GRU (input 32 features, seeded weights), every installed runtime.

Each point is a fresh process (``--measure`` below) that runs the check and reports its own peak resident memory
and that of its largest child (the runtime probes); of two runs, the faster one's time counts. A point with one
step is the baseline: imports, runtimes, no data. Above it, time should grow linearly with the steps and memory
should stay at the size of the outputs: the report gives both against the size of one float32 output array
(batch x steps x hidden).

    python benchmarks/bench_scaling.py [--quick] [--batch 8] [--before-src DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from _common import ROOT, env, table

INPUT = 32
STEPS = (100, 1000, 10_000)  # at hidden 128
HIDDEN = (64, 256, 1024)  # at 200 steps
QUICK_STEPS, QUICK_HIDDEN = (20, 200), (16, 64)


@dataclass(frozen=True)
class Point:
    hidden: int
    steps: int
    batch: int
    seconds: float
    parent_mb: float  # peak resident memory of the check process
    child_mb: float  # of its largest child (a runtime probe)
    tree: str = "this tree"

    @property
    def output_mb(self) -> float:
        return self.batch * self.steps * self.hidden * 4 / 2**20


def write_model(path: Path, hidden: int) -> None:
    import onnx

    from onnxgru.core.spec import GRUAttrs, GRULayer
    from onnxgru.graph import build as onnx_build

    rng = np.random.default_rng(hidden)
    scale = 1 / np.sqrt(hidden)
    W, R, B = (rng.uniform(-scale, scale, s).astype(np.float32) for s in
               ((1, 3 * hidden, INPUT), (1, 3 * hidden, hidden), (1, 6 * hidden)))
    onnx.save(onnx_build.stack_model([GRULayer("gru", GRUAttrs(hidden, INPUT), W, R, B)]), str(path))


def measure(model: Path, hidden: int, steps: int, batch: int, pythonpath: str | None, tree: str) -> Point:
    args = ["check", "--onnx", str(model), "--steps", str(steps), "--batch", str(batch)]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--measure", *args], cwd=ROOT, env=env(pythonpath=pythonpath),
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"check {args} failed: {done.stderr.strip()[-1500:]}")
    peaks = json.loads(done.stdout.strip().splitlines()[-1])
    return Point(hidden, steps, batch, seconds, peaks["parent_mb"], peaks["child_mb"], tree)


def _measure_here(args: list[str]) -> None:
    """The child side: run the check in this process and print the peaks. Peaks are each process's own VmHWM:
    ``ru_maxrss`` would not do, as Linux carries a process's maximum across exec into the program it runs, so a child
    started by a big process reports that process's size."""
    from onnxgru.cli import main

    peaks: dict[int, int] = {}
    stop = threading.Event()

    def watch() -> None:  # VmHWM only grows: the last look before a child exits is its peak
        while not stop.wait(0.05):
            for pid in _descendants(os.getpid()):
                peaks[pid] = max(peaks.get(pid, 0), _hwm_kib(pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    stop.set()
    watcher.join()
    print(json.dumps({"code": code, "parent_mb": _hwm_kib(os.getpid()) / 1024,
                      "child_mb": max(peaks.values(), default=0) / 1024}))
    sys.exit(0 if code in (0, 1) else code)


def _hwm_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # it has just exited
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def points(quick: bool, batch: int, trees: dict[str, str | None], repeats: int = 2) -> list[Point]:
    steps, hiddens = (QUICK_STEPS, QUICK_HIDDEN) if quick else (STEPS, HIDDEN)
    at_hidden, at_steps = (hiddens[0], steps[0]) if quick else (128, 200)
    plan = [(hiddens[0], 1)] + [(at_hidden, t) for t in steps] + [(h, at_steps) for h in hiddens]
    out = []
    with tempfile.TemporaryDirectory(prefix="onnxgru-bench-") as tmp:
        models = {}
        for hidden, _ in plan:
            if hidden not in models:
                models[hidden] = Path(tmp) / f"gru_{hidden}.onnx"
                write_model(models[hidden], hidden)
        for hidden, t in dict.fromkeys(plan):
            for tree, pythonpath in trees.items():  # side by side: each point in every tree before the next
                runs = [measure(models[hidden], hidden, t, batch, pythonpath, tree) for _ in range(repeats)]
                fastest = min(runs, key=lambda r: r.seconds)  # the least disturbed run; memory does not vary
                out.append(replace(fastest, parent_mb=max(r.parent_mb for r in runs),
                                   child_mb=max(r.child_mb for r in runs)))
    return out


def render(result: list[Point], markdown: bool = False) -> str:
    base = {p.tree: p for p in result if p.steps == 1}
    lines = []
    for p in result:
        b = base[p.tree]
        extra_s = p.seconds - b.seconds
        sized = p is not b and p.output_mb >= 1  # below a MiB the ratios are page-size noise
        above, child_above = p.parent_mb - b.parent_mb, p.child_mb - b.child_mb
        lines.append([
            p.tree, f"{p.batch}x{p.steps}x{p.hidden}", f"{p.seconds:.1f} s",
            "baseline" if p is b else f"{extra_s:.1f} s", "" if p is b else f"{extra_s / p.steps * 1e6:.0f} us",
            f"{p.output_mb:.1f}", f"{p.parent_mb:.0f}" if p is b else f"{above:+.0f}",
            f"{above / p.output_mb:.1f}x" if sized else "", f"{p.child_mb:.0f}" if p is b else f"{child_above:+.0f}",
            f"{child_above / p.output_mb:.1f}x" if sized else "",
        ])
    headers = ["tree", "batch x steps x hidden", "wall", "above baseline", "per step", "output MiB",
               "check MiB (+above)", "/ output", "largest probe MiB (+above)", "/ output"]
    return table(headers, lines, markdown)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        return _measure_here(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2, help="runs per point: the fastest counts")
    p.add_argument("--before-src", default=None, help="also measure this onnxgru source tree, side by side")
    p.add_argument("--json", action="store_true", help="print the points as one JSON line (for run.py)")
    args = p.parse_args()
    trees: dict[str, str | None] = {"this tree": None}
    if args.before_src:
        trees["before"] = args.before_src
    result = points(args.quick, 2 if args.quick else args.batch, trees, 1 if args.quick else args.repeats)
    print(json.dumps([asdict(r) for r in result]) if args.json else render(result))


if __name__ == "__main__":
    main()
