"""An ONNX graph's interface and its GRU taps.

``signature`` reads every graph input and output (name, dtype, static dims) and says what each input is for, by
following it through shape-only nodes to what consumes it: a GRU's ``X`` (data, with its batch and time axes from
the Transposes on the way and the node's ``layout``), an embedding's ids (``Gather`` on a constant table: data drawn
inside its vocabulary), a GRU's ``initial_h`` (state rows of that layer), ``sequence_lens`` (lengths), or the GRU's
own ``W``/``R``/``B`` (feeds the user gives). ``tap`` writes a copy of the model whose extra outputs are every
fused GRU node's inputs and outputs, and ``TapPlan.split`` turns a run of it back into the model's outputs and
canonical ``Tap``s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core.signature import Port, Signature
from onnxgru.core.taps import Tap
from onnxgru.errors import UserError
from onnxgru.graph.constants import node_name
from onnxgru.graph.describe import live_nodes

if TYPE_CHECKING:
    import onnx

    from onnxgru.graph.describe import GRUScan

_PASS_THROUGH = {"Identity", "Cast", "Transpose", "Squeeze", "Unsqueeze", "Reshape", "Flatten", "Slice", "Dropout"}
# Index arithmetic an exporter puts before an embedding lookup (Keras 3 wraps negative ids: Less, Where, Add): ids
# keep their shape through it, so an integer input is followed through it to the Gather.
_INDEX_ARITHMETIC = {"Add", "Sub", "Mul", "Mod", "Where", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
                     "Equal", "Not", "And", "Or", "Max", "Min", "Abs", "Neg", "Clip"}
_GRU_SLOTS = {0: "X", 1: "W", 2: "R", 3: "B", 4: "sequence_lens", 5: "initial_h"}
TAP_PREFIX = "__onnxgru_tap"


def _dtype(elem: int) -> np.dtype:
    from onnx import helper

    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem)) if elem else np.dtype(np.float32)
    except (KeyError, TypeError, ValueError):
        raise UserError(f"the model has a tensor of unknown element type {elem}; the model is corrupt.") from None


def _port(vi: onnx.ValueInfoProto) -> Port:
    tt = vi.type.tensor_type
    shape = (
        tuple((d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None) for d in tt.shape.dim)
        if tt.HasField("shape") else None
    )
    return Port(vi.name, _dtype(tt.elem_type).name, shape)


@dataclass
class _Reach:
    """Where a graph input ends up: the first node that computes on it, the slot, and what happened on the way."""

    node: onnx.NodeProto | None
    slot: int
    perm: list[int] | None  # composed Transposes (rank 3), None once a reshape made axes unknowable
    vocab: int | None = None  # passed an embedding lookup on a (vocab, dim) table
    sliced: bool = False


def _reach(graph: onnx.GraphProto, start: str, consts: dict[str, np.ndarray], ids: bool = False) -> list[_Reach]:
    """Every computing node ``start`` reaches through shape-only nodes (and embedding lookups; for ``ids``, an
    integer input, through index arithmetic too), breadth first."""

    consumers: dict[str, list[onnx.NodeProto]] = {}
    live = live_nodes(graph)  # a dead branch is no path for the data
    for k, node in enumerate(graph.node):
        if k not in live:
            continue
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found: list[_Reach] = []
    todo: list[tuple[str, list[int] | None, int | None, bool]] = [(start, [0, 1, 2], None, False)]
    seen: set[str] = set()
    while todo and len(seen) < 10_000:
        name, perm, vocab, sliced = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        for node in consumers.get(name, []):
            slot = list(node.input).index(name)
            if node.op_type in _PASS_THROUGH and slot == 0:
                nperm = perm
                if node.op_type == "Transpose" and perm is not None:
                    p = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
                    nperm = [perm[i] for i in p] if p and sorted(p) == [0, 1, 2] else None
                elif node.op_type in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
                    nperm = None
                todo += [(o, nperm, vocab, sliced or node.op_type == "Slice") for o in node.output if o]
            elif node.op_type == "Gather" and slot == 1 and node.input[0] in consts and consts[node.input[0]].ndim == 2:
                todo += [(node.output[0], perm, int(consts[node.input[0]].shape[0]), sliced)]
            elif ids and vocab is None and node.op_type in _INDEX_ARITHMETIC:
                todo += [(o, perm, vocab, sliced) for o in node.output if o]
            else:
                found.append(_Reach(node, slot, perm, vocab, sliced))
    return found


def signature(model: onnx.ModelProto, scan: GRUScan, consts: dict[str, np.ndarray]) -> Signature:
    """The graph's inputs with their roles, and its outputs."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    gru_index = {id(n): k for k, n in enumerate(scan.nodes) if n.op_type == "GRU"}
    rows_before = np.cumsum([0] + [layer.attrs.num_directions for layer in scan.layers]).tolist()
    total_rows = rows_before[-1]
    hidden = scan.layers[-1].attrs.hidden_size if scan.layers else None
    ports = []
    for vi in graph.input:
        if vi.name in inits:
            continue
        port = _port(vi)
        reaches = _reach(graph, vi.name, consts, ids=np.issubdtype(np.dtype(port.dtype), np.integer))
        at_gru = [(r, gru_index[id(r.node)]) for r in reaches if r.node is not None and id(r.node) in gru_index]
        slots = {_GRU_SLOTS.get(r.slot) for r, _ in at_gru}
        dtype = np.dtype(port.dtype)
        if slots & {"W", "R", "B"}:
            port = port.with_(role="feed", note="GRU weights given as a graph input")
        elif "initial_h" in slots:
            r, k = next((r, k) for r, k in at_gru if r.slot == 5)
            layer = scan.layers[k]
            d = layer.attrs.num_directions
            if r.sliced or (port.rank == 3 and port.fixed(0) == total_rows and total_rows != d):
                rows = (0, total_rows)  # one state for the whole stack, sliced per layer
            else:
                rows = (rows_before[k], d)
            form = "NH" if port.rank == 2 else ("NDH" if layer.attrs.layout == 1 else "DNH")
            port = port.with_(role="state", rows=rows, state_form=form, batch_axis=None, time_axis=None)
        elif "sequence_lens" in slots:
            port = port.with_(role="lengths", batch_axis=0, time_axis=None)
        elif "X" in slots or any(r.node is not None and r.node.op_type in ("Loop", "Scan") for r in reaches):
            port = _data_axes(port, reaches, at_gru, scan)
        elif dtype.kind == "f" and port.rank == 3 and hidden and port.fixed(2) == hidden and port.fixed(0) in (
            total_rows, None
        ) and scan.layers and not any(r.vocab for r in reaches):
            port = port.with_(role="state", rows=(0, total_rows), batch_axis=None, time_axis=None,
                              note="taken for the initial state by its shape")
        elif port.rank in (None, 0) or dtype.kind == "b" or (dtype.kind in "iu" and port.rank == 1):
            port = port.with_(role="feed")
        else:
            vocab = next((r.vocab for r in reaches if r.vocab), None)
            port = port.with_(role="data", vocab=vocab, time_axis=1 if (port.rank or 0) >= 2 and (
                vocab or (port.rank or 0) >= 3) else None)
        ports.append(port)
    outputs = tuple(_port(vi) for vi in graph.output)
    return Signature(tuple(ports), outputs)


def _data_axes(port: Port, reaches: list[_Reach], at_gru: list, scan: GRUScan) -> Port:
    """A data input that reaches a GRU's X: its batch and time axes, and its feature size where the GRU fixes it."""
    vocab = next((r.vocab for r in reaches if r.vocab), None)
    gru = next(((r, k) for r, k in at_gru if r.slot == 0), None)
    batch, time, note = 0, 1, ""
    if gru is not None:
        r, k = gru
        layout = scan.layers[k].attrs.layout
        if r.perm is not None and (port.rank == 3 or (vocab and port.rank == 2)):
            t_axis, n_axis = (r.perm[0], r.perm[1]) if layout == 0 else (r.perm[1], r.perm[0])
            batch, time = n_axis, t_axis
        elif r.perm is None:
            note = "batch and time axes assumed first and second (a reshape sits between it and the GRU)"
    else:
        loop = next(r for r in reaches if r.node is not None and r.node.op_type in ("Loop", "Scan"))
        if loop.node is not None and loop.node.op_type == "Scan" and loop.perm == [0, 1, 2]:
            batch, time = 1, 0
        elif loop.perm == [1, 0, 2]:
            batch, time = 0, 1
    shape = port.shape
    if gru is not None and shape is not None and port.rank == 3 and not vocab:
        feature = [a for a in range(3) if a not in (batch, time)][0]
        if shape[feature] is None:
            shape = tuple(scan.layers[gru[1]].attrs.input_size if a == feature else d for a, d in enumerate(shape))
    timed = not (port.rank is not None and port.rank < 3 and not vocab)
    return port.with_(role="data", batch_axis=batch, time_axis=time if timed else None, vocab=vocab, shape=shape,
                      note=note)


# --- taps -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _NodeTap:
    """Which outputs of the tapped model (or graph inputs) hold one GRU node's values."""

    layer: int
    layout: int
    names: dict[str, str]  # "X", "initial_h", "sequence_lens", "Y", "Y_h" -> the tapped graph output's name
    where: str


@dataclass(frozen=True)
class TapPlan:
    """Which extra outputs of the tapped model hold which GRU values."""

    outputs: int  # the model's own outputs come first
    taps: tuple[_NodeTap, ...]
    fed: frozenset[str] = frozenset()  # tapped values that are graph inputs: read from the feeds, not sent back

    def split(self, values: list[np.ndarray], names: list[str], feeds: Callable[[], dict[str, np.ndarray]]
              ) -> tuple[dict[str, np.ndarray], tuple[Tap, ...]]:
        """The model's outputs by name, and a canonical ``Tap`` per fused GRU node. ``feeds`` gives what the model
        was fed, asked only when a GRU reads a graph input."""
        own = {n: np.asarray(v) for n, v in zip(names[: self.outputs], values[: self.outputs])}
        extra = dict(zip(names, values))
        if self.fed:
            given = feeds()
            extra.update({n: given[n] for n in self.fed if n in given})
        taps = []
        for t in self.taps:
            got = {k: np.asarray(extra[v]) for k, v in t.names.items() if v in extra}
            if "X" not in got:
                continue
            X, Y, Y_h, h0 = got["X"], got.get("Y"), got.get("Y_h"), got.get("initial_h")
            if t.layout == 0:
                X = X.transpose(1, 0, 2)
                Y = None if Y is None else Y.transpose(2, 0, 1, 3)
            else:
                Y_h = None if Y_h is None else Y_h.transpose(1, 0, 2)
                h0 = None if h0 is None else h0.transpose(1, 0, 2)
            if Y is not None:
                Y = Y.reshape(Y.shape[0], Y.shape[1], -1)
            lens = got.get("sequence_lens")
            # views, not copies: at 10,000 steps a copy of Y is as big as the model's output
            taps.append(Tap(t.layer, 1, X, (h0,), Y, (Y_h,), None if lens is None else lens.astype(np.int64), t.where))
        return own, tuple(taps)


def tap(model: onnx.ModelProto, scan: GRUScan) -> tuple[onnx.ModelProto, TapPlan]:
    """A copy of ``model`` that also outputs every fused GRU node's X, initial_h, sequence_lens, Y and Y_h. A value
    that already is a graph output is read from that output, one that is a graph input from the feeds: a runtime
    does not send the same array back twice (at 10,000 steps a GRU's Y is the size of the model's output)."""
    import onnx as onnx_mod
    from onnx import helper

    out = onnx_mod.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    nodes = {node_name(n): n for n in graph.node if n.op_type == "GRU"}
    taps = []
    own = len(graph.output)
    outputs = {o.name for o in graph.output}
    fed = {i.name for i in graph.input} - {t.name for t in graph.initializer}
    for k, (layer, node) in enumerate(zip(scan.layers, scan.nodes)):
        if node.op_type != "GRU":
            continue
        target = nodes.get(node_name(node))
        if target is None:
            continue
        while len(target.output) < 2:
            target.output.append("")
        for slot in range(2):
            if not target.output[slot]:
                target.output[slot] = f"{TAP_PREFIX}{k}_out{slot}"
        values = {"X": target.input[0], "Y": target.output[0], "Y_h": target.output[1]}
        inputs = list(target.input) + [""] * 6
        if inputs[4]:
            values["sequence_lens"] = inputs[4]
        if inputs[5]:
            values["initial_h"] = inputs[5]
        names = {}
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(layer.W.dtype))
        for what, value in values.items():
            if value in outputs or value in fed:
                names[what] = value
                continue
            name = f"{TAP_PREFIX}{k}_{what}"
            graph.node.append(helper.make_node("Identity", [value], [name], name=name))
            kind = onnx_mod.TensorProto.INT32 if what == "sequence_lens" else elem
            graph.output.append(helper.make_tensor_value_info(name, kind, None))
            names[what] = name
        taps.append(_NodeTap(k, layer.attrs.layout, names, f"GRU node {layer.name!r}"))
    used = {name for t in taps for name in t.names.values()}
    return out, TapPlan(own, tuple(taps), frozenset(used & fed))
