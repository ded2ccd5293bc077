"""TensorFlow graph sources (frozen ``.pb``, TF1 checkpoint, SavedModel) as ``LoadedModel``s that run whole.

The model's interface is its placeholders and outputs. Each placeholder gets a role: the initial state of a GRU
(it reaches a cell's initial state), sequence lengths (it reaches ``dynamic_rnn``'s ``sequence_length``), ids
(integers that feed an embedding lookup, drawn inside its vocabulary), data (any other tensor with dims), or a feed
with no natural value (``keep_prob``, a training flag) that the user gives with ``--input`` unless the graph
defaults it. The graph runs whole in a ``Session``, fetching every GRU's tap tensors (``taps``) with its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru.core import findings as F
from onnxgru.core import inputs as inp
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel, Run, batch_major
from onnxgru.core.signature import Port, Signature
from onnxgru.core.spec import GRULayer
from onnxgru.errors import UserError
from onnxgru.frameworks.tf import cells, convert, graph, taps
from onnxgru.frameworks.tf.convert import renames
from onnxgru.frameworks.tf.tfimport import tf
from onnxgru.graph import describe as onnx_describe

if TYPE_CHECKING:
    from onnxgru.sources.load import LoadOptions

_INDEX_OPS = ("Identity", "Cast", "Reshape", "Less", "AddV2", "Add", "SelectV2", "Select", "Maximum", "Minimum",
              "ExpandDims", "Squeeze")
_EMBEDDING_OPS = ("GatherV2", "Gather", "ResourceGather")


@dataclass(eq=False)
class TFHandle:
    """What exporting and running the graph need: the frozen graph, the port <-> tensor names, the tap specs."""

    graph: graph.TFGraph
    tensors: dict[str, str]  # port name -> tensor name
    frozen: dict[str, np.ndarray]  # tensor name -> value: the feeds the user froze (--freeze), folded into an export
    specs: list[taps.TapSpec]


def load(path: Path, role: str, options: LoadOptions) -> LoadedModel:
    tfg = graph.load(path, options.input_names, options.output_names, trust_code=options.trust_code,
                     time_limit=options.time_limit)
    layers, scopes = cells.find_with_scopes(tfg.graph_def)  # the loader kept only what the outputs need
    untapped: list[str] = []
    if layers:
        specs, untapped = taps.find(tfg.graph_def, layers, scopes)
    else:
        specs, layers = [], _layers_via_onnx(tfg)
        untapped = [f"{layer.name}: not a TF1 GRUCell (read from tf2onnx's conversion), so its steps cannot be "
                    "fetched" for layer in layers]
    if not layers:
        raise UserError(
            f"{str(path)!r} contains no GRU (no TF1 GRUCell and no GRU-like loop){_others(tfg)}; give a model with "
            "a GRU."
        )

    names = renames(tfg)
    signature, time_major = _signature(tfg, layers, specs, names, options)
    for k in options.fixed:  # a name that is no input of the graph is refused here, frozen or not
        _tensor_of(signature, names, k)
    frozen = {_tensor_of(signature, names, k): v for k, v in options.freeze.items()}
    handle = TFHandle(tfg, {names.get(f.name, f.name): f.name for f in tfg.inputs}, frozen, specs)
    dtype = next((p.dtype for p in signature.data if np.dtype(p.dtype).kind == "f"), str(layers[0].W.dtype))
    model = LoadedModel(
        role=role, path=str(path), kind="tf", layers=tuple(layers), signature=signature, dtype=dtype,
        time_major=time_major, handle=handle, form=tfg.origin, untapped=tuple(untapped),
    )
    model.runner = _runner(handle, signature, [names.get(o, o) for o in tfg.outputs], time_major)
    unused = [s for s in tfg.unused if s not in {layer.name for layer in layers}]
    if unused:
        model.findings.append(F.partial(str(path), f"{len(unused)} GRUCell(s) ({', '.join(map(repr, unused[:5]))}) "
                                        "compute nothing the graph's outputs depend on: they are not layers of the "
                                        "model, so onnxgru neither describes nor compares them."))
    if options.trust_code:
        model.code_ran = ("--trust-code: the graph's ops were not checked against onnxgru's allowlist of inference "
                          "ops, and it ran as the file says")
    return model


def _others(tfg: graph.TFGraph) -> str:
    """Other recurrent cells the graph holds, named, so "no GRU" is not the whole story."""
    found = sorted({n.name.rsplit("/", 2)[0] for n in tfg.graph_def.node
                    if n.op == "Const" and n.name.endswith(("lstm_cell/kernel", "basic_lstm_cell/kernel"))})
    return f"; it has LSTM cells {', '.join(repr(f) for f in found)}: onnxgru checks GRUs" if found else ""


def _tensor_of(signature: Signature, names: dict[str, str], key: str) -> str:
    """The tensor a ``--input NAME`` means (``keep_prob``, ``keep_prob:0``); a UserError for an unknown name."""
    for tensor, port in names.items():
        if key in (tensor, port, graph.op_name(tensor)):
            return tensor
    known = ", ".join(repr(p.name) for p in signature.inputs)
    near = [p.name for p in signature.inputs if p.name.split("/")[-1].split(":")[0] == key]
    hint = f" (did you mean {near[0]!r}?)" if len(near) == 1 else ""
    raise UserError(f"--input names [{key!r}] are not inputs of the graph{hint}; its inputs are {known}.")


def _layers_via_onnx(tfg: graph.TFGraph) -> list[GRULayer]:
    """GRUs that are not TF1 GRUCell variables (Keras layers in a SavedModel): tf2onnx's conversion, recognised."""

    try:
        proto = convert.without_grappler(tfg, opset=None)
    except Exception:  # tf2onnx cannot convert it: then onnxgru cannot describe it either
        return []
    return onnx_describe.find_grus(proto).layers


# --- the interface ------------------------------------------------------------------------------------------------
def _signature(
    tfg: graph.TFGraph, layers: list[GRULayer], specs: list[taps.TapSpec], names: dict[str, str],
    options: LoadOptions,
) -> tuple[Signature, bool]:
    g = _Consumers(tfg.graph_def)
    given = {graph.op_name(k): np.asarray(v) for k, v in options.fixed.items()}
    rows_before = np.cumsum([0] + [layer.attrs.num_directions for layer in layers]).tolist()
    state_rows: dict[str, tuple[int, int]] = {}
    lengths: set[str] = set()
    for spec in specs:
        for k, per_layer in enumerate(spec.h0):
            if spec.own_columns(k) is not None:  # one concatenated state for every cell: an input of its own kind
                continue
            for d, tensor in enumerate(per_layer):
                source = g.placeholder_behind(tensor)
                if source:
                    state_rows[source] = (rows_before[spec.first + k] + d, 1)
        if spec.lengths:
            source = g.placeholder_behind(spec.lengths)
            if source:
                lengths.add(source)
    hidden = {layer.attrs.hidden_size for layer in layers}
    ports, time_major = [], False
    for f in tfg.inputs:
        name = names.get(f.name, f.name)
        op = graph.op_name(f.name)
        dtype = np.dtype(f.dtype)
        port = Port(name, dtype.name, f.shape, default=f.default)
        if op in given and given[op].ndim >= 2 and dtype.kind == "f" and f.rank in (None, given[op].ndim):
            # a data input given to verify with (an image, a sequence): data, shaped like the value, never folded
            shape: tuple | None = f.shape or (None, *given[op].shape[1:])
            port = port.with_(role="data", shape=shape, batch_axis=0, time_axis=1 if len(shape or ()) >= 3 else None)
        elif f.rank is None and dtype.kind == "f" and (target := g.reshaped_to(f.name)):
            # no shape in the graph, but a Reshape fixes every axis but the batch: the flat rows it takes
            rows = int(np.prod(target[1:]))
            port = port.with_(role="data", shape=(None, rows), batch_axis=0, time_axis=None,
                              note=f"shape (batch, {rows}) read from its Reshape to {list(target)}")
        elif op in given or f.default is not None and (f.rank == 0 or dtype.kind == "b"):
            port = port.with_(role="feed")
        elif op in state_rows or (not specs and dtype.kind == "f" and f.rank == 2 and f.shape and f.shape[-1] in hidden
                                  and len(layers) == 1 and layers[0].attrs.num_directions == 1):
            port = port.with_(role="state", rows=state_rows.get(op, (0, 1)), state_form="NH", batch_axis=0,
                              time_axis=None, optional=False)
        elif op in lengths or (not specs and dtype.kind in "iu" and f.rank == 1):
            port = port.with_(role="lengths", batch_axis=0, time_axis=None)
        elif f.rank in (None, 0) or dtype.kind == "b" or (dtype.kind in "iu" and f.rank == 1):
            port = port.with_(role="feed")
        else:
            vocab = g.vocabulary(f.name)
            tm = _time_major(tfg, f) if (f.rank or 0) >= 2 else False
            time_major = time_major or tm
            has_time = (f.rank or 0) >= 3 or (vocab is not None and (f.rank or 0) >= 2)
            shape = f.shape
            if shape is not None and len(shape) == 3 and shape[2] is None and dtype.kind == "f":
                shape = (*shape[:2], layers[0].attrs.input_size)
            port = port.with_(role="data", vocab=vocab, shape=shape, batch_axis=1 if tm and has_time else 0,
                              time_axis=(0 if tm else 1) if has_time else None)
        ports.append(port)
    outputs = tuple(Port(names.get(f.name, f.name), np.dtype(f.dtype).name, f.shape) for f in tfg.output_specs)
    return Signature(tuple(ports), outputs), time_major


class _Consumers:
    def __init__(self, graph_def: Any) -> None:
        self.nodes = {n.name: n for n in graph_def.node}
        self.users: dict[str, list[Any]] = {}
        for n in graph_def.node:
            for i in n.input:
                self.users.setdefault(graph.op_name(i), []).append(n)

    def placeholder_behind(self, tensor: str) -> str:
        """The placeholder a tensor is (through Identity), or ''."""
        name = graph.op_name(tensor)
        for _ in range(16):
            node = self.nodes.get(name)
            if node is None:
                return ""
            if node.op in ("Placeholder", "PlaceholderWithDefault"):
                return name
            if node.op not in ("Identity", "Enter", "Cast") or not node.input:
                return ""
            name = graph.op_name(node.input[0])
        return ""

    def reshaped_to(self, tensor: str) -> tuple[int, ...] | None:
        """The constant target of a Reshape the tensor feeds (through Identity), when it fixes every axis but the
        first (``[-1, 28, 28]``)."""
        for user in self.users.get(graph.op_name(tensor), []):
            if user.op == "Identity":
                return self.reshaped_to(user.name)
            if user.op == "Reshape" and len(user.input) > 1:
                node = self.nodes.get(graph.op_name(user.input[1]))
                if node is not None and node.op == "Pack" and len(node.input) >= 2:
                    # [batch taken from the input's own Shape, 28, 28] (tf2onnx's public GRU model)
                    rest = [self._const(i) for i in node.input[1:]]
                    if any(r is None or r.size != 1 for r in rest):
                        continue
                    dims = (-1, *(int(r.reshape(-1)[0]) for r in rest))  # type: ignore[union-attr]
                elif node is not None and node.op == "Const":
                    dims = tuple(int(d) for d in np.asarray(self._const(node.name)).ravel())
                else:
                    continue
                if len(dims) >= 2 and dims[0] == -1 and all(d > 0 for d in dims[1:]):
                    return dims
        return None

    def vocabulary(self, tensor: str) -> int | None:
        """The rows of the embedding table an input indexes, if any: through Identity, Cast and Reshape, and the index
        arithmetic Keras 3 writes before its lookup (a negative id wrapped with Less, AddV2 and SelectV2); or the depth
        of a OneHot the ids feed (character models)."""
        todo, seen = [graph.op_name(tensor)], set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for user in self.users.get(name, []):
                if user.op in _INDEX_OPS:
                    todo.append(user.name)
                elif user.op == "OneHot" and graph.op_name(user.input[0]) == name:  # one-hot ids (char models)
                    depth = self._const(user.input[1])
                    if depth is not None and depth.size == 1:
                        return int(depth.reshape(-1)[0])
                elif user.op in _EMBEDDING_OPS and graph.op_name(user.input[1]) == name:
                    table = self._const_shape(user.input[0])
                    if table is not None and len(table) == 2:
                        return int(table[0])
        return None

    def _const(self, tensor: str) -> np.ndarray | None:
        node = self.nodes.get(graph.op_name(tensor))
        if node is None or node.op != "Const":
            return None

        return np.asarray(tf().make_ndarray(node.attr["value"].tensor))

    def _const_shape(self, tensor: str) -> tuple | None:
        name = graph.op_name(tensor)
        for _ in range(8):
            node = self.nodes.get(name)
            if node is None:
                return None
            if node.op == "Const":
                return tuple(d.size for d in node.attr["value"].tensor.tensor_shape.dim)
            if not node.input:
                return None
            name = graph.op_name(node.input[0])
        return None


def _time_major(tfg: graph.TFGraph, seq: graph.Feed) -> bool:
    """dynamic_rnn and Keras transpose a batch-major input to time-major first; a time-major graph does not."""
    from tensorflow.python.framework import tensor_util

    consumers: dict[str, list[Any]] = {}
    nodes = {n.name: n for n in tfg.graph_def.node}
    for n in tfg.graph_def.node:
        for i in n.input:
            consumers.setdefault(graph.op_name(i), []).append(n)
    todo, seen = [graph.op_name(seq.name)], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for c in consumers.get(name, []):
            if c.op in ("Identity", "GatherV2", "ResourceGather", "Cast"):
                todo.append(c.name)
            elif c.op == "Transpose":
                perm = nodes.get(graph.op_name(c.input[1]))
                if perm is not None and perm.op == "Const":
                    if list(tensor_util.MakeNdarray(perm.attr["value"].tensor))[:2] == [1, 0]:
                        return False
            elif c.op == "Unpack":
                return int(c.attr["axis"].i) == 0
            elif c.op in ("TensorArrayScatterV3", "TensorListFromTensor"):
                return True
    return False


# --- running ------------------------------------------------------------------------------------------------------
def _runner(handle: TFHandle, signature: Signature, output_names: list[str], time_major: bool):  # noqa: ANN202
    def run(inputs: Inputs, tapped: bool = True) -> Run:
        feeds = {handle.tensors.get(k, k): v for k, v in inp.feeds(signature, inputs).items()}
        extra = [t for spec in handle.specs for t in spec.fetches()] if tapped else []
        extra = list(dict.fromkeys(extra))
        values = handle.graph.session()(feeds, extra)
        own = dict(zip(output_names, values[: len(output_names)]))
        fetched = dict(zip(extra, values[len(output_names) :]))
        found = tuple(spec.make(fetched) for spec in handle.specs) if tapped else ()
        return Run(batch_major(own, inputs) if time_major else own, found)

    return run
