"""``onnxgru export torch``: one GRU node per layer with the right ``linear_before_reset``, checked in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ..conftest import random_layer
from .conftest import RUN, H, I, N, T

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.torch

from onnxgru.frameworks.torch import build  # noqa: E402
from onnxgru.frameworks.torch import export as torch_export  # noqa: E402


def _gru_nodes(path: Path) -> list[dict]:
    model = onnx.load(str(path))
    return [
        {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        for n in model.graph.node if n.op_type == "GRU"
    ]


@pytest.fixture(scope="module")
def exact_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `onnxgru convert` writes for a stacked bidirectional reset-before GRU (built here without TF)."""
    rng = np.random.default_rng(5)
    layers = [random_layer(rng, I, H, "bidirectional", 0, name="l0"), random_layer(rng, 2 * H, H, "bidirectional", 0)]
    path = tmp_path_factory.mktemp("exact") / "exact.pt"
    torch.jit.save(torch.jit.script(build.converted(layers, False, "float32", "exact")), str(path))
    return path


@pytest.mark.parametrize(
    ("source", "exporter", "layers", "lbr"),
    [("stacked_bi", "torchscript", 2, 1), ("encoder", "torchscript", 2, 1), ("stacked_bi", "dynamo", 2, 1),
     ("exact", "torchscript", 2, 0), ("exact", "dynamo", 2, 0)],
)
def test_one_gru_node_per_layer_that_agrees_in_onnx_runtime(
    torch_models, exact_file: Path, cli, tmp_path: Path, source: str, exporter: str, layers: int, lbr: int
) -> None:
    src = exact_file if source == "exact" else torch_models[source]
    out = tmp_path / "out.onnx"
    code, text, err = cli("export", "torch", src, "-o", out, "--exporter", exporter, *RUN)
    assert code == 0, text + err
    assert err == ""  # torch.onnx's progress lines and warnings stay out of the user's terminal
    nodes = _gru_nodes(out)
    assert len(nodes) == layers
    assert all(node.get("linear_before_reset", 0) == lbr for node in nodes)
    inputs = [i.name for i in onnx.load(str(out)).graph.input]
    assert "h0" not in inputs, "the source's h0 is optional: the export must not require one"
    if source == "exact":
        # The ONNX file in ONNX Runtime against the converted TorchScript file itself, on other sizes than exported.
        x = np.random.default_rng(0).uniform(-1, 1, (4, 9, I)).astype(np.float32)
        got = ort.InferenceSession(str(out)).run(None, {inputs[0]: x})
        want = torch.jit.load(str(src))(torch.from_numpy(x))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.detach().numpy(), atol=1e-5)


def _strip_linear_before_reset(model: onnx.ModelProto) -> onnx.ModelProto:
    """What torch.onnx's dynamo path through onnxscript 0.5.7-0.7.0 wrote for nn.GRU."""
    for node in model.graph.node:
        if node.op_type == "GRU":
            kept = [a for a in node.attribute if a.name != "linear_before_reset"]
            del node.attribute[:]
            node.attribute.extend(kept)
    return model


def test_a_gru_node_that_lost_linear_before_reset_is_detected_and_repaired(torch_models, tmp_path: Path) -> None:
    from onnxgru.sources.load import load

    model = load(torch_models["stacked_bi"], "torch")
    proto, _ = torch_export.to_onnx(model.layers, batch_first=False, with_h0=True)
    broken = _strip_linear_before_reset(proto)
    x = np.random.default_rng(0).uniform(-1, 1, (T, N, I)).astype(np.float32)
    h0 = np.zeros((4, N, H), np.float32)
    wrong = ort.InferenceSession(broken.SerializeToString()).run(None, {"x": x, "h0": h0})[0]
    findings = torch_export.verify_linear_before_reset(broken, model.layers, "dynamo")
    assert [f.code for f in findings] == ["GRU001", "GRU001"] and "onnxscript" in findings[0].message
    assert all(node["linear_before_reset"] == 1 for node in _gru_nodes(_save(broken, tmp_path)))
    right = ort.InferenceSession(broken.SerializeToString()).run(None, {"x": x, "h0": h0})[0]
    want = torch.load(str(torch_models["stacked_bi"]))
    gru = torch.nn.GRU(I, H, num_layers=2, bidirectional=True)
    gru.load_state_dict(want)
    with torch.no_grad():
        expected = gru(torch.from_numpy(x), torch.from_numpy(h0))[0].numpy()
    np.testing.assert_allclose(right, expected, atol=1e-5)
    assert np.abs(wrong - expected).max() > 1e-2  # the dropped attribute gives wrong numbers, with no error


def test_the_export_command_repairs_and_reports_a_dropped_attribute(
    torch_models, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = torch_export.to_onnx

    def buggy_exporter(*args, **kwargs):
        proto, route = real(*args, **kwargs)
        return _strip_linear_before_reset(proto), route

    monkeypatch.setattr(torch_export, "to_onnx", buggy_exporter)
    out = tmp_path / "repaired.onnx"
    code, text, err = cli("export", "torch", torch_models["plain"], "-o", out, *RUN)
    assert code == 0, text + err
    assert "GRU001" in text and "linear_before_reset=1" in text
    assert [n["linear_before_reset"] for n in _gru_nodes(out)] == [1]


def test_a_failed_check_writes_nothing(torch_models, cli, tmp_path: Path) -> None:
    out = tmp_path / "double.onnx"
    code, text, _ = cli("export", "torch", torch_models["plain"], "-o", out, "--dtype", "float64", *RUN)
    assert code == 1 and "GRU007" in text and "float32" in text
    assert not out.exists()


def test_export_torch_of_another_kind_is_a_user_error(tmp_path: Path, cli, stack_file, rng) -> None:
    onnx_file = stack_file([random_layer(rng, I, H)], "model.onnx")
    code, _, err = cli("export", "torch", onnx_file, "-o", tmp_path / "x.onnx")
    assert code == 2 and "PyTorch" in err and not (tmp_path / "x.onnx").exists()


def _save(model: onnx.ModelProto, folder: Path) -> Path:
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path
