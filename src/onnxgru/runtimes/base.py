"""What every runtime module provides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from onnxgru._lazy import available as _importable

if TYPE_CHECKING:
    import onnx

Session = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


class RuntimeRefused(Exception):
    """The runtime refused to load or run the model (a finding, GRU007, not a user error)."""


@dataclass(frozen=True)
class Runtime:
    name: str
    package: str
    _version: Callable[[], str | None]
    _load: Callable[["onnx.ModelProto"], Session]
    precision_note: str = ""

    def available(self) -> bool:
        return _importable(self.package)

    def version(self) -> str | None:
        return self._version() if self.available() else None

    def load(self, model: "onnx.ModelProto") -> Session:
        """A function of feeds; raises RuntimeRefused with the runtime's own words when it will not load or run."""
        try:
            session = self._load(model)
        except RuntimeRefused:
            raise
        except Exception as exc:
            raise RuntimeRefused(_first_line(exc)) from exc

        def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            try:
                return [np.asarray(v) for v in session(feeds)]
            except Exception as exc:
                raise RuntimeRefused(_first_line(exc)) from exc

        return run


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:400] if lines else type(exc).__name__
