"""ONNX runtimes at the edge: each module loads a ModelProto and returns a function of feeds.

``get(name)`` gives a ``Runtime``; ``installed()`` the names whose packages can be imported.
"""

from __future__ import annotations

import importlib

from onnxgru.errors import UserError
from onnxgru.runtimes.base import Runtime, RuntimeRefused

_MODULES = {
    "onnxruntime": "onnxgru.runtimes.ort",
    "openvino": "onnxgru.runtimes.openvino_rt",
    "tract": "onnxgru.runtimes.tract_rt",
    "reference": "onnxgru.runtimes.reference_rt",
}
NAMES = tuple(_MODULES)

__all__ = ["NAMES", "Runtime", "RuntimeRefused", "get", "installed", "parse"]


def get(name: str) -> Runtime:
    if name not in _MODULES:
        raise UserError(f"unknown runtime {name!r}; choose from {', '.join(NAMES)}.")
    return importlib.import_module(_MODULES[name]).RUNTIME


def installed() -> list[str]:
    return [n for n in NAMES if get(n).available()]


def parse(text: str | None) -> list[str]:
    """``"onnxruntime,tract"`` -> names, checked; None -> every installed runtime."""
    if not text:
        return installed()
    names = [t.strip() for t in text.split(",") if t.strip()]
    for n in names:
        get(n)
    return names
