"""``onnxgru check``: every source natively, every ONNX model (given or exported) in every runtime, all compared.

A check is one or more groups of sources that should compute the same function (the user's sources form one group;
the bundled example has two). Each group is one ``verify`` run: its first source is the baseline.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from onnxgru import runtimes as rt
from onnxgru.core import findings as F
from onnxgru.core.findings import Finding
from onnxgru.core.model import LoadedModel
from onnxgru.entries import Example
from onnxgru.errors import UserError
from onnxgru.files import Output
from onnxgru.progress import Progress
from onnxgru.report import Report
from onnxgru.runtimes.probe import ProbePool
from onnxgru.sources.load import KIND_NAMES, LoadOptions, kind_of, load
from onnxgru.sources.onnx_model import from_proto
from onnxgru.verify import golden
from onnxgru.verify.pipeline import Verification, verify
from onnxgru.verify.settings import Settings

EXPORTERS = {
    "tf": "onnxgru.frameworks.tf.export",
    "keras": "onnxgru.frameworks.tf.export",
    "torch": "onnxgru.frameworks.torch.export",
}


@dataclass
class Group:
    """Sources that should compute the same function."""

    name: str
    tf: Sequence[str] = ()
    torch: Sequence[str] = ()
    onnx: Sequence[str] = ()


def check(
    tf: Sequence[str] = (),
    torch: Sequence[str] = (),
    onnx: Sequence[str] = (),
    runtimes: str | None = None,
    settings: Settings | None = None,
    options: LoadOptions | None = None,
    progress: Progress | None = None,
    groups: Sequence[Group] | None = None,
    example: Example | None = None,
    *,
    save_inputs: Output | None = None,
    save_outputs: Output | None = None,
    against: str | None = None,
) -> Report:
    """``save_inputs`` and ``save_outputs`` are written when the check is done (``Verification.save``); ``against``
    is a golden file whose inputs every model is fed and whose saved executions this check's are held against, by
    label. These need one group of sources."""
    settings = settings or Settings()
    options = options or LoadOptions()
    progress = progress or Progress()
    names = runtime_names(runtimes)
    flags = (("--tf", tf, {"tf", "keras"}), ("--torch", torch, {"torch"}), ("--onnx", onnx, {"onnx"}))
    for label, paths, kinds in flags:
        for p in paths:
            if kind_of(p) not in kinds:
                raise UserError(f"{label} {p!r} is {KIND_NAMES[kind_of(p)]} source; pass it with the matching flag.")
    if groups is None:
        if not (tf or torch or onnx):
            raise UserError("give at least one source with --tf, --torch or --onnx (with none, `onnxgru check` checks "
                            "the bundled example).")
        groups = [Group("", tf, torch, onnx)]
    if len(groups) > 1 and (save_inputs or save_outputs or against):
        raise UserError("--save-inputs, --save-outputs and --against need the sources of one check (--tf, --torch, "
                        "--onnx); the bundled example runs its groups on inputs of their own.")
    if against and settings.inputs_file:
        raise UserError(f"--against feeds the inputs saved in {against!r}; leave out --inputs.")
    saved = golden.read(against) if against else None

    done: list[Verification] = []
    # the runtimes' children import while this process loads and exports
    try:
        with _pool(names, options) as pool:
            for group in groups:
                models = _load(group, options, progress)
                done.append(_verify(models, names, settings, options, pool, progress, against=saved,
                                    keep=save_outputs is not None))
    finally:
        progress.done()  # its line goes, and its thread stops, however the check ends
    done[0].save("check", settings, save_inputs, save_outputs)
    return merge(done, example)


def check_loaded(
    models: Sequence[LoadedModel], runtimes: str | None, settings: Settings, options: LoadOptions, progress: Progress
) -> Verification:
    """``check`` of models already loaded, the first the baseline: what ``fix`` verifies its result with."""
    names = runtime_names(runtimes)
    with _pool(names, options) as pool:
        v = _verify(list(models), names, settings, options, pool, progress)
    progress.done()
    return v


def runtime_names(runtimes: str | None) -> list[str]:
    """The runtimes of ``--runtimes`` (all installed when None), ONNX Runtime first: the others are held to it."""
    return sorted(rt.parse(runtimes), key=lambda n: n != "onnxruntime")


def _pool(names: list[str], options: LoadOptions) -> ProbePool:
    return ProbePool(names, options.time_limit, memory_limit=options.memory_limit, budget=options.budget)


def _verify(models: list[LoadedModel], names: list[str], settings: Settings, options: LoadOptions, pool: ProbePool,
            progress: Progress, against: golden.Golden | None = None, keep: bool = False) -> Verification:
    return verify(models, settings, fixed=options.fixed, runtimes=names, export=_exporter(settings, options),
                  pool=pool, progress=progress, against=against, keep=keep)


def merge(done: Sequence[Verification], example: Example | None = None) -> Report:
    """One report for the groups of a check."""
    first = done[0]
    for v in done[1:]:
        first.models += v.models
        first.pairs += v.pairs
        first.checks += v.checks
        first.runtimes += v.runtimes
        first.findings += v.findings
    first.held += sum(v.held for v in done[1:])
    return first.report("check", example=example)


def _label(group: Group, role: str) -> str:
    return f"{group.name}/{role}" if group.name else role


def _load(group: Group, options: LoadOptions, progress: Progress) -> list[LoadedModel]:
    models = []
    for kind, paths in (("tf", group.tf), ("torch", group.torch), ("onnx", group.onnx)):
        for p in paths:
            progress(f"loading {p}")
            models.append(load(p, _label(group, f"{kind}:{Path(p).name}"), options, kind="onnx" if kind == "onnx"
                               else None))
    return models


def _exporter(settings: Settings, options: LoadOptions) -> Callable:
    """Each native source's export, as ``export`` would write it, as an ONNX model the check runs in the runtimes."""

    def export(m: LoadedModel) -> tuple[LoadedModel | None, list[Finding]]:

        module = importlib.import_module(EXPORTERS[m.kind])
        try:
            result = module.export_model(m, settings, options)
            if result.proto is None:
                return None, list(result.findings)
            loaded = from_proto(result.proto, f"export of {m.path}", f"export({m.role})", options.without_fixed(),
                                like=m)
        except UserError as exc:  # the source itself was checked; what cannot be exported is said, not fatal
            return None, [F.partial(f"export({m.role})", f"{m.role} could not be exported to ONNX, so no runtime ran "
                                    f"it: {str(exc).rstrip('.')}.")]
        return loaded, list(result.findings)

    return export
