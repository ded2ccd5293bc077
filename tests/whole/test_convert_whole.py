"""Convert on models shaped the way people write them.

Bare stacks: hidden sizes that change from layer to layer, Keras ``go_backwards``, a state output beside the
sequence, a TF1 ``MultiRNNCell`` of two sizes run time-major; each is checked on every output the source gives (the
converted module returns every layer's final state; the source's state pairs with the one it is).

Whole models: a Keras text classifier, a sensor model and a GRU with a head are rebuilt whole (embedding, Conv1D,
dense, each GRU its exact module) and equal Keras on fresh inputs in a process that cannot import onnxgru; the
written file passes `check` against its source, its GRUs tapped and fused. Models that cannot be rebuilt (a TF1
graph with a reshape and a dropout feed, a Keras model with a skip connection or masking) get each GRU as its own
module, held against what that GRU received inside the model, and a GRU011 that says what was not converted."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from onnxgru.cli import main

from ..builders import WITHOUT_ONNXGRU
from .conftest import VOCAB

pytestmark = [pytest.mark.slow, pytest.mark.tf, pytest.mark.torch]


def convert(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, dict, Path]:
    out, report = tmp_path / f"{source.stem}.pt", tmp_path / "report.json"
    code = main(["convert", str(source), "-o", str(out), "--json", str(report), *extra])
    capsys.readouterr()
    return code, json.loads(report.read_text()), out


def without_onnxgru(path: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    """The converted file run in a fresh process where onnxgru cannot be imported: plain torch.jit.load."""
    np.save(tmp_path / "x.npy", x)
    script = WITHOUT_ONNXGRU + textwrap.dedent(f"""
        import numpy as np, torch
        with torch.no_grad():
            y = torch.jit.load({str(path)!r})(torch.from_numpy(np.load({str(tmp_path / "x.npy")!r})))
        np.save({str(tmp_path / "y.npy")!r}, y.numpy())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(tmp_path / "y.npy")


@pytest.mark.parametrize("name", ["text_classifier.keras", "text_classifier.h5", "sensor.keras", "gru_head.keras"])
def test_a_keras_model_with_layers_around_its_grus_is_converted_whole(keras_whole, name, tmp_path, capsys) -> None:
    import keras as k3
    import tf_keras as k2

    source = keras_whole[name]
    code, report, out = convert(source, tmp_path, capsys)
    assert code == 0 and report["verdict"] == "pass", report["findings"]
    assert report["convert"]["module"] == "ConvertedModel" and report["convert"]["whole"] is True
    assert [p["output"] for p in report["pairs"]] == ["head"] and report["pairs"][0]["max_abs"] < 1e-5
    converted_checks = [c for c in report["gru_checks"] if c["execution"] == "converted"]
    assert len(converted_checks) == len(report["models"][0]["gru_layers"])  # every GRU of the file tapped
    assert all(c["passed"] for c in converted_checks)

    rng = np.random.default_rng(11)
    if "text" in name:
        x = rng.integers(0, VOCAB, (4, 9)).astype(np.int32)
    else:
        x = rng.uniform(-1, 1, (4, 16 if "sensor" in name else 9, 4 if "sensor" in name else 5)).astype(np.float32)
    keras = (k2 if name != "text_classifier.keras" else k3).models.load_model(str(source))
    want = np.asarray(keras(x, training=False))
    got = without_onnxgru(out, x, tmp_path)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.ptp(want) > 1e-2  # the weights make the outputs differ


def test_a_whole_conversion_passes_check_against_its_source(keras_whole, tmp_path, capsys) -> None:
    """The file convert wrote, checked beside the Keras model: run natively, exported (each GRU fused: the exact
    reset-before module as a linear_before_reset=0 node) and run in every runtime."""
    source = keras_whole["text_classifier.keras"]
    code, _, out = convert(source, tmp_path, capsys)
    assert code == 0
    report = tmp_path / "check.json"
    code = main(["check", "--tf", str(source), "--torch", str(out), "--json", str(report)])
    capsys.readouterr()
    found = json.loads(report.read_text())
    assert code == 0 and found["verdict"] == "pass", found["findings"]
    refused = [r for r in found["runtimes"] if r["status"] == "refused"]
    assert not refused
    torch_export = [m for m in found["models"] if m["role"].startswith("export(torch")][0]
    assert [layer["linear_before_reset"] for layer in torch_export["gru_layers"]] == [0, 1]
    assert all(layer["fused"] for layer in torch_export["gru_layers"])


@pytest.mark.parametrize("name", ["pixels", "skip", "shared", "masked"])
def test_a_model_that_cannot_be_rebuilt_gets_each_gru_verified_on_its_own(stacks, pixels, name, tmp_path,
                                                                         capsys) -> None:
    import torch

    source = pixels if name == "pixels" else stacks[name]
    code, report, out = convert(source, tmp_path, capsys, *(["--input", "keep_prob=1.0"] if name == "pixels" else []))
    assert code == 0 and report["verdict"] == "pass", report["findings"]
    assert report["convert"]["module"] == "ConvertedGRUs" and report["convert"]["whole"] is False
    why = {"pixels": "computes more than its GRUs", "skip": "'skip' (Add) is a kind of layer onnxgru does not rebuild",
           "shared": "not one chain", "masked": "mask_zero"}[name]
    # GRU011 points at the file, not at the command
    said = [f for f in report["findings"] if f["code"] == "GRU011" and f["where"] == str(source)]
    assert len(said) == 1 and why in said[0]["message"] and "not converted" in said[0]["message"]
    layer = report["models"][0]["gru_layers"][0]
    # what the source's GRU gives inside the model: TF both; a Keras layer its sequence, or only its last state
    gives = {"pixels": ("output", "state"), "skip": ("output",), "shared": ("output",), "masked": ("state",)}[name]
    assert {p["output"] for p in report["pairs"]} == {f"{layer['name']} {g}" for g in gives}
    assert all(p["passed"] and p["max_abs"] < 1e-5 for p in report["pairs"])

    module = torch.jit.load(str(out))
    x = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, (2, 7, layer["input_size"])).astype(np.float32))
    with torch.no_grad():
        y, h = module(layer["name"], x)
    assert tuple(y.shape) == (2, 7, layer["hidden_size"]) and tuple(h.shape) == (2, layer["hidden_size"])


@pytest.mark.parametrize("name", ["keras", "multi"])
def test_every_output_of_a_stack_of_two_sizes_is_compared(stacks, name, tmp_path, capsys) -> None:
    code, report, out = convert(stacks[name], tmp_path, capsys)
    assert code == 0 and report["verdict"] == "pass", report["findings"]
    source = [m for m in report["models"] if m["role"] == "source"][0]
    wanted = {"keras": {"narrow", "narrow:1"}, "multi": {"output", "state_wide", "state_narrow"}}[name]
    assert {p["output"] for p in report["pairs"]} == wanted
    assert all(p["passed"] and p["max_abs"] < 1e-5 for p in report["pairs"])
    assert not [f for f in report["findings"] if f["code"] == "GRU011"], report["findings"]
    assert [layer["hidden_size"] for layer in source["gru_layers"]] == ({"keras": [8, 4], "multi": [6, 3]}[name])
    assert out.exists()


def test_the_written_module_is_tensorflows_function(stacks, tmp_path, capsys) -> None:
    """Loaded with torch.jit.load alone: the go_backwards layer's sequence, last step first, as Keras gives it, and
    the narrow layer's final state, equal to the Keras model's own outputs."""
    import tf_keras as K  # noqa: N812

    import torch

    code, _, out = convert(stacks["keras"], tmp_path, capsys)
    assert code == 0
    x = np.random.default_rng(3).uniform(-1, 1, (2, 9, 5)).astype(np.float32)
    want_y, want_s = K.models.load_model(str(stacks["keras"]))(x)
    module = torch.jit.load(str(out))
    with torch.no_grad():
        got_y, states = module(torch.from_numpy(x))
    np.testing.assert_allclose(got_y.numpy(), want_y.numpy(), atol=1e-5)
    last = states[-1]  # every layer's final state: the last is the narrow layer's
    np.testing.assert_allclose(last.numpy(), want_s.numpy(), atol=1e-5)
    assert not np.allclose(got_y.numpy()[:, 0], got_y.numpy()[:, -1])  # the weights are not degenerate


def test_models_that_share_no_output_fail_instead_of_passing_unexamined(stacks, tmp_path, capsys) -> None:
    """A comparison that pairs nothing would pass on no evidence: it is an error naming what did not pair."""
    report = tmp_path / "r.json"
    code = main(["compare", str(stacks["keras"]), str(stacks["multi"]), "--json", str(report)])
    capsys.readouterr()
    found = json.loads(report.read_text())
    assert code == 1 and found["verdict"] == "fail"
    assert any(f["code"] == "GRU011" and f["severity"] == "error" for f in found["findings"])
    assert not found["pairs"]


def test_a_multirnncell_of_two_sizes_exports_to_one_gru_node_per_layer(stacks, tmp_path, capsys) -> None:
    """tf2onnx gives a Scan for a MultiRNNCell (tract refuses it); the export writes one GRU node per layer, each of
    its own size, keeps the time-major input and the per-cell state outputs, and passes `check --onnx`."""
    import onnx

    out = tmp_path / "multi.onnx"
    code = main(["export", "tf", str(stacks["multi"]), "-o", str(out), "--json", str(tmp_path / "e.json")])
    capsys.readouterr()
    assert code == 0, json.loads((tmp_path / "e.json").read_text())["findings"]
    proto = onnx.load(str(out))
    grus = [n for n in proto.graph.node if n.op_type == "GRU"]
    sizes = [next(a.i for a in n.attribute if a.name == "hidden_size") for n in grus]
    assert sizes == [6, 3]
    assert [o.name for o in proto.graph.output] == ["output", "state_wide", "state_narrow"]
    code = main(["check", "--onnx", str(out), "--json", str(tmp_path / "c.json")])
    capsys.readouterr()
    found = json.loads((tmp_path / "c.json").read_text())
    assert code == 0 and not [r for r in found["runtimes"] if r["status"] == "refused"], found["findings"]
