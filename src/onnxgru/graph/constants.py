"""Constant values of an ONNX graph: initializers, Constant nodes, and the shape-only nodes over them, folded.

Exporters that skip constant folding (torch.onnx without ``do_constant_folding``) feed a GRU its W and R through
Unsqueeze/Concat/Slice of initializers; folding those few operators here lets such a model be read. Only onnx and
numpy are imported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from onnxgru.errors import UserError

if TYPE_CHECKING:
    import onnx


def constants(
    graph: onnx.GraphProto | onnx.FunctionProto, given: dict[str, np.ndarray] | None = None,
    largest: int | None = None,
) -> dict[str, np.ndarray]:
    """Every initializer and Constant-node value of ``graph`` (or of a function's body) by name, values ``given`` for
    graph inputs (GRU weights fed as inputs, ``--input W=W.npy``) or names of an outer graph, and the values of
    shape-only nodes over them. ``largest``: initializers of more values are left out (only shapes are wanted)."""
    from onnx import helper

    out = {t.name: _array(t) for t in getattr(graph, "initializer", ())
           if largest is None or int(np.prod(t.dims, dtype=object)) <= largest}
    out.update({k: np.asarray(v) for k, v in (given or {}).items()})
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            out[node.output[0]] = _array(node.attribute[0].t)
        elif node.op_type in _FOLDABLE and node.input and all(i in out for i in node.input if i):
            if node.op_type in _ARITHMETIC and not _small([out[i] for i in node.input if i]):
                continue  # folding is for shapes and rates, not for computing big tensors here
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            try:
                out[node.output[0]] = _FOLDABLE[node.op_type]([out[i] if i else None for i in node.input], attrs)
            except Exception:  # noqa: BLE001 - an odd node is simply not folded; the GRU reader then says so
                continue
    return out


def _unsqueeze(x: list, a: dict) -> np.ndarray:
    axes = a["axes"] if "axes" in a else x[1].tolist()
    out = x[0]
    for axis in sorted(int(v) % (out.ndim + len(axes)) for v in axes):
        out = np.expand_dims(out, axis)
    return out


def _slice(x: list, a: dict) -> np.ndarray:
    starts, ends = x[1], x[2]
    axes = x[3] if len(x) > 3 and x[3] is not None else np.arange(len(starts))
    steps = x[4] if len(x) > 4 and x[4] is not None else np.ones(len(starts), np.int64)
    index = [slice(None)] * x[0].ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[int(ax)] = slice(int(s), int(min(e, np.iinfo(np.int64).max)), int(st))
    return x[0][tuple(index)]


_FOLDABLE = {
    "Identity": lambda x, a: x[0],
    "Unsqueeze": _unsqueeze,
    "Squeeze": lambda x, a: np.squeeze(x[0], axis=tuple(a.get("axes", x[1].tolist() if len(x) > 1 else ())) or None),
    "Concat": lambda x, a: np.concatenate(x, axis=a["axis"]),
    "Transpose": lambda x, a: np.transpose(x[0], a.get("perm")),
    "Reshape": lambda x, a: np.reshape(x[0], [d if d != 0 else x[0].shape[i] for i, d in enumerate(x[1].tolist())]),
    "Slice": _slice,
    "Gather": lambda x, a: np.take(x[0], x[1], axis=a.get("axis", 0)),
    # the arithmetic of a fixed feed (TensorFlow's dropout rate = 1 - keep_prob)
    "Sub": lambda x, a: np.subtract(x[0], x[1]),
    "Add": lambda x, a: np.add(x[0], x[1]),
    "Mul": lambda x, a: np.multiply(x[0], x[1]),
    "Div": lambda x, a: np.divide(x[0], x[1]),
    "Neg": lambda x, a: np.negative(x[0]),
    "Cast": lambda x, a: x[0].astype(_numpy_type(a["to"])),
}


_ARITHMETIC = {"Sub", "Add", "Mul", "Div", "Neg", "Cast"}
_SMALL = 1 << 16


def _small(values: list[np.ndarray]) -> bool:
    try:
        return int(np.prod(np.broadcast_shapes(*(np.shape(v) for v in values)), dtype=np.int64)) <= _SMALL
    except ValueError:
        return False


def _numpy_type(elem: int) -> np.dtype:
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(elem))


def _array(tensor: onnx.TensorProto) -> np.ndarray:
    from onnx import numpy_helper

    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:  # data that does not fit its declared shape or type
        raise UserError(
            f"tensor {tensor.name!r} in the model is corrupt ({type(exc).__name__}: {str(exc)[:80]}); re-export it."
        ) from None


def node_name(node: onnx.NodeProto) -> str:
    """The node's name (or its first output's) as text: protobuf hands back bytes when a corrupt file's name is not
    UTF-8."""
    name = node.name or next((o for o in node.output if o), "")  # a GRU may leave Y unnamed and give only Y_h
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)
