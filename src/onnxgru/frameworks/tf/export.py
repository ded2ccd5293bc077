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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru.core import findings as F
from onnxgru.core.findings import Finding
from onnxgru.core.numerics import PairResult
from onnxgru.entries import ExportAttempt, ExportDetails
from onnxgru.errors import UserError
from onnxgru.frameworks.tf import cells, convert, graph, keras, rewrite
from onnxgru.frameworks.tf.graph_source import TFHandle
from onnxgru.graph import bidirectional, splice
from onnxgru.graph import build as onnx_build
from onnxgru.graph import fuse as onnx_fuse
from onnxgru.graph import tidy as onnx_tidy
from onnxgru.graph.describe import what_it_holds
from onnxgru.runtimes import RuntimeRefused
from onnxgru.sources.load import LoadOptions
from onnxgru.sources.onnx_model import from_proto
from onnxgru.verify import pairs as P
from onnxgru.verify.inputs import make_inputs
from onnxgru.verify.pipeline import Exported
from onnxgru.verify.settings import Settings

if TYPE_CHECKING:
    import onnx

    from onnxgru.core.inputs import Inputs
    from onnxgru.core.model import LoadedModel, Run

EXPORTED = "exported ONNX"


@dataclass
class Attempt:
    """One candidate export and what became of it in ONNX Runtime."""

    how: str
    proto: Any = None
    fused: bool = False
    pairs: list[PairResult] | None = None
    refusal: str = ""
    error: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return self.pairs is not None and all(p.passed for p in self.pairs)

    def summary(self) -> ExportAttempt:
        ops = _ops(self.proto) if self.proto is not None else {}
        result = (
            f"failed: {self.error}" if self.error else f"refused by onnxruntime: {self.refusal}" if self.refusal
            else "agrees with TensorFlow" if self.agrees else "disagrees with TensorFlow"
        )
        return ExportAttempt(self.how, self.fused, ops, result)


def _ops(proto: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        if node.op_type in ("GRU", "Loop", "Scan", "MatMul"):
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def export_model(
    tfm: LoadedModel, settings: Settings, options: LoadOptions, dtype: str | None = None, opset: int | None = None
) -> Exported:
    """The first candidate with one fused GRU node per layer that agrees with TensorFlow in ONNX Runtime (else the
    first that agrees, with GRU005 saying why none is fused)."""
    want = np.dtype(dtype) if dtype else np.dtype(tfm.dtype)
    inputs = make_inputs([tfm], settings, options.fixed)
    expected = tfm.run(inputs, False)
    attempts: list[Attempt] = []
    chosen: Attempt | None = None
    for how, make in _candidates(tfm, inputs, want, opset):
        attempt = _try(how, make, tfm, want, inputs, expected, settings)
        attempts.append(attempt)
        if attempt.fused and attempt.agrees:
            chosen = attempt
            break
    if chosen is None:
        chosen = next((a for a in attempts if a.agrees), None)
    details = ExportDetails(str(want), attempts=tuple(a.summary() for a in attempts),
                            frozen={k: np.asarray(v).tolist() for k, v in options.freeze.items()})
    if chosen is None:
        return Exported(None, tuple(_failure(attempts)), details)
    details = replace(details, chosen=chosen.how)
    findings = list(chosen.findings)
    if not chosen.fused:

        assert chosen.proto is not None
        findings.append(F.no_fused_node(EXPORTED, what_it_holds(chosen.proto, len(tfm.layers)),
                                        _why_not_fused(tfm, attempts)))
    return Exported(chosen.proto, tuple(findings), details)


# --- candidates -------------------------------------------------------------------------------------------------
def _candidates(
    tfm: LoadedModel, inputs: Inputs, want: np.dtype, opset: int | None
) -> Iterator[tuple[str, Callable[[], onnx.ModelProto]]]:

    handle = tfm.handle
    if isinstance(handle, TFHandle):
        tfg = handle.graph
        shapes = {graph.op_name(handle.tensors.get(p.name, p.name)): p.shape for p in tfm.signature.inputs
                  if p.shape is not None and any(f.name == handle.tensors.get(p.name) and f.rank is None
                                                 for f in tfg.inputs)}
        folded = graph.fold_fixed(tfg.graph_def, handle.frozen, shapes) if handle.frozen or shapes else None
        yield "tf2onnx from_graph_def (with Grappler)", lambda: convert.with_grappler(tfg, opset, folded)
        yield "tf2onnx process_tf_graph without Grappler", lambda: convert.without_grappler(tfg, opset, folded)
    else:
        km = handle.km
        yield "tf2onnx from_function (Keras model traced as a tf.function)", lambda: convert.from_keras(km, opset)
    if not any(cells.fusable(layer) for layer in tfm.layers):
        yield "onnxgru rewrite into fused GRU nodes", lambda: _rewrite(tfm, inputs, want, opset)


def _rewrite(tfm: LoadedModel, inputs: Inputs, want: np.dtype, opset: int | None) -> onnx.ModelProto:
    sig = tfm.signature
    data = sig.data
    if len(data) != 1 or data[0].vocab or (data[0].rank or 3) != 3:
        raise _NoRewrite("the model's input is not the GRU's input sequence (the model computes more than its GRUs)")
    roles = rewrite.output_roles(tfm, rewrite.raw_outputs(tfm, inputs), inputs)
    if isinstance(roles, str):
        raise _NoRewrite(roles)
    states = sorted(sig.by_role("state"), key=lambda p: (p.rows or (0, 0))[0])
    lens = sig.by_role("lengths")
    return rewrite.fused_model(
        tfm, roles, dtype=want.type, opset=opset, input_name=data[0].name,
        state_names=[p.name for p in states] if tfm.accepts_h0 else [],
        lens_name=lens[0].name if lens else None, lens_dtype=np.dtype(lens[0].dtype) if lens else None,
        output_names=[p.name for p in sig.outputs],
    )


class _NoRewrite(Exception):
    """The model is not only GRUs, so the layers alone cannot be written as it."""


def _try(
    how: str, make: Callable[[], onnx.ModelProto], tfm: LoadedModel, want: np.dtype, inputs: Inputs,
    expected: Run, settings: Settings,
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
    _fuse(proto, tfm)
    # value_info only annotates shapes, and tract 0.23.9 refuses symbolic dims it cannot unify there ("Impossible to
    # unify Sym(unk__134) with Val(3)"): the export leaves shapes to each runtime's own inference
    del proto.graph.value_info[:]
    onnx_build.write_defaults(proto)
    current = _float_type(proto)
    if current is not None and current != want:  # (np.dtype(None) is float64, so never `in (None, want)`)
        proto = rewrite.cast_floats(proto, want)
    attempt.proto = proto
    try:
        model = from_proto(proto, EXPORTED, EXPORTED, LoadOptions(), like=tfm)
    except UserError as exc:
        attempt.error = str(exc)
        return attempt
    attempt.findings = [f for f in model.findings if f.code != "GRU005"]
    gru_nodes = sum(1 for n in proto.graph.node if n.op_type == "GRU")
    attempt.fused = gru_nodes == len(tfm.layers) and not any(f.code == "GRU005" for f in model.findings)
    runtime = "onnxruntime" if want != np.float64 else "reference"  # ORT's CPU GRU has no float64 kernel
    if runtime != "onnxruntime":
        model = from_proto(proto, EXPORTED, EXPORTED, LoadOptions(), runtime=runtime, like=tfm)
    try:
        got = model.run(inputs, False)
    except RuntimeRefused as exc:
        attempt.refusal = str(exc)
        return attempt
    except UserError as exc:
        attempt.error = str(exc)
        return attempt
    paired = P.pair_outputs(EXPORTED, got, "tensorflow", expected, settings.tolerance, inputs.steps)
    if paired.unpaired:
        attempt.error = "; ".join(paired.unpaired)
        return attempt
    attempt.pairs = list(paired.pairs)
    return attempt


def _fuse(proto: onnx.ModelProto, tfm: LoadedModel) -> None:
    """What tf2onnx leaves unfused inside a larger graph, as GRU nodes (``graph.fuse``, ``graph.splice``,
    ``graph.bidirectional``): Keras GRU loops, MultiRNNCell loops written as a ``Scan``, static_rnn cells (by the
    names of their steps, which tf2onnx keeps), and the inference-time no-ops tract cannot load (dropout with
    keep_prob 1, ``ReverseV2``), a Keras ``Bidirectional``'s two loops as one bidirectional node, and one-hot ids
    in a type ONNX Runtime has no OneHot kernel for."""

    onnx_tidy.drop_inference_dropout(proto)
    onnx_tidy.one_hot_indices_as_int64(proto)
    onnx_fuse.fuse_keras_loops(proto)
    onnx_tidy.drop_unread_inputs(proto)
    onnx_fuse.fuse_cell_scans(proto, tfm.layers)
    onnx_fuse.fuse_cell_loops(proto, tfm.layers)
    onnx_tidy.body_outputs_through_identity(proto)
    bidirectional.reverse_v2_as_slice(proto)
    bidirectional.merge_bidirectional(proto)
    if isinstance(tfm.handle, TFHandle):
        names = convert.renames(tfm.handle.graph)
        spans = [splice.Span(
            tfm.layers[spec.first], steps=spec.x, h0=tuple(names.get(t, t) for t in spec.h0[0]),
            step_outputs=spec.y[0], final=tuple(f for f in spec.y_h[0] if f not in spec.y[0]))
            for spec in tfm.handle.specs if spec.kind == "static" and len(spec.y) == 1]
        if spans:
            splice.splice(proto, spans)
    onnx_tidy.drop_unread_inputs(proto)


def _float_type(proto: onnx.ModelProto) -> np.dtype | None:
    from onnx import helper

    for vi in proto.graph.input:
        elem = vi.type.tensor_type.elem_type
        if elem in (1, 11):
            return np.dtype(helper.tensor_dtype_to_np_dtype(elem))
    return None


def _failure(attempts: list[Attempt]) -> list[Finding]:
    """GRU010 for the candidates that ran and disagreed; GRU007 when ONNX Runtime refused them all."""
    ran = [a for a in attempts if a.pairs]
    if ran:
        best = ran[0]
        return [F.disagreement(p, f"{best.how}: {p.output}") for p in best.pairs or () if not p.passed]
    refusals = [a for a in attempts if a.refusal]
    if refusals:
        return [F.refused("onnxruntime", EXPORTED, refusals[0].refusal)]
    detail = "; ".join(f"{a.how}: {a.error}" for a in attempts)
    return [F.partial(EXPORTED, f"no ONNX export of this model could be made and checked ({detail}).")]


def _why_not_fused(tfm: LoadedModel, attempts: list[Attempt]) -> str:

    km = getattr(tfm.handle, "km", None)  # a Keras model (a TF graph has no masking layer)
    masking = keras.masking_layer(km) if km is not None else ""
    if masking:
        return (f"no fused GRU node is possible: {masking} masks steps, which the GRUs skip and a GRU node cannot; "
                "the export keeps the loop, which ONNX Runtime and OpenVINO run and tract and the ONNX reference "
                "evaluator do not.")
    reasons = [f"{layer.name}: {why}" for layer in tfm.layers if (why := cells.fusable(layer))]
    if reasons:
        return "no fused GRU node is possible: " + "; ".join(reasons) + "; the export keeps the loop."
    tried = "; ".join(f"{a.how}: {a.summary().result}" for a in attempts)
    return f"no candidate export gave one fused GRU node per layer that agrees with TensorFlow ({tried})."
