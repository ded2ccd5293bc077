"""``onnxgru check``: every source natively, every ONNX model in every runtime, all compared.

A check is one or more groups of sources that should compute the same function (the user's sources form one
group; the bundled example has two). In a group the first native source is the baseline: every other execution,
the numpy reference GRU of the baseline, and every runtime run of every ONNX model are compared with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from onnxgru import runtimes as rt
from onnxgru.commands.common import Settings, disagreement, discrimination, execute, make_inputs, pair
from onnxgru.core import reference
from onnxgru.core.diff import diff_layers
from onnxgru.core.findings import Finding
from onnxgru.core.model import LoadedModel, Outputs
from onnxgru.core.numerics import compare_arrays
from onnxgru.errors import UserError
from onnxgru.progress import Progress
from onnxgru.report import Report, RuntimeResult
from onnxgru.runtimes import cuda_rules
from onnxgru.sources.load import LoadOptions, kind_of, load

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
                raise UserError(f"{label} {p!r} is a {kind_of(p)} source; pass it with the matching flag.")
    if tf or torch or onnx:
        groups = [Group("", tf, torch, onnx)]
        extra: dict = {}
    else:
        from onnxgru import example

        groups = example.groups()
        extra = {"example": example.describe()}
    out = _Collected()
    for group in groups:
        _check_group(group, names, settings, options, out, progress)
    progress.done()
    return Report(
        "check", out.inputs, tuple(out.models), tuple(out.pairs), tuple(out.runtimes), tuple(out.findings), extra
    )


def _label(group: Group, role: str) -> str:
    return f"{group.name}/{role}" if group.name else role


def _check_group(
    group: Group, names: list[str], settings: Settings, options: LoadOptions, out: _Collected, progress: Progress
) -> None:
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
    out.inputs = out.inputs or inputs.describe()
    baseline = sources[0]
    for m in sources:
        out.findings.extend(m.findings)
        if m is not baseline:
            out.findings.extend(diff_layers(baseline.role, baseline.layers, m.role, m.layers))
    out.findings.extend(discrimination([baseline], inputs, settings.atol, settings.rtol))

    executions: list[tuple[str, Outputs]] = []
    for m in natives:
        progress(f"running {m.role} natively")
        executions.append((m.role, execute(m, inputs)))
    if baseline.layers:
        executions.append((_label(group, "reference GRU (numpy)"), _oracle(baseline, inputs)))

    onnx_models = list(given)
    for m in natives:
        progress(f"exporting {m.role} to ONNX")
        exported = _export(m, settings, options, out)
        if exported is not None:
            onnx_models.append(exported)
    out.models.extend(m.describe() for m in natives + onnx_models)

    from onnxgru.runtimes.probe import probe_all

    binding_of = {id(m): m.extra["binding"] for m in onnx_models}
    for m in onnx_models:
        out.findings.extend(_cuda_findings(m))
        progress(f"running {m.role} in {', '.join(names)}")
        binding = binding_of[id(m)]
        expected = _oracle(m, inputs) if m.layers else None
        results = probe_all(names, m.onnx_model, binding.feeds(inputs))
        for name, res in results.items():
            out.runtimes.append(_runtime_result(name, res, m, binding, inputs, expected, settings, out))
            if res.status == "ok" and name == "onnxruntime":
                executions.append((f"{name}({m.role})", binding.canonical(res.outputs, inputs)))

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


def _oracle(m: LoadedModel, inputs) -> Outputs:  # noqa: ANN001
    """What the numpy reference GRU says ``m`` computes (cast to the model's float type first)."""
    dtype = np.float64 if m.dtype == "float64" else np.float32
    x = inputs.x.astype(dtype)
    h0 = None if inputs.h0 is None else inputs.h0.astype(dtype)
    return reference.run_stack(m.layers, x, h0 if m.accepts_h0 else None)


def _export(m: LoadedModel, settings: Settings, options: LoadOptions, out: _Collected) -> LoadedModel | None:
    module = importlib.import_module(_EXPORTERS[m.kind])
    report, data = module.export(
        m.path, settings=settings, options=options, dtype=None, exporter="torchscript", opset=None
    )
    # the check compares, discriminates and probes runtimes itself; keep what only the exporter knows
    out.findings.extend(f for f in report.findings if f.code not in ("GRU006", "GRU007", "GRU010"))
    if data is None:
        return None
    import onnx

    from onnxgru.sources.onnx_model import from_proto

    return from_proto(onnx.load_model_from_string(data), f"export of {m.path}", f"export({m.role})", options)


def _runtime_result(name, res, m, binding, inputs, expected, settings, out) -> RuntimeResult:  # noqa: ANN001
    from onnxgru.commands.common import refused

    version = res.version
    if res.status in ("refused", "crashed"):
        out.findings.append(refused(name, m.role, res.detail if res.status == "refused" else f"crashed: {res.detail}"))
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
        out.findings.append(disagreement(cmp, f"{name}: {m.role}"))
    return RuntimeResult(
        name,
        version,
        m.role,
        "mismatch",
        cmp.max_abs,
        f"differs from the reference GRU by {cmp.max_abs:.3g}{precision}",
    )


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
