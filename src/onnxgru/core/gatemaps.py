"""Maps between each framework's GRU parameters and the canonical ONNX form, each written once.

ONNX notation: z is the update gate, r the reset gate, h the candidate ("hidden") gate. Canonical rows are
``[z | r | h]``; ``W`` multiplies the input, ``R`` the previous state; ``B = [Wb | Rb]``.

Every ``*_to_onnx`` has an ``onnx_to_*`` inverse, and the tests round-trip each pair.
"""

from __future__ import annotations

import numpy as np


def _split3(a: np.ndarray, axis: int) -> list[np.ndarray]:
    return np.split(a, 3, axis=axis)


# --- torch.nn.GRU -----------------------------------------------------------------------------------------------
# torch stacks rows [r | z | n] (n = candidate, reset *after* the recurrent matmul, i.e. linear_before_reset=1).
# weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H), for one layer and one direction.
def torch_to_onnx(
    weight_ih: np.ndarray, weight_hh: np.ndarray, bias_ih: np.ndarray | None, bias_hh: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction of ``nn.GRU`` -> ``(W (3H, I), R (3H, H), B (6H))`` in ``[z|r|h]``."""
    h3 = weight_ih.shape[0]
    assert h3 % 3 == 0 and weight_hh.shape == (h3, h3 // 3), (
        f"weight_hh {weight_hh.shape} for weight_ih {weight_ih.shape}"
    )
    bias_ih = np.zeros(h3, weight_ih.dtype) if bias_ih is None else bias_ih
    bias_hh = np.zeros(h3, weight_ih.dtype) if bias_hh is None else bias_hh

    def rzn_to_zrh(a: np.ndarray) -> np.ndarray:
        r, z, n = _split3(a, 0)
        return np.concatenate([z, r, n], axis=0)

    return rzn_to_zrh(weight_ih), rzn_to_zrh(weight_hh), np.concatenate([rzn_to_zrh(bias_ih), rzn_to_zrh(bias_hh)])


def onnx_to_torch(W: np.ndarray, R: np.ndarray, B: np.ndarray) -> dict[str, np.ndarray]:
    """One direction in ``[z|r|h]`` -> ``weight_ih, weight_hh, bias_ih, bias_hh`` in torch's ``[r|z|n]``."""

    def zrh_to_rzn(a: np.ndarray) -> np.ndarray:
        z, r, h = _split3(a, 0)
        return np.concatenate([r, z, h], axis=0)

    wb, rb = np.split(B, 2)
    return {
        "weight_ih": zrh_to_rzn(W),
        "weight_hh": zrh_to_rzn(R),
        "bias_ih": zrh_to_rzn(wb),
        "bias_hh": zrh_to_rzn(rb),
    }


# --- Keras GRU --------------------------------------------------------------------------------------------------
# kernel (I, 3H) and recurrent_kernel (H, 3H) with *columns* [z | r | h]; Keras multiplies x @ kernel, so the
# ONNX matrices are the transposes. bias is (3H,) with reset_after=False (one bias, added on the input side) or
# (2, 3H) = [input bias; recurrent bias] with reset_after=True.
def keras_to_onnx(
    kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction of a Keras ``GRU`` -> ``(W, R, B)``."""
    h3 = kernel.shape[1]
    assert recurrent_kernel.shape == (h3 // 3, h3), (
        f"recurrent_kernel {recurrent_kernel.shape} for kernel {kernel.shape}"
    )
    if bias is None:
        bias = np.zeros(h3, kernel.dtype)
    if bias.ndim == 1:
        # reset_after=False: the single bias sits inside the activation on the input side; Rb = 0.
        B = np.concatenate([bias, np.zeros_like(bias)])
    else:
        assert bias.shape == (2, h3), f"bias {bias.shape}"
        B = np.concatenate([bias[0], bias[1]])
    return kernel.T.copy(), recurrent_kernel.T.copy(), B


def onnx_to_keras(W: np.ndarray, R: np.ndarray, B: np.ndarray, reset_after: bool) -> dict[str, np.ndarray]:
    """``(W, R, B)`` -> Keras ``kernel, recurrent_kernel, bias``. For ``reset_after=False`` the two halves of B add."""
    wb, rb = np.split(B, 2)
    if reset_after:
        bias = np.stack([wb, rb])
    else:
        # Reset-before: ONNX computes h~ = g(Wh x + Rh (r*h) + Wbh + Rbh), so for every gate the two biases add.
        bias = wb + rb
    return {"kernel": W.T.copy(), "recurrent_kernel": R.T.copy(), "bias": bias}


# --- TF1 GRUCell ------------------------------------------------------------------------------------------------
# gates/kernel (I+H, 2H) with columns [r | u] over concat([x, h]) (u is the update gate, ONNX z);
# gates/bias (2H); candidate/kernel (I+H, H) over concat([x, r*h]); candidate/bias (H).
# TF computes  h' = u*h + (1-u)*c  — the same as ONNX's  (1-z)*h~ + z*h  with z = u.
# The candidate multiplies r*h by the recurrent block, so it is reset *before* the matmul: linear_before_reset=0.
def tf1_gru_cell_to_onnx(
    gates_kernel: np.ndarray, gates_bias: np.ndarray, candidate_kernel: np.ndarray, candidate_bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One TF1 ``GRUCell`` -> ``(W, R, B)`` with ``linear_before_reset=0`` semantics."""
    h = candidate_kernel.shape[1]
    i = gates_kernel.shape[0] - h
    assert gates_kernel.shape == (i + h, 2 * h) and gates_bias.shape == (2 * h,), (gates_kernel.shape, gates_bias.shape)
    assert candidate_kernel.shape == (i + h, h) and candidate_bias.shape == (h,), (
        candidate_kernel.shape,
        candidate_bias.shape,
    )
    gx, gh = gates_kernel[:i], gates_kernel[i:]
    cx, ch = candidate_kernel[:i], candidate_kernel[i:]
    r_x, u_x = gx[:, :h], gx[:, h:]
    r_h, u_h = gh[:, :h], gh[:, h:]
    r_b, u_b = gates_bias[:h], gates_bias[h:]
    W = np.concatenate([u_x.T, r_x.T, cx.T], axis=0)
    R = np.concatenate([u_h.T, r_h.T, ch.T], axis=0)
    B = np.concatenate([u_b, r_b, candidate_bias, np.zeros(3 * h, gates_bias.dtype)])
    return W, R, B


def onnx_to_tf1_gru_cell(W: np.ndarray, R: np.ndarray, B: np.ndarray) -> dict[str, np.ndarray]:
    """``(W, R, B)`` (reset-before) -> the four TF1 ``GRUCell`` variables. Input and recurrent biases add."""
    zW, rW, hW = _split3(W, 0)
    zR, rR, hR = _split3(R, 0)
    wb, rb = np.split(B, 2)
    zb, rbias, hb = _split3(wb + rb, 0)
    gates_kernel = np.concatenate([np.concatenate([rW.T, zW.T], axis=1), np.concatenate([rR.T, zR.T], axis=1)], axis=0)
    candidate_kernel = np.concatenate([hW.T, hR.T], axis=0)
    return {
        "gates/kernel": gates_kernel,
        "gates/bias": np.concatenate([rbias, zb]),
        "candidate/kernel": candidate_kernel,
        "candidate/bias": hb,
    }


def merge_biases(B: np.ndarray, linear_before_reset: int) -> np.ndarray:
    """A B with the same function and ``Rb = 0`` wherever that is possible.

    With reset-before every gate's two biases add; with reset-after the candidate's recurrent bias is multiplied by
    r and must stay where it is. Used to compare biases that are equivalent but split differently.
    """
    B = np.array(B, dtype=np.float64, copy=True)
    h = B.shape[-1] // 6
    keep = 2 * h if linear_before_reset else 3 * h
    B[..., :keep] += B[..., 3 * h : 3 * h + keep]
    B[..., 3 * h : 3 * h + keep] = 0.0
    return B
