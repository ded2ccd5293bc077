"""TF1 ``GRUCell``s in a frozen GraphDef, found by their variables and read into canonical layers.

A ``GRUCell`` under scope ``S`` owns ``S/gates/kernel`` (I+H, 2H), ``S/gates/bias`` (2H), ``S/candidate/kernel``
(I+H, H) and ``S/candidate/bias`` (H), whichever driver runs it (``dynamic_rnn``, ``static_rnn``, a v1 or v2 while
loop), so the variables are the one thing every form shares. ``bidirectional_dynamic_rnn`` puts the pair under
``.../fw/...`` and ``.../bw/...``; ``MultiRNNCell`` numbers its cells ``cell_0``, ``cell_1``...
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from onnxgru.core import gatemaps
from onnxgru.core.spec import ACTIVATIONS, GRUAttrs, GRULayer
from onnxgru.errors import UserError

_PARTS = ("gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias")
# TF ops a GRUCell's candidate activation can be, and the ONNX GRU activation each one is (alpha from the node).
_ACTIVATIONS = {"Tanh": "Tanh", "Relu": "Relu", "Sigmoid": "Sigmoid", "Elu": "Elu", "Softsign": "Softsign",
                "Softplus": "Softplus", "LeakyRelu": "LeakyRelu"}
_PASS = {"Identity", "Enter", "ReadVariableOp", "Switch", "Cast"}


def _values(graph_def: Any) -> dict[str, np.ndarray]:
    from tensorflow.python.framework import tensor_util

    out = {}
    for n in graph_def.node:
        if n.op == "Const":
            try:
                out[n.name] = tensor_util.MakeNdarray(n.attr["value"].tensor)
            except Exception as exc:  # content that does not fit its declared shape or type
                raise UserError(
                    f"the constant {n.name!r} in the graph is corrupt ({type(exc).__name__}: {str(exc)[:80]}); "
                    "freeze and save the graph again."
                ) from None
    return out


def _all_nodes(graph_def: Any) -> list[tuple[str, str, list[str], Any]]:
    """(name, op, inputs, attrs) of the graph's nodes and of every function body (v2 while loops live there)."""
    out = [(n.name, n.op, list(n.input), n.attr) for n in graph_def.node]
    for fn in graph_def.library.function:
        out += [(n.name, n.op, list(n.input), n.attr) for n in fn.node_def]
    return out


def _activation(scope: str, nodes: list[tuple[str, str, list[str], Any]]) -> tuple[str, float | None]:
    """The op applied to the candidate's BiasAdd (``<cell>/BiasAdd_1``) in the cell ``scope``, as ONNX names it.

    The loop copies of a cell are named ``<outer>/while/<cell path>``, and in a v2 loop body only ``<cell path>``,
    so the node that shares most of the scope's path components is the one.
    """
    parts = scope.split("/")
    best, best_score = None, -1
    for name, op, _, _ in nodes:
        if op != "BiasAdd" or not name.endswith(parts[-1] + "/BiasAdd_1"):
            continue
        score = sum(p in name.split("/") for p in parts)
        if score > best_score:
            best, best_score = name, score
    if best is None:
        return "Tanh", None
    for _, op, inputs, attrs in nodes:
        if any(op_in.split(":")[0] == best for op_in in inputs) and op not in ("Identity",):
            if op == "LeakyRelu":
                return "LeakyRelu", float(attrs["alpha"].f)
            if op == "Elu":
                return "Elu", 1.0
            return _ACTIVATIONS.get(op, op), None
    return "Tanh", None


def _order_key(scope: str, index: int) -> tuple:
    # MultiRNNCell cells in their number order; otherwise the order the variables were made in.
    m = re.search(r"cell_(\d+)", scope)
    return (re.sub(r"cell_\d+", "", scope), int(m.group(1)) if m else -1, index)


def find(graph_def: Any) -> list[GRULayer]:
    """Every GRUCell in the graph as a canonical layer; a fw/bw pair is one bidirectional layer."""
    return find_with_scopes(graph_def)[0]


def find_with_scopes(graph_def: Any) -> tuple[list[GRULayer], list[list[str]]]:
    """``find``, and each layer's cell scopes (one, or the forward and the backward cell)."""
    values = _values(graph_def)
    scopes: list[tuple[str, int]] = []
    for index, node in enumerate(graph_def.node):
        if node.op == "Const" and node.name.endswith("/gates/kernel"):
            scope = node.name[: -len("/gates/kernel")]
            if all(f"{scope}/{p}" in values for p in _PARTS):
                scopes.append((scope, index))
    if not scopes:
        return [], []
    nodes = _all_nodes(graph_def)
    cells = {}
    for scope, _ in scopes:
        W, R, B = gatemaps.tf1_gru_cell_to_onnx(*(values[f"{scope}/{p}"] for p in _PARTS))
        cells[scope] = (W, R, B, _activation(scope, nodes))
    layers, layer_scopes = [], []
    done: set[str] = set()
    for scope, _ in sorted(scopes, key=lambda s: _order_key(*s)):
        if scope in done or _is_backward_of_pair(scope, cells):
            continue
        done.add(scope)
        partner = _partner(scope, cells)
        names = [scope] if partner is None else [scope, partner]
        done.update(names)
        parts = [cells[n] for n in names]
        W = np.stack([p[0] for p in parts])
        R = np.stack([p[1] for p in parts])
        B = np.stack([p[2] for p in parts])
        acts, alphas = [], []
        for p in parts:
            acts += ["Sigmoid", p[3][0]]
            alphas += [a for a in (p[3][1],) if a is not None]
        attrs = GRUAttrs(
            hidden_size=R.shape[2], input_size=W.shape[2], direction="bidirectional" if partner else "forward",
            linear_before_reset=0, activations=tuple(acts), activation_alpha=tuple(alphas),
        )
        name = scope if partner is None else _common(scope, partner)
        layers.append(GRULayer(name, attrs, W, R, B, fused=True, detail="TF1 GRUCell variables"))
        layer_scopes.append(names)
        # MultiRNNCell([cell] * n): one cell object stacked n times in a loop, its weights shared: n layers
        applied = _applications(scope, nodes) if partner is None else 1
        for j in range(2, applied + 1):
            layers.append(GRULayer(f"{name} #{j}", attrs, W, R, B,
                                   fused=True, detail=f"TF1 GRUCell variables, the cell stacked {applied} times "
                                   "(MultiRNNCell([cell] * n)): one set of weights"))
            layer_scopes.append(names)
    return layers, layer_scopes


def _applications(scope: str, nodes: list[tuple[str, str, list[str], Any]]) -> int:
    """How many times one step of a v1 while loop applies the cell ``scope``: its gates kernel read by that many
    MatMuls inside the loop (a cell object stacked in a MultiRNNCell); 1 outside a loop."""
    kernel = f"{scope}/gates/kernel"
    reads: dict[str, str] = {}  # tensor -> what it passes through to
    for name, op, inputs, _ in nodes:
        if op in _PASS and inputs:
            reads[name] = inputs[0].split(":")[0].lstrip("^")

    def reaches(tensor: str) -> bool:
        for _ in range(8):
            if tensor == kernel:
                return True
            if tensor not in reads:
                return False
            tensor = reads[tensor]
        return False

    count = sum(1 for name, op, inputs, _ in nodes if op == "MatMul" and len(inputs) > 1 and "/while/" in name
                and reaches(inputs[1].split(":")[0].lstrip("^")))
    return max(count, 1)


def _partner(scope: str, cells: dict) -> str | None:
    """The backward cell of a forward one (``.../fw/...`` -> ``.../bw/...``) when both exist."""
    return next((other for other in _swapped(scope, "fw", "bw") if other in cells), None)


def _is_backward_of_pair(scope: str, cells: dict) -> bool:
    return any(other in cells for other in _swapped(scope, "bw", "fw"))


def _swapped(scope: str, this: str, that: str) -> list[str]:
    """``scope`` with its last ``this`` component as ``that``, and with every one (a cell itself named ``fw`` inside
    ``bidirectional_rnn/fw`` is ``bidirectional_rnn/fw/fw``)."""
    parts = scope.split("/")
    if this not in parts:
        return []
    i = len(parts) - 1 - parts[::-1].index(this)
    last = "/".join(parts[:i] + [that] + parts[i + 1 :])
    every = "/".join(that if p == this else p for p in parts)
    return [last] if last == every else [last, every]


def _common(a: str, b: str) -> str:
    pa, pb = a.split("/"), b.split("/")
    return "/".join(x if x == y else "fw+bw" for x, y in zip(pa, pb))


def fusable(layer: GRULayer) -> str | None:
    """Why no ONNX GRU node can compute this layer, or None when one can."""

    odd = [a for a in layer.attrs.activations if a not in ACTIVATIONS]
    if odd:
        return f"its activation {odd[0]} is not one an ONNX GRU node can apply ({', '.join(ACTIVATIONS)})"
    return None
