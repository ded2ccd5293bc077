"""One verification: models run whole on the same inputs, every GRU tapped and held against the reference, every
output paired, every disagreement localised and explained.

``verify`` takes native sources (TensorFlow, Keras, PyTorch) and ONNX models. Natives run in their framework; ONNX
models run in every runtime of ``runtimes`` (in child processes, through the probe pool) or, when ``runtimes`` is
None, in ONNX Runtime in this process (``compare``). ``export``, when given, turns each native into an ONNX model
that then runs in the runtimes too (``check``). The first model is the baseline: natives are held against it; an
export's runs against the native it came from; given ONNX models' runs against the baseline, or, with no native,
against ONNX Runtime's run of the same file. With ``against`` (a golden file, ``check --against``) the saved inputs
are fed and every execution is also held against the saved execution of its label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core import findings as F
from onnxgru.core import inputs as inp
from onnxgru.core import taps as T
from onnxgru.core.diff import diff_layers
from onnxgru.core.findings import Finding
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel, Run
from onnxgru.core.numerics import PairResult
from onnxgru.core.taps import LayerCheck
from onnxgru.entries import (
    ConvertDetails,
    Example,
    ExportDetails,
    FixDetails,
    InputsEntry,
    ModelEntry,
    RuntimeResult,
)
from onnxgru.files import Output
from onnxgru.progress import Progress
from onnxgru.report import Report
from onnxgru.runtimes import RuntimeRefused, cuda_rules
from onnxgru.runtimes.limits import known_limits, loops_with_scan_outputs
from onnxgru.verify import golden as G
from onnxgru.verify import pairs as P
from onnxgru.verify.golden import Golden
from onnxgru.verify.inputs import make_inputs
from onnxgru.verify.settings import Settings

if TYPE_CHECKING:
    import onnx

    from onnxgru.runtimes.probe import ProbePool, ProbeResult


@dataclass(eq=False)
class Execution:
    """One run of one model (natively, or in a runtime) and what it is held against."""

    label: str
    model: LoadedModel
    run: Run
    runtime: str | None = None
    against: Execution | None = None  # what it is held against (None: the baseline itself)


@dataclass
class Verification:
    """Everything one verification made: inputs, models, executions, pairs, GRU checks, runtime rows, findings."""

    inputs: Inputs
    models: list[LoadedModel] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    pairs: list[PairResult] = field(default_factory=list)
    checks: list[LayerCheck] = field(default_factory=list)
    runtimes: list[RuntimeResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    cache: dict = field(default_factory=dict)  # executions made on the way (a source run without its initial state)
    references: T.References = field(default_factory=T.References)  # the reference GRU's runs on the taps
    held: int = 0  # outputs held between two executions (a runtime's unrecorded pairs included)
    made: list[Execution] | None = None  # every execution, each runtime's included, when kept (--save-outputs)
    golden: Golden | None = None  # saved executions, each held against this verification's of its label (--against)
    labels: list[str] = field(default_factory=list)  # every execution's label, when held against ``golden``

    def report(self, command: str, *, export: ExportDetails | None = None, convert: ConvertDetails | None = None,
               fix: FixDetails | None = None, example: Example | None = None) -> Report:
        """The report. The one place a verdict meets the truth invariant: a pass needs at least one comparison that
        ran: two executions held against each other, or a GRU an execution ran held against the reference GRU on
        its own input; without one, the report says so as an error (never a pass on nothing)."""
        findings = _unique(self.findings)
        if not (self.held or self.pairs or self.checks) and not F.is_error(findings):
            findings.append(F.nothing_ran(command, len(self.executions), len(self.runtimes)))
        return Report(command, InputsEntry.of(self.inputs), tuple(ModelEntry.of(m) for m in self.models),
                      tuple(self.pairs), tuple(self.runtimes), tuple(findings), export=export, convert=convert,
                      fix=fix, example=example, checks=tuple(self.checks))

    def save(self, command: str, settings: Settings, inputs_to: Output | None, outputs_to: Output | None) -> None:
        """``--save-inputs``: the inputs fed, by the first model's input names; ``--save-outputs``: those and every
        execution's outputs and GRU taps (a golden file: ``check --against``)."""
        if inputs_to is not None:
            inputs_to.write(G.inputs_file(self.models[0], self.inputs))
        if outputs_to is not None:
            made = [(e.label, e.run, e.model, e.runtime) for e in (self.executions if self.made is None else self.made)]
            outputs_to.write(G.outputs_file(command, self.models[0], self.inputs, made, settings))


@dataclass(frozen=True)
class Exported:
    """What an exporter returns: the ONNX model it chose (None when none agreed with its framework), what it found,
    and how it was made. ``export`` and ``check`` verify it in every runtime; the exporter only chose it."""

    proto: onnx.ModelProto | None
    findings: tuple[Finding, ...]
    details: ExportDetails


Exporter = Callable[[LoadedModel], tuple[LoadedModel | None, list[Finding]]]


def verify(
    models: Sequence[LoadedModel],
    settings: Settings | None = None,
    *,
    fixed: dict[str, np.ndarray] | None = None,
    runtimes: Sequence[str] | None = None,
    export: Exporter | None = None,
    pool: ProbePool | None = None,
    progress: Progress | None = None,
    inputs: Inputs | None = None,
    against: Golden | None = None,
    keep: bool = False,
) -> Verification:
    """``keep``: every execution's run is kept (``Verification.made``), a runtime's too, for ``save``."""
    settings = settings or Settings()
    progress = progress or Progress(False)
    in_runtimes = runtimes is not None and pool is not None
    onnx_models = [m for m in models if m.kind == "onnx" and in_runtimes]
    natives = [m for m in models if m not in onnx_models]
    inputs = inputs or make_inputs(models, settings, fixed, against.given if against else None)
    v = Verification(inputs, list(models), made=[] if keep else None, golden=against)
    baseline = models[0]
    for m in models:
        v.findings += m.findings
        if m is not baseline:
            v.findings += diff_layers(baseline.role, baseline.layers, m.role, m.layers)
        v.findings += [F.partial(m.place, f"{m.place}: GRU {why}; it is compared on the model's outputs only.")
                       for why in m.untapped]
    origin: dict[int, LoadedModel] = {}  # an export -> the native it came from
    queued = []
    queued += [(m, _submit(pool, m, inputs, settings)) for m in onnx_models]  # type: ignore[arg-type]
    native_runs: dict[int, Execution] = {}
    for m in natives:  # frameworks natively; ONNX models without a pool in ONNX Runtime, in this process
        progress(f"running {m.role}" + (" natively" if m.kind != "onnx" else " in onnxruntime"))
        try:
            e = Execution(m.role, m, m.run(inputs, settings.taps), "onnxruntime" if m.kind == "onnx" else None)
        except RuntimeRefused as exc:
            v.findings.append(F.refused("onnxruntime", m.role, str(exc)))
            continue
        native_runs[id(m)] = e
        v.executions.append(e)
        _made(v, e)
    if export is not None:
        for m in natives:
            progress(f"exporting {m.role} to ONNX")
            exported, said = export(m)
            if exported is None:  # the export was asked for: without it there is nothing to run in the runtimes
                said = F.as_errors(said, "GRU011")
                said += [] if F.is_error(said) else [F.not_exported(m.role)]
            v.findings += said
            if exported is not None:
                origin[id(exported)] = m
                v.models.append(exported)
                v.findings += exported.findings
                if pool is not None:
                    queued.append((exported, _submit(pool, exported, inputs, settings)))
    base = v.executions[0] if v.executions else None
    for e in v.executions[1:]:
        e.against = base
    gathered = _gather(v, pool, queued, settings, progress, runtimes or ())
    for e in v.executions:
        _hold(v, e, settings, record=True)
        _check_taps(v, e, settings)
        _hold_golden(v, e, settings)
    for m, ticket in queued:
        v.findings += cuda_findings(m)
        source = native_runs.get(id(origin.get(id(m), baseline))) or base or (
            v.executions[0] if v.executions and m is not baseline else None)
        results = gathered.get(id(m)) or pool.results(  # type: ignore[union-attr]
            ticket, _waiting(progress, m, runtimes or ()))
        _runtime_rows(v, results, m, source, settings)
    v.findings += discrimination(baseline, v.executions, settings, v.references)
    v.findings += _golden_unmatched(v)
    v.references.clear()  # the runs go with the verification's end, not with the report's
    return v


def _unique(findings: list[Finding]) -> list[Finding]:
    seen, out = set(), []
    for f in findings:
        if (f.code, f.where, f.message) not in seen:
            seen.add((f.code, f.where, f.message))
            out.append(f)
    return out


# --- runtimes ---------------------------------------------------------------------------------------------------
_LIGHT_FLOPS = 2e8
BF16_BOUND = 5e-2  # bf16 keeps 8 bits of mantissa: a GRU's outputs move by about 1e-2 (runtimes/KNOWN.md)


def bf16_bound(reach: float) -> float:
    """What bf16 may do to a GRU whose pre-activations reach ``reach``: 1e-2 on small inputs, its 8-bit mantissa's
    rounding of the pre-activations (times a margin) on large ones (after convolutions and normalisation)."""
    return max(BF16_BOUND, 4 * 2.0**-8 * reach)


def _submit(pool: ProbePool, m: LoadedModel, inputs: Inputs, settings: Settings) -> list:
    """Queue ``m`` (tapped) in every runtime. A small GRU starts at once, beside this process's own work; a bigger
    one waits until this process is done, so the runtimes' thread pools and numpy do not fight over the cores."""

    per_step = sum(2 * a.num_directions * 3 * a.hidden_size * (a.input_size + a.hidden_size)
                   for a in (la.attrs for la in m.layers))
    light = per_step * inputs.batch * max(inputs.steps, 1) < _LIGHT_FLOPS
    proto = m.handle.tapped()[0] if settings.taps else m.onnx_model
    return pool.submit(proto, inp.feeds(m.signature, inputs), start=light, where=m.path)


_TOGETHER_BYTES = 256 << 20  # every execution's GRU taps held at once, when they fit in this


def _gather(v: Verification, pool: ProbePool | None, queued: Sequence[tuple[LoadedModel, list]], settings: Settings,
            progress: Progress, runtimes: Sequence[str]) -> dict[int, list[tuple[str, ProbeResult, Run | None]]]:
    """When every runtime's GRU taps fit in memory together: each queued model's results read now, and the reference
    run once for the GRUs of every execution, native and in a runtime (``taps.prefetch``). Else nothing: the
    results are read one at a time as their rows are made (at 10,000 steps each runtime's outputs and taps are
    several times the model's output)."""
    per_value = 4 * v.inputs.batch * max(v.inputs.steps, 1)  # float32 bytes per unit of a tapped sequence
    size = sum(len(ticket) * per_value * sum(la.attrs.input_size + la.attrs.num_directions * la.attrs.hidden_size
                                             for la in m.layers) for m, ticket in queued)
    if pool is None or not queued or not settings.taps or size > _TOGETHER_BYTES:
        return {}
    gathered = {}
    for m, ticket in queued:
        gathered[id(m)] = [(name, res, _run_of(v, res, m, settings))
                           for name, res in pool.results(ticket, _waiting(progress, m, runtimes))]
    v.references.prefetch([(t, e.model.layers) for e in v.executions for t in e.run.taps] + [
        (t, m.layers) for m, _ in queued for _, _, run in gathered[id(m)] if run is not None for t in run.taps])
    return gathered


def _waiting(progress: Progress, m: LoadedModel, runtimes: Sequence[str]) -> Callable[[str], None]:
    """The status line while a runtime's result for ``m`` is not in yet: the model, the runtime, how far along."""
    return lambda name: progress(f"running {m.role} in {name} ({list(runtimes).index(name) + 1} of {len(runtimes)})"
                                 if name in runtimes else f"running {m.role} in {name}")


def _runtime_rows(v: Verification, results: Iterable[tuple], m: LoadedModel, source: Execution | None,
                  settings: Settings) -> None:
    """Each runtime's row, from its result (and its execution, when gathered); a runtime's outputs are let go once
    its row is made."""
    for name, res, *run in results:
        v.runtimes.append(_runtime_row(v, name, res, m, source, settings, *run))
        del res, run  # before the next runtime's outputs are read


def _run_of(v: Verification, res: ProbeResult, m: LoadedModel, settings: Settings) -> Run | None:
    """A runtime's outputs as an execution of ``m`` (its GRU taps apart), when it ran."""
    if res.status != "ok":
        return None
    return m.handle.to_run(res.outputs, settings.taps, v.inputs, m.time_major, res.precision)


def _runtime_row(v: Verification, name: str, res: ProbeResult, m: LoadedModel, source: Execution | None,
                 settings: Settings, run: Run | None = None) -> RuntimeResult:
    """A runtime's result for ``m``: refused, unavailable, or its execution held against ``source`` (else ONNX
    Runtime's run of the same model) and each of its GRUs against the reference; the findings that follow."""

    known = _known(name, m, res.precision, known_limits)
    if res.status in ("refused", "crashed"):
        detail = res.detail if res.status == "refused" else f"crashed: {res.detail}"
        v.findings.append(F.refused(name, m.role, detail, known))
        return RuntimeResult(name, res.version, m.role, "refused", None, res.detail)
    if res.status == "unavailable":
        return RuntimeResult(name, res.version, m.role, "unavailable", None, res.detail)
    if res.status == "stopped":  # a verdict in bounded time: reported as not run, not waited for
        v.findings.append(F.stopped(name, m.role, res.detail))
        return RuntimeResult(name, res.version, m.role, "unavailable", None, res.detail)
    run = run or _run_of(v, res, m, settings)
    assert run is not None
    e = Execution(f"{name}({m.role})", m, run, name)
    e.against = _without_state(v, source, m, settings) if source is not None else next(
        (x for x in v.executions if x.model is m and x.runtime == "onnxruntime"), None)
    _made(v, e)
    checks = [T.check(e.label, t, m.layers, settings.atol, settings.rtol, v.references)
              for t in T.checkable(run.taps, m.layers)]
    # a runtime at reduced precision (OpenVINO's bf16 default) is a warning, GRU008, as long as precision is all the
    # difference can be: finite and within what bf16 does to a GRU; anything more is the runtime's own error
    reduced = res.precision not in (None, "f32", "f64") and all(c.max_abs < bf16_bound(c.reach) for c in checks)
    v.checks += checks
    failed = [c for c in checks if not c.passed]
    if name == "onnxruntime":
        v.executions.append(e)
    found: list[Finding] = []
    if not reduced:
        found += [F.gru_mismatch(e.label, c.layers, c.max_abs, c.required_atol, settings.atol, known, c.detail)
                  for c in failed]
    v.findings += found  # the root cause first: the whole outputs' disagreement follows from it
    paired = _hold(v, e, settings, record=name == "onnxruntime", quiet=reduced, cause=found[0].ref if found else "",
                   known=known, one_model=True)
    _hold_golden(v, e, settings)
    whole = max((p.max_abs for p in paired.pairs), default=None)
    figures = [x for x in (whole, *(c.max_abs for c in checks)) if x is not None]
    max_abs = max(figures) if figures else None
    precision = f" at {res.precision}" if res.precision else ""
    bad_pairs = [p for p in paired.pairs if not p.passed]
    if paired.misshapen and not failed:
        return RuntimeResult(name, res.version, m.role, "mismatch", max_abs,
                             paired.misshapen[0] + precision + (f"; {known}" if known else ""))
    if not failed and not bad_pairs:
        said = "every GRU agrees with the reference GRU on its own input" if checks else "ran"
        if e.against is not None and paired.pairs:
            said += f"; its outputs agree with {e.against.label}"
        return RuntimeResult(name, res.version, m.role, "ok", max_abs, said + precision)
    if reduced:
        v.findings.append(F.reduced_precision(name, m.role, res.precision or "", max_abs or 0.0))
    what = (f"GRU {failed[0].layers} differs from the reference GRU by {failed[0].max_abs:.3g}" if failed
            else f"outputs differ from {e.against.label} by {whole:.3g}")  # type: ignore[union-attr]
    return RuntimeResult(name, res.version, m.role, "mismatch", max_abs,
                         what + precision + (f"; {known}" if known else ""))


def _without_state(v: Verification, source: Execution, m: LoadedModel, settings: Settings) -> Execution:
    """The source's execution to hold ``m`` against: when ``m`` (an export) has no initial-state input but the source
    took one (PyTorch's optional ``h0``), the source run again without it, once."""
    if v.inputs.h0 is None or m.accepts_h0 or not source.model.accepts_h0:
        return source
    key = id(source)
    if key not in v.cache:
        inputs = replace(v.inputs, h0=None)
        v.cache[key] = Execution(f"{source.label} (no initial state)", source.model,
                                 source.model.run(inputs, settings.taps))
    return v.cache[key]


def _known(name: str, m: LoadedModel, precision: str | None, known_limits: Callable) -> str | None:
    said = []

    lens = bool(m.signature.by_role("lengths"))
    h0 = bool(m.signature.by_role("state"))
    looped = loops_with_scan_outputs(m.onnx_model)
    for layer in m.layers:
        text = known_limits(name, layer.attrs, m.dtype, lens, has_h0=h0, precision=precision, looped=looped)
        if text and text not in said:
            said.append(text)
    return " ".join(said) or None


def cuda_findings(m: LoadedModel) -> list[Finding]:
    """GRU009 from ONNX Runtime's CUDA placement rule, read statically from each GRU node's written attributes."""
    out = []
    for layer in m.layers:
        if not layer.fused:
            continue
        reasons = cuda_rules.cuda_fallback_reasons(layer.attrs, layer.written)
        reasons += cuda_rules.cuda_hazards(layer.attrs, layer.written)
        if reasons:
            out.append(F.cuda_fallback(m.role, layer.name, reasons))
    return out


# --- pairs and GRU checks ---------------------------------------------------------------------------------------
def _hold(v: Verification, e: Execution, settings: Settings, record: bool = True, quiet: bool = False,
          cause: str = "", known: str | None = None, one_model: bool = False, by_value: bool | None = None
          ) -> P.Paired:
    """Every output of ``e`` against its reference execution; with ``record`` the pairs go in the report. A failed
    pair is GRU010, localised with the taps (unless ``quiet``: a reduced-precision runtime says GRU008 instead);
    with ``one_model`` (a runtime's run of a model) an output that comes back in another shape is GRU010 too.
    Outputs pair by value for a conversion (``LoadedModel.ours``) unless ``by_value`` says."""
    ref = e.against
    if ref is None:
        return P.Paired((), ())
    paired = P.pair_outputs(e.label, e.run, ref.label, ref.run, settings.tolerance, v.inputs.steps,
                            by_value=e.model.ours if by_value is None else by_value, one_model=one_model)
    v.held += len(paired.pairs)
    if record:
        v.pairs += paired.pairs
    v.findings += [F.partial(f"{e.label} vs {ref.label}", f"{s}.") for s in paired.unpaired]
    v.findings += [F.misshapen(f"{e.label} vs {ref.label}", s, known) for s in paired.misshapen]
    if not paired.pairs and not paired.misshapen and ref.run.outputs:
        v.findings.append(F.nothing_compared(f"{e.label} vs {ref.label}", e.label, ref.label))
    failed = [p for p in paired.pairs if not p.passed]
    if failed and not quiet:
        loc = P.localise(e.run.taps, e.model.layers, ref.run.taps, ref.model.layers, settings.atol, settings.rtol,
                         (e.label, ref.label))
        diff = diff_layers(ref.model.role, ref.model.layers, e.model.role, e.model.layers)
        said, why = P.explain(loc, diff)
        v.findings += [F.disagreement(p, said=said, cause=why or cause) for p in failed]
    return paired


def _made(v: Verification, e: Execution) -> None:
    if v.made is not None:
        v.made.append(e)


def _hold_golden(v: Verification, e: Execution, settings: Settings) -> None:
    """``e`` against the saved execution of its label (``check --against``), as any two executions of one model:
    every output paired by name, a difference GRU010 with its error per step, localised with both runs' GRU taps."""
    if v.golden is None:
        return
    v.labels.append(e.label)
    label = G.unique_labels(v.labels)[-1]
    saved = v.golden.executions.get(label)
    if saved is not None:
        _hold(v, replace(e, against=Execution(f"golden:{label}", e.model, saved)), settings, one_model=True,
              by_value=False)


def _golden_unmatched(v: Verification) -> list[Finding]:
    """What ``--against`` could not hold, each said once: this check's executions with no saved counterpart, saved
    executions this check did not make; an error when nothing was held against the golden file."""
    if v.golden is None:
        return []
    made, saved = G.unique_labels(v.labels), list(v.golden.executions)
    return F.golden_unmatched(v.golden.path, [x for x in made if x not in saved], [x for x in saved if x not in made],
                              held=any(x in saved for x in made))


def _check_taps(v: Verification, e: Execution, settings: Settings) -> None:
    if why := T.unknown_to_reference(e.model.layers):
        v.findings.append(F.partial(e.model.place, f"the GRUs of {e.model.place} are not held against the reference "
                                    f"GRU: {why}; they are compared on the model's outputs only."))
    for t in T.checkable(e.run.taps, e.model.layers):
        c = T.check(e.label, t, e.model.layers, settings.atol, settings.rtol, v.references)
        v.checks.append(c)
        if not c.passed:
            v.findings.append(F.gru_mismatch(e.label, c.layers, c.max_abs, c.required_atol, settings.atol, None,
                                             c.detail))


# --- GRU006: can these weights and inputs tell the GRU families apart? ---------------------------------------------
def discrimination(model: LoadedModel, executions: Sequence[Execution], settings: Settings,
                   references: T.References | None = None) -> list[Finding]:
    """GRU006, measured on the GRU inputs of the model's first tapped execution."""
    run = next((e.run for e in executions if e.model is model and e.run.taps), None)
    if run is None or not model.layers:
        return []
    return T.discrimination(model.role, model.layers, run.taps, settings.atol, settings.rtol, references)
