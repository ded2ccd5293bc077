"""Seeded, discriminative inputs: more than one step and one batch row, values where the gates are not saturated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from onnxgru.errors import UserError

# Sizes a command line may ask for; checked before anything is allocated.
MAX_BATCH = 4096
MAX_STEPS = 100_000
MAX_ELEMENTS = 200_000_000
MAX_BYTES = 8 * MAX_ELEMENTS  # an array a user gives (--inputs, --input FILE.npy), in bytes: float64 at the most


def npy_header(f: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a ``.npy`` stream declares, read from its header alone (nothing allocated)."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(f)
    return tuple(int(d) for d in shape), np.dtype(dtype)


def check_npy(path: str | Path, what: str) -> None:
    """Refuse a ``.npy`` file whose header declares more than ``MAX_ELEMENTS`` values or ``MAX_BYTES`` bytes."""
    try:
        with open(path, "rb") as f:
            shape, dtype = npy_header(f)
    except (OSError, ValueError, EOFError, TypeError, SyntaxError):
        return  # unreadable: np.load says so in its own words
    values = int(np.prod(shape, dtype=object))
    if values > MAX_ELEMENTS or values * dtype.itemsize > MAX_BYTES:
        raise UserError(
            f"{what} declares an array of shape {shape} and dtype {dtype.str}, more than {MAX_ELEMENTS:,} values or "
            f"{MAX_BYTES:,} bytes; give a smaller array."
        )


@dataclass(frozen=True, eq=False)
class Inputs:
    """The feeds every execution gets: batch-major ``x`` (N, T, I) and initial state ``h0`` (L*D, N, H) or None."""

    x: np.ndarray
    h0: np.ndarray | None
    seed: int | None
    how: str
    extra: dict

    @property
    def batch(self) -> int:
        return int(self.x.shape[0])

    @property
    def steps(self) -> int:
        return int(self.x.shape[1])

    def describe(self) -> dict:
        return {"seed": self.seed, "batch": self.batch, "steps": self.steps, "how": self.how}


def check_sizes(batch: int, steps: int, width: int = 1) -> None:
    """Refuse sizes that are not positive or would allocate absurd memory, before allocating anything."""
    if batch < 1 or steps < 1:
        raise UserError(f"--batch and --steps must be at least 1 (got batch={batch}, steps={steps}).")
    if batch > MAX_BATCH or steps > MAX_STEPS or batch * steps * max(width, 1) > MAX_ELEMENTS:
        raise UserError(
            f"batch={batch}, steps={steps} is too large (at most {MAX_BATCH} rows, {MAX_STEPS} steps and "
            f"{MAX_ELEMENTS:,} input values); choose smaller --batch/--steps."
        )


def generate(
    seed: int,
    batch: int,
    steps: int,
    input_size: int,
    hidden_size: int | None,
    state_rows: int,
    dtype: np.dtype = np.float32,
) -> Inputs:
    """Seeded inputs. ``x`` uniform in [-1, 1) and ``h0`` uniform in [-0.9, 0.9): away from 0 (where every GRU is
    0.5*h0 after one step with zero weights) and away from the saturated ends of sigmoid and tanh."""
    check_sizes(batch, steps, input_size)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(batch, steps, input_size)).astype(dtype)
    h0 = None
    how = f"generated: numpy default_rng({seed}), x ~ U(-1, 1) of shape (batch={batch}, steps={steps}, {input_size})"
    if hidden_size:
        h0 = rng.uniform(-0.9, 0.9, size=(state_rows, batch, hidden_size)).astype(dtype)
        how += f", initial state ~ U(-0.9, 0.9) of shape {h0.shape}"
    return Inputs(x, h0, seed, how, {})


def from_arrays(x: np.ndarray, h0: np.ndarray | None, how: str) -> Inputs:
    """Inputs a user gave (``--inputs``), checked for rank and finiteness."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise UserError(f"the input sequence must have rank 3 (batch, steps, features), got shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.floating):
        raise UserError(f"the input sequence must be floating point, got dtype {x.dtype}.")
    if h0 is not None and not np.issubdtype(np.asarray(h0).dtype, np.floating):
        raise UserError(f"the initial state h0 must be floating point, got dtype {np.asarray(h0).dtype}.")
    for name, a in (("x", x), ("h0", h0)):
        if a is not None and not np.all(np.isfinite(a)):
            raise UserError(f"the given {name} contains NaN or Inf; give finite inputs.")
    if h0 is not None and (np.asarray(h0).ndim != 3 or np.asarray(h0).shape[1] != x.shape[0]):
        raise UserError(
            f"the initial state h0 must have shape (layers*directions, batch={x.shape[0]}, hidden), "
            f"got {np.asarray(h0).shape}."
        )
    check_sizes(x.shape[0], x.shape[1], x.shape[2])
    return Inputs(x, None if h0 is None else np.asarray(h0), None, how, {})
