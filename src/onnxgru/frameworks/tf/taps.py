"""Where a TF1 GRUCell's input, initial state and outputs live in a frozen graph, as tensors a session can fetch.

A cell is found by its variables (``cells``); its gates MatMul reads ``concat([x_t, h])`` at every step.

- ``static_rnn`` unrolls the steps: each step's concat gives ``x_t`` and the previous state, and the step's new state
  is the ``Add`` of ``u*h`` (``new_h = u*h + (1-u)*c``); all of it outside any loop, so every step is fetched.
- ``dynamic_rnn`` (v1 control flow) runs the cell inside a while loop, whose inner tensors cannot be fetched; its
  boundary can: the input ``TensorArray`` scattered with the time-major sequence, the ``Enter`` of the initial state,
  the ``Exit`` of the final state, and the output ``TensorArray`` gathered after the loop. A ``MultiRNNCell`` is one
  loop: one tap over all its cells (the first cell's input, the last cell's output, every cell's states).
- ``bidirectional_dynamic_rnn`` is two loops, the backward one over the reversed sequence: its outputs are put back
  in input order.
- TF2 control flow (``While``/``StatelessWhile`` with a body function, what ``tf.compat.v1`` code frozen under TF 2.x
  gets) is tapped at its boundary too: the ``TensorListFromTensor`` of the time-major sequence, the initial state the
  loop takes, the loop's final state output, and the ``TensorListStack`` of the list the body writes; the body
  function tells which loop variable is which (the cell's gates ``MatMul`` reads ``concat([x_t, h])``).

``find(graph_def, layers)`` returns one ``TapSpec`` per tap it can make, and the names of the layers it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onnxgru.core.spec import GRULayer
from onnxgru.core.taps import Tap

_PASS = {"Identity", "Enter", "ReadVariableOp", "Switch", "Cast", "Snapshot"}


@dataclass(frozen=True)
class TapSpec:
    """The tensors to fetch for layers ``first .. first+count-1``, and how to make a ``Tap`` of them."""

    first: int
    count: int
    kind: str  # "static" | "loop"
    x: tuple[str, ...]  # static: x_t per step (N, I); loop: the scattered (T, N, I) sequence
    h0: tuple[tuple[str, ...], ...]  # per layer, per direction: (N, H) initial state
    y: tuple[tuple[str, ...], ...]  # per direction: static: new state per step; loop: the gathered (T, N, H)
    y_h: tuple[tuple[str, ...], ...]  # per layer, per direction: (N, H) final state ("" where the graph has none)
    reverse_bw: bool = False  # the backward direction ran over the reversed sequence
    where: str = ""
    lengths: str = ""  # a tensor of per-row lengths the loop used, when it had one
    # per layer: the columns (a, b) of its h0 and y_h tensors that are its own, where the cells share one
    # concatenated state (a MultiRNNCell with state_is_tuple=False); None or absent: the whole tensor
    columns: tuple[tuple[int, int] | None, ...] = ()

    def fetches(self) -> list[str]:
        out = [*self.x, *(t for d in self.h0 for t in d), *(t for d in self.y for t in d),
               *(t for d in self.y_h for t in d if t)]
        if self.lengths:
            out.append(self.lengths)
        return out

    def make(self, values: dict[str, np.ndarray]) -> Tap:
        """The canonical tap from the fetched values (batch-major, ONNX-aligned)."""
        lens = np.asarray(values[self.lengths]).astype(np.int64) if self.lengths else None
        if self.kind == "static":
            X = np.stack([values[t] for t in self.x], axis=1)
            Ys = [np.stack([values[t] for t in d], axis=1) for d in self.y]
            if self.reverse_bw and len(Ys) == 2:
                Ys[1] = Ys[1][:, ::-1]  # backward step k read x_{T-1-k}
        else:
            X = np.asarray(values[self.x[0]]).transpose(1, 0, 2)
            Ys = [np.asarray(values[d[0]]).transpose(1, 0, 2) for d in self.y]
            if self.reverse_bw and len(Ys) == 2:
                Ys[1] = _reverse(Ys[1], lens)
        Y = np.concatenate(Ys, axis=-1) if Ys else None
        h0 = tuple(np.stack([self._own(values[t], j) for t in layer]) if layer else None
                   for j, layer in enumerate(self.h0))
        y_h = tuple(np.stack([self._own(values[t], j) for t in layer]) if layer and all(layer) else None
                    for j, layer in enumerate(self.y_h))
        return Tap(self.first, self.count, np.ascontiguousarray(X), h0, Y, y_h, lens, self.where)


    def own_columns(self, j: int) -> tuple[int, int] | None:
        return self.columns[j] if j < len(self.columns) else None

    def _own(self, value: np.ndarray, j: int) -> np.ndarray:
        cols = self.own_columns(j)
        return np.asarray(value) if cols is None else np.asarray(value)[:, cols[0]:cols[1]]


def _reverse(y: np.ndarray, lens: np.ndarray | None) -> np.ndarray:
    """Each row's valid prefix reversed in time, as ``tf.reverse_sequence`` does (the whole row without lengths)."""
    if lens is None:
        return y[:, ::-1].copy()
    out = y.copy()
    for n, length in enumerate(lens):
        out[n, :length] = y[n, :length][::-1]
    return out


@dataclass
class _Graph:
    nodes: dict[str, Any]
    consumers: dict[str, list[Any]] = field(default_factory=dict)
    functions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, graph_def: Any) -> _Graph:
        return cls.of_nodes(graph_def.node, {f.signature.name: f for f in graph_def.library.function})

    @classmethod
    def of_nodes(cls, nodes: Any, functions: dict[str, Any] | None = None) -> _Graph:
        g = cls({n.name: n for n in nodes}, functions=functions or {})
        for n in nodes:
            for i in n.input:
                g.consumers.setdefault(_op(i), []).append(n)
        return g

    def producer(self, tensor: str) -> Any:
        return self.nodes.get(_op(tensor))

    def through(self, tensor: str, ops: set[str] = _PASS) -> tuple[str, Any]:
        """Follow ``tensor`` up through pass-through ops; the tensor reached and its producer."""
        for _ in range(16):
            node = self.producer(tensor)
            if node is None or node.op not in ops or not node.input:
                return tensor, node
            tensor = node.input[0]
        return tensor, self.producer(tensor)

    def users(self, tensor: str, op: str | tuple[str, ...]) -> list[Any]:
        ops = (op,) if isinstance(op, str) else op
        return [c for c in self.consumers.get(_op(tensor), []) if c.op in ops and any(
            _same(i, tensor) for i in c.input)]


def _op(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _same(a: str, b: str) -> bool:
    return _tensor(a) == _tensor(b)


def _tensor(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def find(graph_def: Any, layers: list[GRULayer], scopes: list[list[str]]) -> tuple[list[TapSpec], list[str]]:
    """Tap specs for the layers (``scopes[k]`` holds layer k's cell scopes: one, or fw and bw), and the names of the
    layers that cannot be tapped, with why."""
    g = _Graph.of(graph_def)
    specs: list[TapSpec] = []
    untapped: list[str] = []
    k = 0
    while k < len(layers):
        try:
            spec = _layer(g, layers, scopes, k)
        except _NoTap as exc:
            untapped.append(f"{layers[k].name}: {exc}")
            k += 1
            continue
        specs.append(spec)
        k += spec.count
    return specs, untapped


class _NoTap(Exception):
    pass


def _steps(g: _Graph, scope: str) -> list[Any]:
    """The ConcatV2 nodes that feed the cell's gates MatMul, one per step (one inside a loop)."""
    out = []
    kernel = f"{scope}/gates/kernel"
    for n in g.nodes.values():
        if n.op != "MatMul" or len(n.input) < 2:
            continue
        if _op(g.through(n.input[1])[0]) != kernel:
            continue
        concat = g.producer(n.input[0])
        if concat is not None and concat.op == "ConcatV2":
            out.append(concat)
    return out


def _layer(g: _Graph, layers: list[GRULayer], scopes: list[list[str]], k: int) -> TapSpec:
    cells = scopes[k]
    steps = [_steps(g, s) for s in cells]
    if not all(steps):
        return _v2_loop(g, layers, scopes, k)
    if _in_loop(g, steps[0][0]):
        return _loop(g, layers, scopes, k)
    return _static(g, layers, k, cells, steps)


def _in_loop(g: _Graph, node: Any) -> bool:
    """A node inside a v1 while loop reads its state through Identity(Switch(Merge(...)))."""
    h = node.input[1]
    _, prod = g.through(h, {"Identity"})
    return prod is not None and prod.op == "Switch"


def _new_state(g: _Graph, h_prev: str) -> str:
    """``new_h = u*h + (1-u)*c``: the Add over the Mul of ``h_prev`` by ``u``."""
    for mul in g.users(h_prev, "Mul"):
        for add in g.users(f"{mul.name}:0", ("Add", "AddV2")):
            return f"{add.name}:0"
    raise _NoTap("its new state could not be found in the graph")


def _static(g: _Graph, layers: list[GRULayer], k: int, cells: list[str], steps: list[list[Any]]) -> TapSpec:
    ys, h0s, finals, xs = [], [], [], None
    for concats in steps:
        chain = {_tensor(c.input[1]): c for c in concats}
        news = {id(c): _new_state(g, c.input[1]) for c in concats}
        produced = set(news.values())
        start = [c for c in concats if _tensor(c.input[1]) not in produced]
        if len(start) != 1:
            raise _NoTap("its unrolled steps do not form one chain")
        order: list = []
        c = start[0]
        while c is not None and len(order) <= len(concats):
            order.append(c)
            c = chain.get(news[id(c)])
        if len(order) != len(concats):
            raise _NoTap("its unrolled steps do not form one chain")
        x = tuple(_tensor(c.input[0]) for c in order)
        xs = xs or x
        ys.append(tuple(news[id(c)] for c in order))
        h0s.append(_tensor(order[0].input[1]))
        finals.append(news[id(order[-1])])
    reverse = len(steps) == 2 and xs is not None
    return TapSpec(k, 1, "static", xs or (), (tuple(h0s),), tuple(ys), (tuple(finals),), reverse_bw=reverse,
                   where=f"static_rnn cell {cells[0]!r}")


def _loop(g: _Graph, layers: list[GRULayer], scopes: list[list[str]], k: int) -> TapSpec:
    """A v1 while loop: its boundary tensors; the cells of following layers in the same loop join the tap."""
    cells = scopes[k]
    directions = []
    for scope in cells:
        directions.append(_loop_boundary(g, _applied(g, scope)[0]))
    x, lens = directions[0]["x"], directions[0]["lens"]
    if not x:
        raise _NoTap("its input comes from another cell inside the same loop")
    # MultiRNNCell: the next layers' first cells read this loop's inner state; they belong to the same tap
    count, h0s, finals = 1, [tuple(d["h0"] for d in directions)], [tuple(d["final"] for d in directions)]
    ys = [d["y"] for d in directions]
    while k + count < len(layers) and len(scopes[k + count]) == 1 and len(cells) == 1:
        applied = _applied(g, scopes[k + count][0])
        again = sum(1 for j in range(k, k + count) if scopes[j] == scopes[k + count])  # a stacked cell object
        if len(applied) <= again:
            break
        inner = _loop_boundary(g, applied[again])
        if inner["x"]:
            break
        h0s.append((inner["h0"],))
        finals.append((inner["final"],))
        ys = [inner["y"]] if inner["y"] else ys
        count += 1
    if not all(ys):
        raise _NoTap("the loop's output TensorArray could not be found")
    return TapSpec(k, count, "loop", (x,), tuple(h0s), tuple((y,) for y in ys), tuple(finals),
                   reverse_bw=len(cells) == 2, where=f"dynamic_rnn loop of {cells[0]!r}", lengths=lens)


def _applied(g: _Graph, scope: str) -> list[Any]:
    """The cell's concat([x, h]) nodes in one loop step, in the order they run: one, or one per application of a cell
    object a MultiRNNCell stacks (each after the one whose new state it reads)."""
    concats = _steps(g, scope)
    if len(concats) < 2:
        return concats
    news = {id(c): _new_state(g, c.input[1]) for c in concats}
    made_by = {_tensor(news[id(c)]): c for c in concats}
    first = [c for c in concats if _tensor(_through_dropout(g, c.input[0])) not in made_by]
    if len(first) != 1:
        raise _NoTap("its applications in the loop do not form one chain")
    order = [first[0]]
    while len(order) < len(concats):
        following = [c for c in concats if _tensor(_through_dropout(g, c.input[0])) == _tensor(news[id(order[-1])])]
        if len(following) != 1:
            raise _NoTap("its applications in the loop do not form one chain")
        order.append(following[0])
    return order


def _loop_boundary(g: _Graph, concat: Any) -> dict[str, str]:
    out = {"x": "", "h0": "", "final": "", "y": "", "lens": ""}
    # the input: TensorArrayReadV3(handle <- Enter(TensorArrayV3)) scattered outside with the sequence
    read = g.producer(g.through(concat.input[0], {"Identity"})[0])
    if read is not None and read.op == "TensorArrayReadV3":
        _, ta = g.through(read.input[0], {"Enter", "Identity"})
        if ta is not None and ta.op == "TensorArrayV3":
            scatter = next((s for s in g.consumers.get(ta.name, []) if s.op == "TensorArrayScatterV3"), None)
            if scatter is not None:
                out["x"] = _tensor(scatter.input[2])
    # the state: Identity(Switch(Merge(Enter(initial), NextIteration(new))))
    _, switch = g.through(concat.input[1], {"Identity"})
    if switch is None or switch.op != "Switch":
        raise _NoTap("its loop state could not be followed")
    merge = g.producer(switch.input[0])
    enter = g.producer(merge.input[0]) if merge is not None else None
    if enter is None or enter.op != "Enter":
        raise _NoTap("its initial state could not be found")
    out["h0"] = _tensor(enter.input[0])
    exits = [c for c in g.consumers.get(switch.name, []) if c.op == "Exit"]
    out["final"] = f"{exits[0].name}:0" if exits else ""  # pruned when the graph never reads the final state
    # the output: a TensorArrayWriteV3 of this cell's new state, gathered after the loop
    new = _new_state(g, concat.input[1])
    for w in _writes_of(g, new):
        _, ta = g.through(w.input[0], {"Enter", "Identity"})
        gather = next((c for c in g.consumers.get(ta.name, []) if c.op == "TensorArrayGatherV3"), None) if ta else None
        if gather is not None:
            out["y"] = f"{gather.name}:0"
    # lengths: dynamic_rnn copies the state through where time >= sequence_length (a Select on the state)
    for sel in g.users(new, ("Select", "SelectV2")):
        cond = g.producer(sel.input[0])
        if cond is not None and cond.op == "GreaterEqual":
            lens, _ = g.through(cond.input[1], {"Enter", "Identity", "Cast"})
            out["lens"] = _tensor(lens)
    return out


_TO_OUTPUT = ("Select", "SelectV2", "Mul", "RealDiv", "Identity", "Cast")  # a DropoutWrapper's mask and scale


def _writes_of(g: _Graph, new: str) -> list[Any]:
    """TensorArrayWriteV3 nodes that write ``new``: directly, through the Select that zeroes finished rows, or
    through a ``DropoutWrapper``'s output dropout (a mask and a scale, the identity at keep_prob 1, how the tap runs
    it); a few ops deep at most."""
    out, todo, seen = [], [(new, 0)], set()
    while todo:
        tensor, depth = todo.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        out += g.users(tensor, "TensorArrayWriteV3")
        if depth < 4:
            todo += [(f"{n.name}:0", depth + 1) for n in g.users(tensor, _TO_OUTPUT)]
    return out


# --- TF2 control flow: a While whose body function runs the cell ------------------------------------------------
_WHILE = ("While", "StatelessWhile")


def _v2_loop(g: _Graph, layers: list[GRULayer], scopes: list[list[str]], k: int) -> TapSpec:
    """A TF2 loop's boundary tensors, as ``_loop`` reads a v1 loop's; the next layers' cells in the same body (a
    MultiRNNCell) join the tap."""
    cells = scopes[k]
    directions = [_v2_boundary(g, scope) for scope in cells]
    x, lens = directions[0]["x"], directions[0]["lens"]
    if not x:
        raise _NoTap("its input comes from another cell inside the same loop")
    count, h0s, finals = 1, [tuple(d["h0"] for d in directions)], [tuple(d["final"] for d in directions)]
    ys = [d["y"] for d in directions]
    columns: list[tuple[int, int] | None] = [directions[0]["columns"] if len(cells) == 1 else None]
    while k + count < len(layers) and len(scopes[k + count]) == 1 and len(cells) == 1:
        try:
            inner = _v2_boundary(g, scopes[k + count][0])
        except _NoTap:
            break
        if inner["x"] or inner["loop"] != directions[0]["loop"]:
            break
        h0s.append((inner["h0"],))
        finals.append((inner["final"],))
        columns.append(inner["columns"])
        ys = [inner["y"]] if inner["y"] else ys
        count += 1
    if not all(ys):
        raise _NoTap("the loop's output list could not be found (the graph never reads the outputs)")
    return TapSpec(k, count, "loop", (x,), tuple(h0s), tuple((y,) for y in ys), tuple(finals),
                   reverse_bw=len(cells) == 2, where=f"TF2 while loop of {cells[0]!r}", lengths=lens,
                   columns=tuple(columns) if any(columns) else ())


def _v2_boundary(g: _Graph, scope: str) -> dict[str, Any]:
    """For the cell ``scope`` inside some While's body: the loop's sequence, initial state, final state, stacked
    outputs and lengths, as tensors of the top graph."""
    kernel = f"{scope}/gates/kernel"
    for loop in (n for n in g.nodes.values() if n.op in _WHILE):
        body = g.functions.get(loop.attr["body"].func.name)
        if body is None:
            continue
        args = [a.name for a in body.signature.input_arg]
        outer = {a: loop.input[i] for i, a in enumerate(args) if i < len(loop.input)}
        b = _Graph.of_nodes(body.node_def)
        for mm in (n for n in body.node_def if n.op == "MatMul" and len(n.input) > 1):
            arg = _op(b.through(mm.input[1], {"Identity"})[0])
            if arg not in outer or _op(g.through(outer[arg])[0]) != kernel:
                continue
            concat = b.producer(mm.input[0])
            if concat is None or concat.op != "ConcatV2":
                raise _NoTap("its gates do not read concat([x, h]) inside the loop")
            return _v2_ends(g, loop, body, b, args, outer, concat)
    raise _NoTap("its cell runs inside a TF2 loop function that could not be followed")


def _v2_ends(g: _Graph, loop: Any, body: Any, b: _Graph, args: list[str], outer: dict[str, str],
             concat: Any) -> dict[str, str]:
    out: dict[str, Any] = {"x": "", "h0": "", "final": "", "y": "", "lens": "", "loop": loop.name, "columns": None}
    h, made = b.through(concat.input[1], {"Identity"})
    h_arg = _op(h)
    if h_arg not in outer and made is not None and made.op == "Slice":  # its columns of one concatenated state
        h_arg, out["columns"] = _op(b.through(made.input[0], {"Identity"})[0]), _columns(b, made)
    if h_arg not in outer or (made is not None and made.op == "Slice" and out["columns"] is None):
        raise _NoTap("its loop state could not be followed")
    out["h0"] = _tensor(outer[h_arg])
    out["final"] = f"{loop.name}:{args.index(h_arg)}"
    item = b.producer(_through_dropout(b, concat.input[0]))
    if item is not None and item.op == "TensorListGetItem":
        source = g.producer(outer.get(_op(item.input[0]), ""))
        if source is not None and source.op == "TensorListFromTensor":
            out["x"] = _tensor(source.input[0])
    # the list the body writes (TensorListSetItem on a list argument), stacked after the loop
    for setitem in (n for n in body.node_def if n.op == "TensorListSetItem"):
        list_arg = _op(setitem.input[0])
        if list_arg not in outer:
            continue
        index = args.index(list_arg)
        stack = next((n for n in g.nodes.values() if n.op == "TensorListStack"
                      and _tensor(g.through(n.input[0], {"Identity"})[0]) == f"{loop.name}:{index}"), None)
        if stack is not None:
            out["y"] = f"{stack.name}:0"
    # lengths: the body copies the state through where time >= sequence_length (GreaterEqual on an argument)
    for ge in (n for n in body.node_def if n.op == "GreaterEqual" and len(n.input) > 1):
        lens_arg = _op(b.through(ge.input[1], {"Identity", "Cast"})[0])
        if lens_arg in outer:
            out["lens"] = _tensor(g.through(outer[lens_arg], {"Identity", "Cast"})[0])
    return out


def _through_dropout(b: _Graph, tensor: str) -> str:
    """Back from a cell's input past a ``DropoutWrapper``'s input dropout (``SelectV2(mask, x / keep, 0)``, the
    identity at keep_prob 1, how the tap runs it) to ``x``."""
    for _ in range(8):
        node = b.producer(tensor)
        if node is None:
            return tensor
        if node.op == "Identity":
            tensor = node.input[0]
        elif node.op in ("SelectV2", "Select") and len(node.input) == 3:
            tensor = node.input[1]
        elif node.op in ("RealDiv", "Mul") and node.name.rsplit("/", 1)[0].endswith("dropout"):
            tensor = node.input[0]
        else:
            return tensor
    return tensor


def _columns(b: _Graph, node: Any) -> tuple[int, int] | None:
    """The columns a TF ``Slice(state, begin, size)`` of a (N, C) state takes, rows whole; None for anything else."""
    from tensorflow.python.framework import tensor_util

    values = []
    for name in node.input[1:3]:
        const = b.producer(name)
        if const is None or const.op != "Const":
            return None
        values.append(tensor_util.MakeNdarray(const.attr["value"].tensor).tolist())
    (begin, size) = values
    if len(begin) != 2 or begin[0] != 0 or size[0] != -1 or size[1] < 1:
        return None
    return int(begin[1]), int(begin[1] + size[1])
