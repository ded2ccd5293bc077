"""Heavy frameworks are imported only when a command needs them.

``require("torch", "pip install 'onnxgru[torch]'")`` returns the module or raises a UserError that says how to
install it, so a missing framework is exit 2 with a sentence, never a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType

from onnxgru.errors import UserError

_HINTS = {
    "tensorflow": "tensorflow-cpu==2.21.0 tf-keras==2.21.0",
    "tf_keras": "tf-keras==2.21.0",
    "tf2onnx": "tf2onnx==1.17.0",
    "torch": "torch==2.13.0",
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "tract": "tract",
    "onnxscript": "onnxscript>=0.7.1",
    "matplotlib": "matplotlib",
}


_VERBOSE = False  # -v: the frameworks' own log lines are let through (``set_verbose``)
_QUIET_LOGGERS = False  # their Python loggers are still to be set to errors only (done once, in ``require``)
_FRAMEWORK_LOGGERS = ("tensorflow", "tf2onnx", "absl", "onnxscript", "torch.onnx", "onnx_ir")


def _quiet_loggers() -> None:
    """Set on the first framework import, not at start-up: importing logging costs a command that needs no
    framework (compare of two ONNX files) 1.5 ms."""
    global _QUIET_LOGGERS
    if not _QUIET_LOGGERS:
        return

    _QUIET_LOGGERS = False
    for name in _FRAMEWORK_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def require(name: str, purpose: str = "") -> ModuleType:
    """Import ``name`` or raise a UserError naming the package to install."""
    if name.split(".")[0] not in ("onnxruntime", "onnx", "numpy"):
        _quiet_loggers()
    if name in ("tensorflow", "tf_keras", "tf2onnx"):
        # tf.compat.v1.nn.rnn_cell.GRUCell exists in TF 2.21 only with the legacy Keras, and TensorFlow reads
        # this variable once, at its first import.
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        if not _VERBOSE:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        if name in ("tensorflow", "tf_keras", "tf2onnx") and "tensorflow" not in sys.modules and not _VERBOSE:
            with _native_stderr_silenced():
                return importlib.import_module(name)
        return importlib.import_module(name)
    except ImportError as exc:
        top = name.split(".")[0]
        pkg = _HINTS.get(top, top)
        why = f" to {purpose}" if purpose else ""
        raise UserError(
            f"{top} is not installed but is needed{why}; install it with: pip install '{pkg}' "
            f"(or pip install 'onnxgru[all]') ({exc.__class__.__name__}: {exc})."
        ) from exc


_silenced: list[tuple[int, int]] = []  # (descriptor, its saved copy) while silenced


@contextlib.contextmanager
def _native_stderr_silenced(fds: tuple[int, ...] = (2,)) -> Iterator[None]:
    """File descriptor 2 (and any of ``fds``) to /dev/null for a while: TensorFlow's C++ side logs there while it
    loads (absl, before any log level applies), and a refused request must print one sentence, not four lines about
    CUDA drivers."""
    try:
        saved, null = [os.dup(fd) for fd in fds], os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    _silenced.extend(zip(fds, saved))
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd in fds:
            os.dup2(null, fd)
        yield
    finally:
        del _silenced[-len(fds):]
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


def restore_output() -> None:
    """Put back what ``_native_stderr_silenced`` points at /dev/null, so a message that ends the process is seen."""
    for fd, copy in reversed(_silenced):
        try:
            os.dup2(copy, fd)
        except OSError:
            pass


@contextlib.contextmanager
def native_output_silenced() -> Iterator[None]:
    """What a framework's C++ side prints on stdout and stderr (torch.onnx's "Torch IR graph at exception" dump of
    hundreds of lines), kept off the terminal unless ``-v``: onnxgru's output is its report."""
    if _VERBOSE:
        yield
        return
    with _native_stderr_silenced((1, 2)):
        yield


def available(name: str) -> bool:
    """True when ``name`` can be imported (without importing it)."""
    return importlib.util.find_spec(name) is not None


def set_verbose(verbose: bool) -> None:
    """``-v``: let the frameworks' own log lines through; otherwise (the default) they are silenced, since TF's C++
    lines ("failed call to cuInit", oneDNN notices) read like errors in a CI log and are never the finding."""
    global _VERBOSE, _QUIET_LOGGERS
    _VERBOSE = verbose
    if verbose:
        return

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _QUIET_LOGGERS = True  # the frameworks' loggers, set before the first framework is required
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(tensorflow|tf2onnx|torch|onnxscript|keras)")


def verbose() -> bool:
    return _VERBOSE
