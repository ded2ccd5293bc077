"""What a check costs beside the native runs it stands on: for each zoo model's first ``check`` command that reaches a
verdict, the whole ``onnxgru check`` (native runs, exports, every runtime, taps, reference) beside a hand-written
script that does the same native work once and none of onnxgru's own (loads and runs each source natively on inputs
of the same sizes, exports each native source, runs each ONNX model in each runtime the check runs, compares with
np.allclose: what an owner's own pre-flight script would spend), each a fresh process, interleaved, median of the
rounds (target: <= 2x per model).

    python benchmarks/bench_zoo.py [--repeats 1] [--only NAME,NAME]
"""

from __future__ import annotations

import argparse
import json
import sys

from _common import ROOT, Command, Row, emit, env, interleaved, median

sys.path.insert(0, str(ROOT))

# the owner's own pre-flight script: load each source with its framework and run it once natively, export each native
# source once (the exporter onnxgru calls), run each ONNX model once in each runtime the check runs, compare the outputs
# with np.allclose; everything in one process, nothing tapped, no reference GRU, no report
NATIVE = """
import json, sys
import numpy as np
from onnxgru import runtimes as rt
from onnxgru.cli_parser import build_parser, load_options, settings_of
from onnxgru.commands.check_cmd import _exporter
from onnxgru.core import inputs as inp
from onnxgru.sources.load import load
from onnxgru.verify.inputs import make_inputs
args = build_parser().parse_args(json.loads(sys.argv[1]))
options, settings = load_options(args), settings_of(args)
models = [load(p, f"{k}:{p}", options, kind="onnx" if k == "onnx" else None)
          for k in ("tf", "torch", "onnx") for p in getattr(args, k)]
inputs = make_inputs(models, settings, options.fixed)
export = _exporter(settings, options)
outputs = [list(m.run(inputs, False).outputs.values()) for m in models]
onnx_models = [m for m in models if m.kind == "onnx"] + [e for m in models if m.kind != "onnx" if (e := export(m)[0])]
for m in onnx_models:
    feeds = inp.feeds(m.signature, inputs)
    for name in rt.parse(args.runtimes):
        try:
            got = rt.get(name).load(m.onnx_model)(feeds)
        except rt.RuntimeRefused:
            continue
        np.allclose(np.asarray(got[0], np.float64).ravel()[:1], np.asarray(outputs[0][0], np.float64).ravel()[:1])
"""


def rows(repeats: int, only: set[str]) -> list[Row]:
    from zoo.run import CACHE, build, names

    out = []
    for name in names():
        if only and name not in only:
            continue
        # the first check that runs to a verdict (one refused as a user error, exit 2, has nothing to time)
        check = next((r for r in build(name) if r.argv[0] == "check" and r.expect != 2), None)
        if check is None:
            continue
        argv = [str(a) for a in check.argv]
        fns = {"check": Command([sys.executable, "-m", "onnxgru", *argv, "-q"], env(), CACHE / name),
               "native": Command([sys.executable, "-c", NATIVE, json.dumps(argv)], env(), CACHE / name, ok=(0,))}
        times = interleaved(fns, repeats)
        med = {k: median(v) for k, v in times.items()}
        out.append(Row("7 zoo", f"{name}: check {' '.join(argv[1:])}"[:90], med["check"],
                       "the same native runs in a script", med["native"], 2.0))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated zoo model names")
    p.add_argument("--json", action="store_true", help="(always on: one JSON line for run.py)")
    args = p.parse_args()
    emit(rows(args.repeats, {n for n in args.only.split(",") if n}))


if __name__ == "__main__":
    main()
