"""Model builders shared by the TensorFlow, PyTorch and robustness tests (import, don't copy)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


def tf_module():  # the tensorflow module
    pytest.importorskip("tf2onnx")
    pytest.importorskip("tf_keras")
    from onnxgru.frameworks.tf.tfimport import tf

    return tf()


def randomize_tf(tf, sess, graph, rng: np.random.Generator) -> None:
    for v in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES):
        v.load(rng.uniform(-0.9, 0.9, v.shape).astype(v.dtype.as_numpy_dtype), sess)


def tf1_graph(
    tf, folder: Path, name: str, build: Callable[[], None], rng: np.random.Generator, *, v2: bool = False,
    outputs: tuple[str, ...] = ("output", "state"), checkpoint: bool = False, saved_model: bool = False,
) -> Path:
    """Build a TF1 graph (v1 control flow unless ``v2``), give it random weights, write it frozen (and more)."""
    v1 = tf.compat.v1
    if v2:
        v1.enable_control_flow_v2()
    else:
        v1.disable_control_flow_v2()
    try:
        graph = tf.Graph()
        with graph.as_default():
            build()
            sess = v1.Session(graph=graph)
            sess.run(v1.global_variables_initializer())
            randomize_tf(tf, sess, graph, rng)
            if checkpoint:
                v1.train.Saver().save(sess, str(folder / f"{name}_ckpt" / "model"))
            if saved_model:
                t = graph.get_tensor_by_name
                v1.saved_model.simple_save(sess, str(folder / f"{name}_saved_model"), inputs={"x": t("x:0")},
                                           outputs={o: t(f"{o}:0") for o in outputs})
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), list(outputs))
            sess.close()
    finally:
        v1.enable_control_flow_v2()
    tf.io.write_graph(frozen, str(folder), f"{name}.pb", as_text=False)
    return folder / f"{name}.pb"


def against_reference(model, steps: int = 7, seed: int = 3, batch: int = 3):  # noqa: ANN001, ANN201
    """Run a bare GRU stack ``model`` whole, with taps, on generated inputs, and hold it against the numpy reference
    GRU on its canonical layers: every output that is the stack's sequence or final states, and every tap. Returns
    the run and the inputs."""
    from onnxgru.core import reference
    from onnxgru.core import taps as T
    from onnxgru.verify.inputs import make_inputs
    from onnxgru.verify.settings import Settings

    inputs = make_inputs([model], Settings(seed=seed, batch=batch, steps=steps))
    run = model.run(inputs, True)
    x = inputs.x.astype(np.float64 if model.dtype == "float64" else np.float32)
    ref = reference.run_stack(model.layers, x, inputs.h0 if model.accepts_h0 else None)
    compared = 0
    for value in run.outputs.values():
        value = np.asarray(value)
        if value.shape == ref["output"].shape:
            np.testing.assert_allclose(value, ref["output"], atol=1e-5, rtol=1e-5)
            compared += 1
        elif value.size == ref["state"].size and value.ndim in (2, 3):
            np.testing.assert_allclose(value.reshape(ref["state"].shape), ref["state"], atol=1e-5, rtol=1e-5)
            compared += 1
    assert compared, f"no output of {model.role} is the GRU stack's sequence or state: {list(run.outputs)}"
    for tap in run.taps:
        check = T.check(model.role, tap, model.layers, 1e-5, 1e-5)
        assert check.passed, check.detail
    return run, inputs


# The head of a script run in a fresh process where onnxgru cannot be imported: what a user of a converted file has.
WITHOUT_ONNXGRU = """
import importlib.abc, sys

class NoOnnxgru(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "onnxgru" or name.startswith("onnxgru."):
            raise ImportError("onnxgru is blocked in this test")

sys.meta_path.insert(0, NoOnnxgru())
"""
