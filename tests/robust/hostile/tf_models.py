"""Hostile TensorFlow and Keras files: graphs, checkpoints and SavedModels whose ops write files, whose restore relays
to a writer or reads another checkpoint; Keras files that run code, nest too deep or unpack into bombs; a dead cell."""

from __future__ import annotations

import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .child import H, I  # noqa: E741


def tf_files(folder: Path) -> dict[str, Path]:
    from ...builders import tf1_graph, tf_module

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

    from ...builders import tf1_graph, tf_module

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
