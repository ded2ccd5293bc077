"""Every framework map round-trips through the canonical form, and the maps agree with the GRU formulas."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from onnxgru.core import gatemaps, reference
from onnxgru.core.spec import GRUAttrs

sizes = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31 - 1))


def _arr(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(0, 0.7, shape)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(sizes)
def test_torch_round_trip(s: tuple[int, int, int]) -> None:
    i, h, seed = s
    rng = np.random.default_rng(seed)
    wi, wh, bi, bh = _arr(rng, 3 * h, i), _arr(rng, 3 * h, h), _arr(rng, 3 * h), _arr(rng, 3 * h)
    W, R, B = gatemaps.torch_to_onnx(wi, wh, bi, bh)
    back = gatemaps.onnx_to_torch(W, R, B)
    for k, v in (("weight_ih", wi), ("weight_hh", wh), ("bias_ih", bi), ("bias_hh", bh)):
        np.testing.assert_array_equal(back[k], v)
    # torch's rows are [r|z|n]: ONNX's first block (z) is torch's second
    np.testing.assert_array_equal(W[:h], wi[h : 2 * h])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(sizes, st.booleans())
def test_keras_round_trip(s: tuple[int, int, int], reset_after: bool) -> None:
    i, h, seed = s
    rng = np.random.default_rng(seed)
    k, rk = _arr(rng, i, 3 * h), _arr(rng, h, 3 * h)
    bias = _arr(rng, 2, 3 * h) if reset_after else _arr(rng, 3 * h)
    W, R, B = gatemaps.keras_to_onnx(k, rk, bias)
    back = gatemaps.onnx_to_keras(W, R, B, reset_after)
    np.testing.assert_array_equal(back["kernel"], k)
    np.testing.assert_array_equal(back["recurrent_kernel"], rk)
    np.testing.assert_allclose(back["bias"], bias)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(sizes)
def test_tf1_round_trip(s: tuple[int, int, int]) -> None:
    i, h, seed = s
    rng = np.random.default_rng(seed)
    gk, gb, ck, cb = _arr(rng, i + h, 2 * h), _arr(rng, 2 * h), _arr(rng, i + h, h), _arr(rng, h)
    W, R, B = gatemaps.tf1_gru_cell_to_onnx(gk, gb, ck, cb)
    back = gatemaps.onnx_to_tf1_gru_cell(W, R, B)
    np.testing.assert_array_equal(back["gates/kernel"], gk)
    np.testing.assert_allclose(back["gates/bias"], gb)
    np.testing.assert_array_equal(back["candidate/kernel"], ck)
    np.testing.assert_allclose(back["candidate/bias"], cb)


def _tf1_cell_step(x: np.ndarray, h: np.ndarray, gk, gb, ck, cb) -> np.ndarray:
    """TF1 GRUCell.call written out from its documented formula."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    gates = sig(np.concatenate([x, h], 1) @ gk + gb)
    r, u = np.split(gates, 2, axis=1)
    c = np.tanh(np.concatenate([x, r * h], 1) @ ck + cb)
    return u * h + (1 - u) * c


def test_tf1_map_matches_the_cell_formula() -> None:
    rng = np.random.default_rng(7)
    i, h, n, t = 5, 4, 3, 6
    gk, gb, ck, cb = _arr(rng, i + h, 2 * h), _arr(rng, 2 * h), _arr(rng, i + h, h), _arr(rng, h)
    x, h0 = rng.uniform(-1, 1, (t, n, i)), rng.uniform(-0.9, 0.9, (n, h))
    state = h0
    for step in range(t):
        state = _tf1_cell_step(x[step], state, gk, gb, ck, cb)
    W, R, B = gatemaps.tf1_gru_cell_to_onnx(gk, gb, ck, cb)
    _, y_h = reference.gru(GRUAttrs(h, i, linear_before_reset=0), x, W[None], R[None], B[None], initial_h=h0[None])
    np.testing.assert_allclose(y_h[0], state, atol=1e-12)
    # and the other family, same weights, is a different function
    _, other = reference.gru(GRUAttrs(h, i, linear_before_reset=1), x, W[None], R[None], B[None], initial_h=h0[None])
    assert np.abs(other[0] - state).max() > 1e-2


def _torch_step(x, h, wi, wh, bi, bh):
    """torch.nn.GRU's documented formula, rows [r|z|n]."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    gi, gh = x @ wi.T + bi, h @ wh.T + bh
    ir, iz, inn = np.split(gi, 3, axis=1)
    hr, hz, hn = np.split(gh, 3, axis=1)
    r, z = sig(ir + hr), sig(iz + hz)
    n = np.tanh(inn + r * hn)
    return (1 - z) * n + z * h


def test_torch_map_matches_the_documented_formula() -> None:
    rng = np.random.default_rng(8)
    i, h, n, t = 5, 4, 3, 6
    wi, wh, bi, bh = _arr(rng, 3 * h, i), _arr(rng, 3 * h, h), _arr(rng, 3 * h), _arr(rng, 3 * h)
    x, h0 = rng.uniform(-1, 1, (t, n, i)), rng.uniform(-0.9, 0.9, (n, h))
    state = h0
    for step in range(t):
        state = _torch_step(x[step], state, wi, wh, bi, bh)
    W, R, B = gatemaps.torch_to_onnx(wi, wh, bi, bh)
    _, y_h = reference.gru(GRUAttrs(h, i, linear_before_reset=1), x, W[None], R[None], B[None], initial_h=h0[None])
    np.testing.assert_allclose(y_h[0], state, atol=1e-12)


def test_merge_biases_keeps_the_function() -> None:
    rng = np.random.default_rng(9)
    i, h = 3, 4
    W, R, B = _arr(rng, 1, 3 * h, i), _arr(rng, 1, 3 * h, h), _arr(rng, 1, 6 * h)
    x, h0 = rng.uniform(-1, 1, (5, 2, i)), rng.uniform(-0.9, 0.9, (1, 2, h))
    for lbr in (0, 1):
        a = GRUAttrs(h, i, linear_before_reset=lbr)
        merged = gatemaps.merge_biases(B, lbr)
        y1, _ = reference.gru(a, x, W, R, B, initial_h=h0)
        y2, _ = reference.gru(a, x, W, R, merged, initial_h=h0)
        np.testing.assert_allclose(y1, y2, atol=1e-12)
        assert not np.allclose(merged, B)


# --- from the canonical side: every map back and forth, and the lossy ones keep the function ----------------------
def _canonical(rng: np.random.Generator, i: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction's W (3H, I), R (3H, H) and B (6H) with a non-zero recurrent bias Rb."""
    return _arr(rng, 3 * h, i), _arr(rng, 3 * h, h), _arr(rng, 6 * h)


def _same_function(a: GRUAttrs, W, R, B, W2, R2, B2, rng: np.random.Generator) -> None:
    x, h0 = rng.uniform(-1, 1, (4, 2, a.input_size)), rng.uniform(-0.9, 0.9, (1, 2, a.hidden_size))
    y1, s1 = reference.gru(a, x, W[None], R[None], B[None], initial_h=h0)
    y2, s2 = reference.gru(a, x, W2[None], R2[None], B2[None], initial_h=h0)
    np.testing.assert_allclose(y1, y2, atol=1e-12)
    np.testing.assert_allclose(s1, s2, atol=1e-12)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(sizes)
def test_onnx_torch_onnx_is_exact(s: tuple[int, int, int]) -> None:
    i, h, seed = s
    W, R, B = _canonical(np.random.default_rng(seed), i, h)
    t = gatemaps.onnx_to_torch(W, R, B)
    back = gatemaps.torch_to_onnx(t["weight_ih"], t["weight_hh"], t["bias_ih"], t["bias_hh"])
    for got, want in zip(back, (W, R, B)):
        np.testing.assert_array_equal(got, want)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(sizes)
def test_onnx_keras_reset_after_onnx_is_exact(s: tuple[int, int, int]) -> None:
    i, h, seed = s
    W, R, B = _canonical(np.random.default_rng(seed), i, h)
    k = gatemaps.onnx_to_keras(W, R, B, reset_after=True)
    back = gatemaps.keras_to_onnx(k["kernel"], k["recurrent_kernel"], k["bias"])
    for got, want in zip(back, (W, R, B)):
        np.testing.assert_array_equal(got, want)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(sizes)
def test_onnx_to_tf1_with_a_recurrent_bias_keeps_the_function(s: tuple[int, int, int]) -> None:
    """A GRUCell has one bias per gate: ONNX's Rb folds into it, exact for reset-before (linear_before_reset=0)."""
    i, h, seed = s
    rng = np.random.default_rng(seed)
    W, R, B = _canonical(rng, i, h)
    cell = gatemaps.onnx_to_tf1_gru_cell(W, R, B)
    W2, R2, B2 = gatemaps.tf1_gru_cell_to_onnx(cell["gates/kernel"], cell["gates/bias"], cell["candidate/kernel"],
                                               cell["candidate/bias"])
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(R2, R)
    assert not np.any(B2[3 * h :]), "a GRUCell has no separate recurrent bias"
    _same_function(GRUAttrs(h, i, linear_before_reset=0), W, R, B, W2, R2, B2, rng)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(sizes)
def test_onnx_to_keras_reset_before_with_a_recurrent_bias_keeps_the_function(s: tuple[int, int, int]) -> None:
    i, h, seed = s
    rng = np.random.default_rng(seed)
    W, R, B = _canonical(rng, i, h)
    k = gatemaps.onnx_to_keras(W, R, B, reset_after=False)
    W2, R2, B2 = gatemaps.keras_to_onnx(k["kernel"], k["recurrent_kernel"], k["bias"])
    _same_function(GRUAttrs(h, i, linear_before_reset=0), W, R, B, W2, R2, B2, rng)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(sizes, st.sampled_from([0, 1]))
def test_merge_biases_keeps_the_function_for_any_weights(s: tuple[int, int, int], lbr: int) -> None:
    i, h, seed = s
    rng = np.random.default_rng(seed)
    W, R, B = _canonical(rng, i, h)
    merged = gatemaps.merge_biases(B, lbr)
    _same_function(GRUAttrs(h, i, linear_before_reset=lbr), W, R, B, W, R, merged, rng)
    assert not np.any(merged[3 * h : 3 * h + (2 * h if lbr else 3 * h)])


def test_keras_without_bias_is_zero_bias() -> None:
    rng = np.random.default_rng(3)
    k, rk = _arr(rng, 5, 12), _arr(rng, 4, 12)
    _, _, B = gatemaps.keras_to_onnx(k, rk, None)
    assert B.shape == (24,) and not np.any(B)
