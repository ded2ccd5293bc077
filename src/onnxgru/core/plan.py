"""A model as a chain of steps, framework-neutral: what ``convert`` rebuilds whole in another framework.

A reader (Keras: ``frameworks/tf/keras_plan.py``) turns a model whose layers form one chain into ``Step``s with
their weights as numpy arrays; a builder (PyTorch: ``frameworks/torch/whole.py``) makes one module per step. The
recurrent steps name the canonical layers they compute (``layers``), so the exact module of each GRU is the one a
bare stack gets; another recurrent family would be one more ``family`` beside ``"gru"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Elementwise activations every builder must compute exactly as the source framework does.
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "silu",
               "gelu", "leaky_relu")

KINDS = ("embedding", "dense", "conv1d", "recurrent", "activation", "identity", "pool", "flatten", "norm")


@dataclass(frozen=True)
class Step:
    """One layer of the chain. ``arrays`` holds its weights in the source's own layout (documented per kind in the
    reader), ``options`` the rest; a recurrent step computes canonical layers ``layers`` of the model."""

    kind: str
    name: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    family: str = ""  # a recurrent step's cell family: "gru"
    layers: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


@dataclass(frozen=True)
class Plan:
    """A model with one input and one output that is the chain of ``steps``."""

    steps: tuple[Step, ...]

    @property
    def bare(self) -> bool:
        """Only recurrent layers (and inference no-ops): a bare stack, converted as one stack module."""
        return all(s.kind in ("recurrent", "identity") for s in self.steps)

    def describe(self) -> list[str]:
        return [f"{s.name} ({s.family or s.kind})" for s in self.steps]
