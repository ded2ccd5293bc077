"""``onnxgru export tf SRC -o OUT.onnx``: fused GRU nodes wherever the math allows, proven against TensorFlow.

Candidates are tried in order and each is run in ONNX Runtime on the same inputs as TensorFlow:

1. tf2onnx's default path (``from_graph_def`` with Grappler; ``from_function`` for Keras);
2. for graphs, tf2onnx's converter on the frozen GraphDef without Grappler, whose folding of a v1 loop's ``Enter``
   nodes is what hides the GRU from tf2onnx's rewriter;
3. onnxgru's own rewrite of the canonical layers into fused GRU nodes (``rewrite``).

The first candidate with one fused GRU node per layer that agrees with TensorFlow is the export. When none is fused,
the first one that agrees is written with GRU005 saying why. When none agrees, nothing is written (GRU010).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru.commands.common import Settings, disagreement, discrimination, make_inputs, pair, refused
from onnxgru.core.findings import Finding, no_fused_node
from onnxgru.core.numerics import PairResult, compare_arrays
from onnxgru.errors import UserError
from onnxgru.frameworks.tf import cells, convert, graph, rewrite
from onnxgru.report import Report, RuntimeResult
from onnxgru.runtimes import RuntimeRefused
from onnxgru.runtimes import get as get_runtime
from onnxgru.sources import onnx_build
from onnxgru.sources.load import LoadOptions, kind_of, load
from onnxgru.sources.onnx_model import from_proto

if TYPE_CHECKING:
    import onnx

    from onnxgru.core.inputs import Inputs
    from onnxgru.core.model import LoadedModel

EXPORTED = "exported ONNX"


@dataclass
class Attempt:
    """One candidate export and what became of it."""

    how: str
    proto: Any = None
    model: Any = None  # LoadedModel of the proto
    fused: bool = False
    pairs: list[PairResult] | None = None
    runtime: str = "onnxruntime"
    refusal: str = ""
    error: str = ""

    @property
    def agrees(self) -> bool:
        return self.pairs is not None and all(p.passed for p in self.pairs)

    def summary(self) -> dict:
        ops = _ops(self.proto) if self.proto is not None else {}
        result = (
            f"failed: {self.error}" if self.error else f"refused by {self.runtime}: {self.refusal}" if self.refusal
            else "agrees with TensorFlow" if self.agrees else "disagrees with TensorFlow"
        )
        return {"how": self.how, "fused": self.fused, "ops": ops, "runtime": self.runtime, "result": result}


def _ops(proto: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        if node.op_type in ("GRU", "Loop", "Scan", "MatMul"):
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def export(
    source: str, *, settings: Settings, options: LoadOptions, dtype: str | None, exporter: str, opset: int | None,
    loaded: LoadedModel | None = None,
) -> tuple[Report, bytes | None]:
    """Export ``source``; the bytes are returned only when the export agrees with TensorFlow. ``loaded`` is
    ``source`` already loaded with ``options`` (a check passes its own, so the source is read once)."""
    kind = kind_of(source)  # before reading: a file of another framework is not even opened
    if kind not in ("tf", "keras"):
        raise UserError(f"{source!r} is not a TensorFlow or Keras model; use `onnxgru export torch` for PyTorch.")
    tfm = loaded if loaded is not None else load(source, "tensorflow", options, kind)
    want = np.dtype(dtype) if dtype else np.dtype(tfm.dtype)
    inputs = make_inputs([tfm], settings)
    expected = tfm.run(inputs)
    onnx_options = replace(options, fixed={}, time_major=tfm.time_major, input_names=(), output_names=())
    attempts: list[Attempt] = []
    chosen: Attempt | None = None
    for how, make in _candidates(tfm, inputs, options, want, opset):
        attempt = _try(how, make, tfm, want, inputs, expected, onnx_options, settings)
        attempts.append(attempt)
        if attempt.fused and attempt.agrees:
            chosen = attempt
            break
    if chosen is None:
        chosen = next((a for a in attempts if a.agrees), None)
    findings: list[Finding] = list(tfm.findings)
    findings += discrimination([tfm], inputs, settings.atol, settings.rtol)
    extra = {"export": {"attempts": [a.summary() for a in attempts], "dtype": str(want)}}
    runtimes: list[RuntimeResult] = []
    if chosen is None:
        findings += _failure(attempts)
        best = next((a for a in attempts if a.pairs), None)
        return Report(
            "export tf", inputs=inputs.describe(), models=(tfm.describe(),),
            pairs=tuple(best.pairs if best else ()), findings=tuple(findings), extra=extra,
        ), None
    extra["export"]["chosen"] = chosen.how
    if not chosen.fused:
        findings += [f for f in chosen.model.findings if f.code == "GRU005"] or [
            no_fused_node(EXPORTED, "operators other than GRU nodes")]
        findings.append(Finding("GRU005", "warning", _why_not_fused(tfm, attempts), EXPORTED))
    float64_refusal = next((a.refusal for a in attempts if a.refusal and want == np.float64), "")
    if chosen.runtime != "onnxruntime":
        findings.append(Finding(
            "GRU007", "warning",
            f"ONNX Runtime's CPU GRU does not run float64 models ({float64_refusal}); the export was proven with the "
            f"ONNX reference evaluator instead. Export with --dtype float32 for ONNX Runtime.", "onnxruntime",
        ))
        runtimes.append(
            RuntimeResult("onnxruntime", _version("onnxruntime"), EXPORTED, "refused", None, float64_refusal)
        )
    runtimes.append(RuntimeResult(
        chosen.runtime, _version(chosen.runtime), EXPORTED, "ok",
        max((p.max_abs for p in chosen.pairs), default=0.0), chosen.how,
    ))
    described = chosen.model.describe()
    report = Report(
        "export tf", inputs=inputs.describe(), models=(tfm.describe(), described), pairs=tuple(chosen.pairs),
        runtimes=tuple(runtimes), findings=tuple(findings), extra=extra,
    )
    return report, chosen.proto.SerializeToString()


def _version(runtime: str) -> str | None:
    try:
        return get_runtime(runtime).version()
    except Exception:  # a version is decoration; never fail an export over it
        return None


# --- candidates -------------------------------------------------------------------------------------------------
def _candidates(
    tfm: LoadedModel, inputs: Inputs, options: LoadOptions, want: np.dtype, opset: int | None
) -> Iterator[tuple[str, Callable[[], onnx.ModelProto]]]:
    if tfm.kind == "keras" or "keras" in tfm.extra:
        km = tfm.extra["keras"]
        yield "tf2onnx from_function (Keras model traced as a tf.function)", lambda: convert.from_keras(km, opset)
    else:
        tfg = tfm.extra["graph"]
        folded = graph.fold_fixed(tfg.graph_def, tfm.extra["roles"].fixed) if tfm.extra["roles"].fixed else None
        yield "tf2onnx from_graph_def (with Grappler)", lambda: convert.with_grappler(tfg, opset, folded)
        yield "tf2onnx process_tf_graph without Grappler", lambda: convert.without_grappler(tfg, opset, folded)
    if not any(cells.fusable(layer) for layer in tfm.layers):
        yield "onnxgru rewrite into fused GRU nodes", lambda: _rewrite(tfm, inputs, want, opset)


def _rewrite(tfm: LoadedModel, inputs: Inputs, want: np.dtype, opset: int | None) -> onnx.ModelProto:
    raw = tfm.extra["raw_run"](inputs)
    roles = rewrite.output_roles(tfm, raw, inputs)
    if isinstance(roles, str):
        raise _NoRewrite(roles)
    if "graph" in tfm.extra:
        tfg, r = tfm.extra["graph"], tfm.extra["roles"]
        names = convert.renames(tfg)
        kwargs = {
            "input_name": names[r.sequence.name], "state_names": [names[f.name] for f in r.states],
            "lens_name": names[r.lens.name] if r.lens else None, "lens_dtype": r.lens.dtype if r.lens else None,
            "output_names": [names[o] for o in tfg.outputs],
        }
    else:
        from onnxgru.frameworks.tf.keras import io_specs

        ins, outs = io_specs(tfm.extra["keras"])
        kwargs = {
            "input_name": ins[0][0], "state_names": [n for n, _, _ in ins[1:]] if tfm.accepts_h0 else [],
            "lens_name": None, "lens_dtype": None, "output_names": outs,
        }
    return rewrite.fused_model(tfm, roles, dtype=want.type, opset=opset, **kwargs)


class _NoRewrite(Exception):
    """The model is not only GRUs, so the layers alone cannot be written as it."""


def _try(
    how: str, make: Callable[[], onnx.ModelProto], tfm: LoadedModel, want: np.dtype, inputs: Inputs,
    expected: dict, onnx_options: LoadOptions, settings: Settings,
) -> Attempt:
    attempt = Attempt(how)
    try:
        proto = make()
    except _NoRewrite as exc:
        attempt.error = str(exc)
        return attempt
    except Exception as exc:  # tf2onnx raises anything on graphs it cannot convert; that is one candidate fewer
        attempt.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        return attempt
    onnx_build.write_defaults(proto)
    current = _float_type(proto)
    if current is not None and current != want:  # (np.dtype(None) is float64, so never `in (None, want)`)
        proto = rewrite.cast_floats(proto, want)
    attempt.proto = proto
    try:
        model = from_proto(proto, EXPORTED, "onnx", onnx_options)
    except UserError as exc:
        attempt.error = str(exc)
        return attempt
    attempt.model = model
    gru_nodes = sum(1 for n in proto.graph.node if n.op_type == "GRU")
    attempt.fused = gru_nodes == len(tfm.layers) and not any(f.code == "GRU005" for f in model.findings)
    for runtime in ("onnxruntime", "reference"):
        attempt.runtime = runtime
        if runtime != "onnxruntime":
            model = from_proto(proto, EXPORTED, "onnx", onnx_options, runtime=runtime)
            attempt.model = model
        try:
            got = model.run(inputs)
        except RuntimeRefused as exc:
            attempt.refusal = str(exc)
            if want == np.float64:
                continue  # ONNX Runtime's CPU GRU has no float64 kernel: prove it with the reference evaluator
            return attempt
        attempt.refusal = ""
        try:
            attempt.pairs = _pairs(expected, got, settings)
        except UserError as exc:
            attempt.error = str(exc)
        return attempt
    return attempt


def _float_type(proto: onnx.ModelProto) -> np.dtype | None:
    from onnx import helper

    for vi in proto.graph.input:
        elem = vi.type.tensor_type.elem_type
        if elem in (1, 11):
            return np.dtype(helper.tensor_dtype_to_np_dtype(elem))
    return None


def _pairs(expected: dict, got: dict, settings: Settings) -> list[PairResult]:
    """``output`` and ``state`` as the commands pair them, then any other outputs in order."""
    got = dict(got)
    for key in ("output", "state"):
        # An unfused graph has no GRU node to tell the binding a state's rows: a lone (N, H) state is one row.
        if key in got and key in expected and got[key].shape != expected[key].shape:
            if got[key].size == expected[key].size and np.squeeze(got[key]).shape == np.squeeze(expected[key]).shape:
                got[key] = got[key].reshape(expected[key].shape)
    results = pair(
        "tensorflow", expected, EXPORTED, got, settings.atol, settings.rtol, settings.atol_for, settings.rtol_for
    )
    rest_a = [(k, v) for k, v in expected.items() if k not in ("output", "state")]
    rest_b = [v for k, v in got.items() if k not in ("output", "state")]
    for (name, a), b in zip(rest_a, rest_b):
        if np.shape(a) == np.shape(b):
            results.append(compare_arrays("tensorflow", EXPORTED, name, b, a, *settings.tolerance(name)))
    return results


def _failure(attempts: list[Attempt]) -> list[Finding]:
    """GRU010 for the candidates that ran and disagreed; GRU007 when the runtime refused them all."""
    ran = [a for a in attempts if a.pairs]
    if ran:
        best = ran[0]
        return [disagreement(p, f"{best.how}: {p.output}") for p in best.pairs if not p.passed]
    refusals = [a for a in attempts if a.refusal]
    if refusals:
        return [refused(refusals[0].runtime, EXPORTED, refusals[0].refusal)]
    detail = "; ".join(f"{a.how}: {a.error}" for a in attempts)
    return [Finding("GRU010", "error", f"no ONNX export of this model could be made and checked ({detail}).", EXPORTED)]


def _why_not_fused(tfm: LoadedModel, attempts: list[Attempt]) -> str:
    reasons = [f"{layer.name}: {why}" for layer in tfm.layers if (why := cells.fusable(layer))]
    if reasons:
        return "no fused GRU node is possible: " + "; ".join(reasons) + "; the export keeps the loop."
    tried = "; ".join(f"{a.how}: {a.summary()['result']}" for a in attempts)
    return f"no candidate export gave one fused GRU node per layer that agrees with TensorFlow ({tried})."
