"""``compare_arrays``: the figures a comparison reports."""

from __future__ import annotations

import numpy as np

from onnxgru.core.numerics import compare_arrays


def test_relative_error_ignores_exact_zeros_of_the_expected_values() -> None:
    """A padded step is an exact 0 in the source: a difference there has no relative size (it once read 3.9e307),
    while the absolute error and the verdict still count it."""
    expected = np.array([[1.0, 2.0, 0.0]], np.float32)
    actual = np.array([[1.1, 2.0, 0.5]], np.float32)
    result = compare_arrays("a", "b", "y", actual, expected, atol=1e-5, rtol=1e-5)
    assert not result.passed
    assert abs(result.max_abs - 0.5) < 1e-6
    assert abs(result.max_rel - 0.1) < 1e-6


def test_nan_is_an_infinite_error() -> None:
    result = compare_arrays("a", "b", "y", np.array([np.nan, 1.0]), np.array([1.0, 1.0]), atol=1e-5, rtol=1e-5)
    assert not result.passed and result.max_abs == float("inf")
