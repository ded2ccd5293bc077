"""The ONNX reference evaluator (``onnx.reference``): slow, plain numpy, the operator documentation as code."""

from __future__ import annotations

from onnxgru._lazy import require
from onnxgru.runtimes.base import Runtime, Session


def _version() -> str:
    return require("onnx").__version__


def _load(model) -> Session:  # onnx.ModelProto
    ref = require("onnx.reference", "run the ONNX reference evaluator")
    sess = ref.ReferenceEvaluator(model)
    return lambda feeds: sess.run(None, feeds)


RUNTIME = Runtime("reference", "onnx", _version, _load)
