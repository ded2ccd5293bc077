"""``onnxgru export tf``: one fused GRU node per layer wherever the math allows, proven equal to TensorFlow."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from onnxgru.sources.load import LoadOptions, load

pytestmark = pytest.mark.tf

RUN = ["--batch", "3", "--steps", "7"]

# source -> (GRU nodes, direction, linear_before_reset, activations, the path that fused it). Every export is
# verified in every installed runtime; LIMITED names the sources some runtime cannot run (a known limit) and the
# runtimes their export is then asked to run in.
LIMITED = {"lengths": "onnxruntime,openvino-f32", "relu": "onnxruntime,openvino-f32"}
TF1 = {
    "dynamic": (1, "forward", 0, None, "without Grappler"),
    "checkpoint": (1, "forward", 0, None, "without Grappler"),
    "saved_model": (1, "forward", 0, None, "without Grappler"),
    "dynamic_v2": (1, "forward", 0, None, "onnxgru rewrite"),
    "time_major": (1, "forward", 0, None, "without Grappler"),
    "lengths": (1, "forward", 0, None, "without Grappler"),
    "initial_state": (1, "forward", 0, None, "without Grappler"),
    "static": (1, "forward", 0, None, "Grappler"),  # static_rnn's unrolled cells, spliced by the names of its steps
    "bidirectional": (1, "bidirectional", 0, None, "without Grappler"),
    "multi": (2, "forward", 0, None, "Grappler"),  # tf2onnx's Scan of the MultiRNNCell loop, fused cell by cell
    "relu": (1, "forward", 0, ["Sigmoid", "Relu"], "without Grappler"),
}
KERAS = {
    "reset_after": (1, "forward", 1, None, "from_function"),
    "reset_before": (1, "forward", 0, None, "from_function"),  # tf2onnx's Loop, fused where it sits
    "bidirectional": (1, "bidirectional", 1, None, "from_function"),
    "stacked": (2, "forward", 1, None, "from_function"),
    "no_bias": (1, "forward", 1, None, "from_function"),
    "keras3": (1, "bidirectional", 0, None, "from_function"),  # its two loops fused, then merged into one node
    "keras_saved_model": (1, "forward", 0, None, "from_function"),
    "tf2_saved_model": (1, "forward", 1, None, "tf2onnx"),
}


def _gru_nodes(path: Path) -> list:
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    nodes = [n for n in model.graph.node if n.op_type == "GRU"]
    return [{a.name: helper.get_attribute_value(a) for a in n.attribute} for n in nodes]


def _export(cli, tmp_path: Path, source: Path, *extra: str) -> tuple[int, str, str, Path, dict]:
    out = tmp_path / "model.onnx"
    report = tmp_path / "report.json"
    code, stdout, stderr = cli("export", "tf", source, "-o", out, "--json", report, *RUN, *extra)
    data = json.loads(report.read_text()) if report.exists() else {}
    return code, stdout, stderr, out, data


def _check_fused(cli, tmp_path, source, expected, *extra) -> dict:
    count, direction, lbr, acts, how = expected
    code, stdout, stderr, out, data = _export(cli, tmp_path, source, *extra)
    assert code == 0, stdout + stderr
    assert how in data["export"]["chosen"]
    nodes = _gru_nodes(out)
    assert len(nodes) == count
    for attrs in nodes:
        assert attrs["direction"].decode() == direction
        assert attrs.get("linear_before_reset", 0) == lbr
        if acts:
            assert [a.decode() for a in attrs["activations"]] == acts
    assert not [f for f in data["findings"] if f["code"] == "GRU005"]
    assert data["pairs"] and all(p["passed"] and p["max_abs"] <= 1e-5 for p in data["pairs"])
    assert [m["kind"] for m in data["models"]][1] == "onnx"
    assert all(layer["fused"] for layer in data["models"][1]["gru_layers"])
    return data


@pytest.mark.parametrize("name", sorted(TF1))
def test_tf1_graphs_export_fused(cli, tmp_path, tf1_models, name) -> None:
    extra = ("--runtimes", LIMITED[name]) if name in LIMITED else ()
    _check_fused(cli, tmp_path, tf1_models[name], TF1[name], *extra)


@pytest.mark.runtime
def test_an_export_some_runtime_cannot_run_is_written_and_reported(cli, tmp_path, tf1_models) -> None:
    """Verified in every installed runtime, as check would: tract refuses sequence_lens fed as an input, so the export
    fails (exit 1) with that runtime named and the known limit said; the file equals TensorFlow in ONNX Runtime, so it
    is written (a runtime's limit does not withhold a correct export), and the second line says so."""
    pytest.importorskip("tract")
    code, stdout, stderr, out, data = _export(cli, tmp_path, tf1_models["lengths"], "--runtimes", "onnxruntime,tract")
    assert code == 1 and out.exists() and data["export"]["written"]
    lines = stdout.split("\n\n")[0]  # the verdict, then what became of the file
    assert "written: " in lines and "not written" not in lines
    gru007 = [f for f in data["findings"] if f["code"] == "GRU007"]
    assert gru007 and "tract" in gru007[0]["where"] and "sequence_lens" in gru007[0]["message"]
    assert {r["runtime"]: r["status"] for r in data["runtimes"]} == {"onnxruntime": "ok", "tract": "refused"}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_keras_models_export_fused(cli, tmp_path, keras_models, name) -> None:
    _check_fused(cli, tmp_path, keras_models[name], KERAS[name])


def test_a_frozen_feed_is_folded_into_the_export(cli, tmp_path, tf1_models) -> None:
    """Only --freeze folds a feed (and the report says which); --input gives a value to verify with and the export
    keeps the input."""
    import onnx

    data = _check_fused(cli, tmp_path, tf1_models["dropout"], (1, "forward", 0, None, "Grappler"),
                        "--freeze", "keep_prob=1.0")
    names = [i.name for i in onnx.load(str(tmp_path / "model.onnx")).graph.input]
    assert names == ["x"] and data["verdict"] == "pass" and data["export"]["frozen"] == {"keep_prob": 1.0}
    (tmp_path / "model.onnx").unlink()
    (tmp_path / "report.json").unlink()
    code, stdout, stderr, out, data = _export(cli, tmp_path, tf1_models["dropout"], "--input", "keep_prob=1.0",
                                              "--runtimes", "onnxruntime")
    assert code == 0 and "keep_prob" in [i.name for i in onnx.load(str(out)).graph.input], stdout + stderr
    assert data["export"]["frozen"] == {}
    if importlib.util.find_spec("tract") is None:
        return
    # kept as an input, the dropout still draws random numbers, which tract cannot load: the message says --freeze
    out.unlink()
    (tmp_path / "report.json").unlink()
    code, stdout, stderr, out, data = _export(cli, tmp_path, tf1_models["dropout"], "--input", "keep_prob=1.0",
                                              "--runtimes", "onnxruntime,tract")
    gru007 = [f["message"] for f in data["findings"] if f["code"] == "GRU007"]
    assert code == 1 and out.exists() and gru007 and "--freeze" in gru007[0], stdout + stderr


def test_the_written_model_agrees_with_tensorflow_on_other_inputs(cli, tmp_path, tf1_models) -> None:
    """Variable lengths and an initial state too: run the written file against TF directly."""
    _check_fused(cli, tmp_path, tf1_models["lengths"], TF1["lengths"], "--runtimes", LIMITED["lengths"])
    import onnxruntime as ort

    tfm = load(tf1_models["lengths"], "tf")
    session = tfm.handle.graph.session()
    x = np.random.default_rng(5).uniform(-1, 1, (3, 7, 5)).astype(np.float32)
    lens = np.array([7, 3, 5], np.int32)
    expected = session({"x:0": x, "lens:0": lens})
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["output", "state"], {"x": x, "lens": lens})
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_unfusable_activation_is_exported_with_gru005(cli, tmp_path, tf1_models) -> None:
    """Relu6 is no ONNX GRU activation: the export keeps tf2onnx's Scan and says why (tract cannot run that Scan,
    so the export is asked for the runtimes that can)."""
    code, stdout, stderr, out, data = _export(cli, tmp_path, tf1_models["relu6"], "--runtimes",
                                              "onnxruntime,openvino-f32")
    assert code == 0, stdout + stderr
    assert out.exists() and _gru_nodes(out) == []
    messages = [f["message"] for f in data["findings"] if f["code"] == "GRU005"]
    assert messages and any("Relu6" in m for m in messages)
    assert any("exported as 0 GRU nodes for 1 layer and 1 Scan" in m for m in messages), messages
    assert all(p["passed"] for p in data["pairs"])


def test_float64_model_is_refused_by_onnx_runtime_and_says_how_to_export(cli, tmp_path, tf1_models) -> None:
    """The blog's float64 model: ONNX Runtime's CPU GRU has no float64 kernel, so an export check would fail on it;
    the export says so (GRU007 with the fix) and writes nothing, unless asked only for runtimes that run it."""
    code, stdout, stderr, out, data = _export(cli, tmp_path, tf1_models["float64"], "--runtimes",
                                              "onnxruntime,reference")
    assert code == 1 and not out.exists()
    gru007 = [f for f in data["findings"] if f["code"] == "GRU007"]
    assert gru007 and "--dtype float32" in gru007[0]["message"]
    assert {r["runtime"]: r["status"] for r in data["runtimes"]} == {"onnxruntime": "refused", "reference": "ok"}
    code, stdout, stderr, out, data = _export(cli, tmp_path, tf1_models["float64"], "--runtimes", "reference",
                                              "--force")
    assert code == 0, stdout + stderr
    assert len(_gru_nodes(out)) == 1


def test_float64_model_exports_as_float32_on_request(cli, tmp_path, tf1_models) -> None:
    import onnx

    data = _check_fused(cli, tmp_path, tf1_models["float64"], TF1["dynamic"], "--dtype", "float32")
    model = onnx.load(str(tmp_path / "model.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert data["runtimes"][0]["runtime"] == "onnxruntime" and data["runtimes"][0]["status"] == "ok"


def test_disagreement_writes_nothing(cli, tmp_path, tf1_models, monkeypatch) -> None:
    """A candidate whose numbers are off (here: weights perturbed) is never written: exit 1, GRU010."""
    from onnx import numpy_helper

    from onnxgru.frameworks.tf import convert, export

    def perturbed(make):
        def run(*args, **kwargs):
            model = make(*args, **kwargs)
            for t in model.graph.initializer:
                a = numpy_helper.to_array(t)
                if a.ndim >= 2 and a.dtype.kind == "f":
                    t.CopyFrom(numpy_helper.from_array((a * 1.1).astype(a.dtype), t.name))
            return model
        return run

    for module, name in ((convert, "without_grappler"), (convert, "with_grappler"), (export, "_rewrite")):
        monkeypatch.setattr(module, name, perturbed(getattr(module, name)))
    code, stdout, stderr, out, data = _export(cli, tmp_path, tf1_models["dynamic"])
    assert code == 1 and not out.exists()
    assert any(f["code"] == "GRU010" for f in data["findings"])
    assert data["verdict"] == "fail"


def test_the_exporter_returns_a_typed_result(tf1_models) -> None:
    """The exporter chooses and says why; it builds no report (the pipeline verifies what it chose)."""
    from onnxgru.frameworks.tf.export import Exported, export_model
    from onnxgru.verify.settings import Settings

    result = export_model(load(tf1_models["bidirectional"], "tf"), Settings(steps=7), LoadOptions())
    assert isinstance(result, Exported) and result.proto is not None
    assert "without Grappler" in result.details.chosen and not result.findings
    assert [n.op_type for n in result.proto.graph.node].count("GRU") == 1
