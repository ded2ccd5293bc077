"""Bounds on what a model file can make onnxgru spend: time, memory, and the sizes of what it reads.

Every number a file declares (an archive member's size, a tensor's shape, external data's length, JSON nesting) is
checked against these before anything is allocated; native runs and runtime children run under ``TIME_LIMIT_S``
and ``MEMORY_LIMIT_BYTES`` (``--time-limit``, ``--memory-limit``), so a model that exceeds them is reported instead
of being waited for.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from onnxgru.errors import UserError

In = TypeVar("In")
Out = TypeVar("Out")

GIB = 1 << 30
TIME_LIMIT_S = 300.0  # one native run, or one runtime on one model
COMMAND_BUDGET_S = 120.0  # a whole command: a runtime still running past its share of it is stopped (--budget)
MEMORY_LIMIT_BYTES = 16 * GIB  # the address space of a runtime child; a single tensor a model declares

# What a reader accepts before it allocates: none of these is near what a GRU model needs.
MAX_MEMBER_BYTES = 256 << 20  # one JSON or code member of an archive (.keras config.json, TorchScript code)
MAX_JSON_DEPTH = 200  # nesting of a model config (Keras writes about 10)
MAX_TENSOR_BYTES = GIB  # a tensor a graph makes from its constants alone (ONNX ConstantOfShape, TensorFlow Fill)


# An archive member may declare this many times its compressed size only while it stays small: past that, it is
# a zip bomb (real weights and configs compress a few times at most).
MAX_RATIO = 100


def check_zip_members(z: Any, path: Any) -> None:
    """Refuse, from a ``zipfile.ZipFile``'s directory, a member that would inflate absurdly. Python's zipfile never
    yields more than a member declares, so checking the declared sizes bounds what any reader of it gets."""
    for info in z.infolist():
        if info.file_size > MAX_MEMBER_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise UserError(
                f"{str(path)!r} holds {info.filename!r}, which inflates from {info.compress_size:,} to "
                f"{info.file_size:,} bytes; onnxgru refuses such an archive (a zip bomb, or a corrupt file)."
            )


def check_json_depth(text: str | bytes, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """A UserError when ``text`` nests arrays and objects deeper than ``limit``; counted over the characters,
    iteratively, before ``json.loads`` recurses into it."""
    data = text.encode() if isinstance(text, str) else text
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    raise UserError(
                        f"{what} nests more than {limit} levels deep; a model config is never that deep, so onnxgru "
                        "refuses it (the file is corrupt or hostile)."
                    )
        elif byte in (0x5D, 0x7D):
            depth -= 1


def load_json(text: str | bytes, what: str, limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` after ``check_json_depth``: never a RecursionError."""
    check_json_depth(text, what, limit)
    return json.loads(text)


def read_member(read: Callable[[int], bytes], size: int, what: str, cap: int = MAX_MEMBER_BYTES) -> bytes:
    """Read an archive member of declared ``size`` with ``read(n)``, refusing it if it declares or yields more than
    ``cap`` bytes (a zip bomb declares little and inflates to much: the bytes read are counted too)."""
    if size > cap:
        raise UserError(f"{what} is {size:,} bytes uncompressed, more than the {cap:,} onnxgru reads; the file is "
                        "corrupt or hostile.")
    data = read(cap + 1)
    if len(data) > cap:
        raise UserError(f"{what} inflates to more than {cap:,} bytes; the file is corrupt or hostile (a zip bomb).")
    return data


def parse_memory(text: str) -> int:
    """``--memory-limit``: ``8G``, ``512M``, ``16GiB`` or a number of bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = units.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in units else t
    try:
        value = float(number) * scale
    except ValueError:
        raise UserError(f"--memory-limit {text!r} is not a size; give e.g. 8G or 512M.") from None
    if not value >= 64 << 20 or value != value or value == float("inf"):
        raise UserError(f"--memory-limit {text!r} must be at least 64M (and finite).")
    return int(value)


class Budget:
    """A whole command's time, counted from when it began. Runtimes run within what is left of it: a runtime still
    running when its share is spent is stopped and reported, so a command ends in a verdict instead of waiting."""

    def __init__(self, seconds: float = COMMAND_BUDGET_S) -> None:
        self.seconds = seconds
        self.began = time.monotonic()

    def left(self, now: float | None = None) -> float:
        return self.seconds - ((time.monotonic() if now is None else now) - self.began)


# Set by the command line: there, a native run past its time limit may end the process (see ``timed``).
_HARD_STOP = False


def enable_hard_stop() -> None:
    """Let ``timed`` end this process when a native run overruns: only the command line, which owns its process,
    calls this; a program using onnxgru as a library is never ended from under it."""
    global _HARD_STOP
    _HARD_STOP = True


def timed(run: Callable[..., Out], seconds: float, what: str) -> Callable[..., Out]:
    """``run`` under a time limit. A Keras or PyTorch run cannot be interrupted from Python while it is in native
    code (TensorFlow sessions stop themselves, see ``RunOptions``), so under the command line a watchdog thread
    ends the process with one sentence and exit code 2 once ``seconds`` have passed; nothing has been written yet
    then (outputs are written after every run)."""

    def wrapped(*args: Any) -> Out:
        if not _HARD_STOP:
            return run(*args)
        watchdog = threading.Timer(seconds, _stop, args=(what, seconds))
        watchdog.daemon = True
        watchdog.start()
        try:
            return run(*args)
        finally:
            watchdog.cancel()

    return wrapped


def _stop(what: str, seconds: float) -> None:
    sys.stderr.write(
        f"onnxgru: error: {what} did not finish within the time limit of {seconds:g} s and was stopped; raise "
        "--time-limit if the model is really that slow (nothing was written).\n"
    )
    sys.stderr.flush()
    os._exit(2)
