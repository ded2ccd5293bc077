"""What one GRU layer is: its attributes (ONNX schema defaults filled in) and its weights in canonical form.

The canonical form is the ONNX GRU's: ``W`` (dirs, 3H, I), ``R`` (dirs, 3H, H), ``B`` (dirs, 6H) = ``[Wb | Rb]``,
gate rows in the order ``[z | r | h]``. Every framework maps into and out of it (``gatemaps``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIRECTIONS = ("forward", "reverse", "bidirectional")
ACTIVATIONS = (
    "Sigmoid",
    "Tanh",
    "Relu",
    "Affine",
    "LeakyRelu",
    "ThresholdedRelu",
    "ScaledTanh",
    "HardSigmoid",
    "Elu",
    "Softsign",
    "Softplus",
)
# Defaults for alpha/beta, as the ONNX operator documentation gives them.
ACTIVATION_DEFAULTS: dict[str, tuple[float | None, float | None]] = {
    "Sigmoid": (None, None),
    "Tanh": (None, None),
    "Relu": (None, None),
    "Softsign": (None, None),
    "Softplus": (None, None),
    "Affine": (1.0, 0.0),
    "LeakyRelu": (0.01, None),
    "ThresholdedRelu": (1.0, None),
    "ScaledTanh": (1.0, 1.0),
    "HardSigmoid": (0.2, 0.5),
    "Elu": (1.0, None),
}
_CANONICAL_NAMES = {a.lower(): a for a in ACTIVATIONS}


def canonical_activation(name: str) -> str:
    """``"tanh"`` -> ``"Tanh"``; unknown names are returned unchanged so they can be reported."""
    return _CANONICAL_NAMES.get(name.lower(), name)


def num_directions(direction: str) -> int:
    return 2 if direction == "bidirectional" else 1


@dataclass(frozen=True)
class GRUAttrs:
    """A GRU's attributes, with every ONNX schema default filled in so absent and default never differ."""

    hidden_size: int
    input_size: int
    direction: str = "forward"
    linear_before_reset: int = 0
    layout: int = 0
    activations: tuple[str, ...] = ()
    activation_alpha: tuple[float | None, ...] = ()
    activation_beta: tuple[float | None, ...] = ()
    clip: float | None = None

    def __post_init__(self) -> None:
        dirs = num_directions(self.direction)
        acts = self.activations or ("Sigmoid", "Tanh") * dirs
        acts = tuple(canonical_activation(a) for a in acts)
        if len(acts) == 2 and dirs == 2:
            acts = acts * 2
        alphas = _fill(acts, self.activation_alpha, 0)
        betas = _fill(acts, self.activation_beta, 1)
        object.__setattr__(self, "activations", acts)
        object.__setattr__(self, "activation_alpha", alphas)
        object.__setattr__(self, "activation_beta", betas)
        if self.clip is not None:
            object.__setattr__(self, "clip", float(self.clip))

    @property
    def num_directions(self) -> int:
        return num_directions(self.direction)

    @property
    def semantics(self) -> str:
        return "reset_after" if self.linear_before_reset else "reset_before"

    @property
    def default_activations(self) -> bool:
        return self.activations == ("Sigmoid", "Tanh") * self.num_directions


def _fill(acts: tuple[str, ...], given: tuple[float | None, ...], which: int) -> tuple[float | None, ...]:
    """One alpha (or beta) per activation, None where the activation takes none.

    ONNX lists them compactly, only for the activations that take one (as ONNX Runtime reads them); a list that is
    already one-per-activation (this function's own output, e.g. after ``dataclasses.replace``) is kept per position.
    """
    defaults = [ACTIVATION_DEFAULTS.get(act, (None, None))[which] for act in acts]
    per_position = len(given) == len(acts) and (None in given or None not in defaults)
    if per_position:
        return tuple(None if d is None else (d if g is None else float(g)) for g, d in zip(given, defaults))
    queue = [g for g in given if g is not None]
    return tuple(None if d is None else (float(queue.pop(0)) if queue else d) for d in defaults)


@dataclass(frozen=True, eq=False)
class GRULayer:
    """One GRU layer (one ONNX GRU node, or one layer of a framework's stack) in canonical form."""

    name: str
    attrs: GRUAttrs
    W: np.ndarray  # (dirs, 3H, I), rows [z|r|h]
    R: np.ndarray  # (dirs, 3H, H)
    B: np.ndarray  # (dirs, 6H) = [Wb | Rb]
    fused: bool = True
    detail: str = ""
    written: tuple[str, ...] | None = None  # attribute names written in the ONNX node, when read from one
    output_reversed: bool = False  # Keras go_backwards: the layer gives its steps in the order it read them

    def __post_init__(self) -> None:
        a = self.attrs
        d, h, i = a.num_directions, a.hidden_size, a.input_size
        assert self.W.shape == (d, 3 * h, i), f"W of {self.name!r} has shape {self.W.shape}, expected {(d, 3 * h, i)}"
        assert self.R.shape == (d, 3 * h, h), f"R of {self.name!r} has shape {self.R.shape}, expected {(d, 3 * h, h)}"
        assert self.B.shape == (d, 6 * h), f"B of {self.name!r} has shape {self.B.shape}, expected {(d, 6 * h)}"

    @property
    def semantics(self) -> str:
        return self.attrs.semantics

    def weight_stats(self) -> dict[str, dict[str, float]]:
        """min/max/mean/std of W, R and B: enough to see degenerate (zero or constant) weights at a glance."""
        return {k: _stats(v) for k, v in (("W", self.W), ("R", self.R), ("B", self.B))}

    def degenerate(self) -> str | None:
        """Why this layer's weights cannot tell the GRU families apart, or None when they can."""
        bad = sum(int(np.count_nonzero(~np.isfinite(a))) for a in (self.W, self.R, self.B))
        if bad:  # a gate fed Inf saturates whatever the formula; NaN spreads to every output
            return f"{bad} of its weights are NaN or Inf"
        if not np.any(self.R):
            return "its recurrent weights R are all zero" if np.any(self.W) else "all its weights are zero"
        if np.ptp(self.R) == 0:
            return "its recurrent weights R are all the same value"
        return None



def _stats(a: np.ndarray) -> dict[str, float]:
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "std": 0.0}
    with np.errstate(invalid="ignore", over="ignore"):  # Inf weights: the statistics say inf/nan, quietly
        return {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()), "std": float(a.std())}
