"""The static rules: GRU009 (ONNX Runtime's CUDA provider) and the documented runtime limits."""

from __future__ import annotations

import numpy as np
import pytest

from onnxgru.core.spec import GRUAttrs
from onnxgru.graph.build import gru_node_attrs
from onnxgru.runtimes.cuda_rules import cuda_fallback_reasons, cuda_hazards
from onnxgru.runtimes.limits import known_limits, limits

pytestmark = pytest.mark.runtime


def attrs(**kw: object) -> GRUAttrs:
    return GRUAttrs(hidden_size=4, input_size=3, **kw)


def test_cudnn_runs_a_plain_reset_after_gru() -> None:
    assert cuda_fallback_reasons(attrs(linear_before_reset=1)) == []
    assert cuda_fallback_reasons(attrs(linear_before_reset=1, direction="bidirectional",
                                       activations=("sigmoid", "TANH"))) == []


@pytest.mark.parametrize("change, words", [
    ({"linear_before_reset": 0}, "linear_before_reset=0"),
    ({"clip": 5.0}, "clip is set"),
    ({"activations": ("HardSigmoid", "Tanh")}, "HardSigmoid/Tanh"),
    ({"direction": "bidirectional", "activations": ("Sigmoid", "Tanh", "Sigmoid", "Relu")}, "Sigmoid/Relu"),
])
def test_each_reason_for_the_cpu_fallback_is_named(change: dict, words: str) -> None:
    reasons = cuda_fallback_reasons(attrs(**{"linear_before_reset": 1, **change}))
    assert len(reasons) == 1 and words in reasons[0]


def test_the_reasons_add_up() -> None:
    a = attrs(linear_before_reset=0, clip=1.0, activations=("Sigmoid", "Relu"))
    assert len(cuda_fallback_reasons(a)) == 3


def test_the_rule_reads_written_attributes_as_onnx_runtime_does() -> None:
    plain = attrs(linear_before_reset=1)
    # any written alpha/beta sends the node to the CPU, even beside default activations
    assert "activation_alpha" in cuda_fallback_reasons(plain, present={"activation_alpha", "hidden_size"})[0]
    # an absent linear_before_reset (default 0) does not trigger the fallback: cuDNN would run the wrong formula
    lbr0 = attrs(linear_before_reset=0)
    assert cuda_fallback_reasons(lbr0, present={"hidden_size"}) == []
    assert "not written" in cuda_hazards(lbr0, present={"hidden_size"})[0]
    written = set(gru_node_attrs(lbr0))  # onnx_build always writes linear_before_reset
    assert cuda_fallback_reasons(lbr0, present=written) and cuda_hazards(lbr0, present=written) == []
    assert "layout=1" in cuda_hazards(attrs(layout=1, linear_before_reset=1))[0]


def test_known_limits_explain_the_documented_refusals() -> None:
    assert "layout == 1" in known_limits("onnxruntime", attrs(layout=1), np.float32, False)
    assert "does not support double" in known_limits("onnxruntime", attrs(), np.float64, False)
    assert "Non constant seq_len" in known_limits("tract", attrs(), "float32", True)
    assert "Softsign" in known_limits("openvino", attrs(activations=("Sigmoid", "Softsign")), "float32", False)
    text = known_limits("tract", attrs(direction="reverse", clip=1.0), "float32", False)
    assert "reverse" in text and "clip" in text and text.endswith("(measured on tract 0.23.9).")


def test_refusals_come_before_mismatches() -> None:
    text = known_limits("tract", attrs(clip=1.0), "float64", False)
    assert text.index("float64") < text.index("clip")


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino", "openvino-f32", "tract", "reference"])
def test_a_plain_float32_gru_has_no_known_limit(runtime: str) -> None:
    for lbr in (0, 1):
        for direction in ("forward", "bidirectional"):
            assert known_limits(runtime, attrs(linear_before_reset=lbr, direction=direction), "float32", False) is None


def test_openvino_at_reduced_precision_is_explained_as_gru008() -> None:
    found = limits("openvino", attrs(), "float32", False, precision="bf16")
    assert [lim.kind for lim in found] == ["mismatch"] and "GRU008" in found[0].reason
    assert limits("openvino-f32", attrs(), "float32", False, precision="f32") == []


def _loop_with_a_scan_output():
    """A Loop of 4 iterations whose body emits x * i, of shape (3, 5), as a scan output: ONNX Runtime stacks the
    four into (4, 3, 5)."""
    from onnx import TensorProto as TP
    from onnx import helper as h

    body = h.make_graph(
        [h.make_node("Identity", ["cond_in"], ["cond_out"]), h.make_node("Cast", ["i"], ["fi"], to=TP.FLOAT),
         h.make_node("Mul", ["x", "fi"], ["y"]), h.make_node("Identity", ["c_in"], ["c_out"])], "body",
        [h.make_tensor_value_info("i", TP.INT64, []), h.make_tensor_value_info("cond_in", TP.BOOL, []),
         h.make_tensor_value_info("c_in", TP.FLOAT, [1])],
        [h.make_tensor_value_info("cond_out", TP.BOOL, []), h.make_tensor_value_info("c_out", TP.FLOAT, [1]),
         h.make_tensor_value_info("y", TP.FLOAT, [3, 5])])
    graph = h.make_graph(
        [h.make_node("Loop", ["n", "cond", "c0"], ["c_final", "ys"], body=body)], "loop",
        [h.make_tensor_value_info("n", TP.INT64, []), h.make_tensor_value_info("cond", TP.BOOL, []),
         h.make_tensor_value_info("c0", TP.FLOAT, [1]), h.make_tensor_value_info("x", TP.FLOAT, [3, 5])],
        [h.make_tensor_value_info("c_final", TP.FLOAT, None), h.make_tensor_value_info("ys", TP.FLOAT, None)])
    feeds = {"n": np.array(4, np.int64), "cond": np.array(True), "c0": np.zeros(1, np.float32),
             "x": np.random.default_rng(0).uniform(-1, 1, (3, 5)).astype(np.float32)}
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), feeds


def test_a_loop_with_scan_outputs_as_each_runtime_runs_it() -> None:
    """Re-measures the two Loop rules: ONNX Runtime stacks the scan outputs, the ONNX reference evaluator
    concatenates them, tract refuses the Loop. A version that changes any of it fails here first."""
    from onnxgru.runtimes import RuntimeRefused, get
    from onnxgru.runtimes.limits import loops_with_scan_outputs

    model, feeds = _loop_with_a_scan_output()
    assert loops_with_scan_outputs(model)
    want = np.stack([feeds["x"] * i for i in range(4)])
    np.testing.assert_array_equal(get("onnxruntime").load(model)(feeds)[1], want)
    np.testing.assert_array_equal(get("reference").load(model)(feeds)[1], want.reshape(12, 5))
    assert "concatenates a Loop's scan outputs" in known_limits("reference", attrs(), "float32", False, looped=True)
    pytest.importorskip("tract")
    with pytest.raises(RuntimeRefused, match=r"Unimplemented\(Loop\)"):
        get("tract").load(model)(feeds)
    assert "Loop with scan outputs" in known_limits("tract", attrs(), "float32", False, looped=True)
