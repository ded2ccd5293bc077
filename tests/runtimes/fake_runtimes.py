"""Runtimes that misbehave or stand in for a machine the tests may not run on, registered only by tests
(``register``; ``probe`` resolves them in its child process)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from onnxgru import runtimes
from onnxgru.runtimes.base import Runtime

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parents[2]


def register(monkeypatch: pytest.MonkeyPatch, **names: str) -> None:
    """Put this module's runtimes in the registry (``register(mp, crashing="CRASHING")``), where a registered name may
    also replace a real one; the probe's children import them from the repository root."""
    for name, attribute in names.items():
        monkeypatch.setitem(runtimes._MODULES, name, f"{__name__}:{attribute}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def _abort(model: object) -> None:
    os.abort()


def _hang(model: object) -> None:
    time.sleep(600)


def _refuse(model: object) -> None:
    raise ValueError("this runtime has no GRU kernel\nsecond line of a stack trace")


def _tract_symbolic(model: object):
    """tract without concrete input shapes: tract 0.23.9 panics inside Rust on a GRU's symbolic batch and aborts."""
    import tract

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
        runnable = tract.onnx().load(path).into_model().into_runnable()
    return lambda feeds: [t.to_numpy() for t in runnable.run(list(feeds.values()))]


def to_bf16(a: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), kept as float32: 8 significant bits."""
    bits = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return (((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)


class _Bf16Session:
    """ONNX Runtime's float32 results handed back in bf16, and saying so, as OpenVINO's CPU plugin does by default on
    a CPU with AVX512_BF16: the bf16 branch of a check, on any CPU."""

    precision = "bf16"

    def __init__(self, model: object) -> None:
        import onnxruntime as ort

        self._session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def __call__(self, feeds: dict) -> list:
        return [to_bf16(y) for y in self._session.run(None, feeds)]


CRASHING = Runtime("crashing", "numpy", lambda: "0", _abort)
HANGING = Runtime("hanging", "numpy", lambda: "0", _hang)
REFUSING = Runtime("refusing", "numpy", lambda: "0", _refuse)
ABSENT = Runtime("absent", "onnxgru_no_such_package", lambda: "0", _refuse)
TRACT_SYMBOLIC = Runtime("tract-symbolic", "tract", lambda: "0.23.9", _tract_symbolic)
OPENVINO_BF16 = Runtime("openvino", "onnxruntime", lambda: "bf16 stand-in", _Bf16Session)
