"""`onnxgru inspect` and `onnxgru compare` on ONNX files, as a user runs them, and through the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import onnxgru
from onnxgru.cli import main

from ..conftest import permute_gates, random_layer, with_attrs


@pytest.fixture
def two_layers(rng: np.random.Generator) -> list:
    return [random_layer(rng, 5, 4, "bidirectional", 1, name="l0"), random_layer(rng, 8, 4, "forward", 1, name="l1")]


def test_inspect_reports_every_layer(stack_file, two_layers, capsys, tmp_path: Path) -> None:
    path = stack_file(two_layers)
    out = tmp_path / "r.json"
    assert main(["inspect", path, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bidirectional" in text and "reset_after" in text
    report = json.loads(out.read_text())
    layers = report["models"][0]["gru_layers"]
    assert [(g["direction"], g["hidden_size"], g["input_size"], g["linear_before_reset"]) for g in layers] == [
        ("bidirectional", 4, 5, 1),
        ("forward", 4, 8, 1),
    ]
    assert layers[0]["activations"] == ["Sigmoid", "Tanh", "Sigmoid", "Tanh"] and layers[0]["clip"] is None
    assert all(g["fused"] for g in layers)
    assert set(report) >= {"onnxgru_version", "command", "verdict", "inputs", "models", "pairs", "runtimes", "findings"}


def test_absent_attribute_equals_its_default(tmp_path: Path, rng: np.random.Generator) -> None:
    import onnx
    from onnx import helper

    from onnxgru.graph import build as onnx_build

    layer = random_layer(rng, 3, 2, linear_before_reset=0)
    explicit = onnx_build.single_node(layer.attrs, layer.W, layer.R, layer.B)
    bare = onnx.ModelProto()
    bare.CopyFrom(explicit)
    node = bare.graph.node[0]
    keep = [a for a in node.attribute if a.name == "hidden_size"]
    del node.attribute[:]
    node.attribute.extend(keep)
    onnx.save(explicit, str(tmp_path / "explicit.onnx"))
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    report = onnxgru.compare(str(tmp_path / "explicit.onnx"), str(tmp_path / "bare.onnx"))
    assert report and not report.findings
    assert helper.get_attribute_value(keep[0]) == 2


def test_compare_equal_models_passes(stack_file, two_layers, tmp_path: Path) -> None:
    a, b = stack_file(two_layers, "a.onnx"), stack_file(two_layers, "b.onnx")
    report = onnxgru.compare(a, b)
    assert report.verdict == "pass" and report.exit_code == 0
    assert {p.output for p in report.pairs} == {"output", "state"}
    assert all(p.max_abs == 0 for p in report.pairs)
    assert report.to_dict()["inputs"]["seed"] == 0


@pytest.mark.slow
def test_compare_reset_semantics_fails_with_gru001_and_gru010(stack_file, two_layers, tmp_path: Path) -> None:
    a = stack_file(two_layers, "a.onnx")
    b = stack_file([with_attrs(x, linear_before_reset=0) for x in two_layers], "b.onnx")
    plot, js = tmp_path / "p.png", tmp_path / "r.json"
    assert main(["compare", a, b, "--plot", str(plot), "--json", str(js)]) == 1
    report = json.loads(js.read_text())
    codes = {f["code"] for f in report["findings"]}
    assert {"GRU001", "GRU010"} <= codes and report["verdict"] == "fail"
    out = next(p for p in report["pairs"] if p["output"] == "output")
    assert out["max_abs"] > 1e-2 and out["required_atol"] > 1e-2 and len(out["per_step_max_abs"]) == 12
    gru010 = next(f for f in report["findings"] if f["code"] == "GRU010" and "output" in f["where"])
    assert "from step" in gru010["message"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # spawns onnxgru in a child: seconds (make test-fast skips it)
def test_a_terminal_that_cannot_show_the_formulas_still_gets_the_report(stack_file, two_layers, tmp_path: Path) -> None:
    """GRU001 writes its formulas with '·' and '⊙'; a stdout in ASCII or Latin-1 (a locale, a Windows console,
    PYTHONIOENCODING) must still get the report, not an internal error and no JSON."""
    import os
    import subprocess
    import sys

    a = stack_file(two_layers, "a.onnx")
    b = stack_file([with_attrs(x, linear_before_reset=0) for x in two_layers], "b.onnx")
    js = tmp_path / "r.json"
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run([sys.executable, "-m", "onnxgru", "compare", a, b, "--json", str(js)], env=env,
                          capture_output=True, timeout=120)
    assert done.returncode == 1, done.stderr.decode(errors="replace")
    assert b"GRU001" in done.stdout and b"internal error" not in done.stderr
    assert "⊙" in next(f["message"] for f in json.loads(js.read_text())["findings"] if f["code"] == "GRU001")


def test_compare_names_gate_permutation(stack_file, rng: np.random.Generator) -> None:
    layer = random_layer(rng, 5, 4)
    swapped = permute_gates(layer, (1, 0, 2))
    report = onnxgru.compare(stack_file([layer], "a.onnx"), stack_file([swapped], "b.onnx"))
    gru004 = [f for f in report.findings if f.code == "GRU004"]
    assert len(gru004) == 1 and "z and r swapped" in gru004[0].message
    assert not report


def test_gru006_for_zero_weights(stack_file, rng: np.random.Generator) -> None:
    layer = random_layer(rng, 5, 5, linear_before_reset=0)
    zero = type(layer)(layer.name, layer.attrs, 0 * layer.W, 0 * layer.R, 0 * layer.B)
    zero_after = with_attrs(zero, linear_before_reset=1)
    report = onnxgru.compare(
        stack_file([zero], "a.onnx"),
        stack_file([zero_after], "b.onnx"),
    )
    codes = [f.code for f in report.findings]
    assert "GRU006" in codes and "GRU001" in codes
    assert all(p.passed for p in report.pairs), "zero weights hide the difference: exactly the trap"


def test_gru006_when_flipping_does_not_matter(stack_file, rng: np.random.Generator) -> None:

    big = random_layer(rng, 5, 4)
    # tiny recurrent weights and biases: r*(R h + Rb) and R(r*h) + Rb are both ~0, whichever family runs
    layer = type(big)(big.name, big.attrs, big.W, big.R * 1e-4, big.B * 1e-4)
    report = onnxgru.compare(stack_file([layer], "a.onnx"), stack_file([layer], "b.onnx"), atol=1e-3)
    assert [f.code for f in report.findings] == ["GRU006"]
    assert report.verdict == "pass"


def test_gru006_silent_for_a_discriminative_test(stack_file, two_layers) -> None:
    report = onnxgru.compare(stack_file(two_layers, "a.onnx"), stack_file(two_layers, "b.onnx"))
    assert not [f for f in report.findings if f.code == "GRU006"]


def test_inputs_file_is_used(stack_file, two_layers, tmp_path: Path, rng: np.random.Generator, capsys) -> None:
    a = stack_file(two_layers, "a.onnx")
    npz = tmp_path / "in.npz"
    np.savez(npz, x=rng.uniform(-1, 1, (2, 9, 5)).astype(np.float32))
    js = tmp_path / "r.json"
    assert main(["compare", a, a, "--inputs", str(npz), "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["inputs"]["batch"] == 2 and report["inputs"]["steps"] == 9 and str(npz) in report["inputs"]["how"]


def test_layout1_refused_by_onnxruntime_is_gru007(tmp_path: Path, rng: np.random.Generator) -> None:
    import onnx

    from onnxgru.graph import build as onnx_build

    layer = with_attrs(random_layer(rng, 4, 3), layout=1)
    onnx.save(onnx_build.single_node(layer.attrs, layer.W, layer.R, layer.B), str(tmp_path / "l1.onnx"))
    report = onnxgru.compare(str(tmp_path / "l1.onnx"), str(tmp_path / "l1.onnx"))
    gru007 = [f for f in report.findings if f.code == "GRU007"]
    assert gru007 and "layout" in gru007[0].message.lower()
    assert report.verdict == "fail"
