"""The GRUs of an ONNX graph: fused ``GRU`` nodes, and Loop/Scan fallbacks recognised as GRU cells.

Only GRU nodes that some graph output depends on are layers; the rest are reported as unused. Weights may come from
initializers, Constant nodes, shape-only folds of them, or values given for graph inputs (``--input W=W.npy``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core import findings as F
from onnxgru.core.spec import DIRECTIONS, GRUAttrs, GRULayer
from onnxgru.core.walk import closure
from onnxgru.errors import UserError
from onnxgru.graph import loops as onnx_loops
from onnxgru.graph.constants import constants, node_name

if TYPE_CHECKING:
    import onnx

OTHER_RECURRENT = {"LSTM": "an LSTM", "RNN": "a plain RNN"}


def gru_attrs(node: onnx.NodeProto, input_size: int) -> GRUAttrs:
    """The node's attributes with the schema's defaults filled in."""
    from onnx import helper

    a = {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}

    def text(v: object) -> str:
        if not isinstance(v, bytes):
            return str(v)
        try:
            return v.decode()
        except UnicodeDecodeError:
            raise UserError(
                f"GRU node {node.name!r} has an attribute that is not text ({v!r}); the model is corrupt."
            ) from None

    direction = text(a.get("direction", "forward"))
    if direction not in DIRECTIONS:
        raise UserError(f"GRU node {node.name!r} has direction {direction!r}; ONNX allows {list(DIRECTIONS)}.")
    if "hidden_size" not in a:
        raise UserError(f"GRU node {node.name!r} has no hidden_size attribute; it is not a valid ONNX GRU.")
    try:
        return GRUAttrs(
            hidden_size=int(a["hidden_size"]),
            input_size=input_size,
            direction=direction,
            linear_before_reset=int(a.get("linear_before_reset", 0)),
            layout=int(a.get("layout", 0)),
            activations=tuple(text(v) for v in a.get("activations", ())),
            activation_alpha=tuple(float(v) for v in a.get("activation_alpha", ())),
            activation_beta=tuple(float(v) for v in a.get("activation_beta", ())),
            clip=float(a["clip"]) if "clip" in a else None,
        )
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"GRU node {node.name!r} has an attribute of the wrong type ({exc}); the model is invalid."
        ) from None


def gru_layer(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> GRULayer:
    """One fused GRU node as a canonical layer. Its W, R (and B) must be constants."""
    name = node_name(node)
    inputs = list(node.input) + [""] * 6
    missing = [n for n, i in (("W", 1), ("R", 2)) if inputs[i] not in consts]
    if missing:
        raise UserError(
            f"GRU node {name!r} takes {' and '.join(missing)} from a computation or a graph input, not a constant; "
            "onnxgru reads GRUs whose weights are stored in the model or given for its inputs (--input W=W.npy, or "
            "--inputs FILE.npz with the input names; fold computed weights first, e.g. with onnxsim)."
        )
    W, R = consts[inputs[1]], consts[inputs[2]]
    if W.ndim != 3 or R.ndim != 3:
        raise UserError(f"GRU node {name!r} has W of shape {W.shape} and R of shape {R.shape}; both must have rank 3.")
    attrs = gru_attrs(node, int(W.shape[2]))
    d, h = attrs.num_directions, attrs.hidden_size
    B = consts.get(inputs[3]) if inputs[3] else None
    B = np.zeros((d, 6 * h), W.dtype) if B is None else B
    if W.shape != (d, 3 * h, W.shape[2]) or R.shape != (d, 3 * h, h) or B.shape != (d, 6 * h):
        raise UserError(
            f"GRU node {name!r} has W {W.shape}, R {R.shape}, B {B.shape}, which do not fit hidden_size={h} and "
            f"direction={attrs.direction!r}; the model is invalid."
        )
    detail = "fused ONNX GRU node"
    if inputs[4] and inputs[4] not in consts:
        detail += " with sequence_lens"
    written = tuple(sorted(str(a.name) for a in node.attribute))
    return GRULayer(name=name, attrs=attrs, W=W, R=R, B=B, fused=True, detail=detail, written=written)


def _looks_recurrent(graph: onnx.GraphProto) -> bool:
    ops = {n.op_type for n in graph.node}
    # Sigmoid gates and a matrix product; the candidate activation may be any (tf2onnx writes Relu6 as Clip).
    return "Sigmoid" in ops and bool(ops & {"MatMul", "Gemm"})


@dataclass
class GRUScan:
    """What a walk over the graph found: the layers in order and, for each, the node that computes it."""

    layers: list[GRULayer] = field(default_factory=list)
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    findings: list[F.Finding] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # other recurrent nodes (LSTM, RNN), named for the user
    unused: list[str] = field(default_factory=list)  # GRU nodes no graph output depends on: not layers

    @property
    def fused_nodes(self) -> list[onnx.NodeProto]:
        return [n for n in self.nodes if n.op_type == "GRU"]


def outer_names(node: onnx.NodeProto) -> list[str]:
    """The names a node's subgraphs (at any depth) read from the graph around the node."""
    inner: set[str] = set()
    reads: list[str] = []
    todo = [g for a in node.attribute for g in [a.g, *a.graphs] if g.node or g.input]
    while todo:
        g = todo.pop()
        inner |= {i.name for i in g.input} | {t.name for t in g.initializer}
        for n in g.node:
            inner |= set(n.output)
            reads += [i for i in n.input if i]
            todo += [sub for a in n.attribute for sub in [a.g, *a.graphs] if sub.node or sub.input]
    return [r for r in dict.fromkeys(reads) if r not in inner]


def live_nodes(graph: onnx.GraphProto) -> set[int]:
    """The index of every node some graph output depends on; iterative, so a chain of any length is no recursion."""
    return live_and_read(graph)[0]


def live_and_read(graph: onnx.GraphProto) -> tuple[set[int], set[str]]:
    """``live_nodes``, and every tensor name they read (their subgraphs' outer names included)."""
    nodes = list(graph.node)
    producer = {out: k for k, node in enumerate(nodes) for out in node.output if out}

    def reads(name: str) -> list[str]:
        k = producer.get(name)
        return [] if k is None else [i for i in nodes[k].input if i] + outer_names(nodes[k])

    seen = set(closure((o.name for o in graph.output), reads))
    return {producer[name] for name in seen if name in producer}, seen


_MASKED = ("its steps are masked (the loop keeps the state where its mask skips a step), which a GRU node "
           "cannot express, so the loop stays: ONNX Runtime and OpenVINO run it, tract and the ONNX reference "
           "evaluator do not.")


def find_grus(model: onnx.ModelProto, given: dict[str, np.ndarray] | None = None) -> GRUScan:
    """Every fused GRU node that an output depends on, in order, and every Loop/Scan that computes a GRU-like
    recurrence (GRU005). ``given`` holds values fed for graph inputs (weights as inputs)."""
    graph = model.graph
    consts = constants(graph, given)
    live = live_nodes(graph)
    scan = GRUScan()
    for k, node in enumerate(graph.node):
        if node.domain not in ("", "ai.onnx"):
            continue
        if k not in live:
            if node.op_type == "GRU":
                scan.unused.append(node_name(node))
            continue
        if node.op_type == "GRU":
            scan.layers.append(gru_layer(node, consts))
            scan.nodes.append(node)
        elif node.op_type in OTHER_RECURRENT:
            scan.others.append(f"{OTHER_RECURRENT[node.op_type]} node {node_name(node)!r}")
        elif node.op_type in ("Loop", "Scan"):
            body = next((a.g for a in node.attribute if a.name == "body"), None)
            if body is None or not _looks_recurrent(body):
                continue
            where = node_name(node)
            found = onnx_loops.recognise_all(node, body, consts)
            for layer in found:  # a MultiRNNCell loop holds several cells
                scan.layers.append(layer)
                scan.nodes.append(node)
            how = f"a {node.op_type} over the time steps ({found[0].detail if found else 'weights not recognised'})"
            masked = found and onnx_loops.masks_steps(body)
            scan.findings.append(F.no_fused_node(where, how, _MASKED if masked else ""))
    if not scan.layers and not scan.findings and not scan.others and _looks_recurrent(graph):
        scan.findings.append(F.no_fused_node("graph", "unrolled cells (MatMul/Sigmoid/Tanh per step)"))
    if scan.unused:
        names = ", ".join(repr(n) for n in scan.unused[:5]) + (", ..." if len(scan.unused) > 5 else "")
        scan.findings.append(F.partial(
            "graph", f"{len(scan.unused)} GRU node(s) ({names}) compute nothing any output of the model depends on: "
            "they are not layers of the model, so onnxgru neither describes nor compares them. Remove them, or make "
            "the output that should use them depend on them."))
    return scan


def what_it_holds(model: onnx.ModelProto, layers: int) -> str:
    """What an export holds where its GRUs should be, for GRU005: its GRU nodes against the layers, and the loops."""
    ops = [n.op_type for n in model.graph.node]
    count = ops.count("GRU")
    loops = [f"{ops.count(op)} {op}" for op in ("Loop", "Scan") if op in ops]
    plural = "s" if layers != 1 else ""
    return f"{count} GRU node{'s' if count != 1 else ''} for {layers} layer{plural}" + (
        f" and {', '.join(loops)}" if loops else "")
