"""Whole TensorFlow, Keras and PyTorch models: each runs whole on inputs that fit its signature, every output is
compared, every GRU is tapped and held against the reference on its own input, and a disagreement between a model
and its port is localised to the GRU layer that causes it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import VOCAB, run

pytestmark = pytest.mark.slow


def checks_of(report: dict, execution: str) -> list[dict]:
    return [c for c in report["gru_checks"] if c["execution"] == execution]


@pytest.mark.tf
@pytest.mark.parametrize("name", ["text_classifier.keras", "text_classifier.h5"])
def test_keras_text_classifier_runs_whole_with_ids_in_the_vocabulary(keras_whole, name, tmp_path, capsys) -> None:
    """int ids -> Embedding -> GRU(reset_after=False) -> GRU -> softmax: fed ids inside the vocabulary (it used to be
    fed floats and refused), its softmax output compared, both GRUs tapped and checked natively."""
    code, report, err = run(["compare", keras_whole[name], keras_whole[name]], tmp_path, capsys)
    assert code == 0, err or report["findings"]
    assert f"ids U{{0..{VOCAB - 1}}}" in report["inputs"]["how"]
    assert [p["output"] for p in report["pairs"]] == [report["models"][0]["signature"]["outputs"][0]["name"]]
    (model,) = {json.dumps(m["signature"]) for m in report["models"]}
    ports = json.loads(model)
    assert ports["inputs"][0]["role"] == "data" and ports["inputs"][0]["vocab"] == VOCAB
    for execution in ("A:" + name, "B:" + name):
        layers = [c["layers"] for c in checks_of(report, execution)]
        assert layers == ["gru_a", "gru_b"]
    assert all(c["passed"] and c["max_abs"] < 1e-5 for c in report["gru_checks"])


@pytest.mark.tf
def test_keras_sensor_model_with_fixed_steps(keras_whole, tmp_path, capsys) -> None:
    """Conv1D -> GRU -> Dense over a fixed 16-step input: fed 16 steps whatever --steps says."""
    code, report, err = run(["check", "--tf", keras_whole["sensor.keras"], "--runtimes", "onnxruntime",
                             "--steps", "12"], tmp_path, capsys)
    assert code == 0, err or report["findings"]
    assert report["inputs"]["steps"] == 16 and "(3, 16, 4)" in report["inputs"]["how"]
    ort = [p for p in report["pairs"] if p["a"].startswith("onnxruntime(")]
    assert ort and all(p["passed"] for p in ort)
    assert checks_of(report, "tf:sensor.keras")[0]["passed"]


@pytest.mark.tf
def test_keras_gru_with_a_head_is_checked_on_the_head(keras_whole, tmp_path, capsys) -> None:
    """GRU(reset_after=False) -> Dense: the model's output (batch, steps, 2) is what is compared, and the GRU is held
    against the reference on its own input (this was an internal error: the head's output held against the GRU's)."""
    path = keras_whole["gru_head.keras"]
    code, report, err = run(["compare", path, path], tmp_path, capsys)
    assert code == 0, err or report["findings"]
    assert report["pairs"][0]["output"] == report["models"][0]["signature"]["outputs"][0]["name"]
    assert len(report["pairs"][0]["per_step_max_abs"]) == 12  # the head's output is a sequence too
    assert [c["layers"] for c in report["gru_checks"]] == ["gru", "gru"] and all(
        c["passed"] for c in report["gru_checks"])


@pytest.mark.tf
def test_keras_go_backwards_is_read_in_its_own_order(keras_whole, tmp_path, capsys) -> None:
    """Keras returns a go_backwards sequence last step first; the tap puts it back in input order, so the reference
    GRU (ONNX's reverse direction) agrees instead of a false GRU010 of about 1."""
    path = keras_whole["backwards.keras"]
    code, report, err = run(["compare", path, path], tmp_path, capsys)
    assert code == 0, err or report["findings"]
    assert report["models"][0]["gru_layers"][0]["direction"] == "reverse"
    assert all(c["passed"] and c["max_abs"] < 1e-5 for c in report["gru_checks"])


def _padded_ids(tmp_path: Path) -> tuple[Path, int]:
    """Ids (4 rows, 10 steps) with id 0, the padding, at the end, at the start and in the middle of a row."""
    ids = np.random.default_rng(7).integers(1, VOCAB, (4, 10)).astype(np.int32)
    ids[0, 6:] = 0
    ids[1, :3] = 0
    ids[2, 4] = 0
    np.save(tmp_path / "ids.npy", ids)
    return tmp_path / "ids.npy", int((ids == 0).sum())


@pytest.mark.tf
@pytest.mark.parametrize("name", ["masked.keras", "masked_backwards.h5"])
def test_keras_masking_is_followed_by_the_reference(keras_whole, name, tmp_path, capsys) -> None:
    """Embedding(mask_zero) -> GRUs (a Bidirectional one; one read backwards) fed padded ids: Keras skips the padded
    steps, and so does the reference each tapped GRU is held against (not holding the mask, the same check said the
    Keras GRU differs from the reference by 0.78). The given ids set the batch and steps; nothing is generated."""
    ids, padded = _padded_ids(tmp_path)
    code, report, err = run(["check", "--tf", keras_whole[name], "--runtimes", "onnxruntime",
                             "--input", f"ids={ids}"], tmp_path, capsys)
    assert code == 0, err or report["findings"]
    assert (report["inputs"]["batch"], report["inputs"]["steps"], report["inputs"]["seed"]) == (4, 10, None)
    native = checks_of(report, f"tf:{name}")
    assert len(native) == (2 if name == "masked.keras" else 1)
    for c in native:
        assert c["passed"] and c["max_abs"] < 1e-5, c
        # a GRU repeats its last output over a skipped step; a Bidirectional's two GRUs output zeros there
        there = "the last output repeated" if c["layers"] in ("gru_a", "gru") else "zeros output"
        assert f"its mask: {padded} of 40 steps skipped, {there} there" in c["detail"], c
    ort = [p for p in report["pairs"] if p["a"].startswith("onnxruntime(")]
    assert ort and all(p["passed"] for p in ort)


@pytest.mark.tf
def test_a_masked_gru_stays_a_loop_and_the_runtimes_that_cannot_run_it_say_why(keras_whole, tmp_path, capsys) -> None:
    """A GRU node cannot skip masked steps, so the export keeps Keras's loop and says why (GRU005); the ONNX
    reference evaluator cannot run that loop right (it concatenates scan outputs instead of stacking them): its
    head comes out in another shape, a mismatch (GRU010) with the measured reason, not a pass on nothing compared."""
    code, report, err = run(["check", "--tf", keras_whole["masked_backwards.h5"], "--runtimes", "reference"],
                            tmp_path, capsys)
    assert code == 1, err
    gru005 = [f["message"] for f in report["findings"] if f["code"] == "GRU005"]
    assert any("Embedding 'embedding' masks steps" in m for m in gru005), gru005
    (wrong,) = [f["message"] for f in report["findings"] if f["code"] == "GRU010"]
    assert "gives its output 'head' in shape (3,) where" in wrong and "concatenates a Loop's scan outputs" in wrong
    assert [r["status"] for r in report["runtimes"]] == ["mismatch"]
    assert [c["passed"] for c in report["gru_checks"]] == [True]  # Keras's own GRU, on generated ids


@pytest.mark.tf
@pytest.mark.torch
def test_a_port_that_does_not_mask_is_told_so(tagger_ports, tmp_path, capsys) -> None:
    """The Keras tagger with mask_zero and its exact PyTorch port, which does not mask: on ids without padding they
    agree; fed padded ids they differ from the GRU on, and the finding says the Keras side skipped the padded steps
    and what to do in PyTorch."""
    masked, exact = tagger_ports["tagger_masked"], tagger_ports["tagger_exact"]
    code, report, err = run(["compare", masked, exact], tmp_path, capsys)
    assert code == 0, err or report["findings"]
    ids, padded = _padded_ids(tmp_path)
    code, report, err = run(["compare", masked, exact, "--input", f"ids={ids}"], tmp_path, capsys)
    assert code == 1, err
    assert all(c["passed"] for c in report["gru_checks"])  # each side computes its own GRU right
    (gru010, *_) = [f for f in report["findings"] if f["code"] == "GRU010"]
    message = gru010["message"]
    assert "layer 0 differs" in message
    assert f"B:tagger_exact.pt skips 0 and A:tagger_masked.keras {padded} of its 40 steps" in message
    assert "pack_padded_sequence" in message


@pytest.mark.tf
def test_tf1_pixels_static_rnn_with_a_keep_prob_feed(pixels, tmp_path, capsys) -> None:
    """tf2onnx's public GRU test model's shape: flat pixels -> reshape -> static_rnn -> dropout(keep_prob) -> dense.
    keep_prob has no natural value: one sentence says so; given, the graph runs whole and its 28 unrolled steps are
    tapped."""
    code, _, err = run(["compare", pixels, pixels], tmp_path, capsys)
    assert code == 2 and "keep_prob" in err and "--input keep_prob=" in err
    code, report, err = run(["compare", pixels, pixels, "--input", "keep_prob=1.0"], tmp_path, capsys)
    assert code == 0, err or report["findings"]
    assert "(3, 784)" in report["inputs"]["how"] and "keep_prob = 1.0 (given)" in report["inputs"]["how"]
    assert [p["output"] for p in report["pairs"]] == ["logits"]
    assert report["gru_checks"] and all(c["passed"] for c in report["gru_checks"])


@pytest.mark.tf
def test_tf_initial_state_given_as_tf_takes_it(tmp_path, capsys) -> None:
    """--inputs with h0 of shape (batch, hidden), as TensorFlow takes a one-layer state: accepted."""
    from onnxgru import example

    graph = example.paths()["tf"]
    npz = tmp_path / "in.npz"
    rng = np.random.default_rng(0)
    np.savez(npz, x=rng.uniform(-1, 1, (2, 7, 5)).astype(np.float32),
             h0=rng.uniform(-0.5, 0.5, (2, 5)).astype(np.float32))
    code, report, err = run(["compare", graph, graph, "--inputs", npz], tmp_path, capsys)
    assert code == 0, err
    checks = report["gru_checks"]
    assert checks and all(c["passed"] for c in checks)


@pytest.mark.torch
@pytest.mark.parametrize("form", ["scripted", "traced", "program"])
def test_pytorch_classifier_runs_whole(torch_whole, form, tmp_path, capsys) -> None:
    """Embedding -> 2-layer nn.GRU -> Linear on the last step, int64 ids: the model itself runs (it used to run only
    its GRU on made-up floats and say PASS), in every form it is saved in, traced TorchScript included."""
    path = torch_whole[form]
    code, report, err = run(["compare", path, path], tmp_path, capsys)
    assert code == 0, err or report["findings"]
    signature = report["models"][0]["signature"]
    assert signature["inputs"][0]["dtype"] == "int64" and signature["inputs"][0]["vocab"] == VOCAB
    assert len(report["pairs"]) == 1 and report["pairs"][0]["per_step_max_abs"]  # (batch, classes)
    checks = checks_of(report, f"A:{Path(path).name}")
    assert [c["count"] for c in checks] == [2] and checks[0]["passed"]


@pytest.mark.torch
def test_pytorch_classifier_check_exports_it_whole(torch_whole, tmp_path, capsys) -> None:
    code, report, err = run(["check", "--torch", torch_whole["scripted"], "--runtimes", "onnxruntime"], tmp_path,
                            capsys)
    assert code == 0, err or report["findings"]
    exported = next(m for m in report["models"] if m["role"].startswith("export("))
    assert [i["name"] for i in exported["signature"]["inputs"]] == ["ids"]
    assert len(exported["gru_layers"]) == 2 and all(g["fused"] for g in exported["gru_layers"])
    ort = [p for p in report["pairs"] if p["a"].startswith("onnxruntime(")]
    assert ort and all(p["passed"] for p in ort)


@pytest.mark.tf
@pytest.mark.torch
def test_the_blogs_mistake_inside_a_real_model_is_localised(tagger_ports, tmp_path, capsys) -> None:
    """A Keras tagger with a reset-before GRU, hand-ported to Embedding -> nn.GRU -> Linear with the gates
    reordered correctly: the outputs differ, and the report says where: the embedding agrees, the GRU layer differs,
    because the GRU families differ (GRU001), and the exact port agrees."""
    keras, naive, exact = tagger_ports["tagger"], tagger_ports["tagger_naive"], tagger_ports["tagger_exact"]
    code, report, err = run(["compare", keras, naive], tmp_path, capsys)
    assert code == 1, err
    failed = [p for p in report["pairs"] if not p["passed"]]
    assert failed and failed[0]["max_abs"] > 1e-2 and np.shape(failed[0]["per_step_max_abs"]) == (12,)
    gru010 = [f for f in report["findings"] if f["code"] == "GRU010"]
    assert gru010 and all(f["cause"] and f["cause"].startswith("GRU001") for f in gru010)
    assert "everything before GRU layer 0" in gru010[0]["message"] and "input exactly" in gru010[0]["message"]
    assert "reset before vs after" in gru010[0]["message"]
    code, report, err = run(["compare", keras, exact], tmp_path, capsys)
    assert code == 0, err or report["findings"]
    (pair,) = report["pairs"]
    assert pair["max_abs"] < 1e-5 and pair["output"] == report["models"][0]["signature"]["outputs"][0]["name"]
    assert np.shape(pair["per_step_max_abs"]) == (12,)
    assert [c["passed"] for c in report["gru_checks"]] == [True, True]
