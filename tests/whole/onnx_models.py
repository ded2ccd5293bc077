"""ONNX GRU models laid out the way ONNX's own node tests and exporters lay them out (numpy and onnx only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxgru.core.spec import GRUAttrs
from onnxgru.graph.build import gru_node_attrs

F32 = TensorProto.FLOAT


def weights(rng: np.random.Generator, attrs: GRUAttrs, constant_r: float | None = None) -> tuple:
    d, h, i = attrs.num_directions, attrs.hidden_size, attrs.input_size
    W = rng.uniform(-0.8, 0.8, (d, 3 * h, i)).astype(np.float32)
    R = (np.full((d, 3 * h, h), constant_r, np.float32) if constant_r is not None
         else rng.uniform(-0.8, 0.8, (d, 3 * h, h)).astype(np.float32))
    B = rng.uniform(-0.5, 0.5, (d, 6 * h)).astype(np.float32)
    return W, R, B


def gru_model(
    attrs: GRUAttrs, W: np.ndarray, R: np.ndarray, B: np.ndarray, *, x_shape: list, outputs: tuple[str, ...],
    h0_shape: list | None = None, lens: bool = False, weights_as_inputs: bool = False,
) -> onnx.ModelProto:
    """One GRU node. ``outputs`` names which of Y and Y_h are graph outputs (ONNX's test_gru_defaults has only Y_h);
    ``weights_as_inputs`` makes W, R, B graph inputs, as ONNX's node tests ship them."""
    d, h = attrs.num_directions, attrs.hidden_size
    inputs = [helper.make_tensor_value_info("X", F32, x_shape)]
    inits = []
    for name, value in (("W", W), ("R", R), ("B", B)):
        if weights_as_inputs:
            inputs.append(helper.make_tensor_value_info(name, F32, list(value.shape)))
        else:
            inits.append(numpy_helper.from_array(value, name))
    node_inputs = ["X", "W", "R", "B", "", ""]
    if lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [x_shape[1]]))
        node_inputs[4] = "sequence_lens"
    if h0_shape is not None:
        inputs.append(helper.make_tensor_value_info("initial_h", F32, h0_shape))
        node_inputs[5] = "initial_h"
    while node_inputs[-1] == "":
        node_inputs.pop()
    node = helper.make_node("GRU", node_inputs, ["Y" if "Y" in outputs else "", "Y_h" if "Y_h" in outputs else ""],
                            name="gru", **gru_node_attrs(attrs))
    outs = []
    t, n = (x_shape[0], x_shape[1]) if attrs.layout == 0 else (x_shape[1], x_shape[0])
    if "Y" in outputs:
        outs.append(helper.make_tensor_value_info("Y", F32, [t, d, n, h] if attrs.layout == 0 else [n, t, d, h]))
    if "Y_h" in outputs:
        outs.append(helper.make_tensor_value_info("Y_h", F32, [d, n, h] if attrs.layout == 0 else [n, d, h]))
    graph = helper.make_graph([node], "gru", inputs, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def build(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(21)
    out: dict[str, Path] = {}

    def save(name: str, model: onnx.ModelProto) -> None:
        onnx.save(model, str(folder / name))
        out[name] = folder / name

    # ONNX's test_gru_defaults layout: only Y_h is an output; fixed input shape (every dim static)
    for direction in ("forward", "reverse"):
        a = GRUAttrs(hidden_size=4, input_size=3, direction=direction, linear_before_reset=1)
        save(f"yh_only_{direction}.onnx", gru_model(a, *weights(rng, a), x_shape=[6, 2, 3], outputs=("Y_h",)))
    # batch-major (layout=1) with initial_h as a graph input, shaped (batch, directions, hidden)
    a = GRUAttrs(hidden_size=4, input_size=3, layout=1)
    save("layout1_h0.onnx", gru_model(a, *weights(rng, a), x_shape=["N", "T", 3], outputs=("Y", "Y_h"),
                                      h0_shape=["N", 1, 4]))
    # sequence_lens as a graph input
    a = GRUAttrs(hidden_size=4, input_size=3, linear_before_reset=1)
    save("lens.onnx", gru_model(a, *weights(rng, a), x_shape=["T", "N", 3], outputs=("Y", "Y_h"), lens=True))
    # ONNX Runtime's own GRU test weights: the recurrent weights constant, input weights and biases varied
    a = GRUAttrs(hidden_size=3, input_size=2, linear_before_reset=1)
    save("constant_r.onnx", gru_model(a, *weights(rng, a, constant_r=0.1), x_shape=["T", "N", 2],
                                      outputs=("Y", "Y_h")))
    # ONNX's node tests as shipped: W, R and B are graph inputs, given with the test data
    a = GRUAttrs(hidden_size=4, input_size=3, linear_before_reset=0)
    W, R, B = weights(rng, a)
    save("weights_as_inputs.onnx", gru_model(a, W, R, B, x_shape=[5, 2, 3], outputs=("Y", "Y_h"),
                                             weights_as_inputs=True))
    for name, value in (("W", W), ("R", R), ("B", B)):
        np.save(folder / f"{name}.npy", value)
    np.savez(folder / "weights_as_inputs.npz", X=rng.uniform(-1, 1, (5, 2, 3)).astype(np.float32), W=W, R=R, B=B)
    out["weights_as_inputs.npz"] = folder / "weights_as_inputs.npz"
    return out
