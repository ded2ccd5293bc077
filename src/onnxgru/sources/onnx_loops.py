"""GRUs that an exporter left as a Loop or Scan: recognise the cell from the constant weights it closes over.

tf2onnx emits a Scan (TF1 ``dynamic_rnn`` whose loop Grappler folded) or a Loop (control flow v2, Keras
``reset_after=False``) whose body multiplies the same weights a fused GRU node would hold. The weights are found by
their shapes and mapped with the gate maps; the layer is marked ``fused=False``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core import gatemaps
from onnxgru.core.spec import GRUAttrs, GRULayer

if TYPE_CHECKING:
    import onnx


def _all_constants(body: onnx.GraphProto, outer: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from onnxgru.sources.onnx_source import constants

    found = dict(outer)
    found.update(constants(body))
    for node in body.node:  # nested bodies (a Loop inside a Scan body, an If branch)
        for attr in node.attribute:
            if attr.type == attr.GRAPH:
                found.update(constants(attr.g))
    return found


def _used_names(body: onnx.GraphProto) -> set[str]:
    names = {i for n in body.node for i in n.input}
    for node in body.node:
        for attr in node.attribute:
            if attr.type == attr.GRAPH:
                names |= _used_names(attr.g)
    return names


def recognise(node: onnx.NodeProto, body: onnx.GraphProto, outer: dict[str, np.ndarray]) -> GRULayer | None:
    """A canonical layer for a Loop/Scan that computes a TF1 GRUCell or a Keras GRU, else None."""
    used = _used_names(body) | set(node.input)
    consts = {k: v for k, v in _all_constants(body, outer).items() if k in used and v.dtype.kind == "f"}
    mats = {k: v for k, v in consts.items() if v.ndim == 2}
    vecs = {k: v for k, v in consts.items() if v.ndim == 1}
    name = node.name or node.output[0]
    # TF1 GRUCell: gates/kernel (I+H, 2H), candidate/kernel (I+H, H), gates/bias (2H), candidate/bias (H).
    for gk in mats.values():
        for ck in mats.values():
            if gk is ck or gk.shape[0] != ck.shape[0] or gk.shape[1] != 2 * ck.shape[1]:
                continue
            h = ck.shape[1]
            i = gk.shape[0] - h
            if i < 1:
                continue
            gb = next((v for v in vecs.values() if v.shape == (2 * h,)), np.zeros(2 * h, gk.dtype))
            cb = next((v for v in vecs.values() if v.shape == (h,)), np.zeros(h, gk.dtype))
            W, R, B = gatemaps.tf1_gru_cell_to_onnx(gk, gb, ck, cb)
            attrs = GRUAttrs(hidden_size=h, input_size=i, linear_before_reset=0)
            return GRULayer(name, attrs, W[None], R[None], B[None], fused=False, detail="TF1 GRUCell in a " + node.op_type)
    # Keras GRU: kernel (I, 3H), recurrent_kernel (H, 3H), bias (3H) or (2, 3H).
    for rk in mats.values():
        h = rk.shape[0]
        if rk.shape[1] != 3 * h:
            continue
        for k in mats.values():
            if k is rk or k.shape[1] != 3 * h:
                continue
            bias2 = next((v for v in consts.values() if v.shape == (2, 3 * h)), None)
            bias = bias2 if bias2 is not None else next((v for v in vecs.values() if v.shape == (3 * h,)), None)
            lbr = 1 if bias2 is not None else 0
            W, R, B = gatemaps.keras_to_onnx(k, rk, bias)
            attrs = GRUAttrs(hidden_size=h, input_size=k.shape[0], linear_before_reset=lbr)
            return GRULayer(name, attrs, W[None], R[None], B[None], fused=False, detail="Keras GRU in a " + node.op_type)
    return None
