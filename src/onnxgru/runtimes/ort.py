"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

from onnxgru._lazy import require
from onnxgru.runtimes.base import Runtime, Session


def _version() -> str:
    return require("onnxruntime").__version__


def _load(model) -> Session:  # noqa: ANN001 - onnx.ModelProto
    ort = require("onnxruntime", "run ONNX models")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda feeds: sess.run(None, feeds)


RUNTIME = Runtime("onnxruntime", "onnxruntime", _version, _load)
