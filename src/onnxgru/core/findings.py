"""Findings: stable codes, a severity, and a message that explains the cause and the fix."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("error", "warning", "info")

RESET_BEFORE_FORMULA = "h~ = tanh(Wh·x + Rh·(r⊙h) + b)  (reset before the recurrent matmul, linear_before_reset=0)"
RESET_AFTER_FORMULA = "h~ = tanh(Wh·x + bWh + r⊙(Rh·h + bRh))  (reset after, linear_before_reset=1)"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    where: str = ""

    def __post_init__(self) -> None:
        assert self.severity in SEVERITIES, self.severity

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message, "where": self.where}


def semantics_differ(where: str, a: str, a_lbr: int, b: str, b_lbr: int) -> Finding:
    formulas = {0: RESET_BEFORE_FORMULA, 1: RESET_AFTER_FORMULA}
    return Finding(
        "GRU001",
        "error",
        f"{a} and {b} are different GRU functions: {a} computes {formulas[a_lbr]}, {b} computes {formulas[b_lbr]}. "
        "No weight mapping turns one into the other. Port a reset-before GRU (TF1 GRUCell, Keras "
        "reset_after=False) with `onnxgru convert SRC -o OUT`, which writes an exact PyTorch module, "
        "instead of nn.GRU.",
        where,
    )


def no_fused_node(where: str, how: str) -> Finding:
    return Finding(
        "GRU005",
        "warning",
        f"no fused GRU node: the GRU was exported as {how}. It runs slower and runtimes cannot apply their GRU "
        "kernels; export with `onnxgru export tf|torch`, which writes one GRU node per layer.",
        where,
    )


def is_error(findings: list[Finding] | tuple[Finding, ...]) -> bool:
    return any(f.severity == "error" for f in findings)


def code_ran(where: str, what: str) -> Finding:
    """GRU012 (info): code from the model file ran (TorchScript, a trusted pickle) or ran unchecked (--trust-code)."""
    return Finding("GRU012", "info", f"model code ran: {what}.", where)
