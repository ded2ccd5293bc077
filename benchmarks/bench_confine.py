"""What the confinement costs a check: ``onnxgru check --tf`` (the bundled TF1 GRU) and ``check --torch`` (its exact
port) in the Landlock-confined child the command line uses, and the same with ``ONNXGRU_NO_LANDLOCK=1`` (loaded and
run in the command's own process), each a fresh process, interleaved, median of the rounds (target <= 1.05x).

    python benchmarks/bench_confine.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys

from _common import ROOT, Command, Row, emit, env, interleaved, median

SOURCES = {"tf": ROOT / "models" / "blog_gru_cell.pb", "torch": ROOT / "models" / "blog_exact_port.pt"}


def rows(repeats: int) -> list[Row]:
    out = []
    for i, (flag, path) in enumerate(SOURCES.items()):
        args = [sys.executable, "-m", "onnxgru", "check", f"--{flag}", str(path), "-q"]
        fns = {"confined": Command(args, env()), "not": Command(args, env({"ONNXGRU_NO_LANDLOCK": "1"}))}
        times = interleaved(fns, repeats)
        med = {k: median(v) for k, v in times.items()}
        cpu = {k: median(fn.cpu[1:] or fn.cpu) for k, fn in fns.items()}
        note = f"CPU seconds {cpu['confined']:.1f} vs {cpu['not']:.1f}"
        out.append(Row(f"8 confine {i + 1}", f"check --{flag} {path.name}, confined (Landlock)", med["confined"],
                       "the same unconfined (ONNXGRU_NO_LANDLOCK=1)", med["not"], 1.05, note))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true", help="(always on: one JSON line for run.py)")
    emit(rows(p.parse_args().repeats))


if __name__ == "__main__":
    main()
