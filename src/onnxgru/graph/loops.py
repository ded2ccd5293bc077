"""GRUs that an exporter left as a Loop or Scan: recognise the cells from the operators of the loop body.

What tf2onnx 1.17 emits (measured on TF 2.21):
- a ``Scan`` for a TF1 ``dynamic_rnn`` whose v1 loop Grappler folded, one Scan for a whole ``MultiRNNCell`` (several
  cells in one body), and a ``Loop`` for control flow v2; the weights are outer initializers, referenced by name or
  passed in as loop-carried values;
- a ``Loop`` for Keras ``GRU`` layers it does not fuse (``reset_after=False``, ``use_bias=False``, non-default
  activations, and every Keras 3 GRU), with the weights passed in as loop-carried values.

A TF1 ``GRUCell`` is a MatMul by ``gates/kernel`` (I+H, 2H) and one by ``candidate/kernel`` (I+H, H), each followed
by an Add of its bias; a Keras cell is a MatMul by ``kernel`` (I, 3H) and one or more by (slices of)
``recurrent_kernel`` (H, 3H): one full product means reset-after (``linear_before_reset=1``), sliced products mean
reset-before. The candidate activation is the operator multiplied by ``1 - z``. The layers are marked ``fused=False``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru.core import gatemaps
from onnxgru.core.spec import GRUAttrs, GRULayer
from onnxgru.graph.constants import constants, node_name

if TYPE_CHECKING:
    import onnx

_PASS = {"Identity", "Cast"}
_ACTIVATION_OPS = {"Tanh", "Relu", "Sigmoid", "Elu", "Softsign", "Softplus", "LeakyRelu", "HardSigmoid",
                   "ThresholdedRelu", "Clip"}


class _Body:
    """The loop body with its names resolved to outer values: constants, producers, consumers."""

    def __init__(self, node: onnx.NodeProto, body: onnx.GraphProto, outer: dict[str, np.ndarray]) -> None:
        offset = 2 if node.op_type == "Loop" else 0  # a Loop body starts with (iteration, condition)
        alias = {}
        for k, inp in enumerate(body.input):
            # Loop: body (iteration, condition, carried...) <- node (M, cond, carried...); Scan: index for index.
            if k >= offset and k < len(node.input) and node.input[k]:
                alias[inp.name] = node.input[k]
        self.consts = dict(outer)
        self.consts.update(constants(body))
        for inner, outer_name in alias.items():
            if outer_name in outer:
                self.consts[inner] = outer[outer_name]
        self.nodes = list(body.node)
        self.carried = [i.name for i in body.input[offset:]]  # the loop-carried values (Scan: every input)
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def const(self, name: str) -> tuple[np.ndarray | None, bool]:
        """The constant behind ``name`` (through Identity/Cast), and whether a Slice/Split/Gather took part of it."""
        sliced = False
        for _ in range(8):
            if name in self.consts and self.consts[name].dtype.kind == "f":
                return self.consts[name], sliced
            n = self.producer.get(name)
            if n is None:
                return None, sliced
            if n.op_type in ("Slice", "Split", "Gather", "Squeeze"):
                sliced = True
            elif n.op_type not in _PASS:
                return None, sliced
            name = n.input[0]
        return None, sliced

    def upstream(self, name: str, limit: int = 24) -> set[str]:
        """Every name ``name`` is computed from inside the body, itself included (a bounded walk)."""
        seen, todo = {name}, [name]
        while todo and len(seen) < limit:
            n = self.producer.get(todo.pop())
            if n is None or n.op_type in ("MatMul", "Gemm"):
                continue
            for i in n.input[:1] if n.op_type == "Gather" else n.input:  # a Gather's data, not its step index
                if i and i not in seen:
                    seen.add(i)
                    todo.append(i)
        return seen

    def reads_state(self, matmul: onnx.NodeProto, carried: set[str]) -> bool:
        """Whether a MatMul's data input is computed from a loop-carried value (the state), not the step's input."""
        return any(name in carried and name not in self.consts for name in self.upstream(matmul.input[0]))

    def reads_reset_state(self, matmul: onnx.NodeProto) -> bool:
        """Whether a recurrent MatMul multiplies ``r * h``: a Mul one of whose factors is a Sigmoid (reset-before)."""
        name = matmul.input[0]
        for _ in range(8):
            n = self.producer.get(name)
            if n is None:
                return False
            if n.op_type == "Mul":
                return any((p := self.producer.get(i)) is not None and p.op_type == "Sigmoid" for i in n.input)
            if n.op_type not in _PASS | {"Squeeze", "Reshape", "Unsqueeze"}:
                return False
            name = n.input[0]
        return False

    def add_bias(self, matmul: onnx.NodeProto, size: int) -> np.ndarray | None:
        """The constant added to ``matmul``'s result (BiasAdd became Add), when there is one of ``size``."""
        for c in self.consumers.get(matmul.output[0], []):
            if c.op_type == "Add":
                other = [i for i in c.input if i != matmul.output[0]]
                if other:
                    value, _ = self.const(other[0])
                    if value is not None and value.size == size:
                        return value.reshape(-1)
        return None

    def stacked_bias(self, matmul: onnx.NodeProto, hidden: int) -> np.ndarray | None:
        """The (2, 3H) bias a reset-after Keras cell slices its input or recurrent bias from, found behind the Add on
        ``matmul``'s result: this cell's own, never another layer's of the same size."""
        for c in self.consumers.get(matmul.output[0], []):
            if c.op_type == "Add":
                for other in (i for i in c.input if i != matmul.output[0]):
                    value, _ = self.const(other)
                    if value is not None and value.shape == (2, 3 * hidden):
                        return value
        return None

    def activation(self) -> tuple[str, float | None]:
        """The op type of the candidate activation: the factor next to ``1 - z`` in ``(1 - z) * h~``."""
        for n in self.nodes:
            if n.op_type != "Mul" or len(n.input) != 2:
                continue
            producers = [self.producer.get(i) for i in n.input]
            if any(p is not None and p.op_type == "Sub" for p in producers):
                for p in producers:
                    if p is not None and p.op_type in _ACTIVATION_OPS:
                        alpha = next((a.f for a in p.attribute if a.name == "alpha"), None)
                        return p.op_type, alpha
        return "Tanh", None


def recognise_all(node: onnx.NodeProto, body: onnx.GraphProto, outer: dict[str, np.ndarray]) -> list[GRULayer]:
    """A canonical layer for each GRU cell the Loop/Scan computes (several for a MultiRNNCell), in order."""
    b = _Body(node, body, outer)
    name = node_name(node)
    act, alpha = b.activation()
    acts = ("Sigmoid", act)
    alphas = (alpha,) if alpha is not None else ()
    layers = _tf1_cells(b, name, acts, alphas)
    return layers or [layer for layer, _, _ in _keras_cells(b, name, acts, alphas)]


def keras_cell(node: onnx.NodeProto, body: onnx.GraphProto, outer: dict[str, np.ndarray]) -> tuple | None:
    """The Keras GRU cell a Loop computes, with the body's input-side MatMul and recurrent MatMuls (what a fusion
    follows back to the loop's sequence and state); None for anything else."""
    b = _Body(node, body, outer)
    act, alpha = b.activation()
    if _tf1_cells(b, node_name(node), ("Sigmoid", act), ()):
        return None
    found = _keras_cells(b, node_name(node), ("Sigmoid", act), (alpha,) if alpha is not None else ())
    return found[0] if found else None


def recognise(node: onnx.NodeProto, body: onnx.GraphProto, outer: dict[str, np.ndarray]) -> GRULayer | None:
    """The first cell of ``recognise_all``, or None."""
    layers = recognise_all(node, body, outer)
    return layers[0] if layers else None


def _matmuls(b: _Body) -> list[tuple[onnx.NodeProto, np.ndarray, bool]]:
    out = []
    for n in b.nodes:
        if n.op_type in ("MatMul", "Gemm") and len(n.input) >= 2:
            value, sliced = b.const(n.input[1])
            if value is not None and value.ndim == 2:
                out.append((n, value, sliced))
    return out


def _tf1_cells(b: _Body, name: str, acts: tuple, alphas: tuple) -> list[GRULayer]:
    mms = [(n, v) for n, v, sliced in _matmuls(b) if not sliced]
    gates = [(n, v) for n, v in mms if v.shape[1] % 2 == 0]
    layers: list[GRULayer] = []
    used: set[int] = set()
    for gn, gk in gates:
        h = gk.shape[1] // 2
        i = gk.shape[0] - h
        # The candidate MatMul of the same cell comes after the gates' and has the same rows and half the columns.
        cand = next(((cn, ck) for cn, ck in mms if ck.shape == (gk.shape[0], h) and id(cn) not in used
                     and b.nodes.index(cn) > b.nodes.index(gn)), None)
        if cand is None or i < 1:
            continue
        used.add(id(cand[0]))
        gb = b.add_bias(gn, 2 * h)
        cb = b.add_bias(cand[0], h)
        gb = np.zeros(2 * h, gk.dtype) if gb is None else gb
        cb = np.zeros(h, gk.dtype) if cb is None else cb
        W, R, B = gatemaps.tf1_gru_cell_to_onnx(gk, gb, cand[1], cb)
        attrs = GRUAttrs(hidden_size=h, input_size=i, linear_before_reset=0, activations=acts, activation_alpha=alphas)
        layers.append(GRULayer(
            f"{name}/cell_{len(layers)}", attrs, W[None], R[None], B[None], fused=False, detail="TF1 GRUCell in a loop"
        ))
    if len(layers) == 1:
        layers = [replace(layers[0], name=name)]
    return layers


def _keras_cells(b: _Body, name: str, acts: tuple, alphas: tuple) -> list[tuple[GRULayer, Any, list]]:
    mms = _matmuls(b)
    carried = set(b.carried)
    layers = []
    for kn, k, _ in mms:
        if k.shape[1] % 3 or b.reads_state(kn, carried):
            continue
        h = k.shape[1] // 3
        # the input side: one product by the kernel, or one per gate by its slices (Keras 3 with recurrent_dropout)
        kernels = [n for n, v, _ in mms if v is k and not b.reads_state(n, carried)]
        recurrent = [(n, v, s) for n, v, s in mms if v.shape == (h, 3 * h) and n not in kernels]
        if not recurrent or len({id(v) for _, v, _ in recurrent}) != 1:
            continue
        rk = recurrent[0][1]
        # reset-before multiplies r * h by the candidate's recurrent weights; reset-after multiplies h and then r
        lbr = 0 if any(b.reads_reset_state(n) for n, _, _ in recurrent) else 1
        bias = b.add_bias(kn, 3 * h)
        if lbr:
            rb = b.add_bias(recurrent[0][0], 3 * h)
            both = b.stacked_bias(kn, h)
            if both is None:
                both = b.stacked_bias(recurrent[0][0], h)
            if bias is not None and rb is not None:
                bias = np.stack([bias, rb])
            elif both is not None:
                bias = both
            else:
                bias = np.zeros((2, 3 * h), k.dtype)
        W, R, B = gatemaps.keras_to_onnx(k, rk, bias)
        attrs = GRUAttrs(hidden_size=h, input_size=k.shape[0], linear_before_reset=lbr, activations=acts,
                         activation_alpha=alphas)
        layer = GRULayer(name, attrs, W[None], R[None], B[None], fused=False, detail="Keras GRU in a loop")
        layers.append((layer, kn, [n for n, _, _ in recurrent]))
        break  # Keras runs one layer per loop
    return layers


def masks_steps(body: onnx.GraphProto) -> bool:
    """Whether a recurrent loop skips masked steps (Keras masking): it reads a second tensor at each step beside its
    input (the mask), or chooses between the new and the old state (Where, Select, Not). A GRU node cannot skip
    steps, so such a loop is never replaced by one: on padded inputs it would compute something else."""
    ops = [n.op_type for n in body.node]
    return any(op in ("Where", "Select", "Not") for op in ops) or ops.count("Gather") > 1
