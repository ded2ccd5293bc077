"""Every graph an ONNX model holds, and how deep they nest: the main graph, the bodies of ``If``/``Loop``/``Scan``
(node attributes holding a graph or graphs, at any depth) and the model's local functions (``model.functions``).

A model file chooses its nesting, so it is checked before anything walks it or a runtime sees it: 30 ``If``s one
inside the other make OpenVINO hang, a function that calls itself never ends, and functions that each call the next
many times expand, once inlined (every runtime inlines them), to more nodes than memory holds. Exporters nest a
``Loop`` in an ``If`` in a ``Loop`` at the most. Only onnx is imported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onnxgru import limits
from onnxgru.errors import UserError
from onnxgru.graph.constants import node_name

if TYPE_CHECKING:
    import onnx

Key = tuple[str, str, str]  # a local function: (domain, name, overload)


@dataclass(frozen=True)
class Body:
    """One graph or function body of a model: its nodes, what it is called in messages, and the graph around it
    (whose names it may read), None for the main graph and for a function's body."""

    proto: onnx.GraphProto | onnx.FunctionProto
    where: str
    outer: Body | None = None


def subgraphs(node: onnx.NodeProto) -> Iterator[tuple[str, onnx.GraphProto]]:
    """The graphs in ``node``'s attributes, by attribute name (``then_branch``, ``body``...). Read from the fields
    whatever the attribute's declared type says: a runtime that goes by the field would run a graph hidden there."""
    for a in node.attribute:
        if a.HasField("g"):
            yield a.name, a.g
        for i, g in enumerate(a.graphs):
            yield f"{a.name}[{i}]", g


def function_key(f: onnx.FunctionProto) -> Key:
    return f.domain, f.name, getattr(f, "overload", "")


def call_key(node: onnx.NodeProto) -> Key:
    return node.domain, node.op_type, getattr(node, "overload", "")


def bodies(model: onnx.ModelProto) -> Iterator[Body]:
    """The main graph, every local function's body, and every graph inside them, outer before inner. Call
    ``check`` first: this walks as deep as the file nests."""
    stack = [Body(model.graph, "the main graph")]
    stack += [Body(f, f"function {f.name!r}") for f in reversed(model.functions)]
    while stack:
        body = stack.pop()
        yield body
        for node in reversed(body.proto.node):
            for attr, g in reversed(list(subgraphs(node))):
                stack.append(Body(g, f"the {attr} of {node.op_type} node {node_name(node)!r} in {body.where}", body))


def check(model: onnx.ModelProto, where: str) -> None:
    """Refuse a model whose graphs and function calls nest more than ``limits.MAX_GRAPH_DEPTH`` deep (a function that
    calls itself nests without end), or whose functions, inlined, make more than ``limits.MAX_EXPANDED_NODES``
    nodes; before anything recurses into it."""
    functions = {function_key(f): f for f in model.functions}
    measured: dict[Key, tuple[int, int]] = {}  # a function's own depth and node count, once measured

    def too_deep() -> UserError:
        return UserError(
            f"{where!r} nests subgraphs (If, Loop, Scan bodies) and function calls more than "
            f"{limits.MAX_GRAPH_DEPTH} levels deep; exporters nest a few, so onnxgru refuses it (the file is corrupt "
            "or hostile)."
        )

    def measure(nodes: Iterable[onnx.NodeProto], depth: int, calling: tuple[Key, ...]) -> tuple[int, int]:
        """How deep below ``depth`` these nodes nest, and how many nodes they are once functions are inlined."""
        if depth > limits.MAX_GRAPH_DEPTH:
            raise too_deep()
        deepest, count = 0, 0
        for node in nodes:
            count += 1
            for _, g in subgraphs(node):
                below, n = measure(g.node, depth + 1, calling)
                deepest, count = max(deepest, below + 1), count + n
            key = call_key(node)
            if key in functions:
                if key in calling:
                    raise too_deep()  # a function that calls itself, through others or directly
                if key not in measured:
                    measured[key] = measure(functions[key].node, depth + 1, (*calling, key))
                below, n = measured[key]
                if depth + 1 + below > limits.MAX_GRAPH_DEPTH:
                    raise too_deep()
                deepest, count = max(deepest, below + 1), count + n - 1  # the call is replaced by its body
            if count > limits.MAX_EXPANDED_NODES:
                raise UserError(
                    f"{where!r} has local functions that expand to more than {limits.MAX_EXPANDED_NODES:,} nodes "
                    "once inlined, as every runtime inlines them; onnxgru refuses it (the file is corrupt or hostile)."
                )
        return deepest, count

    measure(model.graph.node, 0, ())
    for key, f in functions.items():
        if key not in measured:  # a function no graph calls: runtimes may still read it
            measured[key] = measure(f.node, 1, (key,))
