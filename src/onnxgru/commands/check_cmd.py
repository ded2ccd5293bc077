"""``onnxgru check``: every source natively, every ONNX model in every runtime, all compared.

A check is one or more groups of sources that should compute the same function (the user's sources form one
group; the bundled example has two). In a group the first native source is the baseline: every other execution,
the numpy reference GRU of the baseline, and every runtime run of every ONNX model are compared with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from onnxgru import runtimes as rt
from onnxgru.commands.common import Settings, disagreement, discrimination, execute, make_inputs, pair
from onnxgru.core import reference
from onnxgru.core.diff import diff_layers
from onnxgru.core.findings import Finding, is_error
from onnxgru.core.model import LoadedModel, Outputs
from onnxgru.core.numerics import compare_arrays
from onnxgru.errors import UserError
from onnxgru.progress import Progress
from onnxgru.report import Report, RuntimeResult
from onnxgru.runtimes import cuda_rules
from onnxgru.sources.load import KIND_NAMES, LoadOptions, kind_of, load

if TYPE_CHECKING:
    from onnxgru.core.inputs import Inputs
    from onnxgru.runtimes.probe import ProbePool

_EXPORTERS = {
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


@dataclass
class _Collected:
    inputs: dict | None = None
    models: list[dict] = field(default_factory=list)
    pairs: list = field(default_factory=list)
    runtimes: list[RuntimeResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def check(
    tf: Sequence[str] = (),
    torch: Sequence[str] = (),
    onnx: Sequence[str] = (),
    runtimes: str | None = None,
    settings: Settings | None = None,
    options: LoadOptions | None = None,
    progress: Progress | None = None,
) -> Report:
    settings = settings or Settings()
    options = options or LoadOptions()
    progress = progress or Progress()
    names = rt.parse(runtimes)
    for label, paths, kinds in (
        ("--tf", tf, {"tf", "keras"}),
        ("--torch", torch, {"torch"}),
        ("--onnx", onnx, {"onnx"}),
    ):
        for p in paths:
            if kind_of(p) not in kinds:
                raise UserError(f"{label} {p!r} is {KIND_NAMES[kind_of(p)]} source; pass it with the matching flag.")
    if tf or torch or onnx:
        groups = [Group("", tf, torch, onnx)]
        extra: dict = {}
    else:
        from onnxgru import example

        groups = example.groups()
        extra = {"example": example.describe()}
    from onnxgru.runtimes.probe import ProbePool

    # The runtimes' children start now and import while this process loads and exports the sources; every ONNX
    # model of the check goes to them as soon as it exists, and their results are read once all are queued.
    with ProbePool(names, options.time_limit, memory_limit=options.memory_limit) as pool:
        pending = [_prepare_group(group, names, settings, options, pool, progress) for group in groups]
        for group in pending:
            _finish_group(group, names, settings, pool, progress)
    out = _Collected()
    for group in pending:
        out.inputs = out.inputs or group.out.inputs
        out.models += group.out.models
        out.pairs += group.out.pairs
        out.runtimes += group.out.runtimes
        out.findings += group.out.findings
    progress.done()
    if not out.pairs and all(r.max_abs is None for r in out.runtimes) and not is_error(out.findings):
        raise UserError(  # a pass here would be a pass without a look
            "the check compared nothing: no two executions of these models could be held against each other (no GRU "
            "onnxgru can describe, or no runtime that ran the model); add the source it was exported from (--tf, "
            "--torch) or an installed runtime (--runtimes)."
        )
    return Report(
        "check", out.inputs, tuple(out.models), tuple(out.pairs), tuple(out.runtimes), tuple(out.findings), extra
    )


def _label(group: Group, role: str) -> str:
    return f"{group.name}/{role}" if group.name else role


@dataclass
class _Pending:
    """A group loaded, run natively and exported, its ONNX models queued in the runtimes: what is left to do."""

    group: Group
    inputs: Inputs
    out: _Collected
    baseline: LoadedModel
    executions: list[tuple[str, Outputs]]
    queued: list[tuple[LoadedModel, list]]  # each ONNX model and its probe ticket


def _prepare_group(
    group: Group, names: list[str], settings: Settings, options: LoadOptions, pool: ProbePool, progress: Progress
) -> _Pending:
    out = _Collected()
    natives: list[LoadedModel] = []
    for kind, paths in (("tf", group.tf), ("torch", group.torch)):
        for p in paths:
            progress(f"loading {p}")
            natives.append(load(p, _label(group, f"{kind}:{Path(p).name}"), options))
    given = []
    for p in group.onnx:
        progress(f"loading {p}")
        given.append(load(p, _label(group, f"onnx:{Path(p).name}"), options, kind="onnx"))
    sources = natives + given
    inputs = make_inputs(sources, settings)
    out.inputs = inputs.describe()
    queued = [(m, _submit(pool, m, inputs)) for m in given]
    baseline = sources[0]
    for m in sources:
        out.findings.extend(m.findings)
        if m is not baseline:
            out.findings.extend(diff_layers(baseline.role, baseline.layers, m.role, m.layers))
    oracle = _oracle(baseline, inputs) if baseline.layers else None
    known = [oracle] if oracle is not None and _lossless(baseline, inputs) else []  # the run GRU006 needs, too
    out.findings.extend(discrimination([baseline], inputs, settings.atol, settings.rtol, known))

    executions: list[tuple[str, Outputs]] = []
    for m in natives:
        progress(f"running {m.role} natively")
        executions.append((m.role, execute(m, inputs)))
    if oracle is not None:
        executions.append((_label(group, "reference GRU (numpy)"), oracle))

    for m in natives:
        progress(f"exporting {m.role} to ONNX")
        exported = _export(m, settings, options, out)
        if exported is not None:
            queued.append((exported, _submit(pool, exported, inputs)))
    out.models.extend(m.describe() for m in natives + [m for m, _ in queued])
    return _Pending(group, inputs, out, baseline, executions, queued)


def _finish_group(pending: _Pending, names: list[str], settings: Settings, pool: ProbePool, progress: Progress) -> None:
    out, inputs, executions = pending.out, pending.inputs, pending.executions
    for m, ticket in pending.queued:
        out.findings.extend(_cuda_findings(m))
        progress(f"running {m.role} in {', '.join(names)}")
        binding = m.extra["binding"]
        expected = _expected(m, pending, inputs) if m.layers else None
        for name, res in pool.results(ticket):  # one runtime's outputs at a time
            out.runtimes.append(_runtime_result(name, res, m, binding, inputs, expected, settings, out))
            if res.status == "ok" and name == "onnxruntime":
                executions.append((f"{name}({m.role})", binding.canonical(res.outputs, inputs)))
            del res  # before the next runtime's outputs are read

    if not executions:
        return  # no runtime could run the given ONNX models: the runtime section says why
    base_label, base_out = executions[0]
    for label, outputs in executions:
        if label == base_label:
            continue
        for p in pair(label, outputs, base_label, base_out, settings.atol, settings.rtol):
            out.pairs.append(p)
            if not p.passed:
                out.findings.append(disagreement(p))


# A GRU this small runs in every runtime in milliseconds, so its jobs start at once, beside this process's own work.
# A bigger one waits until this process has done its numpy and framework work: on a small machine the runtimes'
# thread pools and numpy's would otherwise fight over the cores and every one of them would run slower.
_LIGHT_FLOPS = 2e8


def _submit(pool: ProbePool, m: LoadedModel, inputs: Inputs) -> list:
    per_step = sum(  # multiply-adds of the gates, both matmuls, every direction
        2 * a.num_directions * 3 * a.hidden_size * (a.input_size + a.hidden_size) for a in (la.attrs for la in m.layers)
    )
    light = per_step * inputs.batch * inputs.steps < _LIGHT_FLOPS
    return pool.submit(m.onnx_model, m.extra["binding"].feeds(inputs), start=light)


def _expected(m: LoadedModel, pending: _Pending, inputs: Inputs) -> Outputs | None:
    """The reference GRU's outputs for ``m``: the baseline's, already computed, when ``m`` is the baseline."""
    if m is pending.baseline and pending.baseline.layers:
        label = _label(pending.group, "reference GRU (numpy)")
        return next((o for lbl, o in pending.executions if lbl == label), None)
    return _oracle(m, inputs)


def _lossless(m: LoadedModel, inputs: Inputs) -> bool:
    """True when ``_oracle(m)`` is the reference GRU on the inputs exactly as given: casting them to the model's
    float type changes no value and the model takes the initial state."""
    dtype = np.float64 if m.dtype == "float64" else np.float32
    fed = [inputs.x] + ([] if inputs.h0 is None else [inputs.h0])
    return (inputs.h0 is None or m.accepts_h0) and all(np.can_cast(a.dtype, dtype, "safe") for a in fed)


def _oracle(m: LoadedModel, inputs) -> Outputs | None:
    """What the numpy reference GRU says ``m`` computes (cast to the model's float type first); None when its GRU
    layers do not chain as a stack (a graph with more between them), so there is no reference to hold it against."""
    dtype = np.float64 if m.dtype == "float64" else np.float32
    x = inputs.x.astype(dtype)
    h0 = None if inputs.h0 is None else inputs.h0.astype(dtype)
    try:
        return reference.run_stack(m.layers, x, h0 if m.accepts_h0 else None)
    except (ValueError, IndexError):
        return None


def _export(m: LoadedModel, settings: Settings, options: LoadOptions, out: _Collected) -> LoadedModel | None:
    module = importlib.import_module(_EXPORTERS[m.kind])
    reuse = {"loaded": m} if m.kind in ("tf", "keras") else {}  # TensorFlow models are read and run once, not twice
    report, data = module.export(
        m.path, settings=settings, options=options, dtype=None, exporter="torchscript", opset=None, **reuse
    )
    # the check compares, discriminates and probes runtimes itself; keep what only the exporter knows
    out.findings.extend(f for f in report.findings if f.code not in ("GRU006", "GRU007", "GRU010"))
    if data is None:
        return None
    import onnx

    from onnxgru.sources.onnx_model import from_proto

    return from_proto(onnx.load_model_from_string(data), f"export of {m.path}", f"export({m.role})", options)


def _runtime_result(name, res, m, binding, inputs, expected, settings, out) -> RuntimeResult:
    from onnxgru.commands.common import refused

    version = res.version
    known = _known_limits(name, m, binding, res.precision)
    why = f" Known limitation: {known}" if known else ""
    if res.status in ("refused", "crashed"):
        detail = res.detail if res.status == "refused" else f"crashed: {res.detail}"
        finding = refused(name, m.role, detail)
        out.findings.append(replace(finding, message=finding.message + why))
        return RuntimeResult(name, version, m.role, "refused", None, res.detail)
    if res.status == "unavailable":
        return RuntimeResult(name, version, m.role, "unavailable", None, res.detail)
    got = binding.canonical(res.outputs, inputs)
    if expected is None or "output" not in got:
        return RuntimeResult(name, version, m.role, "ok", None, "ran; no reference to hold it against")
    cmp = compare_arrays(
        name, "reference GRU", "output", got["output"], expected["output"], settings.atol, settings.rtol, 1
    )
    precision = f" at {res.precision}" if res.precision else ""
    if cmp.passed:
        return RuntimeResult(name, version, m.role, "ok", cmp.max_abs, f"agrees with the reference GRU{precision}")
    reduced = res.precision not in (None, "f32", "f64")
    if reduced:
        out.findings.append(
            Finding(
                "GRU008",
                "warning",
                f"{name} computes {m.role} in {res.precision} by default and differs from float32 by "
                f"{cmp.max_abs:.3g}; "
                "set INFERENCE_PRECISION_HINT=f32 when compiling (the openvino-f32 row shows the result).",
                f"{name}: {m.role}",
            )
        )
    else:
        finding = disagreement(cmp, f"{name}: {m.role}")
        out.findings.append(replace(finding, message=finding.message + why))
    return RuntimeResult(
        name,
        version,
        m.role,
        "mismatch",
        cmp.max_abs,
        f"differs from the reference GRU by {cmp.max_abs:.3g}{precision}" + (f"; {known}" if known else ""),
    )


def _known_limits(name: str, m: LoadedModel, binding, precision: str | None) -> str | None:
    """What the measured runtime limits (``runtimes/KNOWN.md``) say about this model's GRUs, if anything."""
    from onnxgru.runtimes.limits import known_limits

    said = []
    for layer in m.layers:
        text = known_limits(
            name,
            layer.attrs,
            m.dtype,
            binding.lens_input is not None,
            has_h0=bool(binding.state_inputs),
            precision=precision,
        )
        if text and text not in said:
            said.append(text)
    return " ".join(said) or None


def _cuda_findings(m: LoadedModel) -> list[Finding]:
    """GRU009 from ONNX Runtime's CUDA placement rule, read statically from each GRU node's written attributes."""

    found = []
    for layer in m.layers:
        if not layer.fused:
            continue
        written = layer.extra.get("written")
        reasons = cuda_rules.cuda_fallback_reasons(layer.attrs, written)
        hazards = cuda_rules.cuda_hazards(layer.attrs, written)
        if reasons or hazards:
            found.append(
                Finding(
                    "GRU009",
                    "warning",
                    f"ONNX Runtime's CUDA provider would not run {layer.name} in cuDNN as written: "
                    + "; ".join(reasons + hazards)
                    + ". On a GPU it runs on the CPU with only a log line (copies at every call); only reset-after "
                    "GRUs with default activations and no clip run in cuDNN.",
                    f"{m.role}: {layer.name}",
                )
            )
    return found
