"""A model's interface as its author ships it: every input and output with its name, dtype and static dims.

Each input also says what onnxgru may feed it (its ``role``):

- ``data``: what the model computes on: a float sequence, integer token ids (``vocab`` set when they feed an
  embedding), a flat image, ... Generated inputs fit its fixed dims; ``batch_axis`` and ``time_axis`` say where the
  batch rows and the time steps are (``time_axis`` None when the input has no time axis, e.g. ``(batch, 784)``).
- ``state``: an initial state of GRU layers: canonical rows ``rows = (first, count)`` of the stack's
  ``(layers*directions, batch, hidden)`` state, in the shape ``state_form`` says (``"NH"`` one row as TensorFlow
  takes it, ``"DNH"`` as ONNX and torch take it, ``"NDH"`` for an ONNX GRU with ``layout=1``).
- ``lengths``: per-row sequence lengths (``sequence_lens``, TF's ``sequence_length``).
- ``feed``: anything with no natural value (``keep_prob``, a training flag, GRU weights given as inputs); it must
  be given with ``--input`` unless the graph has a ``default``.

Canonical data arrays (what ``Inputs`` holds) have the batch on axis 0 and time on axis 1; a model's ``feeds`` moves
them to its own axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

ROLES = ("data", "state", "lengths", "feed")
STATE_FORMS = ("NH", "DNH", "NDH")


@dataclass(frozen=True, eq=False)
class Port:
    """One input or output of a model."""

    name: str
    dtype: str  # numpy dtype name: "float32", "int64", "bool"
    shape: tuple[int | None, ...] | None  # None: rank unknown; None in it: a dynamic dim
    role: str = "data"
    batch_axis: int | None = 0
    time_axis: int | None = 1
    vocab: int | None = None  # integer data feeding an embedding: ids are drawn in [low, vocab)
    low: int = 0  # 1 when id 0 is a padding/mask id
    rows: tuple[int, int] | None = None  # state: first canonical row and how many
    state_form: str = "DNH"
    default: np.ndarray | None = None  # the value the graph uses when the input is not fed
    optional: bool = False  # the model runs without it (torch's ``h0=None``)
    note: str = ""  # where a guess was made, in words

    def __post_init__(self) -> None:
        assert self.role in ROLES, self.role
        assert self.state_form in STATE_FORMS, self.state_form

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def integer(self) -> bool:
        return np.dtype(self.dtype).kind in "iub"

    def fixed(self, axis: int | None) -> int | None:
        """The static size of ``axis``, None when it is dynamic, unknown or the axis does not exist."""
        if axis is None or self.shape is None or axis >= len(self.shape):
            return None
        d = self.shape[axis]
        return int(d) if isinstance(d, int) and d > 0 else None

    def with_(self, **changes: Any) -> Port:
        return replace(self, **changes)

    def describe(self) -> dict:
        out: dict = {"name": self.name, "dtype": self.dtype,
                     "shape": None if self.shape is None else [d if isinstance(d, int) and d > 0 else None
                                                               for d in self.shape]}
        out["role"] = self.role
        if self.vocab is not None:
            out["vocab"] = self.vocab
        if self.rows is not None:
            out["state_rows"] = list(self.rows)
        if self.default is not None:
            out["default"] = np.asarray(self.default).tolist()
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, eq=False)
class Signature:
    """A model's interface: its inputs (each with its role) and its outputs."""

    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = field(default_factory=tuple)

    def by_role(self, role: str) -> list[Port]:
        return [p for p in self.inputs if p.role == role]

    @property
    def data(self) -> list[Port]:
        return self.by_role("data")

    def input(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def describe(self) -> dict:
        return {"inputs": [p.describe() for p in self.inputs], "outputs": [p.describe() for p in self.outputs]}


def canonical_to_port(value: np.ndarray, port: Port) -> np.ndarray:
    """A canonical data array (batch axis 0, time axis 1) in ``port``'s own axis order."""
    order = _order(value.ndim, port)
    return value if order == list(range(value.ndim)) else np.ascontiguousarray(value.transpose(np.argsort(order)))


def port_to_canonical(value: np.ndarray, port: Port) -> np.ndarray:
    """The inverse of ``canonical_to_port``: a value in the port's axes, batch first and time second."""
    order = _order(value.ndim, port)
    return value if order == list(range(value.ndim)) else np.ascontiguousarray(value.transpose(order))


def _order(ndim: int, port: Port) -> list[int]:
    """The port's axes listed in canonical order: batch, time, then the rest as they come."""
    lead = [a for a in (port.batch_axis, port.time_axis) if a is not None and a < ndim]
    return lead + [a for a in range(ndim) if a not in lead]


def state_to_port(h0: np.ndarray, port: Port) -> np.ndarray:
    """Canonical state rows ``(rows, N, H)`` for this port (its ``rows`` already sliced by the caller)."""
    if port.state_form == "NH":
        return h0[0]
    if port.state_form == "NDH":
        return np.ascontiguousarray(h0.transpose(1, 0, 2))
    return h0


def state_from_port(value: np.ndarray, port: Port) -> np.ndarray:
    """A state given in this port's shape, as canonical rows ``(rows, N, H)``."""
    if port.state_form == "NH":
        return value[None]
    if port.state_form == "NDH":
        return np.ascontiguousarray(value.transpose(1, 0, 2))
    return value
