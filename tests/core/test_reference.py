"""The numpy reference GRU against ONNX Runtime and the ONNX reference evaluator, where they support the case."""

from __future__ import annotations

import numpy as np
import pytest

from onnxgru.core import reference
from onnxgru.core.spec import GRUAttrs
from onnxgru.graph import build as onnx_build
from onnxgru.runtimes import get

from ..conftest import random_layer


def _run(runtime: str, model, feeds):
    return get(runtime).load(model)(feeds)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("lbr", [0, 1])
@pytest.mark.parametrize("runtime", ["onnxruntime", "reference"])
def test_matches_runtimes(direction: str, lbr: int, runtime: str, rng: np.random.Generator) -> None:
    layer = random_layer(rng, 5, 4, direction, lbr)
    x = rng.uniform(-1, 1, (7, 3, 5)).astype(np.float32)
    h0 = rng.uniform(-0.9, 0.9, (layer.attrs.num_directions, 3, 4)).astype(np.float32)
    model = onnx_build.single_node(layer.attrs, layer.W, layer.R, layer.B, with_h0=True)
    y, y_h = _run(runtime, model, {"X": x, "initial_h": h0})
    ry, ry_h = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B, initial_h=h0)
    np.testing.assert_allclose(y, ry, atol=2e-6)
    np.testing.assert_allclose(y_h, ry_h, atol=2e-6)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_sequence_lens_against_onnxruntime(direction: str, rng: np.random.Generator) -> None:
    layer = random_layer(rng, 4, 3, direction, 1)
    x = rng.uniform(-1, 1, (6, 3, 4)).astype(np.float32)
    lens = np.array([6, 2, 4], np.int32)
    model = onnx_build.single_node(layer.attrs, layer.W, layer.R, layer.B, with_lens=True)
    y, y_h = _run("onnxruntime", model, {"X": x, "sequence_lens": lens})
    ry, ry_h = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B, sequence_lens=lens)
    np.testing.assert_allclose(y, ry, atol=2e-6)
    np.testing.assert_allclose(y_h, ry_h, atol=2e-6)
    assert np.all(ry[2:, :, 1] == 0), "steps past a row's length stay zero"


@pytest.mark.parametrize(
    "acts,alpha,beta",
    [
        (("HardSigmoid", "Tanh"), (0.3,), (0.4,)),
        (("Sigmoid", "LeakyRelu"), (0.2,), ()),
        (("Sigmoid", "ScaledTanh"), (1.5,), (0.7,)),
        (("Sigmoid", "Softsign"), (), ()),
    ],
)
def test_activations_against_onnxruntime(acts, alpha, beta, rng: np.random.Generator) -> None:
    layer = random_layer(rng, 4, 3, "forward", 0, activations=acts, activation_alpha=alpha, activation_beta=beta)
    x = rng.uniform(-1, 1, (5, 2, 4)).astype(np.float32)
    model = onnx_build.single_node(layer.attrs, layer.W, layer.R, layer.B)
    y, _ = _run("onnxruntime", model, {"X": x})
    ry, _ = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B)
    np.testing.assert_allclose(y, ry, atol=2e-6)


def test_clip_against_onnxruntime(rng: np.random.Generator) -> None:
    layer = random_layer(rng, 4, 3, "forward", 0, scale=2.0, clip=0.5)
    x = rng.uniform(-1, 1, (5, 2, 4)).astype(np.float32)
    y, _ = _run("onnxruntime", onnx_build.single_node(layer.attrs, layer.W, layer.R, layer.B), {"X": x})
    ry, _ = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B)
    np.testing.assert_allclose(y, ry, atol=2e-6)
    unclipped, _ = reference.gru(GRUAttrs(3, 4), x, layer.W, layer.R, layer.B)
    assert np.abs(unclipped - ry).max() > 1e-2, "clip must change these outputs for the test to mean anything"


def test_layout_1_is_layout_0_transposed(rng: np.random.Generator) -> None:
    layer = random_layer(rng, 4, 3, "bidirectional", 1)
    x = rng.uniform(-1, 1, (5, 2, 4))
    h0 = rng.uniform(-0.9, 0.9, (2, 2, 3))
    y0, yh0 = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B, initial_h=h0)
    from dataclasses import replace

    a1 = replace(layer.attrs, layout=1)
    y1, yh1 = reference.gru(a1, x.transpose(1, 0, 2), layer.W, layer.R, layer.B, initial_h=h0.transpose(1, 0, 2))
    np.testing.assert_allclose(y1, y0.transpose(2, 0, 1, 3))
    np.testing.assert_allclose(yh1, yh0.transpose(1, 0, 2))


def test_zero_weights_make_every_gru_the_same(rng: np.random.Generator) -> None:
    """The blog's trap: with zero weights both families return 0.5*h0 after one step."""
    h = 5
    zeros = (np.zeros((1, 3 * h, 5)), np.zeros((1, 3 * h, h)), np.zeros((1, 6 * h)))
    x, h0 = rng.uniform(0, 1, (1, 3, 5)), rng.uniform(0, 1, (1, 3, h))
    outs = [reference.gru(GRUAttrs(h, 5, linear_before_reset=lbr), x, *zeros, initial_h=h0)[1] for lbr in (0, 1)]
    np.testing.assert_allclose(outs[0], 0.5 * h0)
    np.testing.assert_allclose(outs[1], 0.5 * h0)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("carry", [False, True])
def test_a_keras_mask_skips_steps_as_if_they_were_not_there(direction: str, carry: bool,
                                                            rng: np.random.Generator) -> None:
    """Keras masking: a row's skipped steps leave the state alone. Each row equals the GRU run on its kept steps
    alone; a skipped step outputs zeros, or (``carry``, Keras's default) the last output of its walk."""
    layer = random_layer(rng, 4, 3, direction, 0)
    x = rng.uniform(-1, 1, (6, 3, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1]], bool)  # (N, T)
    y, y_h = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B, mask=mask, carry=carry)
    for n in range(3):
        kept = np.flatnonzero(mask[n])
        alone, alone_h = reference.gru(layer.attrs, x[kept, n : n + 1], layer.W, layer.R, layer.B)
        np.testing.assert_allclose(y[kept, :, n], alone[:, :, 0], atol=1e-12)
        np.testing.assert_allclose(y_h[:, n], alone_h[:, 0], atol=1e-12)
        for d in range(layer.attrs.num_directions):
            walk = range(5, -1, -1) if direction == "reverse" or d == 1 else range(6)
            shown = np.zeros(3)
            for t in walk:
                if mask[n, t]:
                    shown = y[t, d, n]
                else:
                    np.testing.assert_array_equal(y[t, d, n], shown if carry else 0.0)
    full, full_h = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B)
    ones, ones_h = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B, mask=np.ones((3, 6), bool), carry=carry)
    np.testing.assert_array_equal(ones, full)  # nothing masked: the operator itself
    assert np.abs(y - full).max() > 0.05


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_input_projections_a_block_at_a_time_change_nothing(direction: str, rng: np.random.Generator,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The input projections are made a block of steps at a time (one 2-D matmul each): blocks of 1 and 3 steps give
    what one block of every step gives."""
    layer = random_layer(rng, 5, 4, direction, 0)
    x = rng.uniform(-1, 1, (10, 3, 5)).astype(np.float32)
    lens = np.array([10, 4, 7])
    whole = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B, sequence_lens=lens)
    for steps in (1, 3):
        monkeypatch.setattr(reference, "_BLOCK_VALUES", steps * 3 * 3 * 4)  # N * 3H values per step
        got = reference.gru(layer.attrs, x, layer.W, layer.R, layer.B, sequence_lens=lens)
        for g, w in zip(got, whole):
            np.testing.assert_allclose(g, w, atol=1e-14, rtol=0)
