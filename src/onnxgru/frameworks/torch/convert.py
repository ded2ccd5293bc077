"""A TensorFlow/Keras GRU as a PyTorch module that loads with plain torch, checked against TensorFlow.

Keras ``reset_after=True`` becomes an exact ``nn.GRU``; reset-before GRUs (TF1 ``GRUCell``, Keras
``reset_after=False``) become the exact ``GRUStack``. Either is wrapped in ``ConvertedGRU`` (``forward(x, h0=None)
-> (outputs, final_state)`` in the source's layout), scripted, and saved as TorchScript: ``torch.jit.load`` reads it
without onnxgru and without trusting a pickle. The saved bytes are loaded back and run against the source before
anything is written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from onnxgru._lazy import require
from onnxgru.core import findings as F
from onnxgru.core.model import LoadedModel
from onnxgru.core.numerics import PairResult

TARGETS = ("exact", "nn.GRU")


@dataclass(frozen=True)
class Converted:
    """The TorchScript bytes and what they hold."""

    data: bytes
    module: str  # "nn.GRU" | "GRUStack"
    model: LoadedModel  # the bytes loaded back, as a source


def build(source: LoadedModel, target: str = "exact", path: str = "converted") -> Converted:
    """Script and save the converted module, then load the bytes back (what a user's ``torch.jit.load`` gets)."""
    torch = require("torch", "convert to PyTorch")
    from onnxgru.frameworks.torch import build as builders
    from onnxgru.frameworks.torch.source import from_script

    dtype = source.dtype if source.dtype in ("float32", "float64") else "float32"
    module = builders.converted(source.layers, source.time_major, dtype, target, source=Path(source.path).name)
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    data = buffer.getvalue()
    loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
    kind = "nn.GRU" if isinstance(module.gru, torch.nn.GRU) else "GRUStack"
    model = from_script(loaded, path, "converted")
    model.ours = True
    return Converted(data, kind, model)


def forced_nn_gru(source: LoadedModel, pairs: list[PairResult]) -> F.Finding | None:
    """GRU001 for ``--target nn.GRU`` on a reset-before source, with the error measured against it."""
    before = [layer for layer in source.layers if not layer.attrs.linear_before_reset]
    if not before or not pairs:
        return None
    worst = max(pairs, key=lambda p: p.max_abs)
    base = F.semantics_differ(f"{before[0].name} vs converted nn.GRU", f"the source ({source.kind})", 0, "nn.GRU", 1)
    return F.Finding(
        "GRU001", "error",
        f"--target nn.GRU wrote the nearest plain nn.GRU, which differs from the source by up to "
        f"{worst.max_abs:.3g} ({worst.output}, atol={worst.atol:g}). {base.message}",
        base.where,
    )
