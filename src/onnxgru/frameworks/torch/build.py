"""Canonical ``GRULayer``s to and from PyTorch modules, through ``onnxgru.core.gatemaps`` (each map written once).

- ``nn.GRU`` parameters (``weight_ih_l{k}[_reverse]`` ...) <-> layers: ``gatemaps.torch_to_onnx`` / ``onnx_to_torch``.
- ``GRUStack`` (``exact``) stores the canonical form itself, so its map is the identity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru._lazy import require
from onnxgru.core import gatemaps
from onnxgru.core.spec import GRUAttrs, GRULayer
from onnxgru.errors import UserError
from onnxgru.frameworks.torch import exact

if TYPE_CHECKING:
    import torch
    from torch import nn

_GRU_PARAM = re.compile(r"^(?P<prefix>.*?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l\d+(_reverse)?$")


def torch_dtype(name: str) -> torch.dtype:
    """``"float32"`` -> ``torch.float32``; the dtypes onnxgru builds modules in."""
    if name not in ("float32", "float64"):
        raise UserError(f"PyTorch GRUs are built in float32 or float64, not {name!r}; choose --dtype float32.")
    return getattr(require("torch"), name)


def is_gru_param(name: str) -> bool:
    """``encoder.gru.weight_ih_l0`` and the like: a parameter of an ``nn.GRU``."""
    return bool(_GRU_PARAM.match(name))


# --- nn.GRU parameters -> canonical ------------------------------------------------------------------------------
def group_gru_params(params: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Parameter names grouped by the ``nn.GRU`` they belong to: ``{"encoder.gru.": {"weight_ih_l0": ...}}``,
    in the order the groups first appear."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name, value in params.items():
        m = _GRU_PARAM.match(name)
        if m:
            groups.setdefault(m["prefix"], {})[name[len(m["prefix"]) :]] = value
    return groups


def layers_from_gru_params(params: Mapping[str, np.ndarray], name: str = "gru") -> list[GRULayer]:
    """One ``nn.GRU``'s parameters (names without prefix) -> its layers; the architecture comes from the names and
    shapes: layers (``_l{k}``), directions (``_reverse``), bias (``bias_ih``), sizes (``weight_ih`` / ``weight_hh``)."""
    if any(k.startswith("weight_hr") for k in params):
        raise UserError(f"{name} is an LSTM-style projected RNN (weight_hr_*); onnxgru reads GRU parameters only.")
    layers = []
    k = 0
    while f"weight_ih_l{k}" in params:
        suffixes = ["", "_reverse"] if f"weight_ih_l{k}_reverse" in params else [""]
        W, R, B = [], [], []
        for s in suffixes:
            try:
                w_ih, w_hh = np.asarray(params[f"weight_ih_l{k}{s}"]), np.asarray(params[f"weight_hh_l{k}{s}"])
            except KeyError as exc:
                raise UserError(
                    f"{name} has weight_ih_l{k}{s} but no {exc.args[0]}; the state dict is incomplete."
                ) from None
            h3 = w_ih.shape[0] if w_ih.ndim == 2 else -1
            if h3 % 3 or w_hh.shape != (h3, h3 // 3):
                raise UserError(
                    f"{name} layer {k}{s} has weight_ih {w_ih.shape} and weight_hh {w_hh.shape}, which are not a "
                    "GRU's (3H, I) and (3H, H); is it an LSTM or a plain RNN?"
                )
            b_ih, b_hh = params.get(f"bias_ih_l{k}{s}"), params.get(f"bias_hh_l{k}{s}")
            w, r, b = gatemaps.torch_to_onnx(
                w_ih, w_hh, None if b_ih is None else np.asarray(b_ih), None if b_hh is None else np.asarray(b_hh)
            )
            W.append(w)
            R.append(r)
            B.append(b)
        attrs = GRUAttrs(
            hidden_size=W[0].shape[0] // 3, input_size=W[0].shape[1],
            direction="bidirectional" if len(suffixes) == 2 else "forward", linear_before_reset=1,
        )
        layers.append(GRULayer(f"{name}.l{k}", attrs, np.stack(W), np.stack(R), np.stack(B), True, "torch.nn.GRU"))
        k += 1
    if not layers:
        raise UserError(f"{name} has no weight_ih_l0; it is not the state dict of an nn.GRU.")
    return layers


def layers_from_stack(stack: nn.Module, name: str = "gru") -> list[GRULayer]:
    """A ``GRUStack`` (eager or loaded from TorchScript) -> its layers: the parameters are already canonical."""
    layers = []
    children: Any = stack.layers  # an nn.ModuleList (mypy sees nn.Module attributes as Tensor | Module)
    for k, (_, layer) in enumerate(children.named_children()):
        W, R, B = (getattr(layer, p).detach().cpu().numpy() for p in ("W", "R", "B"))
        attrs = GRUAttrs(
            hidden_size=int(layer.hidden_size), input_size=int(W.shape[2]), direction=str(layer.direction),
            linear_before_reset=int(layer.linear_before_reset),
        )
        reversed_out = bool(getattr(layer, "reverse_output", False))
        layers.append(GRULayer(f"{name}.l{k}", attrs, W, R, B, True, "onnxgru exact GRU (GRUStack)",
                               output_reversed=reversed_out))
    return layers


# --- canonical -> modules ----------------------------------------------------------------------------------------
def check_torch_buildable(layers: Sequence[GRULayer], what: str, one_size: bool = True) -> None:
    """What every PyTorch GRU here needs: default activations, no clip, chained sizes (and, for ``nn.GRU``, one
    hidden size)."""
    for layer in layers:
        a = layer.attrs
        if not a.default_activations or a.clip is not None:
            raise UserError(
                f"{layer.name} uses activations {list(a.activations)} and clip {a.clip}; {what} supports only the "
                "default sigmoid/tanh GRU without clip."
            )
    for prev, layer in zip(layers, layers[1:]):
        width = prev.attrs.num_directions * prev.attrs.hidden_size
        if layer.attrs.input_size != width:
            raise UserError(
                f"{layer.name} takes {layer.attrs.input_size} features but {prev.name} gives {width}; the GRU layers "
                f"are not one stack, so {what} cannot chain them."
            )
    sizes = sorted({layer.attrs.hidden_size for layer in layers})
    if one_size and len(sizes) > 1:
        raise UserError(
            f"the GRU layers have different hidden sizes {sizes}; {what} needs one hidden size so the final states "
            "form one (layers*directions, batch, hidden) tensor."
        )


def exact_stack(layers: Sequence[GRULayer], batch_first: bool, dtype: str = "float32") -> Any:
    """The exact module (``exact.GRUStack``) for any stack of layers (reset-before, reset-after or mixed)."""
    check_torch_buildable(layers, "the exact PyTorch GRU", one_size=False)
    torch, tdtype, cls = require("torch"), torch_dtype(dtype), exact.classes()
    params = []
    for layer in layers:
        W, R, B = (torch.tensor(np.asarray(a), dtype=tdtype) for a in (layer.W, layer.R, layer.B))
        params.append(cls.GRULayerParams(W, R, B, layer.attrs.linear_before_reset, layer.attrs.direction,
                                         layer.output_reversed))
    return cls.GRUStack(params, batch_first=batch_first).eval()


def nn_gru(layers: Sequence[GRULayer], batch_first: bool, dtype: str = "float32", nearest: bool = False) -> nn.GRU:
    """A plain ``nn.GRU`` with these layers' weights. Exact only for reset-after layers; with ``nearest`` a
    reset-before layer is mapped anyway (both biases of each gate merged on the input side) and differs."""
    check_torch_buildable(layers, "nn.GRU")
    directions = {layer.attrs.direction for layer in layers}
    if "reverse" in directions or len(directions) > 1:
        raise UserError(
            f"nn.GRU runs every layer forward or bidirectional, but these layers are {sorted(directions)}; "
            "convert with the exact module (--target exact)."
        )
    before = [layer.name for layer in layers if not layer.attrs.linear_before_reset]
    if before and not nearest:
        raise UserError(
            f"{', '.join(before)} reset before the recurrent matmul, which nn.GRU cannot compute; use the exact module."
        )
    torch, tdtype = require("torch"), torch_dtype(dtype)
    first = layers[0].attrs
    gru = torch.nn.GRU(
        first.input_size, first.hidden_size, num_layers=len(layers), bias=True, batch_first=batch_first,
        bidirectional=first.num_directions == 2, dtype=tdtype,
    )
    state = {}
    for k, layer in enumerate(layers):
        for d, suffix in enumerate(["", "_reverse"][: layer.attrs.num_directions]):
            B = gatemaps.merge_biases(layer.B[d], 0) if not layer.attrs.linear_before_reset else layer.B[d]
            for key, value in gatemaps.onnx_to_torch(layer.W[d], layer.R[d], B).items():
                state[f"{key}_l{k}{suffix}"] = torch.tensor(np.asarray(value), dtype=tdtype)
    gru.load_state_dict(state)
    return gru.eval()


def converted(
    layers: Sequence[GRULayer], time_major: bool, dtype: str, target: str, source: str = "", lengths: bool = False
) -> Any:
    """The module ``onnxgru convert`` writes (``exact.ConvertedGRU``) around an ``nn.GRU`` where that is exact (or
    asked for), else around a ``GRUStack``; always the ``GRUStack`` when the source reads sequence ``lengths`` (an
    ``nn.GRU`` takes none) and ``target`` is not "nn.GRU"."""
    one_size = len({layer.attrs.hidden_size for layer in layers}) == 1
    if not one_size and target != "nn.GRU":
        stack = exact_stack(layers, batch_first=not time_major, dtype=dtype)
        return exact.classes().ConvertedGRUCells(stack, time_major=time_major, source=source).eval()
    rows = sum(layer.attrs.num_directions for layer in layers)
    gru = (exact_stack(layers, batch_first=not time_major, dtype=dtype) if lengths and target != "nn.GRU" else
           inner(layers, not time_major, dtype, target))
    return exact.classes().ConvertedGRU(gru, time_major=time_major, squeeze_state=rows == 1, source=source).eval()


def inner(layers: Sequence[GRULayer], batch_first: bool, dtype: str, target: str) -> nn.Module:
    """An ``nn.GRU`` where that is exact (reset-after, plain directions, the output in input order) or asked for
    (``target`` "nn.GRU": the nearest), else the exact ``GRUStack``."""
    all_after = all(layer.attrs.linear_before_reset for layer in layers)
    reversed_out = any(layer.output_reversed for layer in layers)
    if target == "nn.GRU" or (all_after and plain_directions(layers) and not reversed_out):
        return nn_gru(layers, batch_first=batch_first, dtype=dtype, nearest=target == "nn.GRU")
    return exact_stack(layers, batch_first=batch_first, dtype=dtype)


def plain_directions(layers: Sequence[GRULayer]) -> bool:
    directions = {layer.attrs.direction for layer in layers}
    return len(directions) == 1 and "reverse" not in directions
