"""onnxgru's own fused export: the canonical layers written as GRU nodes, with the TensorFlow model's interface.

Where tf2onnx leaves a Scan, a Loop or unrolled cells (MultiRNNCell, static_rnn, control flow v2, Keras
``reset_after=False`` or ``use_bias=False`` or a non-default activation), the layers onnxgru read are written with
``onnx_build.stack_model`` and wrapped so inputs and outputs keep the TensorFlow names, layouts and shapes. Each TF
output is identified by value against the numpy reference GRU on the same inputs (the sequence, all states, one
state, the last states of a bidirectional layer concatenated); one that matches none means the graph computes more
than its GRUs, and no rewrite is made. The exporter then proves the result against TensorFlow like any candidate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core import inputs as inp
from onnxgru.core import reference
from onnxgru.core.inputs import Inputs
from onnxgru.frameworks.tf.graph_source import TFHandle
from onnxgru.graph import build as onnx_build

if TYPE_CHECKING:
    import onnx

    from onnxgru.core.model import LoadedModel


def _match(v: np.ndarray, candidates: list[tuple[tuple, np.ndarray]]) -> tuple | None:
    for role, ref in candidates:
        if v.shape == ref.shape and np.allclose(v, ref, atol=1e-4, rtol=1e-3):
            return role
    return None


def raw_outputs(tfm: LoadedModel, inputs: Inputs) -> list[np.ndarray]:
    """The model's outputs as it returns them (a time-major graph's outputs time-major)."""

    handle = tfm.handle
    if isinstance(handle, TFHandle):
        feeds = {handle.tensors.get(k, k): v for k, v in inp.feeds(tfm.signature, inputs).items()}
        return handle.graph.session()(feeds)
    return list(tfm.run(inputs, False).outputs.values())


def output_roles(model: LoadedModel, raw: list[np.ndarray], inputs: Inputs) -> list[tuple] | str:
    """What each raw TF output is in terms of the GRU stack, or a sentence saying why one is not."""
    initial = reference.split_rows(model.layers, inputs.h0 if model.accepts_h0 else None)
    seq, states = reference.run_layers(model.layers, inputs.x, initial)
    d = model.layers[-1].attrs.num_directions
    candidates: list[tuple[tuple, np.ndarray]] = [(("seq", False), seq), (("seq", True), seq.transpose(1, 0, 2))]
    if len({s.shape for s in states}) == 1:
        candidates.append((("states",), np.concatenate(states, axis=0)))
    candidates += [(("row", k, j), s[j]) for k, s in enumerate(states) for j in range(s.shape[0])]
    candidates.append((("last", d), np.concatenate(list(states[-1]), axis=-1)))
    roles = []
    for index, v in enumerate(raw):
        role = _match(np.asarray(v, np.float64), candidates)
        if role is None:
            return (
                f"output {index} of shape {np.shape(v)} is not a GRU sequence or state "
                "(the model computes more than its GRUs)"
            )
        roles.append(role)
    return roles


def fused_model(
    model: LoadedModel, roles: list[tuple], *, input_name: str, state_names: list[str], lens_name: str | None,
    lens_dtype: np.dtype | None, output_names: list[str], dtype: type, opset: int | None,
) -> onnx.ModelProto:
    """The stack as fused GRU nodes with the TF model's input and output names, layouts and shapes."""
    from onnx import TensorProto, helper

    rows = model.state_rows
    with_h0 = len(state_names) == rows
    proto = onnx_build.stack_model(
        model.layers, dtype=dtype, with_h0=with_h0, time_major=model.time_major, opset=opset or onnx_build.OPSET,
        names=(input_name, "__gru_sequence", "__gru_states"),
    )
    g = proto.graph
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    nodes = list(g.node)
    if with_h0:
        # TF feeds one (N, H) state per cell; each GRU node takes its own rows as (D, N, H).
        del g.input[1:]
        nodes = [n for n in nodes if not n.name.startswith("h0_slice_")]
        _const(g, [0], "__axis0")
        fed, row = [], 0
        for k, layer in enumerate(model.layers):
            d, hidden = layer.attrs.num_directions, layer.attrs.hidden_size
            for j in range(d):
                name = state_names[row + j]
                g.input.append(helper.make_tensor_value_info(name, elem, ["N", hidden]))
                fed.append(helper.make_node("Unsqueeze", [name, "__axis0"], [f"__h0_{row + j}"],
                                            name=f"h0_unsqueeze_{row + j}"))
            fed.append(helper.make_node("Concat", [f"__h0_{row + j}" for j in range(d)], [f"h0_{k}"], axis=0,
                                        name=f"h0_layer_{k}"))
            row += d
        nodes = fed + nodes
    if lens_name:
        g.input.append(helper.make_tensor_value_info(
            lens_name, helper.np_dtype_to_tensor_dtype(np.dtype(lens_dtype)), ["N"]))
        lens = lens_name
        if np.dtype(lens_dtype) != np.int32:
            cast = helper.make_node("Cast", [lens_name], ["__lens32"], to=TensorProto.INT32, name="lens_int32")
            nodes.insert(0, cast)
            lens = "__lens32"
        for node in nodes:
            if node.op_type == "GRU":
                node.input[4] = lens
    del g.output[:]
    last = model.layers[-1].attrs
    d, h = last.num_directions, last.hidden_size
    for k, (role, name) in enumerate(zip(roles, output_names)):
        nodes += _output_nodes(role, name, k, model.time_major, len(model.layers), g)
        if role[0] == "row":
            shape = ["N", model.layers[role[1]].attrs.hidden_size]
        else:
            shape = {"seq": ["N", "T", d * h], "states": [rows, "N", h], "last": ["N", d * h]}[role[0]]
        if role[0] == "seq" and role[1]:
            shape = ["T", "N", d * h]
        g.output.append(helper.make_tensor_value_info(name, elem, shape))
    del g.node[:]
    g.node.extend(nodes)
    return proto


def _const(g: onnx.GraphProto, value: list[int], name: str) -> str:
    from onnx import numpy_helper

    g.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name))
    return name


def _output_nodes(role: tuple, name: str, k: int, time_major: bool, layers: int, g: onnx.GraphProto) -> list:
    from onnx import helper

    if role[0] == "seq":
        if role[1] == time_major:
            return [helper.make_node("Identity", ["__gru_sequence"], [name], name=f"out_{k}")]
        return [helper.make_node("Transpose", ["__gru_sequence"], [name], perm=[1, 0, 2], name=f"out_{k}")]
    if role[0] == "states":
        return [helper.make_node("Identity", ["__gru_states"], [name], name=f"out_{k}")]
    if role[0] == "row":
        layer, j = role[1], role[2]
        return [
            helper.make_node("Slice", [f"Y_h_{layer}", _const(g, [j], f"__s{k}"), _const(g, [j + 1], f"__e{k}"),
                                       _const(g, [0], f"__a{k}")], [f"__row{k}"], name=f"row_{k}"),
            helper.make_node("Squeeze", [f"__row{k}", _const(g, [0], f"__q{k}")], [name], name=f"out_{k}"),
        ]
    # the last layer's final states side by side: (d, N, H) -> (N, d*H)
    return [
        helper.make_node("Transpose", [f"Y_h_{layers - 1}"], [f"__lastt{k}"], perm=[1, 0, 2], name=f"last_t_{k}"),
        helper.make_node("Reshape", [f"__lastt{k}", _const(g, [0, -1], f"__r{k}")], [name], name=f"out_{k}"),
    ]


def cast_floats(model: onnx.ModelProto, to: np.dtype) -> onnx.ModelProto:
    """A copy of ``model`` computing in ``to`` (float32 <-> float64): tensors, declared types and Cast targets."""
    import onnx as onnx_mod
    from onnx import helper, numpy_helper

    out = onnx_mod.ModelProto()
    out.CopyFrom(model)
    new = helper.np_dtype_to_tensor_dtype(np.dtype(to))
    old = onnx_mod.TensorProto.DOUBLE if new == onnx_mod.TensorProto.FLOAT else onnx_mod.TensorProto.FLOAT

    def tensor(t: onnx_mod.TensorProto) -> None:
        if t.data_type == old:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(to), t.name))

    def graph(gr: onnx_mod.GraphProto) -> None:
        for t in gr.initializer:
            tensor(t)
        for vi in list(gr.input) + list(gr.output) + list(gr.value_info):
            if vi.type.tensor_type.elem_type == old:
                vi.type.tensor_type.elem_type = new
        for node in gr.node:
            for a in node.attribute:
                if a.type == a.TENSOR:
                    tensor(a.t)
                elif a.type == a.GRAPH:
                    graph(a.g)
                elif a.name in ("to", "dtype") and a.type == a.INT and a.i == old:
                    a.i = new

    graph(out.graph)
    return out
