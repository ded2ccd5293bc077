"""onnxgru: an ONNX-based cross-framework validator for GRU models.

The Python API mirrors the command line: ``inspect``, ``compare``, ... each return a ``Report`` that is true when it
passed. Frameworks are imported only when a source needs them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from onnxgru import example
from onnxgru.commands.inspect_cmd import inspect as run
from onnxgru.core import catalog
from onnxgru.errors import UserError
from onnxgru.files import Output
from onnxgru.request import check_sources, ignored_codes
from onnxgru.sources.load import LoadOptions
from onnxgru.verify.settings import Settings
from onnxgru.version import __version__

if TYPE_CHECKING:
    from onnxgru.report import Report, VerificationError


__all__ = [
    "Report", "UserError", "VerificationError", "__version__", "check", "compare", "convert", "explain", "export",
    "fix", "inspect",
]

PathLike = str | os.PathLike
Paths = PathLike | Sequence[PathLike]


def _paths(value: Paths | None, what: str) -> tuple[str, ...]:
    """One path or several: ``"a.pb"`` is one path, never its characters."""
    if value is None:
        return ()
    if isinstance(value, str | os.PathLike):
        return (os.fspath(value),)
    if isinstance(value, bytes):
        raise TypeError(f"{what}: give paths as str or os.PathLike, not bytes")
    return tuple(os.fspath(v) for v in value)


def _policy(report: Report, ignore: str | Sequence[str], fail_on: str) -> Report:

    codes = ignored_codes([ignore] if isinstance(ignore, str) else list(ignore))
    if fail_on not in ("error", "warning", "info"):

        raise UserError(f"fail_on must be 'error' or 'warning', got {fail_on!r}.")
    return report.with_policy(codes, fail_on)


def _checked(*sources: tuple[str, str, Sequence[str] | None]) -> None:
    """Paths checked before any framework is imported (``request.check_sources``)."""

    check_sources(list(sources))


def _settings_and_options(kw: dict[str, Any]) -> tuple[Any, Any]:
    """Split keyword options into ``Settings`` (atol, rtol, seed, batch, steps, inputs_file) and ``LoadOptions``."""


    s_names = {f.name for f in fields(Settings)}
    o_names = {f.name for f in fields(LoadOptions)}
    unknown = set(kw) - s_names - o_names - {"settings", "options"}
    if unknown:
        raise UserError(f"unknown option(s) {sorted(unknown)}; use {sorted(s_names | o_names)}.")
    settings = kw.get("settings") or Settings(**{k: v for k, v in kw.items() if k in s_names})
    options = kw.get("options") or LoadOptions(**{k: v for k, v in kw.items() if k in o_names})
    return settings, options


def inspect(source: PathLike, *, ignore: str | Sequence[str] = (), fail_on: str = "error", **options: Any) -> Report:
    """Describe every GRU in ``source`` (see ``onnxgru inspect``). Options: ``time_major``, ``fixed``, ..."""

    (path,) = _paths(source, "source")
    _checked(("", path, None))
    return _policy(run(path, _settings_and_options(options)[1]), ignore, fail_on)


def _saves(force: bool, read: Sequence[str], *paths: PathLike | None) -> list[Output | None]:
    """``save_inputs`` and ``save_outputs`` as checked outputs (before any work, never over an input)."""
    return [Output.checked(p, force, read) for p in paths]


def compare(
    a: PathLike, b: PathLike, *, ignore: str | Sequence[str] = (), fail_on: str = "error",
    save_inputs: PathLike | None = None, save_outputs: PathLike | None = None, force: bool = False, **options: Any
) -> Report:
    """Compare two sources: attributes, weights in canonical form, and outputs on the same inputs.

    Options: ``atol``, ``rtol`` (and ``atol_for``/``rtol_for``, per output: ``{"state": 1e-4}``), ``seed``,
    ``batch``, ``steps``, ``inputs_file`` and the loading options (``fixed``, ``time_major``, ``batch_first``,
    ``trust_pickle``, ...); ``ignore`` (codes) and ``fail_on`` (``"warning"``) judge the report as the CLI's
    ``--ignore``/``--fail-on`` do; ``save_inputs`` and ``save_outputs`` write ``.npz`` files as ``--save-inputs`` and
    ``--save-outputs`` do (an existing file replaced only with ``force``). Returns a ``Report``, true when it passed;
    ``report.raise_for_errors()`` raises.
    """
    from onnxgru.commands.compare_cmd import compare as run

    (pa,), (pb,) = _paths(a, "a"), _paths(b, "b")
    _checked(("", pa, None), ("", pb, None))
    settings, opts = _settings_and_options(options)
    to_inputs, to_outputs = _saves(force, [pa, pb, *([settings.inputs_file] if settings.inputs_file else [])],
                                   save_inputs, save_outputs)
    return _policy(run(pa, pb, settings, opts, save_inputs=to_inputs, save_outputs=to_outputs), ignore, fail_on)


def check(
    tf: Paths = (),
    torch: Paths = (),
    onnx: Paths = (),
    runtimes: str | Sequence[str] | None = None,
    *,
    ignore: str | Sequence[str] = (),
    fail_on: str = "error",
    save_inputs: PathLike | None = None,
    save_outputs: PathLike | None = None,
    against: PathLike | None = None,
    force: bool = False,
    **options: Any,
) -> Report:
    """The deployment pre-flight (see ``onnxgru check``); no source checks the bundled example. Each of ``tf``,
    ``torch`` and ``onnx`` is one path or a sequence of paths; ``runtimes`` a comma-separated string or a list.
    ``save_outputs`` writes a golden file and ``against`` holds the check against one, as ``--save-outputs`` and
    ``--against`` do."""
    from onnxgru.commands.check_cmd import check as run

    tf_paths, torch_paths, onnx_paths = _paths(tf, "tf"), _paths(torch, "torch"), _paths(onnx, "onnx")
    _checked(
        *(("--tf", p, ("tf", "keras")) for p in tf_paths),
        *(("--torch", p, ("torch",)) for p in torch_paths),
        *(("--onnx", p, ("onnx",)) for p in onnx_paths),
    )
    if runtimes is not None and not isinstance(runtimes, str):
        runtimes = ",".join(runtimes)
    settings, opts = _settings_and_options(options)
    golden = os.fspath(against) if against is not None else None
    read = [*tf_paths, *torch_paths, *onnx_paths, *(f for f in (settings.inputs_file, golden) if f)]
    to_inputs, to_outputs = _saves(force, read, save_inputs, save_outputs)
    saves = {"against": golden, "save_inputs": to_inputs, "save_outputs": to_outputs}
    if not (tf_paths or torch_paths or onnx_paths):

        return _policy(example.run(runtimes=runtimes, settings=settings, options=opts, **saves), ignore, fail_on)
    report = run(tf=tf_paths, torch=torch_paths, onnx=onnx_paths, runtimes=runtimes, settings=settings, options=opts,
                 against=golden, save_inputs=to_inputs, save_outputs=to_outputs)
    return _policy(report, ignore, fail_on)


def explain(code: str) -> str:
    """What a finding code means, why it happens and how to fix it (``onnxgru explain CODE``)."""

    return catalog.explain(code)


def export(
    framework: str,
    source: PathLike,
    output: PathLike | None = None,
    *,
    dtype: str | None = None,
    exporter: str = "torchscript",
    opset: int | None = None,
    force: bool = False,
    save_inputs: PathLike | None = None,
    **options: Any,
) -> Report:
    """Export a TensorFlow (``"tf"``) or PyTorch (``"torch"``) GRU to ONNX; ``output`` is written only when the
    export agrees with the framework (and, without ``force``, only when it does not exist yet); ``save_inputs`` as
    ``--save-inputs``."""
    from onnxgru.commands.export_cmd import export as run

    if framework not in ("tf", "torch"):

        raise UserError(f"framework must be 'tf' or 'torch', got {framework!r}.")
    (path,) = _paths(source, "source")
    _checked((f"export {framework}", path, ("tf", "keras") if framework == "tf" else ("torch",)))
    target = Output.checked(output, force, [path])
    settings, opts = _settings_and_options(options)
    (to_inputs,) = _saves(force, [path, *([settings.inputs_file] if settings.inputs_file else [])], save_inputs)
    return run(framework, path, target, settings, opts, dtype=dtype, exporter=exporter, opset=opset,
               save_inputs=to_inputs)


def convert(
    source: PathLike, output: PathLike | None = None, *, target: str = "exact", force: bool = False,
    save_inputs: PathLike | None = None, **options: Any
) -> Report:
    """Convert a TensorFlow GRU into an exact PyTorch module (``target="exact"``) or the nearest ``nn.GRU``;
    ``save_inputs`` as ``--save-inputs``."""
    from onnxgru.commands.convert_cmd import convert as run

    (src,) = _paths(source, "source")
    _checked(("convert", src, ("tf", "keras")))
    path = Output.checked(output, force, [src])
    settings, opts = _settings_and_options(options)
    (to_inputs,) = _saves(force, [src, *([settings.inputs_file] if settings.inputs_file else [])], save_inputs)
    return run(src, path, settings, opts, target_kind=target, save_inputs=to_inputs)


def fix(
    port: PathLike, like: PathLike, output: PathLike | None = None, runtimes: str | Sequence[str] | None = None, *,
    force: bool = False, **options: Any,
) -> Report:
    """Reorder the GRU weights of a PyTorch port (TorchScript or a state dict) to match ``like``, the model it was
    ported from (see ``onnxgru fix``); ``output`` is written only when the fixed port passes the check against
    ``like`` (without ``output``: checked, not written)."""
    from onnxgru.commands.fix_cmd import fix as run

    (src,), (ref,) = _paths(port, "port"), _paths(like, "like")
    _checked(("fix", src, ("torch",)), ("--like", ref, None))
    target = Output.checked(output, force, [src, ref])
    if runtimes is not None and not isinstance(runtimes, str):
        runtimes = ",".join(runtimes)
    settings, opts = _settings_and_options(options)
    return run(src, ref, target, runtimes, settings, opts)


def __getattr__(name: str) -> Any:
    if name == "Report":
        from onnxgru.report import Report

        return Report
    if name == "UserError":

        return UserError
    if name == "VerificationError":
        from onnxgru.report import VerificationError

        return VerificationError
    raise AttributeError(name)
