"""Runtimes that misbehave, registered only by the probe tests (``probe`` resolves them in its child process)."""

from __future__ import annotations

import os
import tempfile
import time

from onnxgru.runtimes.base import Runtime


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


CRASHING = Runtime("crashing", "numpy", lambda: "0", _abort)
HANGING = Runtime("hanging", "numpy", lambda: "0", _hang)
REFUSING = Runtime("refusing", "numpy", lambda: "0", _refuse)
ABSENT = Runtime("absent", "onnxgru_no_such_package", lambda: "0", _refuse)
TRACT_SYMBOLIC = Runtime("tract-symbolic", "tract", lambda: "0.23.9", _tract_symbolic)
