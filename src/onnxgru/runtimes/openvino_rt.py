"""OpenVINO, CPU device, in two variants a check compares.

``openvino``      what a user gets: the CPU plugin's default inference precision. On CPUs with AVX512_BF16 (or AMX)
                  that is bf16, and a GRU then differs from float32 by about 1e-2 (GRU008).
``openvino-f32``  the same model compiled with ``INFERENCE_PRECISION_HINT=f32``: the numbers to hold against the others.

Both sessions carry the precision the *compiled model* reports, so a report states what actually ran rather than
what the CPU flags suggest; ``default_precision()`` asks the same question of a tiny GRU on this machine.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from onnxgru._lazy import require
from onnxgru.core.spec import GRUAttrs
from onnxgru.graph.build import single_node
from onnxgru.runtimes.base import Runtime, RuntimeRefused, Session

if TYPE_CHECKING:
    import onnx


F32 = "f32"


def _version() -> str:
    return str(require("openvino").get_version())


@lru_cache(maxsize=1)
def _core():  # openvino.Core
    return require("openvino", "run ONNX models in OpenVINO").Core()


def _message(exc: BaseException) -> str:
    """OpenVINO nests "Exception from <file>:<line>:" headers above the reason; keep the reason."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith("Exception from ")]
    text = reasons[-1] if reasons else (lines[0] if lines else type(exc).__name__)
    return text.split("HAS THROWN: ", 1)[-1][:400]


def _compile(model: onnx.ModelProto, precision: str | None):  # openvino.CompiledModel
    core = _core()
    config = {} if precision is None else {"INFERENCE_PRECISION_HINT": precision}
    try:
        return core.compile_model(core.read_model(model.SerializeToString(), b""), "CPU", config)
    except Exception as exc:
        raise RuntimeRefused(_message(exc)) from exc


class _Session:
    def __init__(self, compiled) -> None:  # openvino.CompiledModel
        self._compiled = compiled
        self._outputs = list(compiled.outputs)
        # ov.Type("f32") -> "f32": what the plugin decided for this model, not what was asked for
        self.precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def __call__(self, feeds: dict) -> list:
        try:
            result = self._compiled(feeds)
        except Exception as exc:
            raise RuntimeRefused(_message(exc)) from exc
        return [result[o] for o in self._outputs]


def _load_default(model: onnx.ModelProto) -> Session:
    return _Session(_compile(model, None))


def _load_f32(model: onnx.ModelProto) -> Session:
    return _Session(_compile(model, F32))


@lru_cache(maxsize=1)
def default_precision() -> str:
    """The inference precision OpenVINO's CPU plugin picks by default for a float32 GRU on this machine
    (``"f32"``, ``"bf16"`` or ``"f16"``), read from a compiled model's properties."""


    attrs = GRUAttrs(hidden_size=2, input_size=2)
    probe = single_node(attrs, np.ones((1, 6, 2)), np.ones((1, 6, 2)), np.ones((1, 12)))
    return _Session(_compile(probe, None)).precision


RUNTIME = Runtime(
    "openvino", "openvino", _version, _load_default,
    precision_note="CPU plugin default precision (bf16 on CPUs with AVX512_BF16/AMX, else f32)",
)
RUNTIME_F32 = Runtime("openvino-f32", "openvino", _version, _load_f32, precision_note="INFERENCE_PRECISION_HINT=f32")
