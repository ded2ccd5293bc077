"""onnxgru: an ONNX-based cross-framework validator for GRU models.

The Python API mirrors the command line: ``inspect``, ``compare``, ... each return a ``Report`` that is true when it
passed. Frameworks are imported only when a source needs them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onnxgru.report import Report

__all__ = ["Report", "UserError", "__version__", "check", "compare", "convert", "export", "inspect"]


def _settings_and_options(kw: dict[str, Any]) -> tuple[Any, Any]:
    """Split keyword options into ``Settings`` (atol, rtol, seed, batch, steps, inputs_file) and ``LoadOptions``."""
    from dataclasses import fields

    from onnxgru.errors import UserError
    from onnxgru.sources.load import LoadOptions
    from onnxgru.verify.settings import Settings

    s_names = {f.name for f in fields(Settings)}
    o_names = {f.name for f in fields(LoadOptions)}
    unknown = set(kw) - s_names - o_names - {"settings", "options"}
    if unknown:
        raise UserError(f"unknown option(s) {sorted(unknown)}; use {sorted(s_names | o_names)}.")
    settings = kw.get("settings") or Settings(**{k: v for k, v in kw.items() if k in s_names})
    options = kw.get("options") or LoadOptions(**{k: v for k, v in kw.items() if k in o_names})
    return settings, options


def inspect(source: str, **options: Any) -> Report:
    """Describe every GRU in ``source`` (see ``onnxgru inspect``). Options: ``time_major``, ``fixed``, ..."""
    from onnxgru.commands.inspect_cmd import inspect as run

    return run(source, _settings_and_options(options)[1])


def compare(a: str, b: str, **options: Any) -> Report:
    """Compare two sources: attributes, weights in canonical form, and outputs on the same inputs.

    Options: ``atol``, ``rtol``, ``seed``, ``batch``, ``steps``, ``inputs_file`` and the loading options
    (``fixed``, ``time_major``, ``batch_first``, ``trust_pickle``, ...). Returns a ``Report``, true when it passed.
    """
    from onnxgru.commands.compare_cmd import compare as run

    settings, opts = _settings_and_options(options)
    return run(a, b, settings, opts)


def check(
    tf: list[str] | tuple[str, ...] = (),
    torch: list[str] | tuple[str, ...] = (),
    onnx: list[str] | tuple[str, ...] = (),
    runtimes: str | None = None,
    **options: Any,
) -> Report:
    """The deployment pre-flight (see ``onnxgru check``); no source checks the bundled example."""
    settings, opts = _settings_and_options(options)
    if not (tf or torch or onnx):
        from onnxgru import example

        return example.run(runtimes=runtimes, settings=settings, options=opts)
    from onnxgru.commands.check_cmd import check as run

    return run(tf=tuple(tf), torch=tuple(torch), onnx=tuple(onnx), runtimes=runtimes, settings=settings, options=opts)


def export(
    framework: str,
    source: str,
    output: str | None = None,
    *,
    dtype: str | None = None,
    exporter: str = "torchscript",
    opset: int | None = None,
    force: bool = False,
    **options: Any,
) -> Report:
    """Export a TensorFlow (``"tf"``) or PyTorch (``"torch"``) GRU to ONNX; ``output`` is written only when the
    export agrees with the framework (and, without ``force``, only when it does not exist yet)."""
    from onnxgru.commands.common import check_output_path
    from onnxgru.commands.export_cmd import export as run

    target = check_output_path(output, force, [source])
    settings, opts = _settings_and_options(options)
    return run(framework, source, target, settings, opts, dtype=dtype, exporter=exporter, opset=opset)


def convert(
    source: str, output: str | None = None, *, target: str = "exact", force: bool = False, **options: Any
) -> Report:
    """Convert a TensorFlow GRU into an exact PyTorch module (``target="exact"``) or the nearest ``nn.GRU``."""
    from onnxgru.commands.common import check_output_path
    from onnxgru.commands.convert_cmd import convert as run

    path = check_output_path(output, force, [source])
    settings, opts = _settings_and_options(options)
    return run(source, path, settings, opts, target_kind=target)


def __getattr__(name: str) -> Any:
    if name == "Report":
        from onnxgru.report import Report

        return Report
    if name == "UserError":
        from onnxgru.errors import UserError

        return UserError
    raise AttributeError(name)
