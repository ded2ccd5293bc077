"""The options shared by every command that runs models."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from onnxgru.core import inputs as inp
from onnxgru.errors import UserError

DEFAULT_BATCH = 3
DEFAULT_STEPS = 12


@dataclass(frozen=True)
class Settings:
    """How a verification runs: tolerances (per output too), the generated inputs' seed and sizes, taps."""

    atol: float = 1e-5
    rtol: float = 1e-5
    seed: int = 0
    batch: int = DEFAULT_BATCH
    steps: int = DEFAULT_STEPS
    inputs_file: str | None = None
    taps: bool = True  # capture every GRU's input and outputs in every execution
    atol_for: dict[str, float] = field(default_factory=dict)  # per output name, e.g. {"state": 1e-4}
    rtol_for: dict[str, float] = field(default_factory=dict)

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
