"""The report every command returns: a frozen object that text, JSON, JUnit and plots render."""

from __future__ import annotations

from dataclasses import dataclass, field

from onnxgru import __version__
from onnxgru.core.findings import Finding, is_error
from onnxgru.core.numerics import PairResult
from onnxgru.core.taps import LayerCheck


@dataclass(frozen=True)
class RuntimeResult:
    runtime: str
    version: str | None
    model: str
    status: str  # "ok" | "refused" | "mismatch" | "unavailable"
    max_abs: float | None
    detail: str

    def to_dict(self) -> dict:
        return {
            "runtime": self.runtime,
            "version": self.version,
            "model": self.model,
            "status": self.status,
            "max_abs": self.max_abs,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Report:
    command: str
    inputs: dict | None = None
    models: tuple[dict, ...] = ()
    pairs: tuple[PairResult, ...] = ()
    runtimes: tuple[RuntimeResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    extra: dict = field(default_factory=dict)
    checks: tuple[LayerCheck, ...] = ()  # every GRU tap held against the reference GRU on its own input

    @property
    def verdict(self) -> str:
        failed = is_error(self.findings) or any(not p.passed for p in self.pairs)
        return "fail" if failed else "pass"

    def __bool__(self) -> bool:
        return self.verdict == "pass"

    @property
    def exit_code(self) -> int:
        return 0 if self else 1

    def to_dict(self) -> dict:
        out = {
            "onnxgru_version": __version__,
            "command": self.command,
            "verdict": self.verdict,
            "inputs": self.inputs or {"seed": None, "batch": 0, "steps": 0, "how": "no execution"},
            "models": list(self.models),
            "pairs": [p.to_dict() for p in self.pairs],
            "runtimes": [r.to_dict() for r in self.runtimes],
            "findings": [f.to_dict() for f in self.findings],
            "gru_checks": [c.to_dict() for c in self.checks],
        }
        out.update(self.extra)
        return out
