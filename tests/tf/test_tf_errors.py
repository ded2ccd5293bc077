"""What a user can get wrong with a TensorFlow source: one sentence on stderr, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.tf


def _refused(cli, tmp_path: Path, *argv: str, says: str) -> None:
    out = tmp_path / "out.onnx"
    code, _, err = cli(*argv, "-o", out) if argv[0] == "export" else cli(*argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert not out.exists()


def test_missing_file(cli, tmp_path) -> None:
    _refused(cli, tmp_path, "export", "tf", tmp_path / "nope.pb", says="does not exist")


def test_corrupt_pb(cli, tmp_path) -> None:
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\x0a\xff\xff\xff not a graph")
    _refused(cli, tmp_path, "export", "tf", bad, says="not a readable TensorFlow GraphDef")


def test_corrupt_keras(cli, tmp_path) -> None:
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK not a zip")
    _refused(cli, tmp_path, "inspect", bad, says="not a readable .keras file")


def test_keras_lambda_refused_in_safe_mode(cli, tmp_path, keras_models) -> None:
    _refused(cli, tmp_path, "export", "tf", keras_models["lambda"], says="Lambda")


def test_keras_code_objects_refused(cli, tmp_path) -> None:
    """Keras rebuilds a TFOpLambda by calling the TensorFlow function its config names, and a registered custom layer
    by running the class the file names: neither is one of Keras's own layers, so both are refused before Keras
    loads anything."""
    import keras as k3
    import tf_keras as k2

    from .conftest import FEATURES, H, tf_module

    tf = tf_module()
    x = k2.Input((None, FEATURES), name="x")
    y = tf.math.multiply(k2.layers.GRU(H, return_sequences=True)(x), 2.0)  # becomes a TFOpLambda layer
    op = k2.Model(x, y)
    op.save(str(tmp_path / "tfop.h5"))
    _refused(cli, tmp_path, "inspect", tmp_path / "tfop.h5", says="TFOpLambda layer")

    @k3.saving.register_keras_serializable(package="mine")
    class Twice(k3.layers.Layer):
        def call(self, t):
            return t * 2.0

    custom = k3.Sequential([k3.Input((None, FEATURES)), k3.layers.GRU(H, return_sequences=True), Twice()])
    custom.save(str(tmp_path / "custom.keras"))
    _refused(cli, tmp_path, "check", "--tf", tmp_path / "custom.keras", says="Twice layer")


def test_model_without_gru(cli, tmp_path, tf1_models, keras_models) -> None:
    _refused(cli, tmp_path, "export", "tf", tf1_models["no_gru"], says="contains no GRU")
    _refused(cli, tmp_path, "inspect", keras_models["dense"], says="contains no GRU")


def test_placeholder_needs_a_value(cli, tmp_path, tf1_models) -> None:
    _refused(cli, tmp_path, "export", "tf", tf1_models["dropout"], "--steps", "7", says="--input keep_prob=")


def test_unknown_fixed_input(cli, tmp_path, tf1_models) -> None:
    _refused(cli, tmp_path, "export", "tf", tf1_models["dynamic"], "--input", "nope=1.0",
             says="not inputs of the graph")


def test_checkpoint_without_meta(cli, tmp_path) -> None:
    prefix = tmp_path / "model"
    (tmp_path / "model.index").write_bytes(b"x")
    _refused(cli, tmp_path, "inspect", prefix, says=".meta")


def test_unknown_output_name(cli, tmp_path, tf1_models) -> None:
    _refused(cli, tmp_path, "inspect", tf1_models["dynamic"], "--output-names", "nothing", says="no node named")


def test_a_graph_computing_more_than_its_grus_says_which_output_and_its_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """convert's reason keeps the output's shape: "(output 0 of shape (3, 2) is not a GRU sequence or state)", not
    "(output 0 of shape)" (the reason was cut at its first parenthesis, the shape's)."""
    from types import SimpleNamespace

    import numpy as np

    from onnxgru.core.signature import Port, Signature
    from onnxgru.frameworks.tf import plan, rewrite
    from onnxgru.frameworks.tf.graph_source import TFHandle

    model = SimpleNamespace(handle=object.__new__(TFHandle),
                            signature=Signature((Port("x", "float32", (None, None, 4)),)))
    monkeypatch.setattr(rewrite, "raw_outputs", lambda m, i: [np.zeros((3, 2))])
    monkeypatch.setattr(rewrite, "output_roles", lambda m, raw, i: (
        f"output 0 of shape {np.shape(raw[0])} is not a GRU sequence or state (the model computes more than its GRUs)"))
    with pytest.raises(plan.NotAChain) as said:
        plan.plan_for(model, None)  # type: ignore[arg-type]
    assert str(said.value) == ("the graph computes more than its GRUs (output 0 of shape (3, 2) is not a GRU sequence "
                               "or state)")
