"""Writing ONNX GRU graphs from canonical layers: one fused ``GRU`` node per layer.

Used to rewrite a Loop/Scan into fused nodes, to build test models, and for the bundled example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from onnxgru._lazy import require
from onnxgru.core.spec import GRUAttrs, GRULayer

if TYPE_CHECKING:
    import onnx

OPSET = 17


def gru_node_attrs(attrs: GRUAttrs) -> dict:
    """The node attributes, written out in full so no reader has to know a default."""
    out: dict = {
        "hidden_size": attrs.hidden_size,
        "direction": attrs.direction,
        "linear_before_reset": attrs.linear_before_reset,
        "layout": attrs.layout,
    }
    if not attrs.default_activations:
        out["activations"] = list(attrs.activations)
        alphas = [a for a in attrs.activation_alpha if a is not None]
        betas = [b for b in attrs.activation_beta if b is not None]
        if alphas:
            out["activation_alpha"] = alphas
        if betas:
            out["activation_beta"] = betas
    if attrs.clip is not None:
        out["clip"] = attrs.clip
    return out


def single_node(
    attrs: GRUAttrs,
    W: np.ndarray,
    R: np.ndarray,
    B: np.ndarray | None = None,
    *,
    dtype: type = np.float32,
    with_lens: bool = False,
    with_h0: bool = False,
    opset: int = OPSET,
) -> onnx.ModelProto:
    """A model that is one GRU node: inputs X (and sequence_lens, initial_h), outputs Y and Y_h, as the op defines."""
    onnx = require("onnx")
    from onnx import helper, numpy_helper

    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    d, h, i = attrs.num_directions, attrs.hidden_size, attrs.input_size
    x_shape: list[str | int] = ["T", "N", i] if attrs.layout == 0 else ["N", "T", i]
    inputs = [helper.make_tensor_value_info("X", elem, x_shape)]
    inits = [numpy_helper.from_array(np.asarray(W, dtype), "W"), numpy_helper.from_array(np.asarray(R, dtype), "R")]
    node_inputs = ["X", "W", "R", ""]
    if B is not None:
        inits.append(numpy_helper.from_array(np.asarray(B, dtype), "B"))
        node_inputs[3] = "B"
    if with_lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", onnx.TensorProto.INT32, ["N"]))
    node_inputs.append("sequence_lens" if with_lens else "")
    if with_h0:
        shape: list[str | int] = [d, "N", h] if attrs.layout == 0 else ["N", d, h]
        inputs.append(helper.make_tensor_value_info("initial_h", elem, shape))
        node_inputs.append("initial_h")
    while node_inputs and node_inputs[-1] == "":
        node_inputs.pop()
    y_shape: list[str | int] = ["T", d, "N", h] if attrs.layout == 0 else ["N", "T", d, h]
    yh_shape: list[str | int] = [d, "N", h] if attrs.layout == 0 else ["N", d, h]
    node = helper.make_node("GRU", node_inputs, ["Y", "Y_h"], name="gru", **gru_node_attrs(attrs))
    graph = helper.make_graph(
        [node],
        "gru",
        inputs,
        [helper.make_tensor_value_info("Y", elem, y_shape), helper.make_tensor_value_info("Y_h", elem, yh_shape)],
        inits,
    )
    return _model(graph, opset)


def stack_model(
    layers: Sequence[GRULayer],
    *,
    dtype: type = np.float32,
    with_h0: bool = True,
    time_major: bool = False,
    opset: int = OPSET,
    names: tuple[str, str, str] = ("x", "output", "state"),
) -> onnx.ModelProto:
    """A stack of fused GRU nodes as torch and Keras stack layers.

    Input ``x`` (N, T, I) (or (T, N, I) when ``time_major``) and ``h0`` (L*D, N, H); outputs the last layer's
    sequence (N, T, D*H) (or time-major) and the final states (L*D, N, H), the canonical shapes (only when every
    layer has one hidden size; each layer's own ``Y_h_k`` is there either way).
    """
    require("onnx")
    from onnx import helper, numpy_helper

    x_name, out_name, state_name = names
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    i = layers[0].attrs.input_size
    rows = sum(layer.attrs.num_directions for layer in layers)
    h = layers[-1].attrs.hidden_size
    nodes, inits = [], []
    x_shape: list[str | int] = ["T", "N", i] if time_major else ["N", "T", i]
    inputs = [helper.make_tensor_value_info(x_name, elem, x_shape)]
    if with_h0:
        inputs.append(helper.make_tensor_value_info("h0", elem, [rows, "N", h]))
    seq = x_name
    if not time_major:
        nodes.append(helper.make_node("Transpose", [x_name], ["x_tm"], perm=[1, 0, 2], name="to_time_major"))
        seq = "x_tm"
    states, row = [], 0
    for k, layer in enumerate(layers):
        a = layer.attrs
        d = a.num_directions
        assert a.layout == 0, "stack_model writes layout 0; transpose layout-1 layers' inputs instead"
        for nm, arr in (("W", layer.W), ("R", layer.R), ("B", layer.B)):
            inits.append(numpy_helper.from_array(np.asarray(arr, dtype), f"{nm}_{k}"))
        node_inputs = [seq, f"W_{k}", f"R_{k}", f"B_{k}", ""]
        if with_h0:
            inits += [
                numpy_helper.from_array(np.array([row], np.int64), f"h0_start_{k}"),
                numpy_helper.from_array(np.array([row + d], np.int64), f"h0_end_{k}"),
                numpy_helper.from_array(np.array([0], np.int64), f"h0_axis_{k}"),
            ]
            nodes.append(
                helper.make_node(
                    "Slice", ["h0", f"h0_start_{k}", f"h0_end_{k}", f"h0_axis_{k}"], [f"h0_{k}"], name=f"h0_slice_{k}"
                )
            )
            node_inputs.append(f"h0_{k}")
        row += d
        nodes.append(
            helper.make_node(
                "GRU", node_inputs, [f"Y_{k}", f"Y_h_{k}"], name=layer.name or f"gru_{k}", **gru_node_attrs(a)
            )
        )
        # (T, D, N, H) -> (T, N, D*H) for the next layer or the output
        nodes.append(helper.make_node("Transpose", [f"Y_{k}"], [f"Yt_{k}"], perm=[0, 2, 1, 3], name=f"y_perm_{k}"))
        inits.append(numpy_helper.from_array(np.array([0, 0, d * a.hidden_size], np.int64), f"y_shape_{k}"))
        nodes.append(helper.make_node("Reshape", [f"Yt_{k}", f"y_shape_{k}"], [f"seq_{k}"], name=f"y_merge_{k}"))
        seq = f"seq_{k}"
        states.append(f"Y_h_{k}")
    if time_major:
        nodes.append(helper.make_node("Identity", [seq], [out_name], name="output"))
    else:
        nodes.append(helper.make_node("Transpose", [seq], [out_name], perm=[1, 0, 2], name="to_batch_major"))
    out_shape: list[str | int] = (["T", "N", rows // len(layers) * h] if time_major
                                  else ["N", "T", layers[-1].attrs.num_directions * h])
    outputs = [helper.make_tensor_value_info(out_name, elem, out_shape)]
    if len({layer.attrs.hidden_size for layer in layers}) == 1:  # layers of other sizes give no stacked state
        nodes.append(helper.make_node("Concat", states, [state_name], axis=0, name="states"))
        outputs.append(helper.make_tensor_value_info(state_name, elem, [rows, "N", h]))
    graph = helper.make_graph(nodes, "gru_stack", inputs, outputs, inits)
    return _model(graph, opset)


def _model(graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnxgru")
    model.ir_version = 8
    return model


def write_defaults(model: onnx.ModelProto) -> onnx.ModelProto:
    """Write every GRU node's ``linear_before_reset``, ``direction`` and ``layout`` explicitly (in place).

    An absent ``linear_before_reset`` means 0 to the ONNX schema, but ONNX Runtime's CUDA placement rule only looks
    at attributes written in the node: left out, a reset-before GRU is handed to cuDNN, which computes reset-after.
    """
    from onnx import helper

    defaults = {"linear_before_reset": 0, "direction": "forward", "layout": 0}
    for node in model.graph.node:
        if node.op_type != "GRU":
            continue
        present = {a.name for a in node.attribute}
        for name, value in defaults.items():
            if name not in present:
                node.attribute.append(helper.make_attribute(name, value))
    return model
