"""NaN or Inf that a model produces from finite inputs is a finding (GRU010, the nonfinite message), never a pass;
and a check that could compare nothing says so instead of passing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onnxgru.cli import main


def report(argv: list, tmp_path: Path, capsys) -> tuple[int, dict]:
    out = tmp_path / "report.json"
    code = main([str(a) for a in argv] + ["--json", str(out), "--force"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    return code, json.loads(out.read_text())


def nonfinite_findings(rep: dict) -> list[dict]:
    return [f for f in rep["findings"] if f["code"] == "GRU010" and "NaN/Inf" in f["message"]]


@pytest.mark.parametrize("model", ["overflows", "inf_bias_relu"])
def test_compare_reports_nan_and_inf_a_model_produces(model: str, onnx_files, tmp_path: Path, capsys) -> None:
    path = onnx_files[model]
    code, rep = report(["compare", path, path], tmp_path, capsys)
    assert code == 1 and rep["verdict"] == "fail"
    assert nonfinite_findings(rep), rep["findings"]
    assert all(f["severity"] == "error" for f in nonfinite_findings(rep))
    assert not all(p["passed"] for p in rep["pairs"])


@pytest.mark.slow
@pytest.mark.parametrize("model", ["overflows", "inf_bias_relu"])
def test_check_reports_nan_and_inf_a_model_produces(model: str, onnx_files, tmp_path: Path, capsys) -> None:
    code, rep = report(["check", "--onnx", onnx_files[model], "--runtimes", "onnxruntime,reference"], tmp_path, capsys)
    assert code == 1 and rep["verdict"] == "fail"
    assert nonfinite_findings(rep), rep["findings"]


@pytest.mark.slow
def test_inf_weights_with_finite_outputs_are_not_a_silent_pass(onnx_files, tmp_path: Path, capsys) -> None:
    """An Inf in an update-gate weight saturates the gate; the outputs stay finite and agree, so the run passes,
    but the report says the weights prove nothing (GRU006) instead of passing in silence."""
    path = onnx_files["inf_weight"]
    for argv in (["compare", path, path], ["check", "--onnx", path, "--runtimes", "onnxruntime"], ["inspect", path]):
        _, rep = report(argv, tmp_path, capsys)
        assert any(f["code"] == "GRU006" and "NaN or Inf" in f["message"] for f in rep["findings"]), argv


@pytest.mark.torch
def test_torch_nan_weights(torch_files, tmp_path: Path, capsys) -> None:
    nan = torch_files["nan"]
    code, rep = report(["compare", nan, nan], tmp_path, capsys)
    assert code == 1 and nonfinite_findings(rep)
    code, rep = report(["check", "--torch", nan, "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 1 and nonfinite_findings(rep)
    out = tmp_path / "exported.onnx"
    assert main(["export", "torch", str(nan), "-o", str(out)]) == 1
    assert "GRU010" in capsys.readouterr().out
    assert not out.exists(), "an export that does not agree with PyTorch is not written"


@pytest.mark.tf
def test_tf_inf_bias_under_relu(tf_files, tmp_path: Path, capsys) -> None:
    path = tf_files["inf_bias_relu"]
    code, rep = report(["compare", path, path, "--steps", "4"], tmp_path, capsys)
    assert code == 1 and nonfinite_findings(rep)
    code, rep = report(["check", "--tf", path, "--runtimes", "onnxruntime", "--steps", "4"], tmp_path, capsys)
    assert code == 1 and nonfinite_findings(rep)


@pytest.mark.slow
def test_a_check_that_compares_nothing_fails(onnx_files, tmp_path: Path, capsys) -> None:
    """Unrolled cells: no GRU to hold the runtimes against, and one runtime has nothing to agree with. That is no
    pass: the report (and its JUnit) says so with a GRU011 error, the one truth invariant of ``Verification.report``."""
    out = tmp_path / "r.json"
    code = main(["check", "--onnx", str(onnx_files["unrolled"]), "--runtimes", "onnxruntime", "--json", str(out)])
    assert code == 1, capsys.readouterr()
    rep = json.loads(out.read_text())
    assert rep["verdict"] == "fail" and not rep["pairs"]
    assert any(f["code"] == "GRU011" and f["severity"] == "error" and "nothing was compared" in f["message"]
               for f in rep["findings"])
