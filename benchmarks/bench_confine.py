"""What the confinement costs a check: ``onnxgru check --tf`` (the bundled TF1 GRU) and ``check --torch`` (its exact
port) in the Landlock-confined child the command line uses, and the same run unconfined in the command's own process
(``cli.main(argv, confined=False)``: no fork, no Landlock), each a fresh process, interleaved, median of the
rounds (target <= 1.05x).

    python benchmarks/bench_confine.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys

from _common import ROOT, Command, Row, emit, env, interleaved, median

# the confined child ends with os._exit (no interpreter clean-up, 1-2 s after TensorFlow): so does this arm, so that
# the ratio is what the fork, Landlock and the child's answer cost
_UNCONFINED = ("import os, sys; from onnxgru.cli import main; code = main(sys.argv[1:], confined=False); "
               "sys.stdout.flush(); sys.stderr.flush(); os._exit(code)")
SOURCES = {"tf": ROOT / "models" / "blog_gru_cell.pb", "torch": ROOT / "models" / "blog_exact_port.pt"}


def rows(repeats: int) -> list[Row]:
    out = []
    for i, (flag, path) in enumerate(SOURCES.items()):
        argv = ["check", f"--{flag}", str(path), "-q"]
        fns = {"confined": Command([sys.executable, "-m", "onnxgru", *argv], env()),
               "not": Command([sys.executable, "-c", _UNCONFINED, *argv], env())}
        times = interleaved(fns, repeats)
        med = {k: median(v) for k, v in times.items()}
        cpu = {k: median(fn.cpu[1:] or fn.cpu) for k, fn in fns.items()}
        note = f"CPU seconds {cpu['confined']:.1f} vs {cpu['not']:.1f}"
        out.append(Row(f"8 confine {i + 1}", f"check --{flag} {path.name}, confined (Landlock)", med["confined"],
                       "the same in the command's own process", med["not"], 1.05, note))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true", help="(always on: one JSON line for run.py)")
    emit(rows(p.parse_args().repeats))


if __name__ == "__main__":
    main()
