"""Hostile files of round two (issue 13), built in code: each one ran code, wrote a file, crashed, hung, blew up
memory or gave a wrong answer before onnxgru guarded against it. Files that would write carry a marker path (the
file or folder they create); the tests prove they are hostile by running them the unsafe way.

The builders, one module per source kind (``tf_models``, ``torch_models``, ``onnx_models``), and the measured child
(``child``) that runs the CLI on them.
"""

from __future__ import annotations

from .child import H, I, measured  # noqa: E741
from .onnx_models import onnx_bombs, onnx_files
from .tf_models import relay_files, tf_files
from .torch_models import torch_files

__all__ = ["H", "I", "measured", "onnx_bombs", "onnx_files", "relay_files", "tf_files", "torch_files"]
