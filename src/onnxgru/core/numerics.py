"""Comparing two executions: elementwise tolerance, the tolerance that would have passed, error per time step."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
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
            "nonfinite": self.nonfinite or None,  # null when every value was finite
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
    """Compare ``a`` (actual) with ``b`` (expected): passes where ``|a - b| <= atol + rtol * |b|`` everywhere.

    Big arrays are compared a slice of steps (or of rows) at a time, in float64: the working memory is a slice, not
    several float64 copies of the whole output, and the figures are the same as for the whole at once."""
    nonfinite = _nonfinite(a_name, a) or _nonfinite(b_name, b)  # in their own float type, before widening
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"{output}: {a_name} has shape {a.shape} but {b_name} has {b.shape}")
    stepwise = time_axis is not None and a.ndim > time_axis and a.shape[time_axis] > 0
    axis = time_axis if stepwise else 0
    maxima: list[tuple[float, float, float]] = []
    steps: list[np.ndarray] = []
    within = True
    for part in parts(a.shape, axis or 0):
        pa = np.asarray(a[part], dtype=np.float64)
        pb = np.asarray(b[part], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            diff = np.abs(pa - pb)
            diff = np.where(np.isnan(diff), np.inf, diff)
            abs_b = np.abs(pb)
            # relative error where it means something: against a nonzero expected value (a padded step's exact 0
            # would turn any difference into 1e307)
            rel = np.where(abs_b > 0, diff / np.where(abs_b > 0, abs_b, 1.0), 0.0)
            need = np.maximum(diff - rtol * abs_b, 0.0)
        if diff.size:
            maxima.append((diff.max(), rel.max(), need.max()))
            if stepwise:
                steps.append(diff.max(axis=tuple(i for i in range(diff.ndim) if i != axis)))
        within = within and bool(np.all(diff <= atol + rtol * abs_b))
    # np.max of the slices' maxima keeps what the whole array's max gives (a NaN relative error stays NaN)
    max_abs, max_rel, required = (float(np.max(column)) for column in zip(*maxima)) if maxima else (0.0, 0.0, 0.0)
    per_step = tuple(float(v) for v in np.concatenate(steps)) if stepwise and steps else (max_abs,)
    passed = not nonfinite and within
    return PairResult(a_name, b_name, output, max_abs, max_rel, required, passed, per_step, atol, rtol, nonfinite)


_PART_VALUES = 1 << 16  # values per slice compared at once (512 KiB in float64)


def parts(shape: tuple[int, ...], axis: int) -> list[tuple]:
    """Index tuples that cut an array of ``shape`` along ``axis`` into slices of about ``_PART_VALUES`` values."""
    if not shape:
        return [()]
    length = shape[axis]
    per_index = int(np.prod(shape, dtype=np.int64)) // length if length else 0
    step = max(1, _PART_VALUES // max(per_index, 1))
    lead = (slice(None),) * axis
    return [(*lead, slice(i, i + step)) for i in range(0, length, step)] or [(*lead, slice(0, 0))]


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit the same values (NaN where NaN) in the same shape, compared a slice at a time: no temporary the
    size of either, and a difference ends the comparison at its slice."""
    a, b = np.asarray(a), np.asarray(b)
    if a is b or a.shape != b.shape or a.dtype != b.dtype or a.ndim == 0:
        return a is b
    if a.strides == b.strides and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]:
        return True  # the same memory seen the same way (a runtime's repeat rebuilt as a view): nothing to read
    nan = a.dtype.kind in "fc"
    return all(np.array_equal(a[part], b[part], equal_nan=nan) for part in parts(a.shape, 0))


def repeats(values: Sequence[np.ndarray], others: dict[str, np.ndarray], smallest: int = 1 << 20
            ) -> dict[int, tuple[str, tuple[int, ...]]]:
    """Which of ``values`` (of at least ``smallest`` bytes) repeat an earlier one (``"#j"``) or one of ``others``
    (by name), up to the order of their axes and unit axes: a GRU's tapped Y that the model also returns through a
    Transpose and a Reshape, its tapped X that is the model's input transposed. Index -> (what, axes), for
    ``repeated`` to rebuild it as a view: such a value then crosses from a runtime's process once, not twice."""
    found: dict[int, tuple[str, tuple[int, ...]]] = {}
    for i, v in enumerate(values):
        v = np.asarray(v)
        if v.nbytes < smallest:
            continue
        candidates = [(f"#{j}", values[j]) for j in range(i) if j not in found] + list(others.items())
        for what, c in candidates:
            axes = _axes_to(np.asarray(c), v)
            if axes is not None:
                found[i] = (what, axes)
                break
    return found


def repeated(base: np.ndarray, axes: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """The value ``repeats`` found: ``base`` without its unit axes, its axes in that order, in ``shape`` (a view)."""
    return np.asarray(base).squeeze().transpose(axes).reshape(shape)


def _axes_to(c: np.ndarray, v: np.ndarray) -> tuple[int, ...] | None:

    if c.dtype != v.dtype or c.size != v.size:
        return None
    squeezed, target = c.squeeze(), tuple(n for n in v.shape if n != 1)
    for axes in itertools.permutations(range(squeezed.ndim)):
        if tuple(squeezed.shape[k] for k in axes) != target:
            continue
        view = squeezed.transpose(axes).reshape(v.shape)
        if np.shares_memory(view, c) and same_values(view, v):
            return axes
    return None


def _nonfinite(name: str, a: np.ndarray) -> str:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        return ""
    big = np.finfo(a.dtype).max
    if a.size == 0 or (a.max() < big and a.min() > -big):  # the common case, without temporaries (NaN fails both)
        return ""
    bad = ~np.isfinite(a)
    # ONNX Runtime's GRU saturates an overflow at the largest float instead of Inf: that is an overflow too
    saturated = np.abs(np.where(bad, 0, a)) >= big
    if bad.any() or saturated.any():
        note = f" ({int(saturated.sum())} of them saturated at the largest {a.dtype} value)" if saturated.any() else ""
        return f"{name} produced {int(bad.sum() + saturated.sum())} NaN/Inf values{note}"
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
