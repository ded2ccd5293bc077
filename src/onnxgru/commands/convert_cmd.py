"""``onnxgru convert SRC -o OUT``: a TensorFlow/Keras GRU as a PyTorch module, verified against the source.

The file is written (atomically) only when the converted module agreed with the source; with ``--target nn.GRU``
it is written anyway, and a reset-before source then fails with GRU001 and the measured error.
"""

from __future__ import annotations

from pathlib import Path

from onnxgru.commands.common import write_atomic
from onnxgru.errors import UserError
from onnxgru.report import Report
from onnxgru.sources.load import KIND_NAMES, LoadOptions, kind_of, load
from onnxgru.verify.pipeline import verify
from onnxgru.verify.settings import Settings

TARGETS = ("exact", "nn.GRU")


def convert(
    source: str, output: Path | None, settings: Settings | None = None, options: LoadOptions | None = None,
    target_kind: str = "exact",
) -> Report:
    settings = settings or Settings()
    options = options or LoadOptions()
    if target_kind not in TARGETS:
        raise UserError(f"--target must be one of {', '.join(TARGETS)}, got {target_kind!r}.")
    if output is not None and Path(output).suffix.lower() in (".onnx", ".pt2", ".pb", ".keras", ".h5"):
        raise UserError(
            f"convert writes TorchScript, which loads with torch.jit.load; {str(output)!r} names another format "
            "(an ExportedProgram .pt2 would also fix the number of time steps): give a .pt path."
        )
    kind = kind_of(source)
    if kind not in ("tf", "keras"):
        raise UserError(
            f"convert reads TensorFlow and Keras sources, but {source!r} is {KIND_NAMES[kind]} source; give a .pb, "
            "checkpoint, SavedModel, .keras or .h5 file (`onnxgru export torch` exports PyTorch models to ONNX)."
        )
    model = load(source, "source", options, kind)

    from onnxgru.frameworks.torch import convert as torch_convert

    converted = torch_convert.build(model, target_kind, str(output) if output else "converted")
    v = verify([model, converted.model], settings, fixed=options.fixed)
    if target_kind == "nn.GRU" and (forced := torch_convert.forced_nn_gru(model, v.pairs)) is not None:
        v.findings.append(forced)
    max_abs = max((p.max_abs for p in v.pairs), default=None)
    report = v.report("convert", {"convert": {"target": target_kind, "module": converted.module,
                                              "format": "torchscript", "time_major": model.time_major,
                                              "dtype": converted.model.dtype, "max_abs": max_abs}})
    if output is not None and (report or target_kind == "nn.GRU"):
        write_atomic(Path(output), converted.data)
    return report
