"""TensorFlow and Keras models built in code, once per session, with random non-degenerate weights.

Small sizes keep the suite fast: 5 features, 4 units, 3 rows, 7 steps (static_rnn graphs are built for 7 steps).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ..builders import randomize_tf, tf1_graph, tf_module  # noqa: F401 - re-exported for the tests

FEATURES, H, STEPS = 5, 4, 7
RUN = ["--batch", "3", "--steps", str(STEPS)]


@pytest.fixture(scope="session")
def tf1_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every TF1 GRUCell form the issue lists, as frozen .pb files (plus a checkpoint and a SavedModel)."""
    tf = tf_module()
    v1 = tf.compat.v1
    folder = tmp_path_factory.mktemp("tf1")
    rng = np.random.default_rng(7)
    cell = v1.nn.rnn_cell.GRUCell

    def seq(dtype=tf.float32):
        return v1.placeholder(dtype, [None, None, FEATURES], "x")

    def dynamic(**kw):
        def build():
            dtype = kw.pop("dtype", tf.float32)
            activation = kw.pop("activation", None)
            o, s = v1.nn.dynamic_rnn(cell(H, activation=activation), kw.pop("x", None) or seq(dtype), dtype=dtype, **kw)
            tf.identity(o, "output")
            tf.identity(s, "state")
        return build

    def time_major():
        o, s = v1.nn.dynamic_rnn(cell(H), seq(), dtype=tf.float32, time_major=True)
        tf.identity(o, "output")
        tf.identity(s, "state")

    def lengths():
        lens = v1.placeholder(tf.int32, [None], "lens")
        o, s = v1.nn.dynamic_rnn(cell(H), seq(), dtype=tf.float32, sequence_length=lens)
        tf.identity(o, "output")
        tf.identity(s, "state")

    def initial_state():
        x = seq()
        h0 = v1.placeholder(tf.float32, [None, H], "h0")
        o, s = v1.nn.dynamic_rnn(cell(H), x, initial_state=h0)
        tf.identity(o, "output")
        tf.identity(s, "state")

    def dropout():
        keep = v1.placeholder(tf.float32, [], "keep_prob")
        x = tf.nn.dropout(seq(), rate=1.0 - keep)
        o, s = v1.nn.dynamic_rnn(cell(H), x, dtype=tf.float32)
        tf.identity(o, "output")
        tf.identity(s, "state")

    def static():
        x = v1.placeholder(tf.float32, [None, STEPS, FEATURES], "x")
        o, s = v1.nn.static_rnn(cell(H), tf.unstack(x, axis=1), dtype=tf.float32)
        tf.stack(o, axis=1, name="output")
        tf.identity(s, "state")

    def bidirectional():
        (fw, bw), (sf, sb) = v1.nn.bidirectional_dynamic_rnn(cell(H), cell(H), seq(), dtype=tf.float32)
        tf.concat([fw, bw], -1, name="output")
        tf.stack([sf, sb], 0, name="state")

    def multi():
        stack = v1.nn.rnn_cell.MultiRNNCell([cell(H), cell(H)])
        o, s = v1.nn.dynamic_rnn(stack, seq(), dtype=tf.float32)
        tf.identity(o, "output")
        tf.stack(list(s), 0, name="state")

    def no_gru():
        w = v1.get_variable("w", [FEATURES, H])
        tf.identity(tf.tensordot(seq(), w, 1), "output")

    builders = {
        "dynamic": dynamic(), "dynamic_v2": dynamic(), "time_major": time_major, "lengths": lengths,
        "initial_state": initial_state, "dropout": dropout, "static": static, "bidirectional": bidirectional,
        "multi": multi, "relu": dynamic(activation=tf.nn.relu), "relu6": dynamic(activation=tf.nn.relu6),
        "float64": dynamic(dtype=tf.float64),
    }
    out = {}
    for name, build in builders.items():
        out[name] = tf1_graph(
            tf, folder, name, build, rng, v2=name == "dynamic_v2", checkpoint=name == "dynamic",
            saved_model=name == "dynamic",
        )
    out["no_gru"] = tf1_graph(tf, folder, "no_gru", no_gru, rng, outputs=("output",))
    out["checkpoint"] = folder / "dynamic_ckpt" / "model"
    out["saved_model"] = folder / "dynamic_saved_model"
    return out


@pytest.fixture(scope="session")
def keras_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Keras 2 (tf-keras) and Keras 3 models in .keras, .h5 and SavedModel form."""
    tf = tf_module()
    import keras as k3
    import tf_keras as k2

    folder = tmp_path_factory.mktemp("keras")
    rng = np.random.default_rng(11)

    def save(model, name: str) -> Path:
        for w in model.weights:
            w.assign(rng.uniform(-0.9, 0.9, tuple(w.shape)).astype(np.float32))
        path = folder / name
        if name.endswith((".keras", ".h5")):
            model.save(str(path))
        return path

    L2, L3 = k2.layers, k3.layers

    def m2(*layers):
        return k2.Sequential([k2.Input((None, FEATURES), name="x"), *layers])

    def m3(*layers):
        return k3.Sequential([k3.Input((None, FEATURES), name="x"), *layers])

    out = {
        "reset_after": save(m2(L2.GRU(H, return_sequences=True)), "reset_after.h5"),
        "reset_before": save(m2(L2.GRU(H, return_sequences=True, reset_after=False)), "reset_before.keras"),
        "bidirectional": save(m2(L2.Bidirectional(L2.GRU(H, return_sequences=True))), "bidirectional.keras"),
        "stacked": save(m2(L2.GRU(H, return_sequences=True), L2.GRU(H, return_sequences=True)), "stacked.h5"),
        "no_bias": save(m2(L2.GRU(H, use_bias=False)), "no_bias.keras"),
        "keras3": save(m3(L3.Bidirectional(L3.GRU(H, return_sequences=True, reset_after=False))), "keras3.keras"),
        "lambda": save(m3(L3.GRU(H, return_sequences=True), L3.Lambda(lambda t: t * 2.0)), "lambda.keras"),
        "dense": save(m2(L2.Dense(H)), "dense.keras"),
    }
    sm = m2(L2.GRU(H, return_sequences=True, reset_after=False))
    save(sm, "unused")
    sm.save(str(folder / "keras_saved_model"), save_format="tf")
    out["keras_saved_model"] = folder / "keras_saved_model"

    # A TF2 SavedModel of a tf.Module (no Keras metadata): read through its serving signature.
    layer = k2.layers.GRU(H, return_sequences=True)
    layer.build((None, None, FEATURES))
    for w in layer.weights:
        w.assign(rng.uniform(-0.9, 0.9, tuple(w.shape)).astype(np.float32))
    module = tf.Module()
    module.layer = layer
    module.serve = tf.function(lambda x: {"output": layer(x)},
                               input_signature=[tf.TensorSpec([None, None, FEATURES], tf.float32, name="x")])
    tf.saved_model.save(module, str(folder / "tf2_saved_model"), signatures={"serving_default": module.serve})
    out["tf2_saved_model"] = folder / "tf2_saved_model"
    return out


@pytest.fixture
def cli(capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str, str]]:
    """Run ``onnxgru`` in-process; returns (exit code, stdout, stderr)."""
    from onnxgru.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
