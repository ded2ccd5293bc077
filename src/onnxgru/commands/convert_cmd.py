"""``onnxgru convert SRC -o OUT``: a TensorFlow/Keras GRU as a PyTorch module, checked against TensorFlow.

The file is written (atomically) only when the converted module agreed with the source; with ``--target nn.GRU``
it is written anyway, and a reset-before source then fails with GRU001 and the measured error.
"""

from __future__ import annotations

from pathlib import Path

from onnxgru.commands.common import Settings, write_atomic
from onnxgru.errors import UserError
from onnxgru.report import Report
from onnxgru.sources.load import KIND_NAMES, LoadOptions, kind_of, load

TARGETS = ("exact", "nn.GRU")


def convert(
    source: str, output: Path | None, settings: Settings | None = None, options: LoadOptions | None = None,
    target_kind: str = "exact",
) -> Report:
    settings = settings or Settings()
    options = options or LoadOptions()
    if target_kind not in TARGETS:
        raise UserError(f"--target must be one of {', '.join(TARGETS)}, got {target_kind!r}.")
    if output is not None and Path(output).suffix.lower() == ".pt2":
        raise UserError(
            f"convert writes TorchScript, which loads with torch.jit.load; {str(output)!r} names an ExportedProgram "
            "(.pt2), which would fix the number of time steps: give a .pt path."
        )
    kind = kind_of(source)
    if kind not in ("tf", "keras"):
        raise UserError(
            f"convert reads TensorFlow and Keras sources, but {source!r} is {KIND_NAMES[kind]} source; give a .pb, "
            "checkpoint, SavedModel, .keras or .h5 file (`onnxgru export torch` exports PyTorch models to ONNX)."
        )
    model = load(source, "tf", options, kind)

    from onnxgru.frameworks.torch import convert as torch_convert

    report, converted = torch_convert.convert(model, settings, target_kind, str(output) if output else "converted")
    if output is not None and (report or target_kind == "nn.GRU"):
        write_atomic(Path(output), converted.data)
    return report
