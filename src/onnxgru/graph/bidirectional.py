"""Two forward GRU nodes, one on the sequence reversed in time, written as one bidirectional node (what a Keras
``Bidirectional(GRU)`` exports as), and TF's ``ReverseV2`` as the Slice that ``merge_bidirectional`` recognises.
The backward node's old outputs become that direction's slice reversed back, so nothing around it changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core.spec import GRULayer
from onnxgru.graph.build import gru_node_attrs
from onnxgru.graph.constants import constants
from onnxgru.graph.describe import gru_layer
from onnxgru.graph.edit import Names, add_const, ordered, prune, swap_node

if TYPE_CHECKING:
    import onnx


# --- reversals tract can run ------------------------------------------------------------------------------------
def reverse_v2_as_slice(model: onnx.ModelProto) -> int:
    """tf2onnx writes TensorFlow's ``ReverseV2`` (Keras ``go_backwards``) as a ``ReverseSequence`` over the full
    length, which tract does not implement; a ``Slice`` with step -1 along the time axis is the same reversal."""

    graph = model.graph
    changed = 0
    for node in list(graph.node):
        if node.op_type != "ReverseSequence" or "ReverseV2" not in node.name:
            continue
        axis = next((a.i for a in node.attribute if a.name == "time_axis"), 0)
        swap_node(graph, node, [_time_reversal(graph, Names(graph, node.name), node.input[0], node.output[0], axis)])
        changed += 1
    if changed:
        prune(model)
    return changed


# --- two forward GRUs, one on the reversed sequence: one bidirectional node ------------------------------------------
def merge_bidirectional(model: onnx.ModelProto) -> int:
    """Two forward GRU nodes that read the same time-major sequence, one of them reversed in time (a Keras
    ``Bidirectional``, whose backward layer tf2onnx writes as a loop on ``ReverseV2(x)``), as one bidirectional GRU
    node. ONNX's reverse direction returns its steps in the input's order, so the backward node's old outputs (in
    reversed order) are that direction's slice reversed again: everything after it stays as the exporter wrote it.
    Only nodes without ``sequence_lens`` merge (padded rows reverse differently). Returns how many pairs merged."""
    merged = 0
    while _merge_one_bidirectional(model):  # one pair at a time: a merge rewrites the node list
        merged += 1
    if merged:
        prune(model)
    return merged


def _merge_one_bidirectional(model: onnx.ModelProto) -> bool:
    from onnx import helper


    graph = model.graph
    consts = constants(graph)
    producer = {o: n for n in graph.node for o in n.output}

    def plain(n: onnx.NodeProto) -> GRULayer | None:
        inputs = list(n.input) + [""] * 6
        if n.op_type != "GRU" or inputs[4]:
            return None
        try:
            layer = gru_layer(n, consts)
        except Exception:
            return None
        a = layer.attrs
        return layer if a.direction == "forward" and a.layout == 0 else None

    layers = {id(n): layer for n in graph.node if (layer := plain(n)) is not None}
    grus = [n for n in graph.node if id(n) in layers]
    for back in grus:
        rev = producer.get(back.input[0])
        if rev is None or not _reverses_time(rev, consts):
            continue
        fwd = next((n for n in grus if n is not back and n.input[0] == rev.input[0]
                    and _same_cell(layers[id(n)], layers[id(back)]) and bool(_h0(n)) == bool(_h0(back))), None)
        if fwd is None:
            continue
        f, b = layers[id(fwd)], layers[id(back)]
        attrs = replace(f.attrs, direction="bidirectional", activations=f.attrs.activations + b.attrs.activations,
                        activation_alpha=f.attrs.activation_alpha + b.attrs.activation_alpha,
                        activation_beta=f.attrs.activation_beta + b.attrs.activation_beta)
        both = GRULayer(_common_scope(f.name, b.name), attrs, np.concatenate([f.W, b.W]),
                        np.concatenate([f.R, b.R]), np.concatenate([f.B, b.B]))
        names = Names(graph, both.name)
        dtype = f.W.dtype
        W, R, B = (add_const(graph, names, v.astype(dtype), what) for v, what in ((both.W, "W"), (both.R, "R"),
                                                                                 (both.B, "B")))
        Y, Yh = names("Y"), names("Y_h")
        new = []
        h0 = ""
        if _h0(fwd):
            h0 = names("initial_h")
            new.append(helper.make_node("Concat", [_h0(fwd), _h0(back)], [h0], axis=0, name=names("concat")))
        new.append(helper.make_node("GRU", [rev.input[0], W, R, B, "", h0], [Y, Yh], name=names("GRU"),
                                    **gru_node_attrs(both.attrs)))
        one = add_const(graph, names, np.array([1], np.int64), "one")
        for k, node in enumerate((fwd, back)):
            lo = add_const(graph, names, np.array([k], np.int64), "start")
            hi = add_const(graph, names, np.array([k + 1], np.int64), "end")
            outs = list(node.output) + ["", ""]
            if outs[0]:
                sliced = outs[0] if k == 0 else names("Y_reverse")
                new.append(helper.make_node("Slice", [Y, lo, hi, one], [sliced], name=names("direction")))
                if k == 1:  # back to the order the backward node gave its steps in
                    new.append(_time_reversal(graph, names, sliced, outs[0]))
            if outs[1]:
                zero = add_const(graph, names, np.array([0], np.int64), "axis")
                new.append(helper.make_node("Slice", [Yh, lo, hi, zero], [outs[1]], name=names("direction")))
        kept = [n for n in graph.node if n is not fwd and n is not back]
        del graph.node[:]
        graph.node.extend(ordered(kept + new, graph))
        return True
    return False


def _h0(node: onnx.NodeProto) -> str:
    return node.input[5] if len(node.input) > 5 else ""


def _same_cell(a: GRULayer, b: GRULayer) -> bool:
    x, y = a.attrs, b.attrs
    return (x.hidden_size, x.input_size, x.linear_before_reset, x.clip) == (
        y.hidden_size, y.input_size, y.linear_before_reset, y.clip) and a.W.dtype == b.W.dtype


def _common_scope(a: str, b: str) -> str:
    parts = []
    for x, y in zip(a.split("/"), b.split("/")):
        if x != y:
            break
        parts.append(x)
    return "/".join(parts) or a


def _reverses_time(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> bool:
    """Whether ``node`` reverses axis 0 of its input whole: a Slice from -1 with step -1 (``reverse_v2_as_slice``)."""
    if node.op_type != "Slice" or len(node.input) != 5:
        return False
    starts, ends, axes, steps = (consts.get(i) for i in node.input[1:])
    if starts is None or ends is None or axes is None or steps is None or any(
            v.size != 1 for v in (starts, ends, axes, steps)):
        return False
    return int(axes[0]) == 0 and int(steps[0]) == -1 and int(starts[0]) == -1 and int(ends[0]) <= -(1 << 31)


def _time_reversal(graph: onnx.GraphProto, names: Names, x: str, out: str, axis: int = 0) -> onnx.NodeProto:
    """A Slice writing ``x`` reversed along ``axis`` as ``out`` (what ``_reverses_time`` recognises)."""
    from onnx import helper

    args = [add_const(graph, names, np.array([v], np.int64), what) for v, what in (
        (-1, "starts"), (np.iinfo(np.int64).min, "ends"), (axis, "axes"), (-1, "steps"))]
    return helper.make_node("Slice", [x, *args], [out], name=names("reverse"))
