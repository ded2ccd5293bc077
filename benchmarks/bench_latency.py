"""How fast the ONNX file ``onnxgru export tf`` writes runs in ONNX Runtime, next to tf2onnx's default output for the
same graph (``from_graph_def`` with Grappler: a ``Scan``) and native TensorFlow.

The model is the bundled example's kind, a TF1 ``dynamic_rnn`` over a ``GRUCell`` frozen from a session (v1 control
flow), at each size (batch, steps, hidden) with input features = hidden and seeded Glorot weights. Each execution
gets the same feeds; the three are called round-robin and the fastest rounds compared (see ``_common.best``). Both
files are checked against TensorFlow first: a fast wrong answer is no result.

    python benchmarks/bench_latency.py [--sizes 1x100x128,32x200x128,64x256x256] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from _common import TF_ENV, Row, best, emit, interleaved, ratio_table

DEFAULT_SIZES = "1x100x128,32x200x128,64x256x256"


def write_graph(path: Path, hidden: int, features: int, seed: int = 0) -> None:
    """The bundled example's frozen ``dynamic_rnn(GRUCell)`` graph (models/make_models.py), at this size."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
    import make_models

    make_models.write_tf1_graph(make_models.realistic_weights(seed, features, hidden), path)


def size_rows(batch: int, steps: int, hidden: int, repeats: int, folder: Path) -> list[Row]:
    import onnx
    import onnxruntime as ort

    from onnxgru.core.inputs import generate
    from onnxgru.frameworks.tf import convert
    from onnxgru.frameworks.tf.export import export
    from onnxgru.sources.load import LoadOptions, load
    from onnxgru.sources.onnx_model import from_proto
    from onnxgru.verify.settings import Settings

    path = folder / f"gru_{hidden}.pb"
    write_graph(path, hidden, hidden)
    tfm = load(str(path), "tf", LoadOptions())
    report, fused_bytes = export(
        str(path), settings=Settings(), options=LoadOptions(), dtype=None, exporter="torchscript", opset=None
    )
    assert fused_bytes is not None, f"onnxgru could not export the benchmark graph: {report.findings}"
    fused = onnx.load_model_from_string(fused_bytes)
    default = convert.with_grappler(tfm.extra["graph"], None)
    ops = {name: sorted({n.op_type for n in m.graph.node} & {"GRU", "Scan", "Loop"}) for name, m in
           (("fused", fused), ("default", default))}
    assert ops["fused"] == ["GRU"], ops

    inputs = generate(0, batch, steps, hidden, hidden, 1)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    runs, expected = {}, tfm.run(inputs)
    for name, model in (("fused", fused), ("default", default)):
        binding = from_proto(model, name, name, LoadOptions()).extra["binding"]
        sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feeds = binding.feeds(inputs)
        got = binding.canonical(sess.run(None, feeds), inputs)["output"]
        err = float(np.abs(got - expected["output"]).max())
        assert err < 1e-4, f"{name} export differs from TensorFlow by {err:.3g}"
        runs[name] = (lambda s, f: lambda: s.run(None, f))(sess, feeds)
    session = tfm.extra["graph"].session()
    tf_feeds = {"x:0": inputs.x, "h0:0": inputs.h0[0]}
    runs["tf"] = lambda: session(tf_feeds)

    t = {k: best(v) for k, v in interleaved(runs, repeats, warmup=2).items()}
    size = f"({batch}, {steps}, {hidden})"
    scan = "/".join(ops["default"]) or "unrolled"
    return [
        Row("3 latency", f"{size} onnxgru export (GRU node) in ORT", t["fused"], "native TensorFlow", t["tf"],
            stat="min"),
        Row("3 latency", f"{size} tf2onnx default ({scan}) in ORT", t["default"], "onnxgru export in ORT", t["fused"],
            stat="min"),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="batch x steps x hidden, comma-separated")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--json", action="store_true", help="print the rows as one JSON line (for run.py)")
    args = p.parse_args()
    for k, v in TF_ENV.items():
        os.environ.setdefault(k, v)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="onnxgru-bench-") as tmp:
        for size in args.sizes.split(","):
            batch, steps, hidden = (int(v) for v in size.lower().split("x"))
            rows += size_rows(batch, steps, hidden, args.repeats, Path(tmp))
    emit(rows) if args.json else print(ratio_table(rows))


if __name__ == "__main__":
    main()
