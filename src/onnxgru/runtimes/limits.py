"""What each runtime is known to refuse or compute differently for a GRU node, as measured on the pinned versions
(``tests/runtimes`` re-measures every rule; ``KNOWN.md`` tells the story). The check uses it to explain a refusal
(GRU007) or a mismatch (GRU010) in the runtime's terms instead of leaving a bare number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onnxgru.core.spec import GRUAttrs

MEASURED_ON = {
    "onnxruntime": "ONNX Runtime 1.32.0", "openvino": "OpenVINO 2026.4.1", "tract": "tract 0.23.9",
    "reference": "onnx 1.23.2",
}
OPENVINO_ACTIVATIONS = ("Sigmoid", "Tanh", "Relu")


@dataclass(frozen=True)
class Limit:
    kind: str  # "refused": the runtime raises; "mismatch": it runs and computes something else
    reason: str


def limits(
    runtime: str, attrs: GRUAttrs, dtype: np.dtype | str, has_lens: bool, *,
    has_h0: bool = False, zero_length: bool = False, precision: str | None = None, looped: bool = False,
) -> list[Limit]:
    """Every known limit of ``runtime`` that applies to a GRU with ``attrs``, run in ``dtype``.

    ``has_lens``: ``sequence_lens`` is fed as a model input; ``has_h0``: so is ``initial_h``; ``zero_length``: one
    of the lengths is 0; ``precision``: what the runtime reported it computed in (``ProbeResult.precision``);
    ``looped``: the model has a Loop with scan outputs (a GRU exported as a loop over its steps).
    """
    dtype = np.dtype(dtype)
    f64 = dtype == np.float64
    odd_activations = not attrs.default_activations
    out: list[Limit] = []

    def add(kind: str, when: bool, reason: str) -> None:
        if when:
            out.append(Limit(kind, reason))

    if runtime == "onnxruntime":
        add("refused", attrs.layout == 1, "ONNX Runtime's CPU GRU refuses layout=1 when the session is made "
            "(\"Batchwise recurrent operations (layout == 1) are not supported\"); use layout 0 (time-major) and "
            "transpose around the GRU")
        add("refused", f64, "ONNX Runtime's CPU GRU does not run float64 (\"GRU operator does not support double "
            "yet\"); export the model in float32")
        add("mismatch", has_lens and zero_length and has_h0, "for a sequence of length 0 ONNX Runtime returns "
            "Y_h = 0, not initial_h")
    elif runtime in ("openvino", "openvino-f32"):
        layout1 = "OpenVINO ignores layout=1: it reads X as (T, N, I) and returns layout-0 shapes"
        batch_inputs = has_h0 or has_lens
        add("mismatch", attrs.layout == 1 and not batch_inputs, f"{layout1}, so the outputs are wrong; use layout 0")
        add("refused", attrs.layout == 1 and batch_inputs, f"{layout1}, so the batch of initial_h or sequence_lens "
            "does not match when it runs; use layout 0")
        # The fused CPU kernel takes only Sigmoid/Tanh without clip; anything else is decomposed into a loop that
        # does honour the lengths.
        fused = attrs.clip is None and attrs.activations[:2] == ("Sigmoid", "Tanh")
        add("mismatch", has_lens and fused, "OpenVINO's fused CPU GRU (Sigmoid/Tanh, no clip) ignores "
            "sequence_lens: every batch row runs all steps, so rows shorter than the sequence differ")
        add("mismatch", has_lens and not fused and zero_length and has_h0, "for a sequence of length 0 OpenVINO "
            "returns Y_h = 0, not initial_h")
        unknown = sorted(set(attrs.activations[:2]) - set(OPENVINO_ACTIVATIONS))  # it reads the first pair only
        add("refused", bool(unknown), f"OpenVINO's CPU plugin knows only {'/'.join(OPENVINO_ACTIVATIONS)} as GRU "
            f"activations, not {', '.join(unknown)} (\"Unknown activation function\")")
        add("mismatch", attrs.num_directions == 2 and attrs.activations[2:] != attrs.activations[:2],
            "OpenVINO applies the forward direction's activations to the reverse direction too")
        add("mismatch", f64, "OpenVINO computes float64 models in f32 (about 1e-7 from a float64 reference)")
        add("mismatch", runtime == "openvino" and precision not in (None, "f32"),
            f"OpenVINO's CPU plugin runs this model in {precision} by default (GRU008): expect differences of about "
            "1e-2; compare openvino-f32, or compile with INFERENCE_PRECISION_HINT=f32")
    elif runtime == "tract":
        add("mismatch", attrs.direction == "reverse", "tract runs a direction=reverse GRU forwards (only a "
            "bidirectional GRU gets its reverse pass); flip the sequence around a forward GRU instead")
        add("refused", attrs.layout == 1 and attrs.num_directions == 2, "tract cannot type a bidirectional "
            "layout=1 GRU (\"Output mismatch after rewiring expansion\"); use layout 0")
        add("refused", has_lens, "tract refuses sequence_lens fed as a model input (\"Non constant seq_len is "
            "not supported\")")
        add("refused", f64, "tract does not run a float64 GRU")
        add("refused", attrs.linear_before_reset == 1 and attrs.input_size == 1, "tract's fused reset-after GRU "
            "fails on a single input feature over more than one step (\"xw not contiguous\")")
        add("mismatch", odd_activations, "tract ignores the activations attribute and always uses Sigmoid/Tanh")
        add("mismatch", attrs.clip is not None, "tract ignores clip")
        add("refused", looped, "tract does not run a Loop with scan outputs (\"Unimplemented(Loop) — Wrong number "
            "of outputs\"), so a GRU exported as a loop over its steps does not run there")
    elif runtime == "reference":
        why = "the ONNX reference evaluator's GRU (onnx.reference.ops.op_gru) ignores"
        add("mismatch", odd_activations, f"{why} activations and their alpha/beta, and always uses Sigmoid/Tanh")
        add("mismatch", attrs.clip is not None, f"{why} clip")
        add("mismatch", has_lens, f"{why} sequence_lens: every row runs all steps")
        add("refused", looped, "the ONNX reference evaluator concatenates a Loop's scan outputs along their first "
            "axis where ONNX Runtime and OpenVINO stack them (12 steps of (3, 5) give (36, 5), not (12, 3, 5)), so "
            "a GRU exported as a loop over its steps fails there")
    return out


def loops_with_scan_outputs(model: object) -> bool:
    """Whether an ONNX model has a Loop node with scan outputs (outputs beyond its loop-carried values)."""
    graph = getattr(model, "graph", None)
    return graph is not None and any(
        n.op_type == "Loop" and len(n.output) > len(n.input) - 2 for n in graph.node)


def known_limits(
    runtime: str, attrs: GRUAttrs, dtype: np.dtype | str, has_lens: bool, *,
    has_h0: bool = False, zero_length: bool = False, precision: str | None = None, looped: bool = False,
) -> str | None:
    """One sentence explaining why ``runtime`` refuses or differs on this GRU, or None when it should agree.

    Refusals come first: a runtime that refuses never gets to compute something else.
    """
    found = limits(runtime, attrs, dtype, has_lens, has_h0=has_h0, zero_length=zero_length, precision=precision,
                   looped=looped)
    if not found:
        return None
    found.sort(key=lambda lim: lim.kind != "refused")
    version = MEASURED_ON.get(runtime.split("-")[0])
    return "; ".join(lim.reason for lim in found) + (f" (measured on {version})" if version else "") + "."
