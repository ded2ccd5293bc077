"""Findings: stable codes, a severity, and a message that explains the cause and the fix.

Every finding is built here, by one constructor per situation, so a code always carries the severity the spec gives
it (``SEVERITY``); the exceptions are said where they are made (a GRU001 that an exporter made and onnxgru repaired is
a warning: the written file is right; a GRU011 that left nothing compared is an error).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from onnxgru.core.catalog import CATALOG
from onnxgru.core.numerics import PairResult, growth_summary

SEVERITIES = ("error", "warning", "info")
SEVERITY = {code: entry.severity for code, entry in CATALOG.items()}  # the catalogue says each code once

RESET_BEFORE_FORMULA = "h~ = tanh(Wh·x + Rh·(r⊙h) + b)  (reset before the recurrent matmul, linear_before_reset=0)"
RESET_AFTER_FORMULA = "h~ = tanh(Wh·x + bWh + r⊙(Rh·h + bRh))  (reset after, linear_before_reset=1)"


@dataclass(frozen=True)
class Finding:
    """One thing a command found. ``models`` names the models it is about (a diff names both sides); ``cause`` is
    the ``ref`` of the finding this one follows from (a GRU010 disagreement caused by a GRU001), empty for a root."""

    code: str
    severity: str
    message: str
    where: str = ""
    cause: str = ""
    models: tuple[str, ...] = ()
    located: str = ""  # a disagreement's localisation ("everything before GRU layer 0 agrees; ..."), also in message

    def __post_init__(self) -> None:
        assert self.severity in SEVERITIES, self.severity

    @property
    def ref(self) -> str:
        """How another finding names this one in its ``cause``: the code and where, e.g. ``GRU001 @ layer 0 (...)``."""
        return f"{self.code} @ {self.where}" if self.where else self.code

    def because_of(self, root: Finding) -> Finding:
        """This finding, marked as a consequence of ``root``."""
        return replace(self, cause=root.ref)

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "where": self.where,
            "cause": self.cause or None,
            "models": list(self.models),
        }


def _make(code: str, message: str, where: str, cause: str = "", models: tuple[str, ...] = ()) -> Finding:
    return Finding(code, SEVERITY[code], message, where, cause, models)


def is_error(findings: list[Finding] | tuple[Finding, ...]) -> bool:
    return any(f.severity == "error" for f in findings)


# --- GRU001-GRU004: two models' GRUs compared ---------------------------------------------------------------------
def semantics_differ(where: str, a: str, a_lbr: int, b: str, b_lbr: int) -> Finding:
    formulas = {0: RESET_BEFORE_FORMULA, 1: RESET_AFTER_FORMULA}
    return _make(
        "GRU001",
        f"{a} and {b} are different GRU functions: {a} computes {formulas[a_lbr]}, {b} computes {formulas[b_lbr]}. "
        "No weight mapping turns one into the other. Port a reset-before GRU (TF1 GRUCell, Keras "
        "reset_after=False) with `onnxgru convert SRC -o OUT`, which writes an exact PyTorch module, "
        "instead of nn.GRU.",
        where,
        models=(a, b),
    )


def exporter_dropped_lbr(exporter: str, node: str, said: str, layer: str, want: int) -> Finding:
    """GRU001 as a warning: the exporter wrote the other GRU family and onnxgru repaired the node it returns."""
    source = "nn.GRU (reset after)" if want else "a reset-before layer"
    formula = RESET_BEFORE_FORMULA if want else RESET_AFTER_FORMULA
    return Finding(
        "GRU001", "warning",
        f"torch.onnx ({exporter or 'exporter'}) wrote GRU node {node!r} {said}, but its source {layer} is {source}, "
        f"so the node computed the other GRU family ({formula}). onnxgru set linear_before_reset={want} and checked "
        "the result. This is the onnxscript 0.5.7-0.7.0 bug; upgrade onnxscript to 0.7.1 or later (or use "
        "--exporter torchscript).",
        node,
    )


def layer_count_differs(a: str, na: int, b: str, nb: int) -> Finding:
    return _make("GRU002", f"{a} has {na} GRU layer(s) but {b} has {nb}; the models are not the same stack.",
                 f"{a} vs {b}: layers", models=(a, b))


def structure_differs(where: str, a: str, b: str, said: str, hint: str = "") -> Finding:
    return _make("GRU002", f"{a} and {b} differ in {said}.{hint}", where)


def nonlinearity_differs(where: str, a: str, b: str, said: str) -> Finding:
    return _make(
        "GRU003",
        f"{a} and {b} use different nonlinearities ({said}); the outputs differ wherever the pre-activations reach "
        "them. Use the same activations and clip on both sides.",
        where,
    )


def weights_differ(where: str, a: str, b: str, said: str) -> Finding:
    return _make("GRU004", f"the weights of {a} and {b} differ in canonical ONNX form [z|r|h]: {said}", where)


# --- GRU005, GRU006 -----------------------------------------------------------------------------------------------
def no_fused_node(where: str, how: str, fix: str = "") -> Finding:
    return _make(
        "GRU005",
        f"no fused GRU node: the GRU was exported as {how}. It runs slower and runtimes cannot apply their GRU "
        "kernels; " + (fix or "export with `onnxgru export tf|torch`, which writes one GRU node per layer."),
        where,
    )


def degenerate(model: str, reasons: list[str], gap: float) -> Finding:
    return _make(
        "GRU006",
        f"{model} has degenerate weights ({'; '.join(reasons)}): flipping linear_before_reset changes its GRU outputs "
        f"by {gap:.3g} on these inputs, so every GRU formula gives the same outputs and agreement proves nothing; "
        "test with trained or random weights.",
        model,
    )


def indistinct(model: str, gap: float) -> Finding:
    return _make(
        "GRU006",
        f"on these inputs, flipping linear_before_reset in {model} changes its GRU outputs by only {gap:.3g}, within "
        "the tolerance: this test cannot tell the two GRU families apart. Use more steps (--steps), inputs and "
        "states away from zero, or a tighter --atol.",
        model,
    )


# --- GRU007-GRU009: runtimes ---------------------------------------------------------------------------------------
def refused(runtime: str, model: str, detail: str, known: str | None = None) -> Finding:
    """GRU007: the runtime's own words, and what usually causes them."""
    hint = ""
    low = detail.lower()
    if "layout" in low or "batch_first" in low or "batchwise" in low:
        hint = (" ONNX Runtime's CPU GRU does not load layout=1 (batch-major) GRUs: re-export with layout=0 "
                "(time-major).")
    elif "double" in low or "float64" in low or "tensor(double)" in detail:
        hint = " ONNX Runtime's CPU GRU has no float64 kernel: export in float32 (`onnxgru export tf --dtype float32`)."
    elif "randomuniform" in low or "randomnormal" in low or "bernoulli" in low:
        hint = (" The model still draws random numbers at inference: dropout whose keep probability (or training "
                "flag) is an input. Fold it away with `--freeze NAME=VALUE` (e.g. --freeze keep_prob=1.0) instead "
                "of --input.")
    said = f" Known limitation: {known}" if known else ""
    return _make("GRU007", f"{runtime} refuses to load or run {model}: {detail}.{hint}{said}", f"{runtime}: {model}")


def reduced_precision(runtime: str, model: str, precision: str, max_abs: float) -> Finding:
    return _make(
        "GRU008",
        f"{runtime} computes {model} in {precision} by default and differs from float32 by {max_abs:.3g}; set "
        "INFERENCE_PRECISION_HINT=f32 when compiling (the openvino-f32 row shows the result).",
        f"{runtime}: {model}",
    )


def cuda_fallback(model: str, layer: str, reasons: list[str]) -> Finding:
    return _make(
        "GRU009",
        f"ONNX Runtime's CUDA provider would not run {layer} in cuDNN as written: " + "; ".join(reasons)
        + ". On a GPU it runs on the CPU with only a log line (copies at every call); only reset-after GRUs with "
        "default activations and no clip run in cuDNN.",
        f"{model}: {layer}",
    )


# --- GRU010, GRU011 -------------------------------------------------------------------------------------------------
def disagreement(p: PairResult, where: str = "", said: str = "", cause: str = "") -> Finding:
    """GRU010 for a failed pair: how far apart, the tolerance that would pass, where along the sequence the error
    starts and how it grows."""
    if p.nonfinite:
        msg = (f"{p.nonfinite} ({p.output}); a GRU fed finite inputs must stay finite: check the weights and the "
               "runtime.")
    else:
        growth = growth_summary(p.per_step_max_abs, p.atol) if len(p.per_step_max_abs) > 1 else ""
        msg = (
            f"{p.a} and {p.b} disagree on {p.output}: max abs error {p.max_abs:.3g} (max rel {p.max_rel:.3g}), "
            f"beyond atol={p.atol:g}, rtol={p.rtol:g}; atol={p.required_atol:.3g} would be needed"
            + (f"; {growth}" if growth else "") + "."
        )
    found = _make("GRU010", msg + (f" {said}" if said else ""), where or f"{p.a} vs {p.b}: {p.output}", cause)
    return replace(found, located=said)


def misshapen(where: str, said: str, known: str | None = None) -> Finding:
    """GRU010 for an output that two executions of one model give in different shapes: they disagree before any
    value can be compared."""
    why = f" Known limitation: {known}" if known else " One of them computes something else than the model says."
    return _make("GRU010", f"{said}.{why}", where)


def gru_mismatch(
    execution: str, layers: str, max_abs: float, required: float, atol: float, known: str | None, detail: str = ""
) -> Finding:
    """GRU010 from a tap: a GRU that does not compute what its own weights say, on its own input."""
    said = f" Known limitation: {known}" if known else (
        " The rest of the model cannot explain this: the reference ran on the very input this GRU received.")
    how = (f"differs from the reference GRU run on its own input by {max_abs:.3g} (beyond atol={atol:g}; "
           f"atol={required:.3g} would be needed)") if np.isfinite(max_abs) else f"is not the ONNX GRU: {detail}"
    return _make("GRU010", f"in {execution}, GRU {layers} {how}.{said}", f"{execution}: {layers}")


def partial(where: str, what: str) -> Finding:
    """GRU011: only part of a model was run, tapped, exported or compared; ``what`` says which part and why."""
    return _make("GRU011", what, where)


def nothing_compared(where: str, a: str, b: str) -> Finding:
    """GRU011 as an error (the exception): two executions that share no output, so nothing of them was compared
    and a pass would be said without evidence."""
    return Finding("GRU011", "error", f"no output of {a} pairs with an output of {b} (see the other GRU011 findings), "
                   "so nothing of them was compared: check which outputs each model gives.", where)



def nothing_ran(command: str, executions: int, runtime_rows: int) -> Finding:
    """GRU011 as an error: no two executions were held against each other, so a pass would be said on nothing."""
    return Finding("GRU011", "error", (
        f"nothing was compared: {executions} execution(s) and {runtime_rows} runtime run(s), but no two of them could "
        "be held against each other, so this is no pass; see the other findings for what could not run, and give "
        "what is missing (the source an ONNX file came from with --tf/--torch, an installed runtime with "
        "--runtimes, or the inputs the model needs)."), command)


def golden_unmatched(path: str, unsaved: list[str], unmade: list[str], held: bool) -> list[Finding]:
    """GRU011 for ``check --against``: the executions of this check that the golden file has no saved counterpart
    for, and the saved ones this check did not make, each said once; an error when no execution was held against
    it, for the check was asked to hold them (no pass on nothing)."""
    out = []
    if unsaved:
        out.append(_make("GRU011", f"{', '.join(unsaved)} {'has' if len(unsaved) == 1 else 'have'} no saved "
                         f"counterpart in {path}, so {'it was' if len(unsaved) == 1 else 'they were'} not held "
                         "against saved outputs (executions pair by label: the same source file name, the same "
                         "runtime).", f"{', '.join(unsaved)} vs {path}"))
    if unmade:
        out.append(_make("GRU011", f"{path} holds saved outputs of {', '.join(unmade)}, which this check did not run "
                         "(not given, or a runtime not installed here or refusing the model), so "
                         f"{'it was' if len(unmade) == 1 else 'they were'} not compared.",
                         f"{path}: {', '.join(unmade)}"))
    if not held and (unsaved or unmade):
        out.append(Finding("GRU011", "error", f"no execution of this check has a saved counterpart in {path}, so "
                           "nothing was held against it and this is no pass for --against: give the sources and "
                           "runtimes the golden file was saved with.", f"--against {path}"))
    return out


def not_exported(model: str) -> Finding:
    """GRU011 as an error: an export the command needed could not be made."""
    return Finding("GRU011", "error", f"{model} could not be exported to ONNX, so no runtime ran it.",
                   f"export({model})")


def stopped(runtime: str, model: str, detail: str) -> Finding:
    """GRU011 as an error: a runtime the command was asked to run was stopped at the command's budget. The command
    ends in a verdict instead of waiting, but a run that was not made is no pass."""
    return Finding("GRU011", "error", f"{runtime} {detail}, so it ran nothing of {model} and this is no pass for it; "
                   "give --budget SECONDS (or leave it out of --runtimes) to let it finish.", f"{runtime}: {model}")


def as_errors(findings: list[Finding], code: str) -> list[Finding]:
    """``findings`` with those of ``code`` raised to errors: what was a partial result is, where the command needed
    it whole, a failure (an export ``check`` needs and could not make)."""
    return [replace(f, severity="error") if f.code == code else f for f in findings]
