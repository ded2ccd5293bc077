"""Every finding code, explained once: what it means, why it happens, how to fix it (``onnxgru explain CODE``).

The codes and severities are the product's contract (SPEC.md); messages in reports say the specifics of one case,
this catalogue says the general story, so the two never have to repeat each other.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One finding code: its severity, what it means, why it happens and how to fix it."""

    code: str
    severity: str
    title: str
    cause: str
    fix: str
    root: bool = True  # False: usually a consequence of another finding (a GRU010 after a GRU001)
    example: str = ""  # code that shows the fix, printed as it is (tests run it)


# Keras GRU(reset_after=True) -> torch.nn.GRU, the copy GRU004 most often catches done wrong (tests/cli run it)
KERAS_TO_TORCH = """\
def rzn(w):  # Keras [z|r|h] along the last axis -> torch's [r|z|n] along the first
    z, r, h = np.split(w, 3, axis=-1)
    return torch.from_numpy(np.concatenate([r, z, h], axis=-1).T.copy())
kernel, recurrent, bias = keras_gru.get_weights()  # bias: (2, 3H), input and recurrent
with torch.no_grad():
    gru.weight_ih_l0.copy_(rzn(kernel)); gru.weight_hh_l0.copy_(rzn(recurrent))
    gru.bias_ih_l0.copy_(rzn(bias[0])); gru.bias_hh_l0.copy_(rzn(bias[1]))
"""


CATALOG: dict[str, Entry] = {
    e.code: e
    for e in (
        Entry(
            "GRU001",
            "error",
            "the two models use different GRU formulas (reset before vs after the recurrent matmul)",
            "TF1 GRUCell and Keras GRU(reset_after=False) apply the reset gate before the recurrent matmul "
            "(ONNX linear_before_reset=0); torch.nn.GRU, cuDNN and Keras GRU(reset_after=True) apply it after "
            "(linear_before_reset=1). No weight mapping turns one into the other, so a port with copied weights "
            "computes something else.",
            "Port a reset-before GRU with `onnxgru convert SRC -o OUT.pt`, which writes an exact PyTorch module "
            "(it exports to one ONNX GRU node with linear_before_reset=0); or retrain the target with the same "
            "formula.",
        ),
        Entry(
            "GRU002",
            "error",
            "the GRU stacks have different shapes (hidden size, input size, direction, layers or layout)",
            "The two models are not the same architecture: a layer count, a size, the direction (forward, reverse, "
            "bidirectional) or the ONNX layout (0 = time-major, 1 = batch-major) differs.",
            "Build the port with the source's sizes and direction; for layout, transpose the inputs or re-export "
            "with layout=0, which every runtime loads.",
        ),
        Entry(
            "GRU003",
            "error",
            "the GRUs use different activations, activation alpha/beta or clip",
            "A non-default activation (e.g. Keras recurrent_activation='hard_sigmoid') or a clip on one side changes "
            "the outputs wherever the pre-activations reach the difference.",
            "Use the same activations and clip on both sides (Keras: activation='tanh', "
            "recurrent_activation='sigmoid' match torch.nn.GRU).",
        ),
        Entry(
            "GRU004",
            "error",
            "the weights or biases differ after mapping both models to ONNX's [z|r|h] form",
            "The weights were copied in the wrong gate order or orientation: torch's rows are [r|z|n], Keras and "
            "ONNX columns/rows are [z|r|h], a TF1 GRUCell's gates kernel is [r|u]; Keras kernels are (in, out) "
            "where torch's are (out, in). The message names the permutation or transposition that explains the "
            "difference, the tensor slices to move and the likely source order.",
            "Reorder the named slices (or rebuild the port with `onnxgru convert`, which maps every tensor once). "
            "A Keras GRU with reset_after=True (the Keras 2.x/3 default) copies into torch.nn.GRU(batch_first=True) "
            "as below, layer by layer (l1, l2, ... and the _reverse tensors for the backward direction); a TF1 "
            "GRUCell or a Keras GRU with reset_after=False has no such mapping (GRU001): use `onnxgru convert`.",
            example=KERAS_TO_TORCH,
        ),
        Entry(
            "GRU005",
            "warning",
            "no fused GRU node: the GRU was exported as Loop, Scan or unrolled cells",
            "tf2onnx did not recognise the GRU pattern (e.g. Grappler folded the loop of a TF1 dynamic_rnn, or Keras "
            "GRU(reset_after=False) became a Loop); the numbers can be right but runtimes cannot use their GRU "
            "kernels.",
            "Export with `onnxgru export tf|torch`, which writes one GRU node per layer wherever the math allows.",
        ),
        Entry(
            "GRU006",
            "warning",
            "this test cannot tell the two GRU families apart",
            "With degenerate weights (all zero or constant) every GRU formula gives the same outputs (0.5*h0 after "
            "one step with zero weights), or on these inputs flipping linear_before_reset changes the outputs by "
            "less than the tolerance: agreement proves nothing.",
            "Test with trained or random weights, more steps (--steps), inputs and states away from zero, or a "
            "tighter --atol.",
        ),
        Entry(
            "GRU007",
            "error",
            "a runtime refuses to load or run the model",
            "Known refusals: ONNX Runtime CPU and OpenVINO do not load layout=1 GRUs; ONNX Runtime's CPU GRU has no "
            "float64 kernel. The message quotes the runtime's own words.",
            "Re-export with layout=0 and float32 (`onnxgru export tf --dtype float32`), or drop that runtime with "
            "--runtimes if you do not deploy on it.",
        ),
        Entry(
            "GRU008",
            "warning",
            "a runtime computes at reduced precision by default (OpenVINO CPU in bf16)",
            "OpenVINO's CPU plugin runs in bf16 on CPUs with AVX512_BF16 unless told otherwise; a GRU then differs "
            "by about 1e-2 from float32. The openvino-f32 row shows the same model at full precision.",
            "Compile with INFERENCE_PRECISION_HINT=f32 (core.compile_model(model, 'CPU', "
            "{'INFERENCE_PRECISION_HINT': 'f32'})), or accept the error; --ignore GRU008 silences it.",
        ),
        Entry(
            "GRU009",
            "warning",
            "ONNX Runtime's CUDA provider would run this GRU on the CPU",
            "cuDNN computes only reset-after GRUs with default activations and no clip; for linear_before_reset=0, "
            "clip or other activations the CUDA provider silently falls back to its CPU kernel (one log line, copies "
            "at every call). Read statically from the node; no GPU is needed to see it.",
            "On a GPU deployment, use a reset-after GRU with default activations and no clip. If you do not deploy "
            "with ONNX Runtime's CUDA provider, pass --ignore GRU009.",
        ),
        Entry(
            "GRU010",
            "error",
            "two executions disagree beyond the tolerance",
            "The outputs differ by more than atol + rtol*|expected| somewhere; the message says where along the "
            "sequence the error starts, how it grows and the atol that would have passed. When the two models "
            "already differ (GRU001-GRU004) this is a consequence of that difference. A Keras model that masks "
            "padding (Embedding(mask_zero=True), Masking) skips those steps; a port that does not, differs on "
            "every padded row: the message says which side skipped how many steps.",
            "Fix the cause listed above it; pack a port's padded rows (torch.nn.utils.rnn.pack_padded_sequence) "
            "where the source masks them; if the error is expected (reduced precision), loosen the tolerance for "
            "that output only: --atol state:1e-4.",
            root=False,
        ),
        Entry(
            "GRU011",
            "warning",
            "only part of the model was run, tapped, exported or compared",
            "onnxgru could not follow some part of the model (an op it cannot tap, an output it cannot pair); the "
            "message says which part and why, so a pass is never wider than what was checked.",
            "Give the missing feeds (--input NAME=VALUE) or names (--input-names/--output-names), or check that part "
            "separately.",
        ),
    )
}


def explain(code: str, width: int = 100) -> str:
    """The catalogue entry of ``code`` as plain text, its paragraphs wrapped to ``width`` (its example as it is);
    a KeyError for an unknown code."""
    e = CATALOG[code.upper()]
    paragraphs = [f"{e.code} ({e.severity}): {e.title}.", f"Why: {e.cause}", f"Fix: {e.fix}"]
    out = [textwrap.fill(p, width, break_on_hyphens=False) for p in paragraphs]
    if e.example:
        out.append(textwrap.indent(e.example.rstrip(), "    "))
    out.append(textwrap.fill(f"Silence it in a report: --ignore {e.code}; make warnings fail a run: --fail-on "
                             "warning.", width, break_on_hyphens=False))
    return "\n\n".join(out) + "\n"


def title(code: str) -> str:
    return CATALOG[code].title if code in CATALOG else code
