"""The options shared by every command that runs models."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from onnxgru.core import inputs as inp
from onnxgru.errors import UserError

# the defaults of every command that runs models, said once (the CLI's flags and help read them)
DEFAULT_TOLERANCE = 1e-5  # --atol and --rtol
DEFAULT_SEED = 0
DEFAULT_BATCH = 3
DEFAULT_STEPS = 12


@dataclass(frozen=True)
class Settings:
    """How a verification runs: tolerances (per output too), the generated inputs' seed and sizes, taps."""

    atol: float = DEFAULT_TOLERANCE
    rtol: float = DEFAULT_TOLERANCE
    seed: int = DEFAULT_SEED
    batch: int = DEFAULT_BATCH
    steps: int = DEFAULT_STEPS
    inputs_file: str | None = None
    taps: bool = True  # capture every GRU's input and outputs in every execution
    atol_for: dict[str, float] = field(default_factory=dict)  # per output name, e.g. {"state": 1e-4}
    rtol_for: dict[str, float] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # --shape NAME=DIMS: a model input's whole shape

    def __post_init__(self) -> None:
        for name in ("atol", "rtol"):
            for v in (getattr(self, name), *getattr(self, f"{name}_for").values()):
                if not np.isfinite(v) or v < 0:
                    raise UserError(f"--{name} must be a finite number >= 0, got {v!r}.")
        if self.seed < 0:
            raise UserError(f"--seed must be a whole number >= 0, got {self.seed}.")
        inp.check_sizes(self.batch, self.steps)

    def tolerance(self, output: str) -> tuple[float, float]:
        """``(atol, rtol)`` for one output: its own where given (``--atol state:1e-4``), else the default."""
        return self.atol_for.get(output, self.atol), self.rtol_for.get(output, self.rtol)


def parse_shapes(items: list[str]) -> dict[str, tuple[int, ...]]:
    """``["ids=4x30", "x=2,100,80"]`` -> ``{"ids": (4, 30), "x": (2, 100, 80)}`` (Polygraphy's ``--input-shapes``)."""
    out = {}
    for item in items:
        name, sep, dims = item.partition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").replace("[", "").replace("]", "").split(",") if d)
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) < 1:
            raise UserError(f"--shape {item!r} must be NAME=DIMS with whole sizes >= 1, e.g. ids=4x30 or x=2,100,80.")
        inp.check_sizes(shape[0], shape[1] if len(shape) > 1 else 1, int(np.prod(shape[2:], dtype=np.int64)))
        out[name] = shape
    return out
