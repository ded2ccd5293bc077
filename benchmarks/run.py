"""``make bench``: what onnxgru costs a user and how fast the GRUs it writes run, as ratios measured side by side.

Sections (each in its own processes, so TensorFlow and torch never share one):
  compare   ``onnxgru compare`` of two ONNX files vs importing numpy, onnx and onnxruntime   (target <= 1.2x)
  check     ``onnxgru check --tf`` on the bundled TF1 GRU vs importing what it needs          (target <= 1.3x)
  latency   the exported TF GRU in ONNX Runtime: onnxgru's fused export vs tf2onnx's default vs TensorFlow
  exact     the exact reset-before PyTorch module vs nn.GRU on CPU                           (target <= 1.5x)
  scaling   ``check --onnx`` time and peak memory as steps and hidden size grow
  whole     ``check`` of the bundled tagger pair with GRU taps vs ``--no-taps``                (target <= 1.1x)
  zoo       each zoo model's first ``check`` vs its sources loaded and run once natively       (target <= 2x)
  confine   ``check --tf`` and ``check --torch`` confined by Landlock vs unconfined            (target <= 1.05x)

    python benchmarks/run.py [--sections compare,check,latency,exact,scaling,whole,zoo,confine] [--quick] [--markdown]
                             [--repeats N] [--before-src DIR]

``--quick`` runs tiny sizes and one round (a smoke test, not a measurement). ``--markdown`` prints the tables and
the machine for BENCHMARKS.md. ``--before-src DIR`` also times another onnxgru source tree (e.g. a copy of ``src``
before a change) side by side in the compare, check and scaling sections.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from importlib import metadata

from _common import Row, ratio_table, worker

SECTIONS = ("compare", "check", "latency", "exact", "scaling", "whole", "zoo", "confine")
QUICK_SIZES = "1x20x16,4x30x32"
PACKAGES = ("onnxgru", "numpy", "onnx", "onnxruntime", "openvino", "tract", "tensorflow", "tf_keras", "tf2onnx",
            "torch")


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
                     platform.processor())
    except OSError:
        model = platform.processor() or "unknown CPU"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{model}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}; load average {load}"


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name.replace('_', '-'))}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return f"Python {platform.python_version()}; " + ", ".join(found)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one round: a smoke test, not a measurement")
    p.add_argument("--repeats", type=int, default=None, help="rounds per measurement (default: per section)")
    p.add_argument("--markdown", action="store_true", help="Markdown tables and the machine, for BENCHMARKS.md")
    p.add_argument("--before-src", default=None, help="another onnxgru source tree to time side by side")
    args = p.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        p.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")

    def repeats(default: int, quick: int = 1) -> list[str]:
        return ["--repeats", str(args.repeats or (quick if args.quick else default))]

    before = ["--before-src", args.before_src] if args.before_src else []
    started = time.perf_counter()
    print(f"machine: {machine()}\nversions: {versions()}\n", flush=True)
    rows: list[Row] = []
    scaling = None
    for section in sections:
        print(f"running {section} ...", file=sys.stderr, flush=True)
        if section in ("compare", "check"):
            n = repeats(7 if section == "compare" else 5, 2 if section == "compare" else 1)
            found = worker("bench_startup.py", ["--sections", section, *n, *before])
        elif section == "latency":
            found = worker("bench_latency.py", [*repeats(9, 3), *(["--sizes", QUICK_SIZES] if args.quick else [])])
        elif section == "whole":
            found = worker("bench_whole.py", repeats(5, 1))
        elif section == "confine":
            found = worker("bench_confine.py", repeats(5, 1))
        elif section == "zoo":  # quick: one small model (the zoo's whole run takes minutes a round)
            only = ["--only", "torch_seq2seq_tutorial"] if args.quick else []
            found = worker("bench_zoo.py", [*repeats(1, 1), *only])
        elif section == "exact":
            found = worker("bench_exact_module.py", [*repeats(9, 3),
                                                     *(["--sizes", QUICK_SIZES] if args.quick else [])])
        else:
            from bench_scaling import Point

            found = []
            scaling = [Point(**p) for p in worker("bench_scaling.py", [*(["--quick"] if args.quick else []),
                                                                        *before])]
        rows += [Row(**r) for r in found]
    if rows:
        print(ratio_table(rows, args.markdown))
    if scaling:
        from bench_scaling import render

        print("\ncheck --onnx scaling (peak resident memory; 'above' = above the one-step baseline run)")
        print(render(scaling, args.markdown))
    print(f"\n{len(rows)} ratios in {time.perf_counter() - started:.0f} s"
          + (" (quick: tiny sizes, not a measurement)" if args.quick else ""))


if __name__ == "__main__":
    main()
