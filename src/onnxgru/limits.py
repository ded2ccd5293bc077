"""Bounds on what a model file can make onnxgru spend: time, memory, and the sizes of what it reads.

Every number a file declares (an archive member's size, a tensor's shape, external data's length, JSON nesting) is
checked against these before anything is allocated; native runs and runtime children run under ``TIME_LIMIT_S``
and ``MEMORY_LIMIT_BYTES`` (``--time-limit``, ``--memory-limit``), so a model that exceeds them is reported instead
of being waited for.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from onnxgru import _lazy, progress
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
MAX_TENSOR_BYTES = GIB  # a tensor a graph makes from its constants and input shapes (ConstantOfShape, TF Fill)
MAX_GRAPH_DEPTH = 8  # ONNX subgraphs in subgraphs and function calls in functions (exporters nest Loop > If > Loop)
MAX_EXPANDED_NODES = 1_000_000  # the nodes of an ONNX graph once its local functions are inlined, as runtimes do


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
INTERRUPTED = "onnxgru: interrupted; nothing was written."
_GRACE_S = 1.0  # after Ctrl-C, how long the main thread has to unwind (its finally blocks) before the process ends
_ending = threading.Lock()  # one ending: a watchdog and an interrupt never both speak
_at_stop: list[Callable[[], None]] = []  # what a hard stop runs first (the runtimes' children killed)
_watching = False  # Ctrl-C is watched (the console script): it ends the process


def enable_hard_stop(interrupts: bool = False) -> None:
    """Let ``timed`` end this process when a native run overruns: only the command line, which owns its process,
    calls this; a program using onnxgru as a library is never ended from under it. With ``interrupts`` (the
    console script, from the main thread), Ctrl-C ends it at once too: ``interrupted`` skips the interpreter's
    clean-up, and a thread ends the process ``_GRACE_S`` after the signal if the main thread has not (native code
    that does not come back to Python, where a KeyboardInterrupt waits)."""
    global _HARD_STOP
    _HARD_STOP = True
    if interrupts:
        _watch_interrupts()


def register_stop(stop: Callable[[], None]) -> None:
    """Run ``stop`` before a hard stop ends the process (as ``atexit``, which ``os._exit`` skips)."""
    _at_stop.append(stop)


def unregister_stop(stop: Callable[[], None]) -> None:
    if stop in _at_stop:
        _at_stop.remove(stop)


def interrupted() -> int:
    """The command line's answer to KeyboardInterrupt: the line on its own, exit code 130. In the console script
    the process ends here, skipping the interpreter's clean-up, which after a framework ran takes seconds (2 s for
    TensorFlow and PyTorch loaded; 8 s after a Keras run of 100,000 steps): every ``finally`` has run, so nothing
    is half written."""
    if _watching:
        end(130, INTERRUPTED)
    progress.close_line()
    print(INTERRUPTED, file=sys.stderr)
    return 130


def end(code: int, message: str) -> NoReturn:
    """End the process now with ``message`` on a line of its own: the status line erased, the registered stops
    run (the runtimes' children killed), stdout and stderr flushed."""
    with _ending:
        progress.close_line()
        for stop in reversed(_at_stop):
            try:
                stop()
            except Exception:  # noqa: S110 - ending regardless
                pass
        _lazy.restore_output()  # a Ctrl-C while TensorFlow imports, when file descriptor 2 points at /dev/null
        try:
            sys.stdout.flush()
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)



def _watch_interrupts() -> None:
    """SIGINT's C handler writes the signal's number to a wakeup file descriptor at once, whatever the main thread
    is doing; a thread that reads it gives the main thread ``_GRACE_S`` to unwind, then ends the process itself."""
    global _watching
    if _watching:
        return
    try:
        read, write = os.pipe()
        os.set_blocking(write, False)
        before = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except (OSError, ValueError):  # not the main thread, or no pipe: Ctrl-C as Python has it
        return
    if before != -1:  # an event loop already listens there: leave Ctrl-C to it
        signal.set_wakeup_fd(before)
        os.close(read)
        os.close(write)
        return
    _watching = True
    threading.Thread(target=_watch, args=(read,), name="onnxgru-interrupt", daemon=True).start()


def _watch(fd: int) -> None:
    while signal.SIGINT not in os.read(fd, 64):
        pass
    time.sleep(_GRACE_S)
    end(130, INTERRUPTED)


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
    end(2, f"onnxgru: error: {what} did not finish within the time limit of {seconds:g} s and was stopped; raise "
        "--time-limit if the model is really that slow (nothing was written).")
