"""The Python API mirrors the command line: each call returns a Report that is true when it passed."""

from __future__ import annotations

from pathlib import Path

import pytest

import onnxgru
from onnxgru import example

pytestmark = pytest.mark.slow


def test_export_convert_and_check_through_the_api(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    src = example.paths()["tf"]
    onnx_path, pt_path = tmp_path / "blog.onnx", tmp_path / "blog.pt"
    exported = onnxgru.export("tf", src, str(onnx_path))
    assert exported and onnx_path.stat().st_size > 0
    assert [g["linear_before_reset"] for g in exported.to_dict()["models"][1]["gru_layers"]] == [0]
    converted = onnxgru.convert(src, str(pt_path))
    assert converted and pt_path.stat().st_size > 0
    report = onnxgru.check(tf=[src], torch=[str(pt_path)], onnx=[str(onnx_path)], runtimes="onnxruntime")
    assert report, [f.message for f in report.findings]
    assert report.to_dict()["verdict"] == "pass" and len(report.pairs) >= 6
    with pytest.raises(onnxgru.UserError, match="already exists"):
        onnxgru.export("tf", src, str(onnx_path))
    with pytest.raises(onnxgru.UserError, match="unknown option"):
        onnxgru.compare(str(onnx_path), str(onnx_path), tolerance=1)
