"""onnxgru: an ONNX-based cross-framework validator for GRU models.

The Python API mirrors the command line: ``inspect``, ``compare``, ... each return a ``Report`` that is true when it
passed. Frameworks are imported only when a source needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onnxgru.report import Report

__all__ = ["Report", "UserError", "__version__", "compare", "inspect"]


def inspect(source: str, **options: Any) -> "Report":
    """Describe every GRU in ``source`` (see ``onnxgru inspect``)."""
    from onnxgru.commands.inspect_cmd import inspect as run

    return run(source, **options)


def compare(a: str, b: str, **options: Any) -> "Report":
    """Compare two sources: attributes, weights in canonical form, and outputs on the same inputs."""
    from onnxgru.commands.compare_cmd import compare as run

    return run(a, b, **options)


def __getattr__(name: str) -> Any:
    if name == "Report":
        from onnxgru.report import Report

        return Report
    if name == "UserError":
        from onnxgru.errors import UserError

        return UserError
    raise AttributeError(name)
