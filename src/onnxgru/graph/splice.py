"""Splicing GRU nodes into a graph by the names of its tensors.

A GRU whose input, initial state and outputs are named tensors of the graph (a ``static_rnn``'s steps, whose names
tf2onnx keeps; a module's scope in a torch.onnx export) is replaced by new nodes that produce those names; the old
producers go (``prune``). ``gru_nodes`` writes one GRU node under given names, for every fusing rewrite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core.spec import GRULayer
from onnxgru.graph.build import gru_node_attrs
from onnxgru.graph.describe import outer_names
from onnxgru.graph.edit import Names, add_const, ordered, prune

if TYPE_CHECKING:
    import onnx

def gru_nodes(graph: onnx.GraphProto, names: Names, layer: GRULayer, x: str, h0: str | None, dtype: np.dtype,
               y: str | None, y_h: str | None) -> list[onnx.NodeProto]:
    """A GRU node on time-major ``x`` (T, N, I) with ``h0`` (N, H) or None, writing ``y`` as (T, N, D*H) and ``y_h``
    as (N, H) (one direction) or (D, N, H), under those exact names."""
    from onnx import helper

    d = layer.attrs.num_directions
    W = add_const(graph, names, layer.W.astype(dtype), "W")
    R = add_const(graph, names, layer.R.astype(dtype), "R")
    B = add_const(graph, names, layer.B.astype(dtype), "B")
    nodes = []
    initial = ""
    if h0:
        initial = names("initial_h")
        axes = add_const(graph, names, np.array([0], np.int64), "axes")
        nodes.append(helper.make_node("Unsqueeze", [h0, axes], [initial], name=names("unsqueeze")) if d == 1 else
                     helper.make_node("Identity", [h0], [initial], name=names("identity")))
    Y, Yh = names("Y"), names("Y_h")
    nodes.append(helper.make_node("GRU", [x, W, R, B, "", initial], [Y, Yh], name=names("GRU"),
                                  **gru_node_attrs(layer.attrs)))
    if y:
        # (T, D, N, H) -> (T, N, D*H)
        perm = names("Y_perm")
        nodes.append(helper.make_node("Transpose", [Y], [perm], perm=[0, 2, 1, 3], name=names("transpose")))
        shape = add_const(graph, names, np.array([0, 0, -1], np.int64), "shape")
        nodes.append(helper.make_node("Reshape", [perm, shape], [y], name=names("reshape")))
    if y_h:
        if d == 1:
            axes = add_const(graph, names, np.array([0], np.int64), "axes")
            nodes.append(helper.make_node("Squeeze", [Yh, axes], [y_h], name=names("squeeze")))
        else:
            nodes.append(helper.make_node("Identity", [Yh], [y_h], name=names("identity")))
    return nodes


def float_type(model: onnx.ModelProto) -> np.dtype:
    from onnx import helper

    for t in model.graph.initializer:
        if t.data_type in (1, 11):
            return np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
    return np.dtype(np.float32)


@dataclass(frozen=True)
class Span:
    """A GRU layer in a graph, by the names of its tensors. ``steps`` (one name per step, (N, I)) or ``sequence``
    ((N, T, I) batch-major, or (T, N, I) with ``time_major``) is its input; ``h0`` its initial state ((N, H) per
    direction), or none; its outputs are per-step states ``step_outputs`` ((N, H)), a sequence ``output``, and
    ``final`` ((N, H) per direction). Missing names are not written."""

    layer: GRULayer
    steps: tuple[str, ...] = ()
    sequence: str = ""
    time_major: bool = False
    h0: tuple[str, ...] = ()
    step_outputs: tuple[str, ...] = ()
    output: str = ""
    final: tuple[str, ...] = ()


def splice(model: onnx.ModelProto, spans: Sequence[Span]) -> bool:
    """Replace each span's computation by a GRU node that writes the same names. False (the graph untouched) when a
    name is missing from the graph."""
    from onnx import helper

    graph = model.graph
    present = {o for n in graph.node for o in n.output} | {i.name for i in graph.input}
    for span in spans:
        needed = [*span.steps, *([span.sequence] if span.sequence else []), *span.h0]
        if any(n not in present for n in needed):
            return False
    dtype = np.dtype(float_type(model))
    for span in spans:
        names = Names(graph, f"{span.layer.name}/fused")
        new: list[onnx.NodeProto] = []
        axes0 = add_const(graph, names, np.array([0], np.int64), "axes")
        if span.steps:
            parts = []
            # an exporter may keep a step as (N, 1, I) (tf2onnx's Split for Unpack): every step as (1, N, I)
            row = add_const(graph, names, np.array([1, -1, span.layer.attrs.input_size], np.int64), "step_shape")
            for s in span.steps:
                parts.append(names("step"))
                new.append(helper.make_node("Reshape", [s, row], [parts[-1]], name=names("reshape")))
            x = names("X")
            new.append(helper.make_node("Concat", parts, [x], axis=0, name=names("concat")))
        elif span.time_major:
            x = span.sequence
        else:
            x = names("X")
            new.append(helper.make_node("Transpose", [span.sequence], [x], perm=[1, 0, 2], name=names("transpose")))
        d = span.layer.attrs.num_directions
        h0 = ""
        if span.h0:
            h0 = names("h0")
            parts = []
            for s in span.h0:
                parts.append(names("h0_part"))
                new.append(helper.make_node("Unsqueeze", [s, axes0], [parts[-1]], name=names("unsqueeze")))
            new.append(helper.make_node("Concat", parts, [h0], axis=0, name=names("concat")))
        seq = names("sequence") if (span.step_outputs or span.output) else None
        final = names("final") if span.final else None
        gru = gru_nodes(graph, names, span.layer, x, h0 or None, dtype, seq, final)
        if h0 and d == 1:  # gru_nodes unsqueezes an (N, H) state; ours is (1, N, H) already
            gru[0] = helper.make_node("Identity", [h0], [gru[0].output[0]], name=names("identity"))
        new += gru
        seq = seq or ""  # named whenever the sequence or a step output reads it
        if span.output:
            if span.time_major:
                new.append(helper.make_node("Identity", [seq], [span.output], name=names("identity")))
            else:
                new.append(helper.make_node("Transpose", [seq], [span.output], perm=[1, 0, 2], name=names("out")))
        for t, name in enumerate(span.step_outputs):
            index = add_const(graph, names, np.array(t, np.int64), "t")
            new.append(helper.make_node("Gather", [seq, index], [name], axis=0, name=names("step_out")))
        if span.final and final:
            if d == 1:
                new.append(helper.make_node("Identity", [final], [span.final[0]], name=names("final")))
            else:
                for k, name in enumerate(span.final):
                    index = add_const(graph, names, np.array(k, np.int64), "dir")
                    new.append(helper.make_node("Gather", [final, index], [name], axis=0, name=names("final")))
        written = set(span.step_outputs) | ({span.output} if span.output else set()) | set(span.final)
        kept = [n for n in graph.node if not (set(n.output) & written)]
        del graph.node[:]
        graph.node.extend(ordered(kept + new, graph))
    prune(model)
    return True


# --- a whole GRU stack, by its scope ---------------------------------------------------------------------------
def stack_nodes(graph: onnx.GraphProto, names: Names, layers: Sequence[GRULayer], x: str, batch_first: bool,
                dtype: np.dtype, output: str | None, state: str | None) -> list[onnx.NodeProto]:
    """GRU nodes for a stack of layers on ``x`` ((N, T, I) with ``batch_first``, else (T, N, I)), writing the last
    layer's sequence as ``output`` in the same layout and every layer's final state stacked ``(rows, N, H)`` as
    ``state`` (torch's ``nn.GRU`` and onnxgru's ``GRUStack`` interface)."""
    from onnx import helper

    nodes = []
    seq = x
    if batch_first:
        seq = names("X")
        nodes.append(helper.make_node("Transpose", [x], [seq], perm=[1, 0, 2], name=names("transpose")))
    finals = []
    for layer in layers:
        y, y_h = names("sequence"), names("final")
        one = gru_nodes(graph, names, layer, seq, None, dtype, y, None)
        gru = next(n for n in one if n.op_type == "GRU")
        nodes += one
        finals.append(gru.output[1])
        seq = y
        del y_h
    if output:
        if batch_first:
            nodes.append(helper.make_node("Transpose", [seq], [output], perm=[1, 0, 2], name=names("out")))
        else:
            nodes.append(helper.make_node("Identity", [seq], [output], name=names("out")))
    if state:
        nodes.append(helper.make_node("Concat", finals, [state], axis=0, name=names("state")))
    return nodes


def scope_boundary(graph: onnx.GraphProto, prefix: str) -> tuple[list[onnx.NodeProto], list[str], list[str]]:
    """The nodes an exporter named under ``prefix`` (torch.onnx names nodes by module scope, ``/gru/...``), the
    computed values they read from outside (constants left out), and the values they give to the rest."""
    inside = [n for n in graph.node if n.name.startswith(prefix)]
    made = {o for n in inside for o in n.output}
    constant = {o for n in graph.node if n.op_type == "Constant" for o in n.output} | {
        t.name for t in graph.initializer}
    reads = []
    for n in inside:
        for i in [*n.input, *outer_names(n)]:
            if i and i not in made and i not in constant and i not in reads:
                reads.append(i)
    used_outside = {i for n in graph.node if not n.name.startswith(prefix) for i in [*n.input, *outer_names(n)]}
    used_outside |= {o.name for o in graph.output}
    gives = [o for n in inside for o in n.output if o in used_outside]
    return inside, reads, gives


def replace_scope(model: onnx.ModelProto, inside: list[onnx.NodeProto], new: list[onnx.NodeProto]) -> None:
    graph = model.graph
    drop = {id(n) for n in inside}
    kept = [n for n in graph.node if id(n) not in drop]
    del graph.node[:]
    graph.node.extend(ordered(kept + new, graph))
    prune(model)
