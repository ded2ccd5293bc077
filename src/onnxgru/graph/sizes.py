"""Sizes an ONNX file declares, checked before anything allocates them: external data lengths against their
tensor's shape and type, and tensors a graph makes from constants and its inputs' shapes (``ConstantOfShape``,
``Expand``, ``Tile``, ``Resize``...), in every graph, subgraph and local function.

A model file chooses these numbers, so they are the file's to prove: an external-data entry declaring 4 GiB for a
tensor of 1 MB, read from a sparse file, would be read whole before anything found it wrong; a ``ConstantOfShape``
of 2 GB, or of ``Shape(x) * 2**20``, would be allocated by every runtime that runs the model. The model is checked
when read (free input axes at 1) and again at the shapes onnxgru feeds, just before a runtime is given it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru import limits
from onnxgru.errors import UserError
from onnxgru.graph import nesting
from onnxgru.graph.constants import constants, node_name

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


# Ops whose output's size a value chooses (a shape, repeats, pads, scales, a count, a stride) rather than the data
# that flows in: a model makes a tensor of any size with them from a small input's shape or a few constants.
_AMPLIFIERS = frozenset(set(_SIZED) | {
    "Resize", "Upsample", "Pad", "CenterCropPad", "OneHot", "Multinomial", "RandomNormalLike", "RandomUniformLike",
    "Bernoulli", "ConvTranspose", "MaxUnpool", "Col2Im", "DFT", "STFT", "HannWindow", "HammingWindow",
    "BlackmanWindow", "MelWeightMatrix", "EyeLike",
})
_DEFAULT_DOMAINS = ("", "ai.onnx")
_SMALL_INITIALIZER = 1 << 16  # values an initializer may hold and still be copied for shape inference


def check_declared_sizes(model: onnx.ModelProto, where: str, shapes: Mapping[str, Sequence[int]] | None = None
                         ) -> None:
    """Refuse a model that nests too deep (``nesting.check``) or has a node, in any graph, subgraph or function
    body, that would make a tensor over ``limits.MAX_TENSOR_BYTES`` from its constants or its inputs' shapes.

    Sizes that follow from input shapes are taken at ``shapes`` (what onnxgru feeds, by input name: ``check_fed``
    just before a runtime sees the model) or, before the feeds are known, with every free axis of every input at 1,
    the smallest input the model takes."""
    nesting.check(model, where)
    _check_constants(model, where)
    _check_inferred(model, where, shapes)


def check_fed(model: onnx.ModelProto, feeds: Mapping[str, Any], where: str) -> None:
    """``check_declared_sizes`` at the shapes of ``feeds``: what a runtime is about to be given with ``model``."""
    check_declared_sizes(model, where, {name: np.shape(value) for name, value in feeds.items()})


def _refuse(where: str, body: nesting.Body, node: onnx.NodeProto, values: int, itemsize: int, how: str) -> UserError:
    place = "" if body.where == "the main graph" else f" (in {body.where})"
    gib = values * itemsize / limits.GIB
    amount = f"{gib:.3g}" if gib < 1000 else f"{gib:,.0f}"
    return UserError(
        f"{where!r} has a {node.op_type} node ({node_name(node)!r}){place} that would make {values:,} values "
        f"({amount} GiB or more) {how}; onnxgru refuses a graph that makes a tensor over "
        f"{limits.MAX_TENSOR_BYTES / limits.GIB:g} GiB (the file is corrupt or hostile)."
    )


def _check_constants(model: onnx.ModelProto, where: str) -> None:
    """Sizes fixed by constants, in every body: a subgraph reads its outer graphs' constants too."""
    known: dict[int, tuple[nesting.Body, dict]] = {}  # by id: each body's constants, the body kept alive with them

    def consts(body: nesting.Body) -> dict:
        if id(body) not in known:
            outer = consts(body.outer) if body.outer is not None else None
            known[id(body)] = body, constants(body.proto, outer, largest=_SMALL_INITIALIZER)
        return known[id(body)][1]

    for body in nesting.bodies(model):
        for node in body.proto.node:
            count = _SIZED.get(node.op_type) if node.domain in _DEFAULT_DOMAINS else None
            if count is None:
                continue
            try:
                found = count(node, consts(body))
            except (ValueError, TypeError, IndexError, OverflowError):
                continue  # an odd node: the runtime that runs it says what is wrong
            if found and found[0] * found[1] > limits.MAX_TENSOR_BYTES:
                raise _refuse(where, body, node, *found, "from constants")


def _check_inferred(model: onnx.ModelProto, where: str, shapes: Mapping[str, Sequence[int]] | None) -> None:
    """Sizes that follow from input shapes (``ConstantOfShape(Shape(x) * k)``, an ``Expand`` to ``x``'s batch),
    through onnx's shape inference with its data propagation, on a copy of the model without its weights whose
    inputs have fixed shapes and whose local functions are inlined (as runtimes run them)."""
    from onnx import inliner, shape_inference

    light = _light(model, shapes)
    try:
        if light.functions:
            light = inliner.inline_local_functions(light)
        inferred = shape_inference.infer_shapes(light, check_type=False, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - a graph inference cannot follow: the runtimes' memory limit still holds
        return
    if shapes is None:
        how = "from its inputs' shapes and constants, even with every free axis of its inputs at 1"
    else:
        fed = ", ".join(f"{k} {'x'.join(map(str, v)) or 'scalar'}" for k, v in shapes.items())
        how = f"from its inputs' shapes and constants when fed what onnxgru feeds it ({fed})"
    for body in nesting.bodies(inferred):
        declared = {v.name: v.type for v in (*body.proto.value_info, *body.proto.output)}
        for node in body.proto.node:
            if node.op_type not in _AMPLIFIERS or node.domain not in _DEFAULT_DOMAINS:
                continue
            for name in node.output:
                size = _tensor_size(declared.get(name)) if name else None
                if size is not None and size[0] * size[1] > limits.MAX_TENSOR_BYTES:
                    raise _refuse(where, body, node, *size, how)


def _light(model: onnx.ModelProto, shapes: Mapping[str, Sequence[int]] | None) -> onnx.ModelProto:
    """A copy of ``model`` for shape inference: large initializers become inputs of their shape (their values decide
    no size), and every input's free axes are fixed, at ``shapes`` or at 1."""
    import onnx
    from onnx import helper

    light = onnx.ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    graph, source = light.graph, model.graph
    graph.name = source.name
    graph.node.extend(source.node)
    graph.output.extend(source.output)
    graph.sparse_initializer.extend(source.sparse_initializer)
    graph.input.extend(source.input)
    inputs = {i.name for i in source.input}
    for t in source.initializer:
        if int(np.prod(t.dims, dtype=object)) <= _SMALL_INITIALIZER:
            graph.initializer.append(t)
        elif t.name not in inputs:
            graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    weights = {t.name for t in source.initializer}
    for value in graph.input:
        if value.name in weights or not value.type.HasField("tensor_type"):
            continue
        tensor = value.type.tensor_type
        fed = (shapes or {}).get(value.name)
        if fed is not None:
            tensor.shape.Clear()
            for d in fed:
                tensor.shape.dim.add().dim_value = int(d)
        elif tensor.HasField("shape"):
            for d in tensor.shape.dim:
                if not d.HasField("dim_value") or d.dim_value < 1:
                    d.Clear()
                    d.dim_value = 1
    return light


def _tensor_size(declared: onnx.TypeProto | None) -> tuple[int, int] | None:
    """The values and the item size of a tensor type whose every axis is known; None for any other."""
    if declared is None or not declared.HasField("tensor_type") or not declared.tensor_type.HasField("shape"):
        return None
    dims = declared.tensor_type.shape.dim
    if not all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
        return None
    return int(np.prod([d.dim_value for d in dims], dtype=object)), _itemsize(declared.tensor_type.elem_type)


def _itemsize(elem_type: int) -> int:
    from onnx import helper

    try:
        return max(np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).itemsize, 1)
    except (KeyError, TypeError, ValueError):
        return 1
