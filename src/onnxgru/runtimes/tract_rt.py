"""tract (Sonos), through its Python package: ``tract.onnx().load(path)``, input facts, ``into_model``,
``into_runnable`` (which optimises the typed model).

tract reads ONNX only from a file, and its ONNX GRU needs concrete input shapes: with the symbolic batch of a
``(T, N, I)`` input it panics inside the native library and aborts the process (tract 0.23.9:
``UndeterminedSymbol("N")`` in ``onnx/src/ops/rec/common.rs``). So the model is typed for the shapes of the feeds
on first call, and re-typed when they change. Run tract through ``onnxgru.runtimes.probe`` when a crash must not
take the caller down.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru._lazy import require
from onnxgru.runtimes.base import Runtime, RuntimeRefused, Session

if TYPE_CHECKING:
    import onnx

# numpy dtype -> tract's datum-type mnemonic in a fact string such as "5,2,3,f32"
_DATUM = {
    "float16": "f16", "float32": "f32", "float64": "f64", "int8": "i8", "int16": "i16", "int32": "i32",
    "int64": "i64", "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64", "bool": "bool",
}


def _version() -> str:
    return str(require("tract").version())


def _message(exc: BaseException) -> str:
    """tract's errors are a context line, "Caused by:" lines and a Rust backtrace; keep the context and causes."""
    lines = [line.strip() for line in str(exc).splitlines()]
    if "Stack backtrace:" in lines:
        lines = lines[: lines.index("Stack backtrace:")]
    kept = [line for line in lines if line and line != "Caused by:"]
    kept = [line.split(": ", 1)[1] if line[:1].isdigit() and ": " in line else line for line in kept]
    return " — ".join(kept)[:400] or type(exc).__name__


class _Session:
    def __init__(self, model: onnx.ModelProto) -> None:
        self._bytes = model.SerializeToString()
        self._key: tuple | None = None
        self._runnable: Any = None  # tract.Runnable
        self._names: list[str] = []
        self._typed(None)  # parse now, so a model tract cannot read is refused at load time

    def _typed(self, feeds: dict[str, np.ndarray] | None):  # tract.Runnable | None
        tract = require("tract", "run ONNX models in tract")
        with tempfile.TemporaryDirectory(prefix="onnxgru-tract-") as tmp:
            path = os.path.join(tmp, "model.onnx")
            with open(path, "wb") as f:
                f.write(self._bytes)
            try:
                inference = tract.onnx().load(path)
                self._names = [inference.input_name(i) for i in range(inference.input_count())]
                if feeds is None:
                    return None
                for i, name in enumerate(self._names):
                    value = feeds[name]
                    inference.set_input_fact(i, ",".join([*(str(d) for d in value.shape), _DATUM[value.dtype.name]]))
                return inference.into_model().into_runnable()
            except tract.TractError as exc:
                raise RuntimeRefused(_message(exc)) from exc

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        missing = [n for n in self._names if n not in feeds]
        if missing:
            raise RuntimeRefused(f"no value given for the model inputs {missing}")
        arrays = [np.ascontiguousarray(feeds[n]) for n in self._names]
        key = tuple((a.shape, a.dtype.name) for a in arrays)
        if key != self._key:
            self._runnable, self._key = self._typed(feeds), key
        tract = require("tract")
        try:
            return [t.to_numpy() for t in self._runnable.run(arrays)]
        except tract.TractError as exc:
            raise RuntimeRefused(_message(exc)) from exc


def _load(model: onnx.ModelProto) -> Session:
    return _Session(model)


RUNTIME = Runtime("tract", "tract", _version, _load)
