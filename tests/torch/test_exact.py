"""The exact PyTorch GRU: equal to the numpy ONNX reference for both families, scriptable, mapped canonically."""

from __future__ import annotations

import io

import numpy as np
import pytest

from onnxgru.core import reference
from onnxgru.core.spec import GRULayer

from ..conftest import random_layer
from .conftest import H, I, N, T

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from onnxgru.errors import UserError  # noqa: E402
from onnxgru.frameworks.torch import build  # noqa: E402


def _stack(rng: np.random.Generator, lbr: int, direction: str = "forward", layers: int = 1) -> list[GRULayer]:
    out, width = [], I
    for k in range(layers):
        layer = random_layer(rng, width, H, direction, lbr, name=f"l{k}")
        out.append(layer)
        width = layer.attrs.num_directions * H
    return out


def _inputs(rng: np.random.Generator, layers: list[GRULayer]) -> tuple[np.ndarray, np.ndarray]:
    rows = sum(layer.attrs.num_directions for layer in layers)
    x = rng.uniform(-1, 1, (N, T, I)).astype(np.float32)
    return x, rng.uniform(-0.9, 0.9, (rows, N, H)).astype(np.float32)


def _scripted(module: torch.nn.Module) -> torch.jit.ScriptModule:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


@pytest.mark.parametrize(
    ("lbr", "direction", "layers"),
    [(0, "forward", 1), (1, "forward", 1), (0, "reverse", 1), (0, "bidirectional", 2), (1, "bidirectional", 2)],
)
def test_exact_stack_equals_the_onnx_reference(rng: np.random.Generator, lbr: int, direction: str, layers: int) -> None:
    stack = _stack(rng, lbr, direction, layers)
    x, h0 = _inputs(rng, stack)
    want = reference.run_stack(stack, x, h0)
    module = _scripted(build.exact_stack(stack, batch_first=True))
    with torch.no_grad():
        out, state = module(torch.from_numpy(x), torch.from_numpy(h0))
    np.testing.assert_allclose(out.numpy(), want["output"], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(state.numpy(), want["state"], atol=1e-5, rtol=1e-5)
    other = reference.run_stack(stack, x, h0, flip_linear_before_reset=True)
    assert np.abs(other["output"] - want["output"]).max() > 1e-3, "the weights must tell the two families apart"


@pytest.mark.parametrize(("lbr", "direction"), [(0, "bidirectional"), (1, "bidirectional"), (0, "reverse")])
def test_exact_stack_takes_lengths_as_onnx_sequence_lens(rng: np.random.Generator, lbr: int, direction: str) -> None:
    """``forward_lengths``: ``lengths`` as ONNX ``sequence_lens`` (and TF's ``sequence_length``): a row's later steps
    output 0 and hold the state, the reverse direction starts at the row's own last step; both layers read them."""
    stack = _stack(rng, lbr, direction, 2)
    x, h0 = _inputs(rng, stack)
    lengths = np.array([T, 2, 1], np.int64)  # N = 3 rows: full, two steps, one step
    d = stack[0].attrs.num_directions
    want, finals = reference.run_layers(stack, x, [h0[:d], h0[d:]], lengths)
    module = _scripted(build.exact_stack(stack, batch_first=True))
    with torch.no_grad():
        out, state = module.forward_lengths(torch.from_numpy(x), torch.from_numpy(h0), torch.from_numpy(lengths))
        full, _ = module(torch.from_numpy(x), torch.from_numpy(h0))
    np.testing.assert_allclose(out.numpy(), want, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(state.numpy(), np.concatenate(finals), atol=1e-5, rtol=1e-5)
    assert np.abs(out.numpy() - full.numpy()).max() > 1e-3, "the lengths must change what short rows give"


def test_exact_reset_after_equals_nn_gru_and_zero_state_is_the_default(rng: np.random.Generator) -> None:
    stack = _stack(rng, 1, "bidirectional", 2)
    x, _ = _inputs(rng, stack)
    gru = build.nn_gru(stack, batch_first=False)
    exact = build.exact_stack(stack, batch_first=False)
    xt = torch.from_numpy(x).transpose(0, 1)
    with torch.no_grad():
        for a, b in zip(gru(xt), exact(xt)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_float64_stack_stays_float64(rng: np.random.Generator) -> None:
    stack = _stack(rng, 0)
    x, h0 = _inputs(rng, stack)
    module = build.exact_stack(stack, batch_first=True, dtype="float64")
    with torch.no_grad():
        out, _ = module(torch.from_numpy(x).double(), torch.from_numpy(h0).double())
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), reference.run_stack(stack, x, h0)["output"], atol=1e-10)


def test_canonical_round_trips(rng: np.random.Generator) -> None:
    from onnxgru.frameworks.torch.discover import sites_of_module

    stack = _stack(rng, 0, "bidirectional", 2)
    for module, lbr in ((build.exact_stack(stack, batch_first=True), 0), (build.nn_gru(_stack(rng, 1), True), 1)):
        back = [layer for site in sites_of_module(_scripted(module)) for layer in site.layers]
        assert [layer.attrs.linear_before_reset for layer in back] == [lbr] * len(back)
    back = [layer for site in sites_of_module(_scripted(build.exact_stack(stack, True))) for layer in site.layers]
    for a, b in zip(stack, back):
        assert a.attrs.direction == b.attrs.direction
        for name in ("W", "R", "B"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_converted_wrapper_takes_the_source_layout_and_state_shape(rng: np.random.Generator) -> None:
    stack = _stack(rng, 0)
    x, h0 = _inputs(rng, stack)
    want = reference.run_stack(stack, x, h0)
    for time_major in (False, True):
        module = _scripted(build.converted(stack, time_major=time_major, dtype="float32", target="exact"))
        xin = torch.from_numpy(x).transpose(0, 1) if time_major else torch.from_numpy(x)
        with torch.no_grad():
            out, state = module(xin, torch.from_numpy(h0[0]))
            assert module(xin)[0].shape == out.shape  # h0 is optional
        out = out.transpose(0, 1) if time_major else out
        assert state.shape == (N, H)
        np.testing.assert_allclose(out.numpy(), want["output"], atol=1e-5)
        np.testing.assert_allclose(state.numpy(), want["state"][0], atol=1e-5)


def test_nn_gru_refuses_what_it_cannot_compute(rng: np.random.Generator) -> None:
    with pytest.raises(UserError, match="reset before"):
        build.nn_gru(_stack(rng, 0), batch_first=True)
    with pytest.raises(UserError, match="forward or bidirectional"):
        build.nn_gru(_stack(rng, 1, "reverse"), batch_first=True)
    clipped = random_layer(rng, I, H, clip=3.0)
    with pytest.raises(UserError, match="clip"):
        build.exact_stack([clipped], batch_first=True)
