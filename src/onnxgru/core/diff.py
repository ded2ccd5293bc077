"""Diffing two GRU stacks: structure and attributes (GRU001-GRU003) and weights in canonical form (GRU004)."""

from __future__ import annotations

import itertools

import numpy as np

from onnxgru.core import findings as F
from onnxgru.core.findings import Finding
from onnxgru.core.gatemaps import merge_biases
from onnxgru.core.spec import GRULayer

GATES = ("z", "r", "h")


def diff_layers(
    a_name: str, a_layers: tuple[GRULayer, ...], b_name: str, b_layers: tuple[GRULayer, ...], atol: float = 1e-6
) -> list[Finding]:
    """Pair the layers in order and report every difference that changes the function."""
    findings: list[Finding] = []
    if len(a_layers) != len(b_layers):
        findings.append(F.layer_count_differs(a_name, len(a_layers), b_name, len(b_layers)))
    for index, (la, lb) in enumerate(zip(a_layers, b_layers)):
        where = f"layer {index} ({la.name} / {lb.name})"
        findings += diff_attrs(a_name, la, b_name, lb, where)
        if _shapes_match(la, lb):
            weight = diff_weights(la, lb, atol)
            if weight:
                findings.append(F.weights_differ(where, a_name, b_name, weight))
    return findings


def diff_attrs(a_name: str, la: GRULayer, b_name: str, lb: GRULayer, where: str) -> list[Finding]:
    a, b = la.attrs, lb.attrs
    out: list[Finding] = []
    if a.linear_before_reset != b.linear_before_reset:
        out.append(F.semantics_differ(where, a_name, a.linear_before_reset, b_name, b.linear_before_reset))
    structural = [
        (k, getattr(a, k), getattr(b, k))
        for k in ("hidden_size", "input_size", "direction", "layout")
        if getattr(a, k) != getattr(b, k)
    ]
    if structural:
        said = "; ".join(f"{k}: {va!r} vs {vb!r}" for k, va, vb in structural)
        hint = (
            " layout only changes the axis order of X/Y (1 = batch first); transpose the inputs or re-export "
            "with layout=0, which every runtime loads."
            if [s[0] for s in structural] == ["layout"]
            else ""
        )
        out.append(F.structure_differs(where, a_name, b_name, said, hint))
    act = [
        (k, getattr(a, k), getattr(b, k))
        for k in ("activations", "activation_alpha", "activation_beta", "clip")
        if getattr(a, k) != getattr(b, k)
    ]
    if act:
        said = "; ".join(f"{k}: {va!r} vs {vb!r}" for k, va, vb in act)
        out.append(F.nonlinearity_differs(where, a_name, b_name, said))
    return out


def _shapes_match(la: GRULayer, lb: GRULayer) -> bool:
    return la.W.shape == lb.W.shape and la.R.shape == lb.R.shape and la.B.shape == lb.B.shape


def diff_weights(la: GRULayer, lb: GRULayer, atol: float = 1e-6) -> str:
    """An empty string when the parameters are equal (biases compared with their equivalent split merged),
    else a sentence naming the gate permutation, transposition or direction swap that explains the difference."""
    lbr = la.attrs.linear_before_reset
    Wa, Ra, Ba = _f64(la.W), _f64(la.R), merge_biases(la.B, lbr)
    Wb, Rb, Bb = _f64(lb.W), _f64(lb.R), merge_biases(lb.B, lbr)

    def same(x: np.ndarray, y: np.ndarray) -> bool:
        return x.shape == y.shape and bool(np.allclose(x, y, atol=atol, rtol=1e-5))

    if same(Wa, Wb) and same(Ra, Rb) and same(Ba, Bb):
        return ""
    h = la.attrs.hidden_size
    for perm in itertools.permutations(range(3)):
        if perm == (0, 1, 2):
            continue
        if same(Wa, _gates(Wb, perm, 1)) and same(Ra, _gates(Rb, perm, 1)) and same(Ba, _bias_gates(Bb, perm, h)):
            return f"the second model's gate rows are {_order(perm)} instead of [z|r|h] ({_swap_words(perm)})."
    if Wa.shape[0] == 2 and same(Wa, Wb[::-1]) and same(Ra, Rb[::-1]) and same(Ba, Bb[::-1]):
        return "the forward and backward directions are swapped."
    if same(Wa, Wb) and same(Ba, Bb) and same(Ra, _transpose_gates(Rb)):
        return "each gate's recurrent matrix R is transposed (a Keras/TF (in, out) kernel read as (out, in))."
    if Wa.shape[-1] == h and same(Wa, _transpose_gates(Wb)) and same(Ra, Rb) and same(Ba, Bb):
        return "each gate's input matrix W is transposed (a Keras/TF (in, out) kernel read as (out, in))."
    if same(Wa, Wb) and same(Ra, Rb):
        wb_a, rb_a = np.split(la.B.astype(np.float64), 2, axis=-1)
        wb_b, rb_b = np.split(lb.B.astype(np.float64), 2, axis=-1)
        if same(wb_a, rb_b) and same(rb_a, wb_b):
            return "the input and recurrent biases (Wb and Rb) are swapped."
        return f"W and R are equal; the biases differ by up to {_max_diff(Ba, Bb):.3g}."
    parts = [
        f"{name} (max abs difference per gate: "
        + ", ".join(f"{g} {_max_diff(gx, gy):.3g}" for g, gx, gy in zip(GATES, np.split(x, 3, 1), np.split(y, 3, 1)))
        + ")"
        for name, x, y in (("W", Wa, Wb), ("R", Ra, Rb))
        if not same(x, y)
    ]
    if not same(Ba, Bb):
        parts.append(f"B (max abs difference {_max_diff(Ba, Bb):.3g})")
    return "they differ in " + "; ".join(parts) + "; no gate permutation or transposition explains it."


def _max_diff(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(x - y).max())


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _gates(a: np.ndarray, perm: tuple[int, ...], axis: int) -> np.ndarray:
    """Reorder the three gate blocks along ``axis``: new block i is old block ``perm[i]``."""
    blocks = np.split(a, 3, axis=axis)
    return np.concatenate([blocks[p] for p in perm], axis=axis)


def _bias_gates(B: np.ndarray, perm: tuple[int, ...], h: int) -> np.ndarray:
    wb, rb = B[..., : 3 * h], B[..., 3 * h :]
    return np.concatenate([_gates(wb, perm, -1), _gates(rb, perm, -1)], axis=-1)


def _transpose_gates(a: np.ndarray) -> np.ndarray:
    blocks = np.split(a, 3, axis=1)
    if blocks[0].shape[1] != blocks[0].shape[2]:
        return np.full_like(a, np.nan)
    return np.concatenate([blk.transpose(0, 2, 1) for blk in blocks], axis=1)


def _order(perm: tuple[int, ...]) -> str:
    return "[" + "|".join(GATES[p] for p in perm) + "]"


def _swap_words(perm: tuple[int, ...]) -> str:
    moved = [GATES[i] for i in range(3) if perm[i] != i]
    if len(moved) == 2:
        hint = " - torch's [r|z|n] order read as ONNX's" if set(moved) == {"z", "r"} else ""
        return f"{moved[0]} and {moved[1]} swapped{hint}"
    return "all three gates rotated"
