"""Hostile ONNX files and inputs: GRUs no output uses, scalar outputs, external data longer than its tensor, inputs
that would overwrite or blow up, size and nesting bombs that shape inference or the runtimes would follow."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .child import H, I  # noqa: E741


def onnx_files(folder: Path) -> dict[str, Path]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from onnxgru.graph import build as onnx_build

    from ...conftest import random_layer

    rng = np.random.default_rng(13)
    out: dict[str, Path] = {}
    F = TensorProto.FLOAT

    def gru(k: int, src: str, layer: object) -> tuple[object, list]:
        inits = [numpy_helper.from_array(layer.W, f"W_{k}"), numpy_helper.from_array(layer.R, f"R_{k}"),
                 numpy_helper.from_array(layer.B, f"B_{k}")]
        node = helper.make_node("GRU", [src, f"W_{k}", f"R_{k}", f"B_{k}"], [f"Y_{k}", f"Yh_{k}"], name=f"gru_{k}",
                                **onnx_build.gru_node_attrs(layer.attrs))
        return node, inits

    def save(name: str, nodes: list, inits: list, outputs: list, x_shape: tuple = ("T", "N", I)) -> None:
        graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", F, list(x_shape))], outputs, inits)
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / f"{name}.onnx"))
        out[name] = folder / f"{name}.onnx"

    # a GRU whose outputs nothing uses (ValueError before), and a dead GRU before the live one ("compared nothing")
    node, inits = gru(0, "x", random_layer(rng, I, H))
    save("unused_gru", [node, helper.make_node("Relu", ["x"], ["y"])], inits,
         [helper.make_tensor_value_info("y", F, ["T", "N", I])])
    dead, dead_inits = gru(0, "x", random_layer(rng, I, H))
    live, live_inits = gru(1, "x", random_layer(rng, I, H))
    save("dead_first", [dead, live], dead_inits + live_inits,
         [helper.make_tensor_value_info("Y_1", F, ["T", 1, "N", H]),
          helper.make_tensor_value_info("Yh_1", F, [1, "N", H])])

    # scalar graph outputs (IndexError before): beside the GRU's outputs, and as the only output
    model = onnx_build.stack_model([random_layer(rng, I, H)])
    model.graph.node.append(helper.make_node("ReduceSum", ["state"], ["total"], keepdims=0))
    model.graph.output.append(helper.make_tensor_value_info("total", F, []))
    onnx.save(model, str(folder / "scalar_beside.onnx"))
    out["scalar_beside"] = folder / "scalar_beside.onnx"
    model = onnx_build.stack_model([random_layer(rng, I, H)])
    model.graph.node.append(helper.make_node("ReduceSum", ["output"], ["total"], keepdims=0))
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("total", F, []))
    del model.graph.output[1]
    onnx.save(model, str(folder / "scalar_only.onnx"))
    out["scalar_only"] = folder / "scalar_only.onnx"

    # 1000 chained GRUs, joined by Squeeze (as torch exports a stack), only the last final state as an output
    layers = [random_layer(rng, I, H, name="gru_0")]
    layers += [random_layer(rng, H, H, name=f"gru_{k}") for k in range(1, 1000)]
    nodes = [helper.make_node("Transpose", ["x"], ["x_tm"], perm=[1, 0, 2])]
    inits = [numpy_helper.from_array(np.array([1], np.int64), "axis1")]
    seq = "x_tm"
    for k, layer in enumerate(layers):
        node, weights = gru(k, seq, layer)
        nodes += [node, helper.make_node("Squeeze", [f"Y_{k}", "axis1"], [f"s_{k}"])]
        inits += weights
        seq = f"s_{k}"
    nodes.append(helper.make_node("Transpose", [seq], ["output"], perm=[1, 0, 2]))
    save("chain_1000", nodes, inits, [helper.make_tensor_value_info("output", F, ["N", "T", H]),
                                      helper.make_tensor_value_info("Yh_999", F, [1, "N", H])], ("N", "T", I))

    # a 2 GB ConstantOfShape an output depends on
    model = onnx_build.stack_model([random_layer(rng, I, H)])
    model.graph.initializer.append(numpy_helper.from_array(np.array([1 << 29], np.int64), "big_shape"))
    model.graph.node.extend([
        helper.make_node("ConstantOfShape", ["big_shape"], ["big"],
                         value=numpy_helper.from_array(np.ones(1, np.float32))),
        helper.make_node("ReduceSum", ["big"], ["big_sum"], keepdims=0),
    ])
    model.graph.output.append(helper.make_tensor_value_info("big_sum", F, []))
    onnx.save(model, str(folder / "constant_of_shape.onnx"))
    out["constant_of_shape"] = folder / "constant_of_shape.onnx"

    # external data declaring 4 GiB for a 1.2 MB tensor, from a sparse file that really is that long
    ext = folder / "external"
    ext.mkdir()
    wide = random_layer(rng, 333, 300)
    onnx.save(onnx_build.stack_model([wide]), str(ext / "sparse.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="weights.bin", size_threshold=1 << 20)
    model = onnx.load(str(ext / "sparse.onnx"), load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "length":
                e.value = str(4 << 30)
            elif e.key == "offset":
                e.value = "0"
    onnx.save(model, str(ext / "sparse.onnx"))
    os.truncate(ext / "weights.bin", (4 << 30) + 4096)
    out["sparse_external"] = ext / "sparse.onnx"

    # an --inputs .npz whose x has a 1 GiB void dtype: 3 MB on disk, 5.3 GB as an array
    npz = folder / "void.npz"
    header = np.lib.format.header_data_from_array_1_0(np.empty((0,), np.dtype("V1073741824")))
    header["shape"] = (5,)
    with zipfile.ZipFile(npz, "w") as z, z.open("x.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(bytes(3 << 20))
    out["void_npz"] = npz
    np.savez(folder / "inputs.npz", x=rng.uniform(-1, 1, (2, 4, I)).astype(np.float32))
    out["inputs"] = folder / "inputs.npz"
    np.save(folder / "keep.npy", np.array(1.0, np.float32))
    out["keep_npy"] = folder / "keep.npy"
    out["good"] = folder / "good.onnx"
    onnx.save(onnx_build.stack_model([random_layer(rng, I, H)]), str(out["good"]))
    return out


def onnx_bombs(folder: Path) -> dict[str, Path]:
    """Round three (issue 19): sizes from an input's shape, sizes inside an If branch and a local function, 30 nested
    Ifs (OpenVINO hung), and a model with a small If and Loop that is no bomb. A folder of their own: small files,
    so a test can hash it whole to see that nothing was written."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from onnxgru.graph import build as onnx_build

    from ...conftest import random_layer

    rng = np.random.default_rng(19)
    out: dict[str, Path] = {}
    F = TensorProto.FLOAT

    def with_extra(name: str, nodes: list, inits: list = (), functions: list = (), domains: tuple = ()) -> None:
        model = onnx_build.stack_model([random_layer(rng, I, H)])
        model.graph.initializer.extend(inits)
        model.graph.node.extend(nodes)
        model.graph.output.append(helper.make_tensor_value_info("extra", F, []))
        model.functions.extend(functions)
        model.opset_import.extend(helper.make_opsetid(d, 1) for d in domains)
        onnx.save(model, str(folder / f"{name}.onnx"))
        out[name] = folder / f"{name}.onnx"

    def bomb(prefix: str, shape: str) -> list:  # a tensor of the values `shape` holds, summed to a scalar
        return [helper.make_node("ConstantOfShape", [shape], [f"{prefix}_big"],
                                 value=numpy_helper.from_array(np.ones(1, np.float32))),
                helper.make_node("ReduceSum", [f"{prefix}_big"], [f"{prefix}_sum"], keepdims=0)]

    def shape_constant(name: str, values: list) -> object:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64)))

    def scalar_graph(name: str, nodes: list, result: str) -> object:
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(result, F, [])])

    zero = [helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.float32)))]
    yes = numpy_helper.from_array(np.array(True), "yes")
    with_extra("shape_bomb", [helper.make_node("Shape", ["x"], ["x_shape"]),
                              helper.make_node("Mul", ["x_shape", "huge"], ["bomb_shape"]),
                              *bomb("b", "bomb_shape"), helper.make_node("Identity", ["b_sum"], ["extra"])],
               [numpy_helper.from_array(np.array([1 << 12], np.int64), "huge")])
    # (N, T) of x times 2**14 each: exactly 1 GiB of float32 at N = T = 1, 16 GiB or more at what onnxgru feeds
    with_extra("fed_bomb", [helper.make_node("Shape", ["x"], ["x_shape"]),
                            helper.make_node("Gather", ["x_shape", "batch_time"], ["n_t"]),
                            helper.make_node("Mul", ["n_t", "huge"], ["bomb_shape"]),
                            *bomb("b", "bomb_shape"), helper.make_node("Identity", ["b_sum"], ["extra"])],
               [numpy_helper.from_array(np.array([1 << 14, 1 << 14], np.int64), "huge"),
                numpy_helper.from_array(np.array([0, 1], np.int64), "batch_time")])
    branch = scalar_graph("then", [shape_constant("branch_shape", [1 << 29]), *bomb("t", "branch_shape")], "t_sum")
    with_extra("if_bomb", [helper.make_node("If", ["yes"], ["extra"], name="if_bomb", then_branch=branch,
                                            else_branch=scalar_graph("else", zero, "zero"))], [yes])
    function = helper.make_function("local", "Bomb", [], ["f_sum"],
                                    [shape_constant("f_shape", [1 << 29]), *bomb("f", "f_shape")],
                                    [helper.make_opsetid("", 17)])
    with_extra("function_bomb", [helper.make_node("Bomb", [], ["extra"], domain="local")], functions=[function],
               domains=("local",))
    inner = scalar_graph("innermost", zero, "zero")
    for depth in range(30):
        inner = scalar_graph(f"level{depth}", [helper.make_node("If", ["yes"], [f"r{depth}"], then_branch=inner,
                                                                else_branch=scalar_graph("else", zero, "zero"))],
                             f"r{depth}")
    with_extra("nested_ifs", [helper.make_node("If", ["yes"], ["extra"], then_branch=inner,
                                               else_branch=scalar_graph("else", zero, "zero"))], [yes])
    # a small If and a Loop of 3 steps over the GRU's final state: a legitimate model, no bomb
    three = numpy_helper.from_array(np.array(3, np.int64), "three")
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["acc_in", "one"], ["acc"]),
         helper.make_node("Mul", ["acc", "half"], ["acc_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", 9, []),
         helper.make_tensor_value_info("acc_in", F, [])],
        [helper.make_tensor_value_info("cond_out", 9, []), helper.make_tensor_value_info("acc_out", F, [])],
        [numpy_helper.from_array(np.array(1, np.float32), "one"), numpy_helper.from_array(np.array(.5, np.float32),
                                                                                            "half")])
    total = [helper.make_node("ReduceSum", ["state"], ["total"], keepdims=0)]
    with_extra("small_if_loop", [
        helper.make_node("If", ["yes"], ["picked"], then_branch=scalar_graph("then", total, "total"),
                         else_branch=scalar_graph("else", zero, "zero")),
        helper.make_node("Loop", ["three", "yes", "picked"], ["extra"], body=body)], [yes, three])

    return out
