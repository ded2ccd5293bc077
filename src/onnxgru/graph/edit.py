"""Editing an ONNX graph in place: fresh names, constants, a node swapped for others, a topological order, and
pruning what no output needs. Only onnx and numpy; the rewrites of ``fuse``, ``splice``, ``bidirectional`` and
``tidy`` build on these."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from onnxgru.graph.describe import live_and_read, outer_names

if TYPE_CHECKING:
    import onnx


def prune(model: onnx.ModelProto) -> None:
    """Remove the nodes (and initializers) no graph output depends on."""
    prune_graph(model.graph)


def prune_graph(graph: onnx.GraphProto) -> None:
    """``prune`` of one graph (a loop body too: its outputs are what it must compute)."""
    nodes = list(graph.node)
    live, seen = live_and_read(graph)
    kept = [n for k, n in enumerate(nodes) if k in live]
    del graph.node[:]
    graph.node.extend(kept)
    used = {i for n in kept for i in n.input} | set(seen)
    inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)


class Names:
    """Fresh tensor and node names that collide with nothing in the graph."""

    def __init__(self, graph: onnx.GraphProto, prefix: str) -> None:
        self.taken = {o for n in graph.node for o in n.output} | {i.name for i in graph.input} | {
            t.name for t in graph.initializer}
        self.prefix = prefix
        self.count = 0

    def __call__(self, what: str) -> str:
        while True:
            self.count += 1
            name = f"{self.prefix}/{what}_{self.count}"
            if name not in self.taken:
                self.taken.add(name)
                return name


def add_const(graph: onnx.GraphProto, names: Names, value: np.ndarray, what: str) -> str:
    from onnx import numpy_helper

    name = names(what)
    graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return name


def swap_node(graph: onnx.GraphProto, node: onnx.NodeProto, new: list[onnx.NodeProto]) -> None:
    """``node`` replaced by ``new``, in its place (the graph's nodes stay in an order that computes)."""
    index = list(graph.node).index(node)
    graph.node.remove(node)
    for k, n in enumerate(new):
        graph.node.insert(index + k, n)


def ordered(nodes: list[onnx.NodeProto], graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The nodes in an order where each comes after what it reads (ONNX wants a topological order)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    out, pending = [], list(nodes)
    while pending:
        progress = False
        rest = []
        for n in pending:
            reads = [i for i in n.input if i] + outer_names(n)
            if all(i in available for i in reads):
                out.append(n)
                available.update(n.output)
                progress = True
            else:
                rest.append(n)
        if not progress:  # a cycle or a name from nowhere: keep the rest as they were
            return out + rest
        pending = rest
    return out
