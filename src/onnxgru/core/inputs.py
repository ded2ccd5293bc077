"""The inputs every execution of a check gets, in canonical form, and how each model takes them.

``Inputs.data`` holds one array per data input of the models (batch on axis 0, time on axis 1 where the input has a
time axis), ``h0`` the initial state of the whole GRU stack ``(layers*directions, batch, hidden)`` in torch's
layer-major order (or None), ``lengths`` per-row sequence lengths (or None: every row runs every step), ``named``
fixed values by model input name (``--input keep_prob=1.0``). ``feeds(signature, inputs)`` turns them into one
model's own feeds. Generated values are seeded and discriminative: floats spread over the range where the gates are
not saturated, ids inside the embedding's vocabulary, more than one step and one batch row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from onnxgru.core.signature import Port, Signature, canonical_to_port, state_to_port
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
    """The inputs every execution of a check gets, in canonical (batch-major) form, and how they were made."""

    data: tuple[np.ndarray, ...]
    h0: np.ndarray | None
    seed: int | None
    how: str
    steps: int = 0  # the time steps of the data (0 when no data input has a time axis)
    lengths: np.ndarray | None = None
    named: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def x(self) -> np.ndarray:
        """The first data input (the sequence, for a bare GRU stack)."""
        return self.data[0]

    @property
    def batch(self) -> int:
        return int(self.data[0].shape[0]) if self.data and self.data[0].ndim else 1



def check_sizes(batch: int, steps: int, width: int = 1) -> None:
    """Refuse sizes that are not positive or would allocate absurd memory, before allocating anything."""
    if batch < 1 or steps < 1:
        raise UserError(f"--batch and --steps must be at least 1 (got batch={batch}, steps={steps}).")
    if batch > MAX_BATCH or steps > MAX_STEPS or batch * steps * max(width, 1) > MAX_ELEMENTS:
        raise UserError(
            f"batch={batch}, steps={steps} is too large (at most {MAX_BATCH} rows, {MAX_STEPS} steps and "
            f"{MAX_ELEMENTS:,} input values); choose smaller --batch/--steps."
        )


def draw(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype, vocab: int | None, low: int) -> np.ndarray:
    """One data input: floats ~ U(-1, 1) (away from 0, where every zero-weight GRU is 0.5*h0, and away from the
    saturated ends of sigmoid and tanh); ids ~ U{low..vocab-1} inside an embedding's vocabulary; other integers
    small and non-negative; booleans half true."""
    dtype = np.dtype(dtype)
    if vocab:
        return rng.integers(min(low, vocab - 1), vocab, size=shape).astype(dtype)
    if dtype.kind == "f":
        return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(size=shape) < 0.5
    high = vocab if vocab else 8
    return rng.integers(min(low, high - 1), high, size=shape).astype(dtype)


def draw_state(rng: np.random.Generator, rows: int, batch: int, hidden: int, dtype: np.dtype) -> np.ndarray:
    """An initial state ~ U(-0.9, 0.9): away from 0 and from the saturated ends."""
    return rng.uniform(-0.9, 0.9, size=(rows, batch, hidden)).astype(dtype)


def describe_draw(port: Port, shape: tuple[int, ...]) -> str:
    dtype = np.dtype(port.dtype)
    if dtype.kind == "f" and not port.vocab:
        law = "U(-1, 1)"
    elif dtype.kind == "b":
        law = "Bernoulli(0.5)"
    elif port.vocab:
        law = f"ids U{{{port.low}..{port.vocab - 1}}} (the embedding's vocabulary"
        law += ", 0 is its padding/mask id)" if port.low else ")"
    else:
        law = "U{0..7}"
    return f"{port.name} ~ {law} of shape {shape}"


def feeds(signature: Signature, inputs: Inputs) -> dict[str, np.ndarray]:
    """The model's own feeds, by input name, from the canonical inputs: data arrays moved to its axes and cast to its
    dtypes, its rows of the initial state, the lengths, fixed values. Optional inputs with nothing to say are left
    out; a graph default is used when no value is given."""
    out: dict[str, np.ndarray] = {}
    data = list(inputs.data)
    for port in signature.inputs:
        given = given_for(port.name, inputs.named)
        value = data.pop(0) if port.role == "data" and data else None
        if given is not None:
            out[port.name] = np.asarray(given).astype(port.dtype, copy=False)
        elif port.role == "data":
            if value is None:
                raise UserError(f"no value for the model input {port.name!r}; give it with --input {port.name}=...")
            out[port.name] = canonical_to_port(np.asarray(value).astype(port.dtype, copy=False), port)
        elif port.role == "state":
            value = _state(port, inputs)
            if value is not None:
                out[port.name] = value
        elif port.role == "lengths":
            lens = inputs.lengths if inputs.lengths is not None else np.full(inputs.batch, max(inputs.steps, 1))
            out[port.name] = np.asarray(lens).astype(port.dtype)
        elif port.default is None and not port.optional:
            raise UserError(f"no value for the model input {port.name!r}; give it with --input {port.name}=VALUE.")
    return out


def given_for(name: str, named: dict[str, np.ndarray]) -> np.ndarray | None:
    """The value given for the input ``name`` (a TensorFlow input may be named with or without its ``:0``)."""
    return next((named[k] for k in (name, f"{name}:0", name.split(":")[0]) if k in named), None)


def _state(port: Port, inputs: Inputs) -> np.ndarray | None:
    first, count = port.rows or (0, 1)
    if inputs.h0 is not None and first + count <= inputs.h0.shape[0]:
        rows = inputs.h0[first : first + count]
    elif port.optional:
        return None
    else:
        hidden = port.shape[-1] if port.shape and isinstance(port.shape[-1], int) and port.shape[-1] > 0 else 1
        rows = np.zeros((count, inputs.batch, hidden), np.dtype(port.dtype))
    return state_to_port(rows.astype(port.dtype, copy=False), port)
