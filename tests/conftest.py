"""Shared fixtures: random, non-degenerate GRU layers and ONNX files built from them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from onnxgru.core.spec import GRUAttrs, GRULayer


def random_layer(
    rng: np.random.Generator,
    input_size: int = 5,
    hidden: int = 4,
    direction: str = "forward",
    linear_before_reset: int = 1,
    name: str = "gru",
    scale: float = 0.6,
    **attrs: object,
) -> GRULayer:
    """A GRU layer with weights spread well away from zero (zero weights make every GRU return 0.5*h0)."""
    a = GRUAttrs(
        hidden_size=hidden, input_size=input_size, direction=direction, linear_before_reset=linear_before_reset, **attrs
    )
    d = a.num_directions
    return GRULayer(
        name,
        a,
        rng.normal(0, scale, (d, 3 * hidden, input_size)).astype(np.float32),
        rng.normal(0, scale, (d, 3 * hidden, hidden)).astype(np.float32),
        rng.normal(0, 0.4, (d, 6 * hidden)).astype(np.float32),
    )


def permute_gates(layer: GRULayer, perm: tuple[int, int, int]) -> GRULayer:
    """The same layer with its gate blocks reordered (new block i is old block perm[i]) in W, R and both biases."""
    from onnxgru.core.diff import _bias_gates, _gates

    return replace(layer, W=_gates(layer.W, perm, 1), R=_gates(layer.R, perm, 1),
                   B=_bias_gates(layer.B, perm, layer.attrs.hidden_size))


def with_attrs(layer: GRULayer, **changes: object) -> GRULayer:
    return replace(layer, attrs=replace(layer.attrs, **changes))


def save(model: object, path: Path) -> str:
    import onnx

    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(autouse=True, scope="session")
def _no_user_settings():
    """A developer's own settings stay out of the tests: ONNXGRU_MODELS would swap the bundled example, and
    ONNXGRU_DEBUG turns an internal error (exit 3, one line) into a traceback."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("ONNXGRU_MODELS", "ONNXGRU_DEBUG"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def stack_file(tmp_path: Path, rng: np.random.Generator):
    """Write a stack of layers as an ONNX file; returns its path."""
    from onnxgru.sources import onnx_build

    def make(layers: list[GRULayer], name: str = "model.onnx", **kw: object) -> str:
        return save(onnx_build.stack_model(layers, **kw), tmp_path / name)

    return make
