"""An ONNX file as a ``LoadedModel`` that runs in ONNX Runtime (or any runtime of ``onnxgru.runtimes``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel, Outputs
from onnxgru.errors import UserError
from onnxgru.runtimes import RuntimeRefused, get
from onnxgru.sources import onnx_source

if TYPE_CHECKING:
    import onnx

    from onnxgru.sources.load import LoadOptions


def from_proto(
    model: onnx.ModelProto, path: str, role: str, options: LoadOptions, kind: str = "onnx", runtime: str = "onnxruntime"
) -> LoadedModel:
    """Describe ``model`` and bind it to canonical inputs; running it loads ``runtime`` on first use."""
    scan = onnx_source.find_grus(model)
    if not scan.layers and scan.unused and all(f.code == "GRU011" for f in scan.findings):
        raise UserError(
            f"{path!r} contains no GRU that an output of the model depends on ({', '.join(map(repr, scan.unused[:3]))} "
            "compute nothing it outputs); give a model whose outputs come from its GRU."
        )
    if not scan.layers and not scan.findings:
        raise UserError(f"{path!r} contains no GRU (no GRU node and no recurrent Loop/Scan); give a model with a GRU.")
    binding = onnx_source.bind(model, scan, options.fixed, options.time_major)
    loaded = LoadedModel(
        role=role,
        path=path,
        kind=kind,
        layers=tuple(scan.layers),
        input_size=onnx_source.input_size_of(binding, scan),
        accepts_h0=bool(binding.state_inputs),
        dtype=str(binding.dtype),
        findings=list(scan.findings),
        time_major=binding.time_major,
        onnx_model=model,
        extra={"binding": binding},
    )
    loaded.run = runner(model, binding, runtime)
    return loaded


def runner(model: onnx.ModelProto, binding: onnx_source.OnnxBinding, runtime: str = "onnxruntime"):
    """A function of canonical ``Inputs``; the session is made once, on first use."""
    session = None

    def run(inputs: Inputs) -> Outputs:
        nonlocal session
        if session is None:
            session = get(runtime).load(model)
        return binding.canonical(session(binding.feeds(inputs)), inputs)

    return run


def load(path: Path, role: str, options: LoadOptions, kind: str = "onnx") -> LoadedModel:
    model = onnx_source.read_model(path)
    return from_proto(model, str(path), role, options)


__all__ = ["RuntimeRefused", "from_proto", "load", "runner"]
