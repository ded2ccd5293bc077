"""TensorFlow, tf2onnx and the Keras versions, imported once and kept quiet."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from types import ModuleType

from onnxgru._lazy import require

_PURPOSE = "read TensorFlow and Keras models"


def tf() -> ModuleType:
    """TensorFlow, with the legacy Keras switch set (``_lazy.require`` does it before the first import)."""
    module = require("tensorflow", _PURPOSE)
    # TF logs deprecations of the TF1 API it is asked to run; they are not the user's concern here.
    module.get_logger().setLevel(logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return module


def tf2onnx() -> ModuleType:
    tf()
    module = require("tf2onnx", "export TensorFlow models to ONNX")
    for name in ("tf2onnx", "tf2onnx.tfonnx", "tf2onnx.optimizer", "tf2onnx.tf_loader", "tf2onnx.tf_utils"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return module


def tf_keras() -> ModuleType:
    """Keras 2 (``tf-keras``): what ``tf.keras`` was up to TF 2.15 and what TF1-style cells need."""
    tf()
    return require("tf_keras", "read Keras 2 models")


def keras3() -> ModuleType:
    """Keras 3: what ``tf.keras`` is from TF 2.16 on without the legacy switch."""
    tf()
    return require("keras", "read Keras 3 models")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence what TF, Keras and tf2onnx print to stdout (tf2onnx's GRU rewriter prints weight shapes)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield
