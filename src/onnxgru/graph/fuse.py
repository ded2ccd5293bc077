"""Rewriting an exporter's loops so every GRU in them is one fused ``GRU`` node.

Exporters leave GRUs as something else when they sit inside a larger model: tf2onnx writes a Keras GRU as a ``Loop``
(``from_function``), TF1 cells in a ``while_loop`` as a ``Loop`` or ``Scan`` over their cells. Each rewrite here
replaces the loop by ``GRU`` nodes computing the same values under the same names, so everything around it
(embeddings, heads, the model's inputs and outputs) stays as the exporter wrote it:

- ``fuse_keras_loops``: a Keras GRU ``Loop``: the body's cell gives W/R/B (``onnx_loops``), the body's reads give
  the outer sequence and the state the loop carries, the loop's outputs are the sequence and the final state.
- ``fuse_cell_scans``, ``fuse_cell_loops``: TF1 cells (one or a MultiRNNCell stack) stepped by a ``Scan`` or a
  control flow v2 ``Loop``, one GRU node per cell.

A GRU whose tensors the graph names (a ``static_rnn``'s steps, a module's scope) is ``splice``'s; two forward nodes
that are one bidirectional GRU are ``bidirectional``'s; rewrites that keep the computation and only make runtimes run
it (dropout at keep_prob 1, one-hot indices, optional inputs) are ``tidy``'s; the editing primitives ``edit``'s.

Every rewrite ends with ``prune`` (nodes no output depends on go). The callers verify the result against the
framework before anything is written; a rewrite that cannot be made leaves the graph as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core.spec import GRULayer
from onnxgru.graph import loops as onnx_loops
from onnxgru.graph.constants import constants
from onnxgru.graph.describe import outer_names
from onnxgru.graph.edit import Names, add_const, prune, swap_node
from onnxgru.graph.splice import float_type, gru_nodes

if TYPE_CHECKING:
    import onnx

_PASS = {"Identity", "Cast"}


# --- Keras GRU loops --------------------------------------------------------------------------------------------
def fuse_keras_loops(model: onnx.ModelProto) -> int:
    """Replace every Keras GRU ``Loop`` whose sequence and state can be followed by one GRU node; returns how many."""

    graph = model.graph
    consts = constants(graph)
    fused = 0
    for node in list(graph.node):
        if node.op_type != "Loop":
            continue
        body = next((a.g for a in node.attribute if a.name == "body"), None)
        if body is None:
            continue
        found = onnx_loops.keras_cell(node, body, consts)
        if found is None:
            continue
        plan = _loop_plan(graph, node, body, *found)
        if plan is None:
            continue
        _replace_loop(model, node, plan)
        fused += 1
    if fused:
        prune(model)
    return fused


# --- TF1 cells in a Scan (tf2onnx's custom_rnn_scan of a MultiRNNCell loop) -----------------------------------------
def fuse_cell_scans(model: onnx.ModelProto, layers: Sequence[GRULayer]) -> int:
    """Replace every forward ``Scan`` whose body is a chain of the named GRU cells (a TF1 ``MultiRNNCell`` loop, as
    tf2onnx writes it when its GRU rewriter gives up) by one GRU node per cell; returns how many Scans.

    The body is read by the cells' own names (``rnn/while/<layer name>/concat`` takes ``[input, state]``): each
    cell's state is a loop-carried variable (its initial value a Scan input, its final value the Scan output of the
    same index, its new value the cell's last ``Add``), cell 0 reads the one scan input, each later cell the one
    before it, and the scan output is the last cell's new state. Anything else in the body (or a reverse scan)
    leaves the Scan as it is; the export is compared with TensorFlow either way."""
    graph = model.graph
    fused = 0
    for node in list(graph.node):
        if node.op_type != "Scan":
            continue
        read = {i for n in graph.node if n is not node for i in [*n.input, *outer_names(n)]}
        read |= {o.name for o in graph.output}
        plan = _scan_plan(node, layers, read)
        if plan is None:
            continue
        dtype = np.dtype(float_type(model))
        new, seq = [], plan.x
        for k, (layer, h0, final) in enumerate(plan.cells):
            names = Names(graph, layer.name)  # the node named after its cell, as TensorFlow names it
            out = plan.sequence if k == len(plan.cells) - 1 else names("sequence")
            new += gru_nodes(graph, names, layer, seq, h0, dtype, out, final)
            seq = out
        swap_node(graph, node, new)
        fused += 1
    if fused:
        prune(model)
    return fused


def fuse_cell_loops(model: onnx.ModelProto, layers: Sequence[GRULayer]) -> int:
    """Replace every ``Loop`` whose body is a chain of the named TF1 GRU cells (a MultiRNNCell under control flow v2,
    TF1 code frozen under TF 2.x; its dropout already gone at keep_prob 1, ``onnx_tidy.drop_inference_dropout``) by
    one GRU node per cell; returns how many Loops.

    The body reads step ``t`` of a time-major sequence (``Gather(seq, t)`` with ``t`` a counter from 0 by 1) into
    cell 0, each later cell reads the one before, and each cell's state is a loop-carried value of its own
    (``state_is_tuple=True``) or its columns of one carried value (``state_is_tuple=False``: a ``Slice`` in, the
    cells' new states concatenated out). The loop's outputs: that state, and the last cell's new state stacked per
    step. Anything else read from the loop leaves it as it is; the export is compared with TensorFlow either way."""
    graph = model.graph
    fused = 0
    outer = constants(graph)
    for node in list(graph.node):
        body = next((a.g for a in node.attribute if a.name == "body"), None) if node.op_type == "Loop" else None
        if body is None:
            continue
        read = {i for n in graph.node if n is not node for i in [*n.input, *outer_names(n)]}
        read |= {o.name for o in graph.output}
        plan = _loop_cells_plan(node, body, layers, read, outer)
        if plan is None:
            continue
        new, seq, finals = [], plan.x, []
        dtype = np.dtype(float_type(model))
        for k, (layer, h0, _) in enumerate(plan.cells):
            names = Names(graph, layer.name)
            out = plan.sequence if k == len(plan.cells) - 1 else names("sequence")
            final = names("state")
            start: str | None = h0 if not isinstance(h0, tuple) else None
            if isinstance(h0, tuple):  # its columns of the one carried state
                source, lo, hi = h0
                start = names("initial_state")
                args = [add_const(graph, names, np.array([v], np.int64), w) for v, w in ((lo, "starts"), (hi, "ends"),
                                                                                     (1, "axes"))]
                from onnx import helper

                new.append(helper.make_node("Slice", [source, *args], [start], name=names("columns")))
            new += gru_nodes(graph, names, layer, seq, start, dtype, out, final)
            finals.append(final)
            seq = out
        new += _loop_states(plan, finals)
        swap_node(graph, node, new)
        fused += 1
    if fused:
        prune(model)
    return fused


@dataclass
class _LoopCells:
    x: str  # the outer time-major sequence
    cells: list[tuple[GRULayer, str | tuple[str, int, int], int]]  # layer, its initial state, the carried index
    sequence: str  # the loop output stacking the last cell's new state
    states: dict[int, str]  # carried index -> the loop output holding its final value (read outside)
    concatenated: bool  # one carried state for every cell (state_is_tuple=False)


def _loop_states(plan: _LoopCells, finals: list[str]) -> list[onnx.NodeProto]:
    from onnx import helper

    out = []
    if plan.concatenated:
        final = plan.states.get(plan.cells[0][2])
        if final:
            out.append(helper.make_node("Concat", finals, [final], axis=1, name=f"{final}/cells"))
        return out
    for (_, _, k), made in zip(plan.cells, finals):
        if plan.states.get(k):
            out.append(helper.make_node("Identity", [made], [plan.states[k]], name=f"{plan.states[k]}/cell"))
    return out


def _loop_cells_plan(  # noqa: PLR0911, PLR0912 - one early return per shape the loop must have
    node: onnx.NodeProto, body: onnx.GraphProto, layers: Sequence[GRULayer], read: set[str],
    outer: dict[str, np.ndarray],
) -> _LoopCells | None:
    b_in = [i.name for i in body.input]
    b_out = [o.name for o in body.output]
    carried = len(node.input) - 2
    if carried < 1 or len(b_in) != carried + 2 or len(b_out) < carried + 1:
        return None
    made = {o: n for n in body.node for o in n.output}
    consts = constants(body)

    def through(name: str) -> str:
        while (n := made.get(name)) is not None and n.op_type == "Identity":
            name = n.input[0]
        return name

    def carried_index(name: str) -> int | None:  # a body input of a carried value -> its index in node.input
        name = through(name)
        return b_in.index(name) if name in b_in[2:] else None

    cells: list[tuple[GRULayer, str | tuple[str, int, int], int]] = []
    previous, x = "", ""
    concatenated = False
    for layer in layers:
        if layer.attrs.num_directions != 1:
            return None
        concat = next((n for n in body.node if n.op_type == "Concat" and len(n.input) == 2 and (
            n.name.endswith(f"{layer.name}/concat") or n.output[0].split(":")[0].endswith(f"{layer.name}/concat"))),
            None)
        if concat is None:
            if cells:
                break
            continue
        x_in, h_in = (through(i) for i in concat.input)
        if not cells:
            gather = made.get(x_in)
            if gather is None or gather.op_type != "Gather" or any(a.i for a in gather.attribute if a.name == "axis"):
                return None
            t = carried_index(gather.input[1])
            if gather.input[0] in b_in or gather.input[0] in made or t is None or not _counts_from_zero(
                    t, node, b_in, b_out, made, consts, outer, through):
                return None
            x = gather.input[0]
        elif x_in != previous:
            return None
        h = layer.attrs.hidden_size
        k = carried_index(h_in)
        if k is not None:
            start: str | tuple[str, int, int] = node.input[k]
        else:  # a Slice of the one carried state: its columns
            sl = made.get(h_in)
            k = carried_index(sl.input[0]) if sl is not None and sl.op_type == "Slice" else None
            cols = _columns(sl, consts) if sl is not None and k is not None else None
            if k is None or cols is None or cols[1] - cols[0] != h:
                return None
            concatenated = True
            start = (node.input[k], *cols)
        new_h = next((n.output[0] for n in body.node if n.op_type == "Add" and (
            n.name.endswith(f"{layer.name}/add") or n.output[0].split(":")[0].endswith(f"{layer.name}/add"))), None)
        if new_h is None:
            return None
        cells.append((layer, start, k))
        previous = new_h
    if not cells:
        return None
    news = [n for n in _cell_adds(body, [c[0] for c in cells])]
    # the carried state(s): each cell's new state, or their concatenation in order
    if concatenated:
        k = cells[0][2]
        cat = made.get(through(b_out[k - 1]))
        if len({c[2] for c in cells}) != 1 or cat is None or cat.op_type != "Concat" or [
                through(i) for i in cat.input] != news or not any(a.name == "axis" and a.i in (1, -1)
                                                                   for a in cat.attribute):
            return None
        if [c[1][1:] for c in cells] != [(j * cells[0][0].attrs.hidden_size, (j + 1) * cells[0][0].attrs.hidden_size)
                                          for j in range(len(cells))]:
            return None
    else:
        if any(through(b_out[k - 1]) != new for (_, _, k), new in zip(cells, news)):
            return None
    # the scan outputs: one, the last cell's new state; the other carried values read by nobody outside
    scans = list(range(carried + 1, len(b_out)))
    wanted = [j for j in scans if node.output[j - 1] in read]
    if len(wanted) != 1 or through(b_out[wanted[0]]) != news[-1]:
        return None
    states = {}
    for k in range(2, carried + 2):
        out = node.output[k - 2] if k - 2 < len(node.output) else ""
        if out and out in read:
            if k not in {c[2] for c in cells}:
                return None
            states[k] = out
    return _LoopCells(x, cells, node.output[wanted[0] - 1], states, concatenated)


def _cell_adds(body: onnx.GraphProto, layers: list[GRULayer]) -> list[str]:
    return [next(n.output[0] for n in body.node if n.op_type == "Add" and (
        n.name.endswith(f"{layer.name}/add") or n.output[0].split(":")[0].endswith(f"{layer.name}/add")))
        for layer in layers]


def _columns(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> tuple[int, int] | None:
    """The columns (axis 1) a 2-D Slice takes, rows whole; None for anything else."""
    starts, ends = consts.get(node.input[1]), consts.get(node.input[2])
    axes = consts.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    steps = consts.get(node.input[4]) if len(node.input) > 4 and node.input[4] else None
    if starts is None or ends is None or (steps is not None and np.any(steps != 1)):
        return None
    axes = np.arange(len(starts)) if axes is None else axes
    cols = None
    for s, e, a in zip(starts.tolist(), ends.tolist(), axes.tolist()):
        if a in (1, -1):
            cols = (int(s), int(e))
        elif s != 0 or e < (1 << 30):
            return None
    return cols


def _counts_from_zero(k: int, node: onnx.NodeProto, b_in: list[str], b_out: list[str], made: dict,
                      consts: dict[str, np.ndarray], outer: dict[str, np.ndarray], through: Callable) -> bool:
    """Whether carried value ``k`` starts at 0 and each step adds 1 (the time index of a dynamic_rnn loop)."""
    start = outer.get(node.input[k])
    step = made.get(through(b_out[k - 1]))
    if start is None or np.any(start != 0) or step is None or step.op_type != "Add":
        return False
    others = [i for i in step.input if through(i) != b_in[k]]
    return len(others) == 1 and others[0] in consts and bool(np.all(consts[others[0]] == 1))


@dataclass
class _ScanPlan:
    x: str  # the time-major input sequence
    cells: list[tuple[GRULayer, str, str | None]]  # layer, its initial state (N, H), its final state name or None
    sequence: str  # the last cell's outputs, time-major (T, N, H)


def _scan_plan(node: onnx.NodeProto, layers: Sequence[GRULayer], read: set[str]) -> _ScanPlan | None:  # noqa: PLR0911
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    body = attrs.get("body")
    scans = int(attrs.get("num_scan_inputs", 0))
    if body is None or scans != 1 or any(attrs.get(k) and any(attrs[k]) for k in (
            "scan_input_directions", "scan_output_directions", "scan_input_axes", "scan_output_axes")):
        return None
    states = len(node.input) - scans
    b_in = [i.name for i in body.input]
    b_out = [o.name for o in body.output]
    if len(b_out) != len(node.output) or len(b_out) - states != 1:
        return None
    made = {o: n for n in body.node for o in n.output}
    concat = {n.name: n for n in body.node if n.op_type == "Concat"}

    def through(name: str) -> str:  # past Identity nodes to the value itself
        while (n := made.get(name)) is not None and n.op_type == "Identity":
            name = n.input[0]
        return name

    cells: list[tuple] = []
    carried, previous = set(), b_in[states]  # cell 0 reads the scan input
    for layer in layers:
        if layer.attrs.num_directions != 1:
            return None
        found = next((n for name, n in concat.items() if name.endswith(f"/{layer.name}/concat")), None)
        if found is None or len(found.input) != 2:
            if cells:
                break
            continue
        x_in, h_in = found.input
        if through(x_in) != through(previous) or h_in not in b_in[:states]:
            return None
        k = b_in.index(h_in)
        new_h = b_out[k]
        adds = made.get(through(new_h))
        if adds is None or not adds.name.endswith(f"/{layer.name}/add"):
            return None
        used = node.output[k] if node.output[k] and node.output[k] in read else None
        cells.append((layer, node.input[k], used))
        carried.add(k)
        previous = new_h
    if not cells:
        return None
    if through(b_out[states]) != through(previous):
        return None
    for k in range(states):  # what else the loop carries (step counters) must be read by nothing outside
        if k not in carried and node.output[k] in read:
            return None
    return _ScanPlan(node.input[states], cells, node.output[states])


@dataclass
class _LoopPlan:
    layer: GRULayer
    x: str  # the outer time-major sequence the body reads step by step
    h0: str  # the loop's input for the carried state
    sequence: str  # the loop output stacking every step's state
    state: str  # the loop output holding the final state


def _source(body: onnx.GraphProto, name: str, ops: set[str]) -> tuple[str, onnx.NodeProto | None]:
    producer = {o: n for n in body.node for o in n.output}
    for _ in range(16):
        n = producer.get(name)
        if n is None or n.op_type not in ops:
            return name, n
        name = n.input[0]
    return name, producer.get(name)


def _loop_plan(graph: onnx.GraphProto, node: onnx.NodeProto, body: onnx.GraphProto, layer: GRULayer,
               kernel: onnx.NodeProto, recurrent: list) -> _LoopPlan | None:
    if layer.attrs.direction != "forward":
        return None
    inputs = [i.name for i in body.input]
    carried = len(inputs) - 2
    # the state: what the recurrent product multiplies, a carried variable of the loop
    h_name, _ = _source(body, recurrent[0].input[0], _PASS | {"Squeeze", "Reshape"})
    if h_name not in inputs[2:]:
        return None
    j = inputs.index(h_name)
    new_h, _ = _source(body, body.output[j - 1].name, _PASS)
    # body outputs: the condition, the carried values, then the scan outputs; the loop's outputs drop the condition
    scans = [k for k in range(1 + carried, len(body.output)) if _source(body, body.output[k].name, _PASS)[0] == new_h]
    if not scans or len(node.output) < scans[0]:
        return None
    sequence, state = node.output[scans[0] - 1], node.output[j - 2]
    # the input: a Gather, at the loop's step, of a tensor from outside the loop
    x_name, gather = _source(body, kernel.input[0], _PASS | {"Squeeze", "Reshape", "Flatten"})
    if gather is None or gather.op_type != "Gather":
        return None
    data = gather.input[0]
    if data in inputs[2:]:
        data = node.input[inputs.index(data)]
    elif data in inputs or data in {o for n in body.node for o in n.output}:
        return None
    if onnx_loops.masks_steps(body):  # masking: steps skipped, not a GRU node's job
        return None
    used = {i for n in graph.node if n is not node for i in n.input} | {o.name for o in graph.output}
    others = [o for k, o in enumerate(node.output) if o and o not in (sequence, state) and o in used]
    if others:
        return None
    return _LoopPlan(layer, data, node.input[j], sequence, state)


def _replace_loop(model: onnx.ModelProto, node: onnx.NodeProto, plan: _LoopPlan) -> None:
    graph = model.graph
    names = Names(graph, node.name or "fused_gru")
    dtype = np.dtype(float_type(model))
    swap_node(graph, node, gru_nodes(graph, names, plan.layer, plan.x, plan.h0, dtype, plan.sequence, plan.state))
