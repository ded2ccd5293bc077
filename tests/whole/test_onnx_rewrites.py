"""Graph rewrites of ``graph.bidirectional`` and ``graph.tidy`` on hand-built ONNX graphs, each run in ONNX Runtime
before and after: the rewrite must compute the same values (or make a refused graph run) under the same output names."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxgru.graph import bidirectional
from onnxgru.graph import tidy as onnx_tidy


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_uint8_one_hot_ids_run_in_onnx_runtime_and_the_reference() -> None:
    """TF1 char models one-hot encode uint8 ids; ONNX Runtime has no OneHot kernel for uint8 indices, and the ONNX
    reference evaluator none for a depth of shape (1,), as tf2onnx writes it."""
    from onnx.reference import ReferenceEvaluator

    depth, values = numpy_helper.from_array(np.array([5], np.int32), "depth"), numpy_helper.from_array(
        np.array([0.0, 1.0], np.float32), "values")
    graph = helper.make_graph(
        [helper.make_node("OneHot", ["ids", "depth", "values"], ["y"], axis=-1, name="one_hot")], "g",
        [helper.make_tensor_value_info("ids", TensorProto.UINT8, [None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [depth, values])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(Exception, match="OneHot"):
        _session(model)
    with pytest.raises(Exception, match="OneHot"):
        ReferenceEvaluator(model).run(None, {"ids": np.zeros((1, 1), np.uint8)})
    assert onnx_tidy.one_hot_indices_as_int64(model) == 2
    ids = np.array([[0, 4, 2], [1, 3, 3]], np.uint8)
    (y,) = _session(model).run(None, {"ids": ids})
    np.testing.assert_array_equal(y, np.eye(5, dtype=np.float32)[ids])
    (y,) = ReferenceEvaluator(model).run(None, {"ids": ids})
    np.testing.assert_array_equal(y, np.eye(5, dtype=np.float32)[ids])


def _forward_gru(name: str, x: str, rng: np.random.Generator, hidden: int, size: int) -> tuple[onnx.NodeProto, list]:
    W = numpy_helper.from_array(rng.uniform(-0.7, 0.7, (1, 3 * hidden, size)).astype(np.float32), f"{name}_W")
    R = numpy_helper.from_array(rng.uniform(-0.7, 0.7, (1, 3 * hidden, hidden)).astype(np.float32), f"{name}_R")
    B = numpy_helper.from_array(rng.uniform(-0.5, 0.5, (1, 6 * hidden)).astype(np.float32), f"{name}_B")
    node = helper.make_node("GRU", [x, W.name, R.name, B.name], [f"{name}_Y", f"{name}_Yh"], name=name,
                            hidden_size=hidden, linear_before_reset=1)
    return node, [W, R, B]


def _reverse(x: str, out: str, prefix: str) -> tuple[onnx.NodeProto, list]:
    consts = [numpy_helper.from_array(np.array([v], np.int64), f"{prefix}_{k}") for k, v in
              enumerate((-1, np.iinfo(np.int64).min, 0, -1))]
    return helper.make_node("Slice", [x, *(c.name for c in consts)], [out], name=prefix), consts


def test_a_forward_and_a_reversed_gru_become_one_bidirectional_node() -> None:
    """Keras ``Bidirectional``: a forward GRU on x and one on x reversed in time, the second's steps reversed back and
    concatenated. Merged into one bidirectional node, every output (sequences and final states) is unchanged."""
    rng = np.random.default_rng(21)
    hidden, size = 4, 3
    fwd, fw = _forward_gru("fwd", "x", rng, hidden, size)
    rev_in, rc = _reverse("x", "x_rev", "rev_in")
    back, bw = _forward_gru("back", "x_rev", rng, hidden, size)
    rev_out, ro = _reverse("back_Y", "back_Y_in_order", "rev_out")
    concat = helper.make_node("Concat", ["fwd_Y", "back_Y_in_order"], ["y"], axis=3, name="concat")
    graph = helper.make_graph(
        [fwd, rev_in, back, rev_out, concat], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                  [None, None, size])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "fwd_Yh", "back_Yh")],
        fw + rc + bw + ro)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.uniform(-2, 2, (6, 2, size)).astype(np.float32)
    before = _session(model).run(None, {"x": x})
    assert bidirectional.merge_bidirectional(model) == 1
    grus = [n for n in model.graph.node if n.op_type == "GRU"]
    assert len(grus) == 1 and helper.get_attribute_value(
        next(a for a in grus[0].attribute if a.name == "direction")) == b"bidirectional"
    after = _session(model).run(None, {"x": x})
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_grus_on_unrelated_inputs_are_not_merged() -> None:
    rng = np.random.default_rng(22)
    fwd, fw = _forward_gru("fwd", "x", rng, 4, 3)
    back, bw = _forward_gru("back", "z", rng, 4, 3)
    graph = helper.make_graph(
        [fwd, back], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, None, 3]) for n in "xz"],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("fwd_Y", "back_Y")], fw + bw)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert bidirectional.merge_bidirectional(model) == 0
    assert [n.op_type for n in model.graph.node] == ["GRU", "GRU"]


def _scan_whose_scan_output_feeds_its_state(fix: bool) -> onnx.ModelProto:
    """A loop body as tf2onnx writes a MultiRNNCell under some hash seeds: the new state is itself the scan output,
    and an Identity of it the carried state."""
    body = helper.make_graph(
        [helper.make_node("Add", ["h", "x"], ["h_new"]), helper.make_node("Identity", ["h_new"], ["h_out"])], "body",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 3]) for n in ("h", "x")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 3]) for n in ("h_out", "h_new")])
    graph = helper.make_graph(
        [helper.make_node("Scan", ["h0", "xs"], ["hT", "ys"], body=body, num_scan_inputs=1)], "g",
        [helper.make_tensor_value_info("h0", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("xs", TensorProto.FLOAT, [4, 2, 3])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("hT", "ys")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if fix:
        assert onnx_tidy.body_outputs_through_identity(model) == 1
    return model


@pytest.mark.runtime
def test_loop_body_outputs_through_identity_run_in_tract() -> None:
    """tract 0.23.9 refuses a Scan whose scan output is the tensor its carried state is an Identity of; with every
    body output an Identity of its own it runs, and ONNX Runtime's values are unchanged."""
    pytest.importorskip("tract")
    from onnxgru.runtimes.probe import probe

    rng = np.random.default_rng(23)
    feeds = {"h0": rng.normal(size=(2, 3)).astype(np.float32), "xs": rng.normal(size=(4, 2, 3)).astype(np.float32)}
    assert probe("tract", _scan_whose_scan_output_feeds_its_state(False), feeds).status == "refused"
    fixed = _scan_whose_scan_output_feeds_its_state(True)
    ran = probe("tract", fixed, feeds)
    assert ran.status == "ok", ran.detail
    want = _session(_scan_whose_scan_output_feeds_its_state(False)).run(None, feeds)
    for got, expected in zip(ran.outputs, want):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
