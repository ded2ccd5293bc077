"""Exports of whole models, shape by shape: the ONNX file takes the model's own inputs and gives its outputs, equal
to the framework's within 1e-5 in ONNX Runtime, with one GRU node per GRU layer of the source's
``linear_before_reset``, and it passes ``onnxgru check --onnx`` (every installed runtime loads it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from onnxgru.cli import main

from .conftest import VOCAB

pytestmark = [pytest.mark.slow, pytest.mark.tf]

KERAS = {  # name -> the fixture key and a function of a generator giving the model's own input
    "text_classifier.keras": lambda rng: rng.integers(0, VOCAB, (4, 9)).astype(np.int32),
    "text_classifier.h5": lambda rng: rng.integers(0, VOCAB, (4, 9)).astype(np.int32),
    "sensor.keras": lambda rng: rng.uniform(-1, 1, (4, 16, 4)).astype(np.float32),
    "gru_head.keras": lambda rng: rng.uniform(-1, 1, (4, 9, 5)).astype(np.float32),
    "backwards.keras": lambda rng: rng.uniform(-1, 1, (4, 9, 5)).astype(np.float32),
}


def export(kind: str, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture, *extra: str) -> tuple[dict, Path]:
    out, report = tmp_path / f"{source.stem}.onnx", tmp_path / "export.json"
    code = main(["export", kind, str(source), "-o", str(out), "--json", str(report), *extra])
    capsys.readouterr()
    found = json.loads(report.read_text())
    assert code == 0 and found["verdict"] == "pass", found["findings"]
    return found, out


def assert_fused_and_checked(found: dict, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                             *extra: str) -> None:
    """One GRU node per source layer with its linear_before_reset; `check --onnx` passes with no refusal."""
    import onnx

    source = found["models"][0]["gru_layers"]
    nodes = [n for n in onnx.load(str(out)).graph.node if n.op_type == "GRU"]
    lbr = [next((a.i for a in n.attribute if a.name == "linear_before_reset"), 0) for n in nodes]
    assert lbr == [layer["linear_before_reset"] for layer in source]
    report = tmp_path / "check.json"
    code = main(["check", "--onnx", str(out), "--json", str(report), *extra])
    capsys.readouterr()
    checked = json.loads(report.read_text())
    assert code == 0, checked["findings"]
    assert not [r for r in checked["runtimes"] if r["status"] == "refused"]


def in_onnxruntime(out: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert {i.name for i in session.get_inputs()} == set(feeds)  # the model's own inputs, nothing more
    return session.run(None, feeds)


@pytest.mark.parametrize("name", list(KERAS))
def test_keras_models_export_whole(keras_whole, name, tmp_path, capsys) -> None:
    import keras as k3
    import tf_keras as k2

    found, out = export("tf", keras_whole[name], tmp_path, capsys)
    x = KERAS[name](np.random.default_rng(5))
    keras = (k3 if name == "text_classifier.keras" else k2).models.load_model(str(keras_whole[name]))
    want = np.asarray(keras(x, training=False))
    import onnxruntime as ort

    (input_name,) = [i.name for i in ort.InferenceSession(str(out)).get_inputs()]
    (got,) = in_onnxruntime(out, {input_name: x})
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.ptp(want) > 1e-2
    assert_fused_and_checked(found, out, tmp_path, capsys)


@pytest.mark.parametrize("name", ["masked.keras", "masked_backwards.h5"])
def test_a_masked_keras_model_keeps_its_loops_and_its_masking(keras_whole, name, tmp_path, capsys) -> None:
    """A GRU node cannot skip masked steps: verified on ids without padding a fused export would pass and then
    compute something else on padded ids. The export keeps Keras's loops, and on padded ids ONNX Runtime gives what
    Keras gives."""
    import keras as k3
    import onnx
    import tf_keras as k2

    found, out = export("tf", keras_whole[name], tmp_path, capsys, "--runtimes", "onnxruntime")
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert "GRU" not in ops and ops.count("Loop") == (3 if name == "masked.keras" else 1)
    assert any("masks steps" in f["message"] for f in found["findings"] if f["code"] == "GRU005")
    ids = np.random.default_rng(6).integers(1, VOCAB, (4, 9)).astype(np.int32)
    ids[0, 5:], ids[1, :2], ids[2, 3] = 0, 0, 0
    keras = (k3 if name.endswith(".keras") else k2).models.load_model(str(keras_whole[name]))
    want = np.asarray(keras(ids, training=False))
    (got,) = in_onnxruntime(out, {"ids": ids})
    np.testing.assert_allclose(got, want, atol=1e-5)
    # row 0 is padded after 5 steps: skipping the padding is running on its first 5 ids alone
    prefix = np.asarray(keras(ids[:1, :5], training=False))[0]
    np.testing.assert_allclose(got[0, :5] if got.ndim == 3 else got[0], prefix, atol=1e-5)


def test_a_keras_stack_of_two_sizes_exports_whole(stacks, tmp_path, capsys) -> None:
    """8 -> 4, the second go_backwards and returning its state: both outputs, Keras's order kept."""
    import tf_keras as k2

    found, out = export("tf", stacks["keras"], tmp_path, capsys)
    x = np.random.default_rng(6).uniform(-1, 1, (3, 7, 5)).astype(np.float32)
    want = [np.asarray(v) for v in k2.models.load_model(str(stacks["keras"]))(x, training=False)]
    got = in_onnxruntime(out, {"x": x})
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)
    assert_fused_and_checked(found, out, tmp_path, capsys)


def _tf1_run(pb: Path, fetches: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(pb.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        return sess.run([f"{f}:0" for f in fetches], {f"{k}:0": v for k, v in feeds.items()})


def test_tf1_pixels_with_a_keep_prob_feed_exports_whole(pixels, tmp_path, capsys) -> None:
    """tf2onnx's own public GRU test model, shaped: flat pixels -> reshape -> static_rnn -> dropout -> dense."""
    found, out = export("tf", pixels, tmp_path, capsys, "--freeze", "keep_prob=1.0")
    x = np.random.default_rng(7).uniform(0, 1, (5, 784)).astype(np.float32)
    (want,) = _tf1_run(pixels, ["logits"], {"x": x, "keep_prob": np.float32(1.0)})
    import onnxruntime as ort

    names = [i.name for i in ort.InferenceSession(str(out)).get_inputs()]
    feeds = {"x": x, **({"keep_prob": np.array(1.0, np.float32)} if "keep_prob" in names else {})}
    (got,) = in_onnxruntime(out, feeds)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert_fused_and_checked(found, out, tmp_path, capsys, *(["--input", "keep_prob=1.0"] if "keep_prob" in names
                                                            else []))


def test_tf1_multirnncell_of_two_sizes_time_major_exports_whole(stacks, tmp_path, capsys) -> None:
    found, out = export("tf", stacks["multi"], tmp_path, capsys)
    x = np.random.default_rng(8).uniform(-1, 1, (6, 2, 5)).astype(np.float32)  # time-major, its fixed 6 steps
    want = _tf1_run(stacks["multi"], ["output", "state_wide", "state_narrow"], {"x": x})
    for g, w in zip(in_onnxruntime(out, {"x": x}), want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)
    assert_fused_and_checked(found, out, tmp_path, capsys)


def test_a_multirnncell_inside_a_classifier_exports_fused(stacks, tmp_path, capsys) -> None:
    """tf2onnx writes the MultiRNNCell loop between the embedding and the head as a Scan (tract refuses it); the
    export replaces it with one GRU node per cell, and check taps both cells natively."""
    found, out = export("tf", stacks["multi_classifier"], tmp_path, capsys)
    ids = np.random.default_rng(10).integers(0, VOCAB, (4, 9)).astype(np.int32)
    (want,) = _tf1_run(stacks["multi_classifier"], ["logits"], {"ids": ids})
    (got,) = in_onnxruntime(out, {"ids": ids})
    np.testing.assert_allclose(got, want, atol=1e-5)
    import onnx

    assert not [n for n in onnx.load(str(out)).graph.node if n.op_type in ("Scan", "Loop")]
    assert_fused_and_checked(found, out, tmp_path, capsys)
    report = tmp_path / "native.json"
    code = main(["check", "--tf", str(stacks["multi_classifier"]), "--runtimes", "onnxruntime", "--json", str(report)])
    capsys.readouterr()
    checked = json.loads(report.read_text())
    assert code == 0 and not [f for f in checked["findings"] if f["code"] in ("GRU005", "GRU011")]
    native = [c for c in checked["gru_checks"] if c["execution"].startswith("tf:")]
    assert len(native) == 1 and native[0]["count"] == 2 and native[0]["passed"]


@pytest.mark.torch
@pytest.mark.parametrize(("name", "exporter"), [("scripted", "torchscript"), ("program", "dynamo"),
                                                ("tagger_exact", "torchscript")])
def test_pytorch_models_export_whole(torch_whole, tagger_ports, name, exporter, tmp_path, capsys) -> None:
    """Embedding -> 2-layer nn.GRU -> Linear on the last step, scripted (TorchScript exporter) and as an
    ExportedProgram (dynamo); and a tagger around onnxgru's exact reset-before GRU, which must become a
    linear_before_reset=0 node. The ids keep their dtype; no h0 input appears; the step count stays free."""
    import torch

    source = tagger_ports["tagger_exact"] if name == "tagger_exact" else torch_whole[name]
    found, out = export("torch", source, tmp_path, capsys, "--exporter", exporter)
    ids = np.random.default_rng(9).integers(0, VOCAB, (3, 7 if name == "program" else 11)).astype(np.int64)
    with torch.no_grad():
        module = torch_whole["scripted"] if name == "program" else source  # the program's own module, scripted
        want = torch.jit.load(str(module))(torch.from_numpy(ids)).numpy()
    import onnxruntime as ort

    (input_name,) = [i.name for i in ort.InferenceSession(str(out)).get_inputs()]
    (got,) = in_onnxruntime(out, {input_name: ids})
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert_fused_and_checked(found, out, tmp_path, capsys)


@pytest.mark.torch
def test_the_dynamo_exporter_on_torchscript_says_what_to_do(torch_whole, tmp_path, capsys) -> None:
    out = tmp_path / "m.onnx"
    code = main(["export", "torch", str(torch_whole["scripted"]), "-o", str(out), "--exporter", "dynamo"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "TorchScript" in err and "--exporter torchscript" in err and "\x1b" not in err
