"""Every TensorFlow source kind is read, its GRUs described canonically, and its native run equals the ONNX GRU."""

from __future__ import annotations

import numpy as np
import pytest

from onnxgru.sources.load import LoadOptions, load

from ..builders import against_reference

pytestmark = pytest.mark.tf

# source -> (layers, direction, linear_before_reset, activations of the last layer)
TF1 = {
    "dynamic": (1, "forward", 0, ("Sigmoid", "Tanh")),
    "checkpoint": (1, "forward", 0, ("Sigmoid", "Tanh")),
    "saved_model": (1, "forward", 0, ("Sigmoid", "Tanh")),
    "dynamic_v2": (1, "forward", 0, ("Sigmoid", "Tanh")),
    "time_major": (1, "forward", 0, ("Sigmoid", "Tanh")),
    "lengths": (1, "forward", 0, ("Sigmoid", "Tanh")),
    "initial_state": (1, "forward", 0, ("Sigmoid", "Tanh")),
    "static": (1, "forward", 0, ("Sigmoid", "Tanh")),
    "bidirectional": (1, "bidirectional", 0, ("Sigmoid", "Tanh") * 2),
    "multi": (2, "forward", 0, ("Sigmoid", "Tanh")),
    "relu": (1, "forward", 0, ("Sigmoid", "Relu")),
    "relu6": (1, "forward", 0, ("Sigmoid", "Relu6")),
    "float64": (1, "forward", 0, ("Sigmoid", "Tanh")),
}
KERAS = {
    "reset_after": (1, "forward", 1),
    "reset_before": (1, "forward", 0),
    "bidirectional": (1, "bidirectional", 1),
    "stacked": (2, "forward", 1),
    "no_bias": (1, "forward", 1),
    "keras3": (1, "bidirectional", 0),
    "keras_saved_model": (1, "forward", 0),
    "tf2_saved_model": (1, "forward", 1),
}


def _check_against_reference(model, fixed_steps: int = 7) -> None:
    """The native TF run equals the numpy ONNX GRU on the canonical layers: the weights were read right; and every
    GRU tap agrees with the reference on its own input."""
    run, _ = against_reference(model, steps=fixed_steps)
    assert max(np.abs(np.asarray(v)).max() for v in run.outputs.values()) > 0.05  # non-degenerate weights


@pytest.mark.parametrize("name", sorted(TF1))
def test_tf1_graphs_are_read_and_run(tf1_models, name: str) -> None:
    options = LoadOptions(fixed={"keep_prob": np.float32(1.0)}) if name == "dropout" else LoadOptions()
    model = load(tf1_models[name], "tf", options)
    count, direction, lbr, acts = TF1[name]
    assert model.kind == "tf" and len(model.layers) == count
    layer = model.layers[-1]
    assert (layer.attrs.direction, layer.attrs.linear_before_reset, layer.attrs.activations) == (direction, lbr, acts)
    assert layer.attrs.hidden_size == 4 and model.layers[0].attrs.input_size == 5
    assert model.time_major == (name == "time_major")
    assert model.accepts_h0 == (name == "initial_state")
    assert model.dtype == ("float64" if name == "float64" else "float32")
    if name != "relu6":  # the numpy reference has no Relu6, which is why that GRU cannot be fused
        _check_against_reference(model)


def test_dropout_graph_runs_with_a_fixed_keep_prob(tf1_models) -> None:
    model = load(tf1_models["dropout"], "tf", LoadOptions(fixed={"keep_prob": np.float32(1.0)}))
    _check_against_reference(model)


@pytest.mark.parametrize("name", sorted(KERAS))
def test_keras_models_are_read_and_run(keras_models, name: str) -> None:
    model = load(keras_models[name], "keras")
    count, direction, lbr = KERAS[name]
    assert len(model.layers) == count
    assert model.kind == ("tf" if "saved_model" in name else "keras")
    layer = model.layers[-1]
    assert (layer.attrs.direction, layer.attrs.linear_before_reset) == (direction, lbr)
    if name == "no_bias":
        assert not np.any(layer.B)
    _check_against_reference(model)


def test_names_can_be_given(tf1_models) -> None:
    model = load(tf1_models["dynamic"], "tf", LoadOptions(input_names=("x",), output_names=("state",)))
    assert model.handle.graph.outputs == ["state:0"] and [p.name for p in model.signature.outputs] == ["state"]
    run, _ = against_reference(model)
    assert list(run.outputs) == ["state"]


def test_inspect_and_compare_accept_every_tf_source(cli, tf1_models, keras_models) -> None:

    for path in (tf1_models["checkpoint"], tf1_models["saved_model"], keras_models["reset_before"]):
        code, out, _ = cli("inspect", path)
        assert code == 0 and "reset_before" in out
    code, out, err = cli("compare", tf1_models["dynamic"], tf1_models["checkpoint"], "--steps", "7")
    assert code == 0, out + err
    # A Keras reset-after GRU is another function than a TF1 GRUCell: GRU001 says so.
    code, out, _ = cli("compare", tf1_models["dynamic"], keras_models["reset_after"], "--steps", "7")
    assert code == 1 and "GRU001" in out
