"""A PyTorch port's ``nn.GRU`` parameters rewritten from corrected canonical layers (``onnxgru fix``).

The file keeps its form: a TorchScript module is saved again with its code as it was and only the GRU tensors
changed; a state dict is saved with its structure (nesting, other entries, dtypes) as it was. Each corrected layer
goes back to torch's ``[r|z|n]`` rows through ``gatemaps.onnx_to_torch``, the one map from canonical to torch.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from onnxgru._lazy import require
from onnxgru.core import gatemaps
from onnxgru.core.model import LoadedModel
from onnxgru.core.spec import GRULayer
from onnxgru.errors import UserError
from onnxgru.frameworks.torch import build
from onnxgru.frameworks.torch.safety import load_pickle
from onnxgru.frameworks.torch.source import _flatten

FORMS = {"torchscript": "torchscript", "state_dict": "state dict"}  # the loader's form -> the report's


def form_of(port: LoadedModel) -> str:
    """``"torchscript"`` or ``"state dict"``: the forms fix writes back; a UserError for any other."""
    form = getattr(port.handle, "form", "")
    if form not in FORMS:
        raise UserError(
            f"fix rewrites TorchScript files and state dicts, and {port.path!r} is {_a(port.form or form)}; save the "
            "port's state dict (torch.save(model.state_dict(), PATH)) or TorchScript "
            "(torch.jit.save(torch.jit.script(model), PATH)) and fix that."
        )
    return FORMS[form]


def rewrite(port: LoadedModel, fixed: Mapping[int, GRULayer], trust_pickle: bool = False) -> bytes:
    """The bytes of ``port``'s file with the layers ``fixed`` (by index in ``port.layers``) written into its GRU
    parameters. The TorchScript module ``port`` holds is changed in place: it is the command's own copy."""
    handle = port.handle
    form_of(port)
    torch = require("torch", "fix PyTorch ports")
    if handle.form == "torchscript":
        tensors = _script_tensors(port, handle.script.calls)
        buffer = io.BytesIO()
        _write(torch, tensors, fixed, port.path)
        torch.jit.save(handle.module, buffer)
        return buffer.getvalue()
    obj = load_pickle(Path(port.path), trust_pickle)  # the file as saved: its nesting and other entries kept
    tensors = _state_dict_tensors(port, _flatten(obj))
    _write(torch, tensors, fixed, port.path)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _a(form: str) -> str:
    return f"an {form}" if form[:1].lower() in "aeiou" else f"a {form}"


# every layer of the port: its parameter names without the layer suffix (weight_ih, ...) -> per direction the name
# and the tensor it is stored in
Tensors = list[dict[str, list[tuple[str, Any]]]]


def _per_layer(params: Mapping[str, Any], count: int, where: str) -> Tensors:
    """``weight_ih_l0``, ``weight_ih_l0_reverse``, ... of one ``nn.GRU`` grouped by layer and direction."""
    out: Tensors = []
    for k in range(count):
        layer: dict[str, list[tuple[str, Any]]] = {}
        for suffix in ("", "_reverse"):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                name = f"{kind}_l{k}{suffix}"
                if name in params:
                    layer.setdefault(kind, []).append((f"{where}{name}", params[name]))
        out.append(layer)
    return out


def _script_tensors(port: LoadedModel, calls: list) -> Tensors:
    out: Tensors = []
    for call in calls:
        if not call.weights:  # onnxgru's exact GRUStack: it holds the canonical form, in place by construction
            raise UserError(
                f"{call.path or 'a GRU'!r} in {port.path!r} is onnxgru's exact GRUStack, not an nn.GRU; fix reorders "
                "nn.GRU parameters, and a GRUStack written by `onnxgru convert` needs no reordering."
            )
        where = f"{call.path}." if call.path else ""
        out += _per_layer(call.weights, len(call.layers), where)
    assert len(out) == len(port.layers), (len(out), len(port.layers))
    return out


def _state_dict_tensors(port: LoadedModel, flat: dict) -> Tensors:
    out: Tensors = []
    for prefix, params in build.group_gru_params(flat).items():  # the groups, in the order the loader read them
        count = 0
        while f"weight_ih_l{count}" in params:
            count += 1
        out += _per_layer({k: flat[prefix + k] for k in params}, count, prefix)
    if len(out) != len(port.layers):
        raise UserError(f"{port.path!r} changed while onnxgru read it (its GRU layers are not the ones it read "
                        "first); run fix again.")
    return out


def _write(torch: Any, tensors: Tensors, fixed: Mapping[int, GRULayer], path: str) -> None:
    """Copy each fixed layer into the tensors it is stored in. A tensor two layers share (one nn.GRU called twice)
    takes one value, or the fix is refused."""
    written: dict[int, tuple[str, np.ndarray]] = {}
    for index, layer in sorted(fixed.items()):
        stored = tensors[index]
        for d in range(layer.attrs.num_directions):
            for kind, value in gatemaps.onnx_to_torch(layer.W[d], layer.R[d], layer.B[d]).items():
                if kind not in stored:
                    if kind.startswith("bias") and not np.any(value):
                        continue  # an nn.GRU without biases: its zero biases stay absent
                    raise UserError(f"layer {index} of {path!r} has no {kind} tensor to write the fix into.")
                name, tensor = stored[kind][d]
                before = written.get(tensor.data_ptr())
                if before is not None and not np.array_equal(before[1], value):
                    raise UserError(
                        f"{name} of {path!r} serves two GRU layers that need different fixes (one nn.GRU called "
                        "twice); give each call its own nn.GRU, or fix the weights by hand."
                    )
                written[tensor.data_ptr()] = (name, value)
                with torch.no_grad():
                    tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))
