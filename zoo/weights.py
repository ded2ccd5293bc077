"""Seeded, trained-looking weights for zoo models: Glorot-uniform kernels, small biases; never zero."""

from __future__ import annotations

import numpy as np


def glorot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    limit = np.sqrt(6.0 / sum(shape[-2:]))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def randomize(model: object, seed: int) -> None:
    """Give every weight of a Keras model (tf-keras or Keras 3) seeded values: matrices Glorot, vectors small."""
    rng = np.random.default_rng(seed)
    model.set_weights([glorot(rng, w.shape) if w.ndim >= 2 else rng.normal(0, 0.2, w.shape).astype(np.float32)
                       for w in model.get_weights()])


def randomize_torch(module: object, seed: int) -> None:
    """The same for a torch module's parameters (in place)."""
    import torch

    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in module.parameters():
            shape = tuple(p.shape)
            value = glorot(rng, shape) if len(shape) >= 2 else rng.normal(0, 0.2, shape).astype(np.float32)
            p.copy_(torch.from_numpy(value))
