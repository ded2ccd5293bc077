"""Sizes an ONNX file declares, checked before anything allocates them: external data lengths against their
tensor's shape and type, and tensors a graph makes from constants alone (``ConstantOfShape``, ``Expand``...).

A model file chooses these numbers, so they are the file's to prove: an external-data entry declaring 4 GiB for a
tensor of 1 MB, read from a sparse file, would be read whole before anything found it wrong; a ``ConstantOfShape``
of 2 GB would be allocated by every runtime that runs the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from onnxgru import limits
from onnxgru.errors import UserError
from onnxgru.graph.constants import constants

if TYPE_CHECKING:
    import onnx


def external_data_size(tensor: onnx.TensorProto, target: Path, model: Path) -> int:
    """The number of bytes the external data of ``tensor`` at ``target`` will read, checked against the tensor's
    shape and type (and the file's size) before anything is read; a UserError for any mismatch."""
    from onnx import TensorProto, helper

    info = {e.key: e.value for e in tensor.external_data}
    try:
        offset = int(info.get("offset") or 0)
        length = int(info["length"]) if info.get("length") else None
    except ValueError:
        raise UserError(
            f"tensor {tensor.name!r} of {str(model)!r} has an external data offset or length that is not a number; "
            "the model is corrupt."
        ) from None
    values = int(np.prod([int(d) for d in tensor.dims], dtype=object)) if tensor.dims else 1
    try:
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        itemsize = None  # odd types: only the file's bounds can be checked
    packed = {getattr(TensorProto, n, -1) for n in ("INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2")}
    if tensor.data_type == TensorProto.STRING or tensor.data_type in packed or itemsize == 0:
        itemsize = None  # strings have no fixed size; sub-byte types pack several values in a byte
    available = max(target.stat().st_size - offset, 0)
    size = length if length is not None else available
    expected = None if itemsize is None else values * itemsize
    if offset < 0 or size < 0 or size > available or (expected is not None and size != expected):
        held = f"its shape {list(tensor.dims)} and type hold {expected:,}" if expected is not None else "it has less"
        raise UserError(
            f"tensor {tensor.name!r} of {str(model)!r} declares {size:,} bytes of external data at offset {offset:,} "
            f"of a {target.stat().st_size:,}-byte file, but {held}; the model is corrupt or hostile, so onnxgru "
            "reads none of it."
        )
    return size


# Ops whose output size a constant input fixes (the input's index), and how to count its values from that input.
def _constant_of_shape(node: onnx.NodeProto, consts: dict) -> tuple[int, int] | None:
    shape = consts.get(node.input[0]) if node.input else None
    if shape is None:
        return None
    itemsize = 4
    for a in node.attribute:
        if a.name == "value" and a.t.data_type:
            from onnx import helper

            try:
                itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(a.t.data_type)).itemsize
            except (KeyError, TypeError, ValueError):
                pass
    return _product(shape), itemsize


def _expand(node: onnx.NodeProto, consts: dict) -> tuple[int, int] | None:
    shape = consts.get(node.input[1]) if len(node.input) > 1 else None
    return None if shape is None else (_product(shape), 1)  # at least the shape's values, of at least a byte


def _tile(node: onnx.NodeProto, consts: dict) -> tuple[int, int] | None:
    repeats = consts.get(node.input[1]) if len(node.input) > 1 else None
    return None if repeats is None else (_product(repeats), 1)


def _random(node: onnx.NodeProto, consts: dict) -> tuple[int, int] | None:
    shape = next((list(a.ints) for a in node.attribute if a.name == "shape"), None)
    return None if shape is None else (_product(np.asarray(shape)), 2)


def _range(node: onnx.NodeProto, consts: dict) -> tuple[int, int] | None:
    if len(node.input) < 3 or not all(i in consts for i in node.input[:3]):
        return None
    start, limit, delta = (float(np.asarray(consts[i]).reshape(-1)[0]) for i in node.input[:3])
    if delta == 0 or not all(np.isfinite([start, limit, delta])):
        return None
    return max(int(np.ceil((limit - start) / delta)), 0), 1


_SIZED = {"ConstantOfShape": _constant_of_shape, "Expand": _expand, "Tile": _tile, "RandomNormal": _random,
          "RandomUniform": _random, "Range": _range}


def _product(shape: np.ndarray) -> int:
    return int(np.prod([max(int(d), 0) for d in np.asarray(shape).reshape(-1)], dtype=object))


def check_declared_sizes(model: onnx.ModelProto, where: str) -> None:
    """Refuse a graph with a node that would allocate more than ``limits.MAX_TENSOR_BYTES`` from constants."""
    graph = model.graph
    if not any(n.op_type in _SIZED for n in graph.node):
        return

    consts = constants(graph)
    for node in graph.node:
        count = _SIZED.get(node.op_type)
        try:
            found = count(node, consts) if count else None
        except (ValueError, TypeError, IndexError, OverflowError):
            continue  # an odd node: the runtime that runs it says what is wrong
        if found and found[0] * found[1] > limits.MAX_TENSOR_BYTES:
            values, itemsize = found
            raise UserError(
                f"{where!r} has a {node.op_type} node ({node.name or node.output[0]!r}) that would allocate "
                f"{values:,} values ({values * itemsize / limits.GIB:.3g} GiB or more) from constants; onnxgru refuses "
                f"a graph that makes a tensor over {limits.MAX_TENSOR_BYTES / limits.GIB:g} GiB (the file is corrupt "
                "or hostile)."
            )
