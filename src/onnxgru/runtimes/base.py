"""What every runtime module provides.

A runtime module defines ``RUNTIME = Runtime(name, package, version_fn, load_fn)``. ``load_fn(model)`` returns a
function of feeds (name -> array) giving the graph's outputs in order. When the runtime can say what precision it
really computes in (OpenVINO's ``INFERENCE_PRECISION_HINT``), that function carries it as a ``precision`` attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from onnxgru._lazy import available as _importable
from onnxgru.errors import UserError

if TYPE_CHECKING:
    import onnx

Session = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


class RuntimeRefused(Exception):
    """The runtime refused to load or run the model (a finding, GRU007, not a user error)."""


class Loaded:
    """A model loaded in a runtime: call it with feeds. ``precision`` is the precision the runtime reports it
    computes in (``"f32"``, ``"bf16"``, ...), or None when the runtime does not say (it then follows the model)."""

    def __init__(self, session: Session, precision: str | None = None) -> None:
        self._session = session
        self.precision = precision

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return [np.asarray(v) for v in self._session(feeds)]
        except RuntimeRefused:
            raise
        except Exception as exc:
            raise RuntimeRefused(first_line(exc)) from exc


@dataclass(frozen=True)
class Runtime:
    """An ONNX runtime: its package, its version, and how it loads a model into a session."""

    name: str
    package: str
    _version: Callable[[], str | None]
    _load: Callable[[onnx.ModelProto], Session]
    precision_note: str = ""

    def available(self) -> bool:
        return _importable(self.package)

    def version(self) -> str | None:
        return self._version() if self.available() else None

    def load(self, model: onnx.ModelProto) -> Loaded:
        """The model, ready to call with feeds; raises RuntimeRefused with the runtime's own words when it will not
        load or run. A missing package raises ``UserError`` (from ``require``)."""
        try:
            session = self._load(model)
        except (RuntimeRefused, UserError):
            raise
        except Exception as exc:
            raise RuntimeRefused(first_line(exc)) from exc
        return Loaded(session, getattr(session, "precision", None))


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's text (runtimes append stack traces), at most 400 characters."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:400] if lines else type(exc).__name__
