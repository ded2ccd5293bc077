"""The Python API: one path or several wherever paths are taken, reports that print as the text report, render in
notebooks, raise on demand, and take the CLI's ignore/fail-on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import onnxgru

from ..conftest import random_layer


@pytest.fixture
def pair(stack_file, rng: np.random.Generator) -> tuple[str, str]:
    return (stack_file([random_layer(rng, 5, 4, linear_before_reset=0)], "a.onnx"),
            stack_file([random_layer(rng, 5, 4, linear_before_reset=1)], "b.onnx"))


def test_a_single_path_is_one_path_not_its_characters(tmp_path: Path) -> None:
    with pytest.raises(onnxgru.UserError, match="a.pb"):
        onnxgru.check(tf=str(tmp_path / "a.pb"))
    with pytest.raises(onnxgru.UserError, match="missing.onnx"):
        onnxgru.check(onnx=tmp_path / "missing.onnx")  # a Path too


@pytest.mark.slow
def test_several_paths_and_path_objects(pair: tuple[str, str]) -> None:
    a, b = pair
    report = onnxgru.check(onnx=[Path(a)], runtimes=["onnxruntime", "reference"])
    assert report and report.command == "check"
    assert onnxgru.inspect(Path(a)).models[0].path == a
    assert not onnxgru.compare(Path(a), Path(b))


def test_a_report_prints_as_the_text_report(pair: tuple[str, str]) -> None:
    report = onnxgru.compare(*pair)
    text = str(report)
    assert text.splitlines()[0].startswith("onnxgru compare: FAIL") and "GRU001" in text
    assert "Report(" in repr(report)  # the repr stays the dataclass's, for debugging
    assert "<div>" in report._repr_html_()


def test_raise_for_errors(pair: tuple[str, str]) -> None:
    a, b = pair
    assert onnxgru.compare(a, a).raise_for_errors().verdict == "pass"
    with pytest.raises(onnxgru.VerificationError, match="onnxgru compare: FAIL") as exc:
        onnxgru.compare(a, b).raise_for_errors()
    assert isinstance(exc.value, AssertionError) and exc.value.report.verdict == "fail"


@pytest.mark.slow  # spawns onnxgru and its runtime children: seconds each (make test-fast skips it)
def test_ignore_and_fail_on_in_the_api(pair: tuple[str, str]) -> None:
    a, _ = pair
    report = onnxgru.check(onnx=a, runtimes="onnxruntime")
    assert report and [f.code for f in report.findings] == ["GRU009"]
    assert not onnxgru.check(onnx=a, runtimes="onnxruntime", fail_on="warning")
    assert onnxgru.check(onnx=a, runtimes="onnxruntime", fail_on="warning", ignore="GRU009")
    with pytest.raises(onnxgru.UserError, match="did you mean"):
        onnxgru.check(onnx=a, ignore=["GRU0009"])


def test_explain() -> None:
    assert "linear_before_reset" in onnxgru.explain("GRU001")
