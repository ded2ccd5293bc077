"""What a command costs a user: ``onnxgru compare`` and ``onnxgru check`` wall time next to the floor of importing
what they need, each a fresh process, interleaved (command, floor, command, floor, ...), median of the rounds.

    python benchmarks/bench_startup.py [--sections compare,check] [--repeats 3] [--before-src DIR]

``--before-src DIR`` also times the same commands with ``PYTHONPATH=DIR`` (another onnxgru source tree, e.g. a copy
of ``src`` before a change), interleaved with the rest, so a before/after figure is measured side by side too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import ROOT, Command, Row, emit, env, interleaved, median, python, ratio_table

BLOG = ROOT / "models" / "blog_gru_cell.pb"
COMPARE_FLOOR = "import numpy, onnx, onnxruntime"
# What `check --tf` on a TF1 graph imports (tf2onnx's converter lives in tf2onnx.convert, loaded on first use).
CHECK_NEEDS = ["tensorflow", "tf_keras", "tf2onnx.convert", "onnxruntime"]
# The issue's floor adds torch, which `check --tf` does not import.
CHECK_FLOOR_ISSUE = "import " + ", ".join([*CHECK_NEEDS[:3], "torch", CHECK_NEEDS[3]])
CHECK_FLOOR = "import " + ", ".join(CHECK_NEEDS)


def onnx_pair(folder: Path) -> tuple[str, str]:
    """Two ONNX GRUs to compare: the same architecture, weights a little apart (so every stage of compare works)."""
    import onnx

    from onnxgru.core.spec import GRUAttrs, GRULayer
    from onnxgru.graph import build as onnx_build

    rng = np.random.default_rng(0)
    attrs = GRUAttrs(hidden_size=16, input_size=8)
    W, R, B = (rng.normal(0, 0.5, s).astype(np.float32) for s in ((1, 48, 8), (1, 48, 16), (1, 96)))
    paths = []
    for i, r in enumerate((R, R + 1e-3)):
        path = folder / f"gru_{i}.onnx"
        onnx.save(onnx_build.stack_model([GRULayer("gru", attrs, W, r, B)]), str(path))
        paths.append(str(path))
    return paths[0], paths[1]


def compare_rows(repeats: int, before_src: str | None) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="onnxgru-bench-") as tmp:
        a, b = onnx_pair(Path(tmp))
        args = [sys.executable, "-m", "onnxgru", "compare", a, b]
        fns = {"compare": Command(args, env()), "floor": Command(python(COMPARE_FLOOR), env())}
        if before_src:
            fns["before"] = Command(args, env(pythonpath=before_src))
        times = interleaved(fns, repeats)
    med = {k: median(v) for k, v in times.items()}
    rows = [Row("1 compare", "onnxgru compare a.onnx b.onnx", med["compare"], COMPARE_FLOOR, med["floor"], 1.2)]
    if before_src:
        rows.append(Row("1 compare", "compare, this tree vs before", med["compare"], "before", med["before"]))
    return rows


def check_rows(repeats: int, before_src: str | None) -> list[Row]:
    args = [sys.executable, "-m", "onnxgru", "check", "--tf", str(BLOG)]
    fns = {
        "check": Command(args, env()),
        "floor": Command(python(CHECK_FLOOR), env()),
        "floor+torch": Command(python(CHECK_FLOOR_ISSUE), env()),
    }
    if before_src:
        fns["before"] = Command(args, env(pythonpath=before_src))
    times = interleaved(fns, repeats)
    med = {k: median(v) for k, v in times.items()}
    cpu = {k: median(f.cpu[-repeats:]) for k, f in fns.items()}  # the timed rounds, not the warm-up
    case = f"onnxgru check --tf {BLOG.name}"
    rows = [
        Row("2 check", case, med["check"], CHECK_FLOOR_ISSUE, med["floor+torch"], 1.3, "issue's floor"),
        Row("2 check", case, med["check"], CHECK_FLOOR, med["floor"], 1.3, "what it imports"),
        Row("2 check", case, cpu["check"], CHECK_FLOOR, cpu["floor"], note="CPU time", stat="median cpu"),
    ]
    if before_src:
        rows.append(Row("2 check", "check before the changes", med["before"], CHECK_FLOOR, med["floor"]))
        rows.append(Row("2 check", "check, this tree vs before", med["check"], "before", med["before"]))
        rows.append(Row("2 check", "check, this tree vs before", cpu["check"], "before", cpu["before"],
                        note="CPU time", stat="median cpu"))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sections", default="compare,check")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--before-src", default=None)
    p.add_argument("--json", action="store_true", help="print the rows as one JSON line (for run.py)")
    args = p.parse_args()
    rows: list[Row] = []
    sections = args.sections.split(",")
    if "compare" in sections:
        rows += compare_rows(max(args.repeats, 3), args.before_src)
    if "check" in sections:
        rows += check_rows(args.repeats, args.before_src)
    emit(rows) if args.json else print(ratio_table(rows))


if __name__ == "__main__":
    main()
