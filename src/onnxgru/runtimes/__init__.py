"""ONNX runtimes at the edge: each module loads a ModelProto and returns a function of feeds.

``get(name)`` gives a ``Runtime``; ``installed()`` the names whose packages can be imported. A registry entry is
``"module"`` (its ``RUNTIME``) or ``"module:ATTRIBUTE"``, so one module can offer several variants (OpenVINO at its
default precision and at f32). ``probe`` runs a runtime in a child process, so a crash cannot take the caller down.
"""

from __future__ import annotations

import importlib

from onnxgru.errors import UserError
from onnxgru.runtimes.base import Runtime, RuntimeRefused

_MODULES = {
    "onnxruntime": "onnxgru.runtimes.ort",
    "openvino": "onnxgru.runtimes.openvino_rt",
    "openvino-f32": "onnxgru.runtimes.openvino_rt:RUNTIME_F32",
    "tract": "onnxgru.runtimes.tract_rt",
    "reference": "onnxgru.runtimes.reference_rt",
}
NAMES = tuple(_MODULES)

__all__ = ["NAMES", "Runtime", "RuntimeRefused", "get", "installed", "parse", "resolve", "target"]


def target(name: str) -> str:
    """The registry entry of ``name`` (``"module"`` or ``"module:ATTRIBUTE"``); a UserError for an unknown name."""
    if name not in _MODULES:
        raise UserError(f"unknown runtime {name!r}; choose from {', '.join(NAMES)}.")
    return _MODULES[name]


def resolve(entry: str) -> Runtime:
    module, _, attribute = entry.partition(":")
    return getattr(importlib.import_module(module), attribute or "RUNTIME")


def get(name: str) -> Runtime:
    return resolve(target(name))


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
