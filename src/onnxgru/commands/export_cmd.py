"""``onnxgru export tf|torch SRC -o OUT.onnx``: the framework's exporter chooses the model, then the same pipeline
as ``check`` verifies it against the source in every installed runtime; the file is written (atomically) when it
equals its source in ONNX Runtime, and what other runtimes refuse or miscompute is reported beside it."""

from __future__ import annotations

import importlib
from dataclasses import replace

from onnxgru import runtimes as rt
from onnxgru.core.model import LoadedModel
from onnxgru.errors import UserError
from onnxgru.files import Output
from onnxgru.report import Report
from onnxgru.runtimes.probe import ProbePool
from onnxgru.sources.load import KIND_NAMES, LoadOptions, kind_of, load
from onnxgru.sources.onnx_model import from_proto
from onnxgru.verify.pipeline import Verification, verify
from onnxgru.verify.settings import Settings

EXPORTERS = {"tf": "onnxgru.frameworks.tf.export", "torch": "onnxgru.frameworks.torch.export"}
KINDS = {"tf": ("tf", "keras"), "torch": ("torch",)}


def export(
    framework: str,
    source: str,
    output: Output | None,
    settings: Settings | None = None,
    options: LoadOptions | None = None,
    *,
    dtype: str | None = None,
    exporter: str = "torchscript",
    opset: int | None = None,
    runtimes: str | None = None,
    save_inputs: Output | None = None,
) -> Report:
    settings = settings or Settings()
    options = options or LoadOptions()
    kind = kind_of(source)  # before reading: a file of another framework is not even opened
    if kind not in KINDS[framework]:
        other = "tf" if framework == "torch" else "torch"
        raise UserError(f"{source!r} is {KIND_NAMES[kind]} source; `onnxgru export {framework}` exports "
                        f"{'PyTorch' if framework == 'torch' else 'TensorFlow and Keras'} models"
                        + (f" (use `onnxgru export {other}`)." if kind in KINDS[other] else "."))
    if output is not None and output.path.suffix.lower() != ".onnx":
        raise UserError(f"export writes an ONNX model; {str(output)!r} should end in .onnx.")
    names = sorted(rt.parse(runtimes), key=lambda n: n != "onnxruntime")
    module = importlib.import_module(EXPORTERS[framework])
    model = load(source, framework, options, kind)
    kw = {"exporter": exporter} if framework == "torch" else {}
    result = module.export_model(model, settings, options, dtype=dtype, opset=opset, **kw)

    def exported(m: LoadedModel) -> tuple[LoadedModel | None, list]:
        if result.proto is None:
            return None, list(result.findings)

        return from_proto(result.proto, str(output or "exported.onnx"), f"export({m.role})",
                          options.without_fixed(), like=m), list(result.findings)


    with ProbePool(names, options.time_limit, memory_limit=options.memory_limit, budget=options.budget) as pool:
        v = verify([model], settings, fixed=options.fixed, runtimes=names, export=exported, pool=pool)
    gru_nodes = sum(1 for n in result.proto.graph.node if n.op_type == "GRU") if result.proto is not None else 0
    written = False  # decided, and the file written, before the report is made
    if output is not None and result.proto is not None and _onnxruntime_agrees(v):
        output.write(result.proto.SerializeToString())
        written = True
    v.save(f"export {framework}", settings, save_inputs, None)
    details = replace(result.details, gru_nodes=gru_nodes, written=written, output=str(output or ""))
    return v.report(f"export {framework}", export=details)


def _onnxruntime_agrees(v: Verification) -> bool:
    """The export equals its source in ONNX Runtime (the exporter chose it there; the check's own row, when ONNX Runtime
    ran, says so again): then it is written, and what another runtime refuses or miscomputes is reported beside it
    (exit 1) without withholding the file."""
    rows = [r for r in v.runtimes if r.runtime == "onnxruntime" and r.model.startswith("export(")]
    return all(r.status == "ok" for r in rows)
