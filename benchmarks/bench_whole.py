"""What the GRU taps cost a whole-model check: ``onnxgru check`` on the bundled tagger pair (a Keras tagger and its
exact PyTorch port: ids -> Embedding -> GRU -> Dense, exported and run in every installed runtime) with taps and
with ``--no-taps``, each a fresh process, interleaved, median of the rounds (target: taps <= 1.1x).

    python benchmarks/bench_whole.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys

from _common import ROOT, Command, Row, emit, env, interleaved, median

TAGGER = [ROOT / "models" / "tagger.keras", ROOT / "models" / "tagger_exact_port.pt"]


def rows(repeats: int) -> list[Row]:
    args = [sys.executable, "-m", "onnxgru", "check", "--tf", str(TAGGER[0]), "--torch", str(TAGGER[1]), "-q"]
    fns = {"taps": Command(args, env()), "no taps": Command([*args, "--no-taps"], env())}
    times = interleaved(fns, repeats)
    med = {k: median(v) for k, v in times.items()}
    cpu = {k: median(fn.cpu[1:]) for k, fn in fns.items()}  # the warm-up round left out
    note = f"CPU seconds {cpu['taps']:.1f} vs {cpu['no taps']:.1f} ({cpu['taps'] / cpu['no taps']:.2f}x)"
    return [Row("6 whole", "check tagger.keras + its exact port, taps", med["taps"], "the same with --no-taps",
                med["no taps"], 1.1, note)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true", help="(always on: one JSON line for run.py)")
    emit(rows(p.parse_args().repeats))


if __name__ == "__main__":
    main()
