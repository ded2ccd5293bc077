"""Comparing two executions: elementwise tolerance, the tolerance that would have passed, error per time step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairResult:
    """One output of two executions compared. True when it passed (so exit codes fall out of it)."""

    a: str
    b: str
    output: str
    max_abs: float
    max_rel: float
    required_atol: float
    passed: bool
    per_step_max_abs: tuple[float, ...]
    atol: float
    rtol: float
    nonfinite: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "output": self.output,
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "required_atol": self.required_atol,
            "passed": self.passed,
            "per_step_max_abs": list(self.per_step_max_abs),
            "atol": self.atol,
            "rtol": self.rtol,
            "nonfinite": self.nonfinite,
        }

    def first_failing_step(self) -> int | None:
        """The first time step whose error is beyond what ``atol`` alone allows (a proxy when rtol is small)."""
        for i, e in enumerate(self.per_step_max_abs):
            if e > self.atol:
                return i
        return None


def compare_arrays(
    a_name: str,
    b_name: str,
    output: str,
    a: np.ndarray,
    b: np.ndarray,
    atol: float,
    rtol: float,
    time_axis: int | None = None,
) -> PairResult:
    """Compare ``a`` (actual) with ``b`` (expected): passes where ``|a - b| <= atol + rtol * |b|`` everywhere."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{output}: {a_name} has shape {a.shape} but {b_name} has {b.shape}")
    nonfinite = _nonfinite(a_name, a) or _nonfinite(b_name, b)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - b)
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = diff / np.maximum(np.abs(b), np.finfo(np.float64).tiny)
        need = np.maximum(diff - rtol * np.abs(b), 0.0)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(rel.max()) if rel.size else 0.0
    required = float(need.max()) if need.size else 0.0
    if time_axis is not None and diff.ndim > time_axis and diff.shape[time_axis]:
        other = tuple(i for i in range(diff.ndim) if i != time_axis)
        per_step = tuple(float(v) for v in diff.max(axis=other))
    else:
        per_step = (max_abs,)
    passed = not nonfinite and bool(np.all(diff <= atol + rtol * np.abs(b)))
    return PairResult(a_name, b_name, output, max_abs, max_rel, required, passed, per_step, atol, rtol, nonfinite)


def _nonfinite(name: str, a: np.ndarray) -> str:
    bad = ~np.isfinite(a)
    if bad.any():
        return f"{name} produced {int(bad.sum())} NaN/Inf values"
    return ""


def growth_summary(per_step: tuple[float, ...], atol: float) -> str:
    """Where along the sequence the error starts and how it grows, in words."""
    if not per_step:
        return ""
    steps = len(per_step)
    first = next((i for i, e in enumerate(per_step) if e > atol), None)
    if first is None:
        return f"the error stays within {atol:g} at every one of the {steps} steps"
    start, end = per_step[first], per_step[-1]
    peak = max(per_step)
    trend = (
        f"grows to {end:.3g} by the last step"
        if end > 2 * start
        else f"stays around {start:.3g}"
        if end > 0.5 * start
        else f"peaks at {peak:.3g} and shrinks to {end:.3g}"
    )
    return f"the error exceeds {atol:g} from step {first} of {steps} ({start:.3g}) and {trend}"
