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


def _tf1_cell_step(x: np.ndarray, h: np.ndarray, gk, gb, ck, cb) -> np.ndarray:  # noqa: ANN001
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


def _torch_step(x, h, wi, wh, bi, bh):  # noqa: ANN001, ANN202
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
