"""A TensorFlow/Keras GRU as a PyTorch module that loads with plain torch, checked against TensorFlow.

Keras ``reset_after=True`` becomes an exact ``nn.GRU``; reset-before GRUs (TF1 ``GRUCell``, Keras
``reset_after=False``) become the exact ``GRUStack``. Either is wrapped in ``ConvertedGRU`` (``forward(x, h0=None)
-> (outputs, final_state)`` in the source's layout), scripted, and saved as TorchScript: ``torch.jit.load`` reads it
without onnxgru and without trusting a pickle. The saved bytes are loaded back and run against the source before
anything is written.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnxgru._lazy import require
from onnxgru.core import findings as F
from onnxgru.core.model import LoadedModel, Run
from onnxgru.core.numerics import PairResult, compare_arrays
from onnxgru.core.plan import Plan
from onnxgru.frameworks.torch import build as builders
from onnxgru.frameworks.torch import whole
from onnxgru.frameworks.torch.source import from_script
from onnxgru.verify.pairs import same_shape

TARGETS = ("exact", "nn.GRU")


@dataclass(frozen=True)
class Converted:
    """The TorchScript bytes and what they hold."""

    data: bytes
    module: str  # "nn.GRU" | "GRUStack" | "ConvertedModel" (a whole model) | "ConvertedGRUs" (each GRU on its own)
    model: LoadedModel | None  # the bytes loaded back, as a source (None: ConvertedGRUs, held against the taps)
    loaded: Any = None  # the bytes loaded back, as torch.jit.load gives them
    keys: dict[str, str] = field(default_factory=dict)  # ConvertedGRUs: layer name -> module key
    takes_lengths: bool = False  # its GRUs take sequence lengths (the source reads them; the exact GRU inside)


def _dtype(source: LoadedModel) -> str:
    return source.dtype if source.dtype in ("float32", "float64") else "float32"


def _saved(module: Any, path: str, kind: str, analyse: bool = True, keys: dict[str, str] | None = None,
           takes_lengths: bool = False) -> Converted:
    """Script and save ``module``, then load the bytes back (what a user's ``torch.jit.load`` gets)."""
    torch = require("torch", "convert to PyTorch")

    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    data = buffer.getvalue()
    loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
    model = None
    if analyse:
        model = from_script(loaded, path, "converted")
        model.ours = True
    return Converted(data, kind, model, loaded, dict(keys or {}), takes_lengths)


def build(source: LoadedModel, target: str = "exact", path: str = "converted") -> Converted:
    """A bare GRU stack as one converted module."""
    torch = require("torch", "convert to PyTorch")

    lengths = bool(source.signature.by_role("lengths")) and target != "nn.GRU"
    module = builders.converted(source.layers, source.time_major, _dtype(source), target, source=Path(source.path).name,
                                lengths=lengths)
    return _saved(module, path, "nn.GRU" if isinstance(module.gru, torch.nn.GRU) else "GRUStack",
                  takes_lengths=lengths)


def build_whole(source: LoadedModel, plan: Plan, target: str = "exact", path: str = "converted") -> Converted:
    """A model with layers around its GRUs, rebuilt whole (``whole.ConvertedModel``)."""

    module = whole.build(plan, source.layers, _dtype(source), target, source=Path(source.path).name)
    return _saved(module, path, "ConvertedModel")


def build_each(source: LoadedModel, layers: list[int], target: str = "exact", path: str = "converted",
               lengths: bool = False) -> Converted:
    """Each of the GRU layers ``layers`` on its own (``whole.ConvertedGRUs``); ``lengths``: the source's GRUs read
    sequence lengths, so each module is the exact GRU taking them (unless ``target`` is "nn.GRU")."""

    lengths = lengths and target != "nn.GRU"
    module, keys = whole.build_each(source.layers, layers, source.time_major, _dtype(source), target,
                                    source=Path(source.path).name, lengths=lengths)
    return _saved(module, path, "ConvertedGRUs", analyse=False, keys=keys, takes_lengths=lengths)


def hold_each(converted: Converted, source: LoadedModel, run: Run, tolerance: Callable[[str], tuple[float, float]]
              ) -> list[PairResult]:
    """Each converted GRU run on what the source's GRU received in ``run`` (its tap), against what it gave: the
    layers of one tap (a MultiRNNCell loop) chained, their last sequence and every final state compared."""
    torch = require("torch", "convert to PyTorch")
    pairs: list[PairResult] = []
    for tap in run.taps:
        layers = tap.layers_of(source.layers)
        if any(layer.name not in converted.keys for layer in layers):
            continue
        x = _to_torch(torch, tap.X, source.time_major)
        lengths = None if tap.lengths is None or not converted.takes_lengths else torch.from_numpy(
            np.ascontiguousarray(tap.lengths).astype(np.int64))
        y = x
        for j, layer in enumerate(layers):
            h0 = tap.initial_h[j] if j < len(tap.initial_h) else None
            if h0 is not None:
                h0 = torch.from_numpy(np.ascontiguousarray(h0[0] if h0.shape[0] == 1 else h0))
            with torch.no_grad():
                y, h = converted.loaded(layer.name, x, h0, lengths)
            x = y
            if j < len(tap.Y_h) and (state := tap.Y_h[j]) is not None:
                pairs.append(_pair(f"{layer.name} state", h.numpy(), state, source.role, tolerance))
        if tap.Y is not None:
            got = y.numpy().transpose(1, 0, 2) if source.time_major else y.numpy()
            if layers[-1].output_reversed:  # the module gives Keras's order; the tap is in input order
                got = got[:, ::-1]
            pairs.append(_pair(f"{layers[-1].name} output", got, tap.Y, source.role, tolerance))
    return pairs


def _to_torch(torch: Any, x: np.ndarray, time_major: bool) -> Any:
    x = np.ascontiguousarray(x.transpose(1, 0, 2) if time_major else x)
    return torch.from_numpy(x)


def _pair(name: str, got: np.ndarray, want: np.ndarray, role: str, tolerance: Callable[[str], tuple[float, float]]
          ) -> PairResult:

    fitted, want = same_shape(np.asarray(got), np.asarray(want))
    # a module giving another shape than the GRU it converts differs from it everywhere (a failed pair, not a crash)
    got = fitted if fitted is not None else np.full(want.shape, np.inf, want.dtype)
    steps = want.shape[1] if want.ndim == 3 and "output" in name else 0
    return compare_arrays("converted", role, name, got, want, *tolerance(name), 1 if steps > 1 else None)


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
