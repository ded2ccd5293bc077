"""Hostile files of round two (issue 13), built in code: each one ran code, wrote a file, crashed, hung, blew up
memory or gave a wrong answer before onnxgru guarded against it. Files that would write carry a marker path (the
file or folder they create); the tests prove they are hostile by running them the unsafe way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

I, H = 5, 4  # noqa: E741 - input size and hidden size of every model here


# --- running the CLI in a child, measured -------------------------------------------------------------------------
# A small launcher runs the CLI and reports what ``wait4`` says of it. It must be small: a child's peak resident
# size starts from what its parent held when it was spawned (the kernel counts the parent's pages until ``exec``),
# and the test process holds TensorFlow and torch.
_LAUNCHER = """
import json, os, subprocess, sys, time
argv, report, out, err, timeout = json.loads(sys.argv[1])
with open(out, "wb") as o, open(err, "wb") as e:
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "onnxgru", *argv], stdout=o, stderr=e)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > timeout:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    seconds = time.monotonic() - start
proc.returncode = os.waitstatus_to_exitcode(status)
with open(report, "w") as f:
    json.dump([proc.returncode, seconds, usage.ru_maxrss * 1024], f)
"""


def measured(argv: list, folder: Path, timeout: float = 120.0) -> tuple[int, str, str, float, int]:
    """``onnxgru ARGV`` in a child process: (exit code, stdout, stderr, seconds, peak resident bytes of the child
    and of every process it waited for, from ``wait4``)."""
    import json

    out, err, report = folder / "child.stdout", folder / "child.stderr", folder / "child.json"
    spec = json.dumps([[str(a) for a in argv], str(report), str(out), str(err), timeout])
    subprocess.run([sys.executable, "-c", _LAUNCHER, spec], check=True, timeout=timeout + 60)
    code, seconds, peak = json.loads(report.read_text())
    return code, out.read_text(errors="replace"), err.read_text(errors="replace"), seconds, peak


# --- TensorFlow and Keras ------------------------------------------------------------------------------------------
def tf_files(folder: Path) -> dict[str, Path]:
    from ..builders import tf1_graph, tf_module

    tf = tf_module()
    v1 = tf.compat.v1
    from tensorflow.python.ops import gen_dataset_ops, gen_debug_ops, gen_experimental_dataset_ops

    rng = np.random.default_rng(13)
    out: dict[str, Path] = {}
    marker = out["debug_marker"] = folder.parent / f"{folder.name}-debug-dump"
    out["tfrecord_marker"] = folder.parent / f"{folder.name}-written.tfrecord"

    def gru() -> tuple:
        x = v1.placeholder(tf.float32, [None, None, I], "x")
        return v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(H), x, dtype=tf.float32)

    def outputs_after(*deps: object):
        def build() -> None:
            o, s = gru()
            with tf.control_dependencies([d() for d in deps]):  # reached only through a control input
                tf.identity(o, "output")
                tf.identity(s, "state")
        return build

    def debug_v1() -> object:
        return gen_debug_ops.debug_identity(tf.constant([1.0]), device_name="", tensor_name="t",
                                            debug_urls=[f"file://{marker}"])

    def debug_v2() -> object:
        return gen_debug_ops.debug_identity_v2(tf.constant([1.0]), tfdbg_context_id="c", op_name="op", output_slot=0,
                                               tensor_debug_mode=2, debug_urls=[f"file://{marker}"])

    def tfrecord() -> object:
        ds = gen_dataset_ops.tensor_slice_dataset([tf.constant(["attacker's bytes"])], output_shapes=[[]])
        return gen_experimental_dataset_ops.dataset_to_tf_record(ds, str(out["tfrecord_marker"]), "")

    def forever() -> object:
        return v1.while_loop(lambda i: i < 10**9, lambda i: i + 1, [tf.constant(0)])

    def fill() -> object:
        return tf.fill([1 << 29], 1.0)  # 2 GB of float32

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, deps in (("debug_identity", (debug_v1,)), ("debug_identity_v2", (debug_v2,)),
                           ("tfrecord", (tfrecord,)), ("forever", (forever,)), ("fill", (fill,))):
            out[name] = tf1_graph(tf, folder, name, outputs_after(*deps), rng)

    # a DebugIdentity on a constant that no output needs: nothing runs it, but tf2onnx's constant folding ran every
    # op of the graph whose inputs are constants (export, check) until onnxgru handed it only what outputs need
    out["side_marker"] = folder.parent / f"{folder.name}-side-dump"

    def side_dump() -> None:
        o, s = gru()
        tf.identity(o, "output")
        tf.identity(s, "state")
        dump = gen_debug_ops.debug_identity(tf.constant([1.0]), device_name="", tensor_name="t",
                                            debug_urls=[f"file://{out['side_marker']}"])
        tf.identity(dump, "side")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["unreached_dump"] = tf1_graph(tf, folder, "unreached_dump", side_dump, rng,
                                          outputs=("output", "state", "side"))

    # a frozen graph that keeps a GRUCell the named outputs do not depend on
    def two_cells() -> None:
        x = v1.placeholder(tf.float32, [None, None, I], "x")
        with v1.variable_scope("dead"):
            d, _ = v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(H), x, dtype=tf.float32)
        tf.identity(d, "dead_output")
        with v1.variable_scope("live"):
            o, s = v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(H), x, dtype=tf.float32)
        tf.identity(o, "output")
        tf.identity(s, "state")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["dead_cell"] = tf1_graph(tf, folder, "dead_cell", two_cells, rng,
                                     outputs=("output", "state", "dead_output"))

    # a TF2 SavedModel whose serving function writes a debug dump
    module = tf.Module()
    module.w = tf.Variable(rng.uniform(-1, 1, (I, H)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, None, I], tf.float32, name="x")])
    def serve(x: object) -> dict:
        dump = tf.raw_ops.DebugIdentityV2(input=x, tfdbg_context_id="c", op_name="op", output_slot=0,
                                          tensor_debug_mode=2, debug_urls=[f"file://{marker}"])
        return {"output": tf.tensordot(dump, module.w, 1)}

    module.serve = serve
    tf.saved_model.save(module, str(folder / "tf2_debug"), signatures={"serving_default": serve})
    out["tf2_debug"] = folder / "tf2_debug"

    # a Keras 2 SavedModel folder (keras_metadata.pb) holding a Lambda layer whose code writes a marker
    import tf_keras as k2

    out["lambda_marker"] = folder.parent / f"{folder.name}-lambda-ran"
    code = f"lambda t: (open({str(out['lambda_marker'])!r}, 'w').close(), t)[1]"
    model = k2.Sequential([k2.Input((None, I), name="x"), k2.layers.GRU(H, return_sequences=True),
                           k2.layers.Lambda(eval(code))])  # noqa: S307 - the hostile payload
    model.save(str(folder / "keras_lambda_savedmodel"), save_format="tf")
    out["keras_lambda_savedmodel"] = folder / "keras_lambda_savedmodel"
    out["lambda_marker"].unlink(missing_ok=True)  # building ran the lambda; loading must not

    # an .h5 whose model config nests 990 levels deep (json.loads recursed into a RecursionError)
    import h5py

    plain = k2.Sequential([k2.Input((None, I), name="x"), k2.layers.GRU(H, return_sequences=True)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain.save(str(folder / "deep.h5"))
    with h5py.File(folder / "deep.h5", "r+") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": ' + "[" * 990 + "]" * 990 + "}"
    out["deep_h5"] = folder / "deep.h5"
    # an .h5 whose weight array declares 2 GB and stores next to nothing (a compressed chunked dataset left empty)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain.save(str(folder / "h5_bomb.h5"))
    with h5py.File(folder / "h5_bomb.h5", "r+") as f:
        name = next(n for n in _datasets(f) if "kernel" in n)
        del f[name]
        f.create_dataset(name, shape=(1 << 29,), dtype="f4", chunks=(1 << 20,), compression="gzip")
    out["h5_bomb"] = folder / "h5_bomb.h5"

    # a .keras zip bomb: a 1.1 GB config.json deflated to about a megabyte
    plain.save(str(folder / "plain.keras"))
    out["zip_bomb"] = folder / "bomb.keras"
    with zipfile.ZipFile(folder / "plain.keras") as src, \
            zipfile.ZipFile(out["zip_bomb"], "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            if info.filename != "config.json":
                z.writestr(info, src.read(info))
        bomb = zipfile.ZipInfo("config.json")
        bomb.compress_type = zipfile.ZIP_DEFLATED
        with z.open(bomb, "w", force_zip64=True) as f:
            f.write(b'{"class_name": "Sequential", "pad": "')
            block = b" " * (1 << 24)
            for _ in range(66):  # 1.1 GB
                f.write(block)
            f.write(b'"}')
    return out


def _relay_evil(graph_def: object, marker: Path, restore_op: str) -> None:
    """Add to ``graph_def`` a ``Relay`` function that calls whatever its attribute ``g`` names (a PartitionedCall
    whose ``f`` is the placeholder ``g``), an ``Evil`` function that writes ``marker``, and a
    ``StatefulPartitionedCall(f=Relay[g=Evil])`` the node ``restore_op`` waits for: restoring runs ``Evil``."""
    from tensorflow.core.framework import attr_value_pb2, function_pb2, types_pb2

    evil = function_pb2.FunctionDef()
    evil.signature.name = "Evil"
    evil.signature.is_stateful = True
    for name, text in (("path", str(marker)), ("text", "ran")):
        const = evil.node_def.add(name=name, op="Const")
        const.attr["dtype"].type = types_pb2.DT_STRING
        const.attr["value"].tensor.dtype = types_pb2.DT_STRING
        const.attr["value"].tensor.string_val.append(text.encode())
    evil.node_def.add(name="write", op="WriteFile", input=["path:output:0", "text:output:0"])
    evil.signature.control_output.append("write")
    evil.control_ret["write"] = "write"

    relay = function_pb2.FunctionDef()
    relay.signature.name = "Relay"
    relay.signature.is_stateful = True
    relay.signature.attr.add(name="g", type="func")
    call = relay.node_def.add(name="call", op="PartitionedCall")
    call.attr["Tin"].list.SetInParent()
    call.attr["Tout"].list.SetInParent()
    call.attr["f"].placeholder = "g"
    relay.signature.control_output.append("call")
    relay.control_ret["call"] = "call"

    graph_def.library.function.extend([relay, evil])
    node = graph_def.node.add(name="relay_call", op="StatefulPartitionedCall")
    node.attr["Tin"].list.SetInParent()
    node.attr["Tout"].list.SetInParent()
    node.attr["f"].func.name = "Relay"
    node.attr["f"].func.attr["g"].CopyFrom(attr_value_pb2.AttrValue(func=attr_value_pb2.NameAttrList(name="Evil")))
    next(n for n in graph_def.node if n.name == restore_op).input.append("^relay_call")


def _elsewhere(graph_def: object, restore_op: str, prefix: Path) -> None:
    """Make the RestoreV2 that ``restore_op`` waits for read the checkpoint ``prefix`` names, whatever the loader
    feeds: its prefix becomes a constant."""
    from tensorflow.core.framework import types_pb2

    const = graph_def.node.add(name="elsewhere", op="Const")
    const.attr["dtype"].type = types_pb2.DT_STRING
    const.attr["value"].tensor.dtype = types_pb2.DT_STRING
    const.attr["value"].tensor.string_val.append(str(prefix).encode())
    scope = restore_op.rsplit("/", 1)[0]
    restore = next(n for n in graph_def.node if n.op == "RestoreV2" and n.name.startswith(f"{scope}/"))
    restore.input[0] = "elsewhere"


def relay_files(folder: Path) -> dict[str, Path]:
    """Round three (issue 19): a TF1 checkpoint and a TF1 SavedModel whose restore op waits for
    ``StatefulPartitionedCall(f=Relay[g=Evil])``, ``Evil`` a ``WriteFile`` of the marker; and a checkpoint and a
    SavedModel whose RestoreV2 reads another checkpoint (a constant prefix), beside the clean ones."""
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

    from ..builders import tf1_graph, tf_module

    tf = tf_module()
    v1 = tf.compat.v1
    out = {"relay_marker": folder.parent / f"{folder.name}-relay-wrote"}

    def gru() -> None:
        x = v1.placeholder(tf.float32, [None, None, I], "x")
        o, s = v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(H), x, dtype=tf.float32)
        tf.identity(o, "output")
        tf.identity(s, "state")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf1_graph(tf, folder, "clean", gru, np.random.default_rng(19), checkpoint=True, saved_model=True)
        tf1_graph(tf, folder, "other", gru, np.random.default_rng(20), checkpoint=True)
    out["clean_ckpt"] = folder / "clean_ckpt" / "model"
    out["clean_saved_model"] = folder / "clean_saved_model"
    out["other_ckpt"] = folder / "other_ckpt" / "model"

    def edited_checkpoint(name: str, edit) -> Path:
        shutil.copytree(folder / "clean_ckpt", folder / name)
        meta = folder / name / "model.meta"
        graph = meta_graph_pb2.MetaGraphDef.FromString(meta.read_bytes())
        edit(graph.graph_def, graph.saver_def.restore_op_name)
        meta.write_bytes(graph.SerializeToString())
        return folder / name / "model"

    def edited_saved_model(name: str, edit) -> Path:
        shutil.copytree(folder / "clean_saved_model", folder / name)
        pb = folder / name / "saved_model.pb"
        proto = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
        graph = proto.meta_graphs[0]
        edit(graph.graph_def, graph.saver_def.restore_op_name)
        pb.write_bytes(proto.SerializeToString())
        return folder / name

    def relay(g: object, restore_op: str) -> None:
        _relay_evil(g, out["relay_marker"], restore_op)

    def elsewhere(g: object, restore_op: str) -> None:
        _elsewhere(g, restore_op, out["other_ckpt"])

    out["relay_ckpt"] = edited_checkpoint("relay_ckpt", relay)
    out["relay_saved_model"] = edited_saved_model("relay_saved_model", relay)
    out["elsewhere_ckpt"] = edited_checkpoint("elsewhere_ckpt", elsewhere)
    out["elsewhere_saved_model"] = edited_saved_model("elsewhere_saved_model", elsewhere)
    # the clean checkpoint named by a dotted prefix, as the TF1 docs write it (model.ckpt)
    (folder / "dotted").mkdir()
    for part in (folder / "clean_ckpt").iterdir():
        if part.name.startswith("model."):
            shutil.copy(part, folder / "dotted" / part.name.replace("model.", "model.ckpt.", 1))
    out["dotted_ckpt"] = folder / "dotted" / "model.ckpt"
    return out


def _datasets(f: object) -> list[str]:
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if hasattr(obj, "dtype") else None)
    return names


# --- PyTorch -------------------------------------------------------------------------------------------------------
def _rewrite_code(src: Path, dst: Path, edit: dict[str, str]) -> None:
    """Copy a TorchScript archive, replacing text in its code files (what an attacker edits by hand)."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            data = zi.read(info.filename)
            if info.filename.endswith(".debug_pkl"):
                continue  # source ranges of the original code
            if info.filename.endswith(".py"):
                text = data.decode()
                for old, new in edit.items():
                    text = text.replace(old, new)
                data = text.encode()
            zo.writestr(info, data)


def _rename_members(src: Path, dst: Path, rename) -> None:
    """Copy a zip archive with its members renamed (what an attacker edits by hand)."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            data = zi.read(info.filename)
            info.filename = rename(info.filename)
            zo.writestr(info, data)


def torch_files(folder: Path) -> dict[str, Path]:
    import torch

    torch.manual_seed(13)
    out: dict[str, Path] = {}
    marker = out["from_file_marker"] = folder.parent / f"{folder.name}-from-file"

    class Payload(torch.nn.Module):
        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

        @torch.jit.export
        def __getstate__(self) -> tuple[str, bool]:
            return (self.path, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[str, bool]) -> None:
            self.path = state[0]
            self.training = state[1]

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(I, H)
            self.payload = Payload(str(marker))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.gru(self.payload(x))

    torch.jit.save(torch.jit.script(Model()), folder / "clean.pt")
    # __setstate__ runs inside torch.jit.load: torch.from_file(shared=True) + fill_ creates or overwrites any file
    write = "    _0 = torch.from_file(self.path, True, 4, dtype=0)\n    _1 = torch.fill_(_0, 65)\n" \
            "    self.training = bool(torch.gt(torch.sum(_1), 0))\n"  # used, so the compiler keeps the write
    setstate = "    self.training = (state)[1]\n"
    _rewrite_code(folder / "clean.pt", folder / "setstate.pt", {setstate: setstate + write})
    out["setstate"] = folder / "setstate.pt"
    # the same write in forward: it runs during check, compare and export
    _rewrite_code(folder / "clean.pt", folder / "forward.pt", {
        "    return x\n": "    _0 = torch.fill_(torch.from_file(self.path, True, 4, dtype=0), 66)\n"
                       "    return torch.add(x, torch.mul(torch.sum(_0), 0))\n"})  # used, so it is kept
    out["forward"] = folder / "forward.pt"
    # a GRU whose forward loops 10^9 times before its kernel: plain tensor ops, so it passes the screen and runs
    gru_call = "    _14, _15 = torch.gru(input0, "
    _rewrite_code(folder / "clean.pt", folder / "endless.pt", {
        gru_call: "    for _99 in range(1000000000):\n      input0 = torch.add(input0, 0.)\n" + gru_call})
    out["endless"] = folder / "endless.pt"
    # an op of a custom namespace, which a loaded library could register to do anything
    _rewrite_code(folder / "clean.pt", folder / "custom_op.pt", {"    return x\n": "    return ops.evil.run(x)\n"})
    out["custom_op"] = folder / "custom_op.pt"

    # an ExportedProgram whose GRU takes its weights from the program's inputs (a KeyError before)
    gru = torch.nn.GRU(I, H)

    class WeightsIn(torch.nn.Module):
        def forward(self, x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                    b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h0 = torch.zeros(1, x.shape[1], H)
            return torch._VF.gru(x, h0, [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, False)

    weights = [p.detach() for p in (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(WeightsIn(), (torch.randn(7, 3, I), *weights)), folder / "inputs.pt2")
    out["weights_as_inputs"] = folder / "inputs.pt2"

    # round three: the screen read code/ with Python's zipfile, torch's reader finds CODE/ whatever its case
    _rename_members(out["setstate"], folder / "upper_code.pt", lambda n: n.replace("/code/", "/CODE/"))
    out["upper_code"] = folder / "upper_code.pt"
    # a member stored twice: zipfile reads the last copy, torch's reader the first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(torch.nn.GRU(I, H), (torch.randn(7, 3, I),)), folder / "program.pt2")
    out["program"] = folder / "program.pt2"
    shutil.copy(out["program"], folder / "twice.pt2")
    with zipfile.ZipFile(folder / "twice.pt2", "a") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": that is the attack
        name = next(n for n in z.namelist() if n.endswith("_constants_config.json") or n.endswith(".json"))
        z.writestr(name, z.read(name))
    out["twice"] = folder / "twice.pt2"

    # state dicts in half precision and in integers
    for dtype in ("float16", "bfloat16", "int32"):
        state = {k: (v * 3).to(getattr(torch, dtype)) for k, v in gru.state_dict().items()}
        torch.save(state, folder / f"{dtype}.pt")
        out[dtype] = folder / f"{dtype}.pt"
    return out


# --- ONNX and inputs -----------------------------------------------------------------------------------------------
def onnx_files(folder: Path) -> dict[str, Path]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from onnxgru.graph import build as onnx_build

    from ..conftest import random_layer

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

    from ..conftest import random_layer

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
