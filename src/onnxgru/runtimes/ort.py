"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from onnxgru._lazy import require
from onnxgru.runtimes.base import Runtime, RuntimeRefused, Session, first_line

if TYPE_CHECKING:
    import onnx

# "/onnxruntime_src/.../deep_cpu_gru.h:56 onnxruntime::DeepCpuGruOp::DeepCpuGruOp(const ...&) " says where, not why
_SOURCE_LOCATION = re.compile(r"/onnxruntime_src/\S+:\d+ \S+?\(.*?\) ")


def _message(exc: BaseException) -> str:
    return _SOURCE_LOCATION.sub("", first_line(exc))


def _version() -> str:
    return require("onnxruntime").__version__


def _load(model: onnx.ModelProto) -> Session:
    ort = require("onnxruntime", "run ONNX models")
    # A refusal comes back as RuntimeRefused; ORT's default logger would also print it, with its source path.
    ort.set_default_logger_severity(4)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise RuntimeRefused(_message(exc)) from exc

    def run(feeds: dict) -> list:
        try:
            return sess.run(None, feeds)
        except Exception as exc:
            raise RuntimeRefused(_message(exc)) from exc

    return run


RUNTIME = Runtime("onnxruntime", "onnxruntime", _version, _load)
