"""The tf2onnx traps measured on tf2onnx 1.17 / TF 2.21, and the Loop/Scan recogniser on what tf2onnx really writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onnxgru.sources.load import LoadOptions, load

pytestmark = pytest.mark.tf


def _ops(model) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in model.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


@pytest.fixture(scope="module")
def tf2onnx_outputs(tf1_models, keras_models, tmp_path_factory) -> dict[str, Path]:
    """tf2onnx's own default output for each trap, written as .onnx files."""
    import onnx

    from onnxgru.frameworks.tf import convert

    folder = tmp_path_factory.mktemp("tf2onnx")
    out = {}
    for name in ("dynamic", "dynamic_v2", "multi", "bidirectional"):
        tfg = load(tf1_models[name], "tf").handle.graph
        out[name] = folder / f"{name}_grappler.onnx"
        onnx.save(convert.with_grappler(tfg, None), str(out[name]))
        out[name + "_no_grappler"] = folder / f"{name}_no_grappler.onnx"
        onnx.save(convert.without_grappler(tfg, None), str(out[name + "_no_grappler"]))
    for name in ("reset_before", "keras3", "reset_after"):
        km = load(keras_models[name], "keras").handle.km
        out["keras_" + name] = folder / f"keras_{name}.onnx"
        onnx.save(convert.from_keras(km, None), str(out["keras_" + name]))
    return out


def test_grappler_hides_the_v1_gru_and_skipping_it_fuses(tf2onnx_outputs) -> None:
    import onnx

    assert _ops(onnx.load(str(tf2onnx_outputs["dynamic"]))).get("Scan") == 1
    assert _ops(onnx.load(str(tf2onnx_outputs["dynamic_no_grappler"]))).get("GRU") == 1
    assert _ops(onnx.load(str(tf2onnx_outputs["bidirectional"]))).get("Scan") == 2
    assert _ops(onnx.load(str(tf2onnx_outputs["bidirectional_no_grappler"]))).get("GRU") == 1
    # MultiRNNCell: one Scan for both cells, with or without Grappler.
    assert _ops(onnx.load(str(tf2onnx_outputs["multi_no_grappler"]))).get("Scan") == 1


def test_control_flow_v2_gives_a_loop_ort_refuses_after_grappler(tf2onnx_outputs) -> None:
    import onnx
    import onnxruntime as ort

    with_grappler = onnx.load(str(tf2onnx_outputs["dynamic_v2"]))
    assert _ops(with_grappler).get("Loop") == 1 and "GRU" not in _ops(with_grappler)
    with pytest.raises(Exception, match="Invalid tensor data type"):
        ort.InferenceSession(with_grappler.SerializeToString(), providers=["CPUExecutionProvider"])
    # Measured: without Grappler the Loop loads (the spec says it is refused either way; it is not).
    without = onnx.load(str(tf2onnx_outputs["dynamic_v2_no_grappler"]))
    assert _ops(without).get("Loop") == 1
    ort.InferenceSession(without.SerializeToString(), providers=["CPUExecutionProvider"])


def test_keras_reset_before_and_keras3_become_loops(tf2onnx_outputs) -> None:
    import onnx

    assert _ops(onnx.load(str(tf2onnx_outputs["keras_reset_before"]))).get("Loop") == 1
    assert _ops(onnx.load(str(tf2onnx_outputs["keras_keras3"]))).get("Loop") == 2  # Keras 3: even reset_after
    assert _ops(onnx.load(str(tf2onnx_outputs["keras_reset_after"]))).get("GRU") == 1


@pytest.mark.parametrize("name,source,key", [
    ("dynamic", "tf1", "dynamic"), ("dynamic_v2_no_grappler", "tf1", "dynamic_v2"), ("multi", "tf1", "multi"),
    ("keras_reset_before", "keras", "reset_before"),
])
def test_loops_are_recognised_as_the_source_gru(name, source, key, tf2onnx_outputs, tf1_models, keras_models) -> None:
    """inspect of tf2onnx's Scan/Loop: the layers with fused=False and GRU005, weights equal to the source's."""
    onnx_model = load(tf2onnx_outputs[name], "onnx", LoadOptions())
    tfm = load((tf1_models if source == "tf1" else keras_models)[key], "tf" if source == "tf1" else "keras")
    assert len(onnx_model.layers) == len(tfm.layers)
    assert [f.code for f in onnx_model.findings] == ["GRU005"]
    for a, b in zip(onnx_model.layers, tfm.layers):
        assert not a.fused and a.attrs.linear_before_reset == b.attrs.linear_before_reset
        np.testing.assert_allclose(a.W, b.W, atol=1e-6)
        np.testing.assert_allclose(a.R, b.R, atol=1e-6)
        np.testing.assert_allclose(a.B.sum(axis=-1), b.B.sum(axis=-1), atol=1e-5)


def test_inspect_and_compare_of_a_scan(cli, tf2onnx_outputs, tf1_models) -> None:
    code, out, _ = cli("inspect", tf2onnx_outputs["dynamic"])
    assert code == 0 and "GRU005" in out
    code, out, err = cli("compare", tf1_models["dynamic"], tf2onnx_outputs["dynamic"], "--steps", "7")
    assert code == 0, out + err
    assert "GRU004" not in out and "GRU001" not in out
