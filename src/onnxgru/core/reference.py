"""A numpy GRU that computes exactly what the ONNX ``GRU`` operator specifies: the oracle for every runtime.

Covers both ``linear_before_reset``, layout 0 and 1, forward/reverse/bidirectional, ``sequence_lens``,
``initial_h``, every ONNX activation with alpha/beta, and ``clip``. Computes in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from onnxgru.core.spec import GRUAttrs, GRULayer


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


_ACTIVATIONS: dict[str, Callable[[np.ndarray, Any, Any], np.ndarray]] = {  # alpha, beta: floats where used
    "Sigmoid": lambda x, a, b: _sigmoid(x),
    "Tanh": lambda x, a, b: np.tanh(x),
    "Relu": lambda x, a, b: np.maximum(x, 0.0),
    "Affine": lambda x, a, b: a * x + b,
    "LeakyRelu": lambda x, a, b: np.where(x >= 0, x, a * x),
    "ThresholdedRelu": lambda x, a, b: np.where(x > a, x, 0.0),
    "ScaledTanh": lambda x, a, b: a * np.tanh(b * x),
    "HardSigmoid": lambda x, a, b: np.clip(a * x + b, 0.0, 1.0),
    "Elu": lambda x, a, b: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0.0))),
    "Softsign": lambda x, a, b: x / (1.0 + np.abs(x)),
    "Softplus": lambda x, a, b: np.logaddexp(0.0, x),
}


def activation(name: str, alpha: float | None = None, beta: float | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The ONNX activation ``name`` as a numpy function."""
    try:
        fn = _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown GRU activation {name!r}; ONNX defines {sorted(_ACTIVATIONS)}") from None
    return lambda x: fn(x, alpha, beta)


def gru(
    attrs: GRUAttrs,
    X: np.ndarray,
    W: np.ndarray,
    R: np.ndarray,
    B: np.ndarray | None = None,
    sequence_lens: Sequence[int] | np.ndarray | None = None,
    initial_h: np.ndarray | None = None,
    out: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    carry: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one ONNX GRU node. Shapes follow ``attrs.layout``; returns ``(Y, Y_h)``, computed in float64.

    layout 0: X (T, N, I), Y (T, D, N, H), Y_h (D, N, H); layout 1: X (N, T, I), Y (N, T, D, H), Y_h (N, D, H).
    ``out``, when given, is the (T, D, N, H) array Y is written into (a view, or another float type to keep it in);
    else Y is a new float64 array.

    Beyond the operator, for the frameworks a GRU is compared with: ``mask`` (N, T), False where a step is skipped
    (Keras masking: the state goes through unchanged), and ``carry``: a skipped step outputs the last output of its
    walk (zeros before the first), as Keras does, instead of zeros, as ``sequence_lens`` does past each row's end.
    """
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)  # a float X is widened a block of steps at a time, in the projections
    if attrs.layout == 1:
        X = X.transpose(1, 0, 2)
        if initial_h is not None:
            initial_h = np.asarray(initial_h).transpose(1, 0, 2)
    T, N, _ = X.shape
    D, H = attrs.num_directions, attrs.hidden_size
    W = np.asarray(W, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    B = np.zeros((D, 6 * H)) if B is None else np.asarray(B, dtype=np.float64)
    # the steps each row runs: its first sequence_lens[n] (ONNX), and of them those its mask keeps (Keras)
    valid = np.ones((T, N), dtype=bool) if sequence_lens is None else (
        np.arange(T)[:, None] < np.asarray(sequence_lens, dtype=np.int64)[None, :])
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool).T
    h0 = np.zeros((D, N, H)) if initial_h is None else np.asarray(initial_h, dtype=np.float64)

    Y = np.zeros((T, D, N, H)) if out is None else out
    Y[...] = 0.0
    Y_h = np.zeros((D, N, H))
    for d in range(D):
        reverse = attrs.direction == "reverse" or d == 1
        f = activation(attrs.activations[2 * d], attrs.activation_alpha[2 * d], attrs.activation_beta[2 * d])
        g = activation(
            attrs.activations[2 * d + 1], attrs.activation_alpha[2 * d + 1], attrs.activation_beta[2 * d + 1]
        )
        with np.errstate(over="ignore", invalid="ignore"):  # NaN/Inf a model makes are kept for the report to show
            Y_h[d] = _one_direction(attrs, X, W[d], R[d], B[d], valid, h0[d], reverse, f, g, Y[:, d], carry)
    if attrs.layout == 1:
        return Y.transpose(2, 0, 1, 3), Y_h.transpose(1, 0, 2)
    return Y, Y_h


_BLOCK_VALUES = 1 << 18  # input projections computed ahead, in values (2 MiB of float64)


def _one_direction(attrs, X, W, R, B, valid, h0, reverse, f, g, Y, carry):  # internal hot loop
    """One direction's recurrence, written into ``Y`` (T, N, H); returns the last state. In reverse the walk starts at
    the last step; a row skips the steps ``valid`` (T, N) rules out, so with ``sequence_lens`` it starts at its own
    last valid step, as ONNX specifies. Memory stays at the output: the input projections are made for a block of
    steps at a time, not for every step at once."""
    T, N, _ = X.shape
    H = attrs.hidden_size
    clip = attrs.clip

    def clipped(a: np.ndarray) -> np.ndarray:
        return a if clip is None else np.clip(a, -clip, clip)

    Wbz, Wbr, Wbh, Rbz, Rbr, Rbh = np.split(B, 6)
    w_t = W.T  # (I, 3H), columns [z | r | h]
    x_bias = np.concatenate([Wbz + Rbz, Wbr + Rbr, Wbh])
    # the recurrent products in as few matmuls as the formula allows (transposed views: BLAS reads them as they are)
    before = not attrs.linear_before_reset
    r_all = R[: 2 * H].T if before else R.T  # (H, 2H) z and r, or (H, 3H) all three gates
    r_h = R[2 * H :].T
    h = h0.copy()
    shown = np.zeros_like(h)  # with ``carry``: what a skipped step outputs
    block = max(1, _BLOCK_VALUES // max(N * 3 * H, 1))
    for step in range(T):
        t = T - 1 - step if reverse else step
        if step % block == 0:  # the input projections of the next steps, in one matmul
            ahead = np.arange(step, min(step + block, T))
            steps = X[T - 1 - ahead if reverse else ahead].reshape(-1, X.shape[2])  # one 2-D matmul, not one per step
            projected = (steps.astype(np.float64) @ w_t + x_bias).reshape(len(ahead), N, 3 * H)
        xw = projected[step % block]
        rec = h @ r_all
        zr = rec[:, : 2 * H]
        zr += xw[:, : 2 * H]
        zr = f(clipped(zr))  # z and r share their activation: one call for both
        z, r = zr[:, :H], zr[:, H:]
        if before:
            c = g(clipped(xw[:, 2 * H :] + (r * h) @ r_h + Rbh))
        else:
            hh = rec[:, 2 * H :]
            hh += Rbh
            hh *= r
            hh += xw[:, 2 * H :]
            c = g(clipped(hh))
        new_h = (1.0 - z) * c + z * h
        active = valid[t]
        if active.all():
            h = shown = new_h
            Y[t] = h
            continue
        h = np.where(active[:, None], new_h, h)
        if carry:
            shown = np.where(active[:, None], h, shown)
            Y[t] = shown
        else:
            Y[t, active] = h[active]
    return h


def run_layers(
    layers: Sequence[GRULayer],
    x: np.ndarray,
    initial_h: Sequence[np.ndarray | None] | None = None,
    lengths: np.ndarray | None = None,
    flip_linear_before_reset: bool = False,
    out_dtype: np.dtype | type = np.float64,
    mask: np.ndarray | None = None,
    carry: bool = False,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run a chain of GRU layers on batch-major ``x`` (N, T, I), each on the previous one's output, as torch, Keras
    and TF's MultiRNNCell chain them. ``initial_h`` holds each layer's (D, N, H) start state (None: zeros);
    ``lengths`` each row's valid steps (ONNX ``sequence_lens``: outputs past the end are 0, the state stops there).
    Returns the last layer's output (N, T, D*H) in ``out_dtype`` and every layer's final state (D, N, H) in float64;
    everything is computed in float64 (a float32 model's figures move by at most half a float32 step when its
    reference output is kept in float32, at half the memory). ``flip_linear_before_reset`` runs the other GRU family
    with the same weights (for GRU006). ``mask`` and ``carry`` are Keras masking, applied to every layer (see
    ``gru``)."""
    seq = np.asarray(x)
    seq = (seq if np.issubdtype(seq.dtype, np.floating) else seq.astype(np.float64)).transpose(1, 0, 2)
    states = []
    for k, layer in enumerate(layers):
        attrs = layer.attrs
        if flip_linear_before_reset:
            attrs = replace(attrs, linear_before_reset=1 - attrs.linear_before_reset)
        attrs = replace(attrs, layout=0)
        init = None if initial_h is None or k >= len(initial_h) else initial_h[k]
        T, N, D, H = seq.shape[0], seq.shape[1], attrs.num_directions, attrs.hidden_size
        # written straight in (T, N, D, H), so the (T, N, D*H) sequence is a view, not a copy
        buf = np.empty((T, N, D, H), np.float64 if k < len(layers) - 1 else out_dtype)
        _, Y_h = gru(attrs, seq, layer.W, layer.R, layer.B, sequence_lens=lengths, initial_h=init,
                     out=buf.transpose(0, 2, 1, 3), mask=mask, carry=carry)
        seq = buf.reshape(T, N, D * H)
        if layer.output_reversed and k < len(layers) - 1:
            seq = seq[::-1]  # Keras go_backwards hands the next layer its steps in the order it read them
        states.append(Y_h)
    return seq.transpose(1, 0, 2), states


def split_rows(layers: Sequence[GRULayer], h0: np.ndarray | None) -> list[np.ndarray] | None:
    """A stacked state (layers*dirs, N, H) in torch's order as each layer's (D, N, H); None stays None."""
    if h0 is None:
        return None
    bounds = np.cumsum([0] + [layer.attrs.num_directions for layer in layers])
    return [h0[a:b] for a, b in zip(bounds, bounds[1:])]


def run_stack(
    layers: Sequence[GRULayer],
    x: np.ndarray,
    h0: np.ndarray | None = None,
    flip_linear_before_reset: bool = False,
) -> dict[str, np.ndarray]:
    """Run a stack of GRU layers on batch-major ``x`` (N, T, I), as torch and Keras stack them.

    ``h0`` is (layers*dirs, N, H) in torch's order. Returns ``{"output": (N, T, D*H), "state": (L*D, N, H)}``.
    """
    out, states = run_layers(layers, x, split_rows(layers, h0), flip_linear_before_reset=flip_linear_before_reset)
    return {"output": out, "state": np.concatenate(states, axis=0)}
