"""Reports built by hand, shaped like the bundled example's check on a machine whose OpenVINO runs in bf16: a root
cause (GRU001) with its consequences (GRU010 on two executions), repeated warnings (GRU008 on every OpenVINO row,
GRU009), and runtime rows that are ``mismatch`` only because of the reduced precision."""

from __future__ import annotations

from onnxgru.core.findings import Finding, semantics_differ
from onnxgru.core.numerics import PairResult
from onnxgru.core.signature import Signature
from onnxgru.entries import InputsEntry, LayerEntry, ModelEntry
from onnxgru.report import Report, RuntimeResult

TF, NAIVE, EXACT = "blog/tf:gru.pb", "blog/torch:naive.pt", "blog/torch:exact.pt"


def pair(a: str, b: str, output: str, max_abs: float, steps: int = 4) -> PairResult:
    per_step = tuple(max_abs * (i + 1) / steps for i in range(steps)) if output == "output" else (max_abs,)
    return PairResult(a, b, output, max_abs, max_abs * 10, max_abs, max_abs <= 1e-5, per_step, 1e-5, 1e-5)


def gru010(p: PairResult, cause: str = "") -> Finding:
    return Finding("GRU010", "error", f"{p.a} and {p.b} disagree on {p.output}: max abs error {p.max_abs:.3g}.",
                   f"{p.a} vs {p.b}: {p.output}", cause=cause)


def layer(name: str = "gru", lbr: int = 0) -> LayerEntry:
    return LayerEntry(name, "reset_after" if lbr else "reset_before", lbr, 0, "forward", 5, 5, ("Sigmoid", "Tanh"),
                      (None, None), (None, None), None, True, False, "",
                      {"R": {"min": -1.0, "max": 1.0, "mean": 0.0, "std": 0.5}})


def model(role: str, kind: str, lbr: int) -> ModelEntry:
    return ModelEntry(role, f"/models/{role.split(':')[-1]}", kind, "float32", False, "", None, Signature(),
                      (layer(lbr=lbr),))


def example_like(explicit_cause: bool = False, **details: object) -> Report:
    """6 errors (1 GRU001 + 4 GRU010 + nothing else), 7 warnings (5 GRU008, 2 GRU009), 5 OpenVINO bf16 mismatches."""
    root = semantics_differ(f"{TF} vs {NAIVE}: layer 0 (rnn/gru_cell / gru.l0)", TF, 0, NAIVE, 1)
    pairs = [
        pair(NAIVE, TF, "output", 0.035), pair(NAIVE, TF, "state", 0.013),
        pair(EXACT, TF, "output", 1e-7), pair(EXACT, TF, "state", 8e-8),
        pair(f"onnxruntime(export({NAIVE}))", TF, "output", 0.035),
        pair(f"onnxruntime(export({NAIVE}))", TF, "state", 0.013),
        pair("blog/reference GRU (numpy)", TF, "output", 0.0),
    ]
    cause = root.ref if explicit_cause else ""
    findings = [root, *(gru010(p, cause) for p in pairs if not p.passed)]
    runtimes = []
    for m in (f"export({TF})", f"export({NAIVE})", f"export({EXACT})", "export(a)", "export(b)"):
        runtimes.append(RuntimeResult("onnxruntime", "1.32.0", m, "ok", 7e-8, "agrees with the reference GRU"))
        runtimes.append(RuntimeResult("openvino", "2026.4.1", m, "mismatch", 3e-3,
                                      "differs from the reference GRU by 0.003 at bf16; OpenVINO's CPU plugin ..."))
        findings.append(Finding("GRU008", "warning", f"openvino computes {m} in bf16 by default and differs from "
                                "float32 by 0.003; set INFERENCE_PRECISION_HINT=f32.", f"openvino: {m}"))
    runtimes.append(RuntimeResult("tract", None, f"export({TF})", "unavailable", None, "not installed"))
    for m in (TF, EXACT):
        findings.append(Finding("GRU009", "warning", "ONNX Runtime's CUDA provider would not run this GRU in cuDNN.",
                                f"export({m}): /GRU"))
    inputs = InputsEntry(0, 3, 4, "generated: numpy default_rng(0)")
    models = (model(TF, "tf", 0), model(NAIVE, "torch", 1), model(EXACT, "torch", 0))
    return Report("check", inputs, models, tuple(pairs), tuple(runtimes), tuple(findings), **details)  # type: ignore[arg-type]


def warnings_only() -> Report:
    """A passing check whose only findings are warnings: OpenVINO bf16 mismatches (GRU008) and GRU009."""
    full = example_like()
    pairs = tuple(p for p in full.pairs if p.passed)
    findings = tuple(f for f in full.findings if f.severity == "warning")
    return Report("check", full.inputs, full.models, pairs, full.runtimes, findings)
