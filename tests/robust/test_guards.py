"""The guards of issue 13 one by one, on hand-made inputs: what the TensorFlow op allowlist reaches, what the
TorchScript screen refuses, and the bounds on sizes and nesting."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import pytest

from onnxgru import limits
from onnxgru.errors import UserError


# --- bounds --------------------------------------------------------------------------------------------------------
def test_json_depth_counts_brackets_outside_strings_only() -> None:
    limits.check_json_depth('{"a": "' + "[" * 5000 + '"}', "config", limit=3)  # inside a string: no nesting
    limits.check_json_depth('{"a": "\\"[[[["}', "config", limit=3)  # an escaped quote does not end the string
    with pytest.raises(UserError, match="nests more than 3 levels"):
        limits.check_json_depth('{"a": [[[1]]]}', "config", limit=3)
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(UserError, match="nests more than"):
        limits.load_json(deep, "config")  # never a RecursionError
    assert limits.load_json('{"a": [1, {"b": 2}]}', "config") == {"a": [1, {"b": 2}]}


def test_member_reads_are_capped_by_what_they_yield() -> None:
    data = io.BytesIO(b"x" * 100)
    with pytest.raises(UserError, match="inflates to more than"):
        limits.read_member(data.read, 10, "m", cap=50)  # declares 10, yields 100
    with pytest.raises(UserError, match="uncompressed"):
        limits.read_member(io.BytesIO(b"").read, 51, "m", cap=50)
    assert limits.read_member(io.BytesIO(b"abc").read, 3, "m", cap=50) == b"abc"


@pytest.mark.parametrize("text,value", [("8G", 8 << 30), ("512M", 512 << 20), ("16GiB", 16 << 30),
                                        ("100000000", 100000000), ("1.5g", 3 << 29)])
def test_memory_limit_sizes(text: str, value: int) -> None:
    assert limits.parse_memory(text) == value


@pytest.mark.parametrize("text", ["lots", "1K", "nan", "inf", "-8G", ""])
def test_bad_memory_limits(text: str) -> None:
    with pytest.raises(UserError, match="--memory-limit"):
        limits.parse_memory(text)


def test_zip_members_that_inflate_absurdly(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("small.json", b"{}" * 1000)
    with zipfile.ZipFile(path) as z:
        limits.check_zip_members(z, path)
        z.infolist()[0].file_size = limits.MAX_MEMBER_BYTES + 1  # what a crafted directory declares
        with pytest.raises(UserError, match="zip bomb"):
            limits.check_zip_members(z, path)


# --- the TensorFlow op allowlist -----------------------------------------------------------------------------------
def _graph(nodes: list[tuple[str, str, list[str]]], functions: dict | None = None):
    from tensorflow.core.framework import graph_pb2

    g = graph_pb2.GraphDef()
    for name, op, inputs in nodes:
        n = g.node.add(name=name, op=op)
        n.input.extend(inputs)
    for fname, (fnodes, calls) in (functions or {}).items():
        f = g.library.function.add()
        f.signature.name = fname
        for name, op, inputs in fnodes:
            n = f.node_def.add(name=name, op=op)
            n.input.extend(inputs)
            if op in calls:
                n.attr["f"].func.name = calls[op]
    return g


@pytest.mark.tf
def test_allowlist_follows_control_inputs_and_stops_at_the_outputs() -> None:
    pytest.importorskip("tensorflow")
    from onnxgru.frameworks.tf import allowlist

    g = _graph([("x", "Placeholder", []), ("w", "WriteFile", []), ("y", "Identity", ["x", "^w"]),
                ("z", "Identity", ["x"]), ("dead", "WriteFile", [])])
    allowlist.check_graph(g, ["z:0"], "g")  # nothing reached writes
    with pytest.raises(UserError, match="WriteFile operation \\(node 'w'\\)"):
        allowlist.check_graph(g, ["y:0"], "g")  # reached only through a control input
    allowlist.check_graph(g, ["y:0"], "g", trust=True)


@pytest.mark.tf
def test_allowlist_enters_every_function_a_node_calls() -> None:
    pytest.importorskip("tensorflow")
    from onnxgru.frameworks.tf import allowlist

    functions = {
        "outer": ([("call", "PartitionedCall", []), ("one", "Identity", [])], {"PartitionedCall": "inner"}),
        "inner": ([("dump", "DebugIdentityV2", [])], {}),
    }
    g = _graph([("x", "Placeholder", []), ("y", "outer", ["x"])], functions)  # a node whose op is a function
    with pytest.raises(UserError, match="DebugIdentityV2.*node 'inner/dump'"):
        allowlist.check_graph(g, ["y"], "g")


@pytest.mark.tf
def test_allowlist_refuses_unknown_ops_by_name() -> None:
    pytest.importorskip("tensorflow")
    from onnxgru.frameworks.tf import allowlist

    g = _graph([("x", "Placeholder", []), ("p", "PyFunc", ["x"]), ("y", "MadeUpOp", ["p"])])
    with pytest.raises(UserError, match="MadeUpOp operation.*\\(and PyFunc\\)"):
        allowlist.check_graph(g, ["y"], "g")


@pytest.mark.tf
def test_allowlist_follows_functions_named_in_the_attributes_of_a_call() -> None:
    """``f=Relay[g=Evil]``: Evil is named only inside the attributes of the call's NameAttrList, and is checked."""
    pytest.importorskip("tensorflow")
    from onnxgru.frameworks.tf import allowlist

    functions = {"Relay": ([("one", "Identity", [])], {}), "Evil": ([("write", "WriteFile", [])], {})}
    g = _graph([("x", "Placeholder", []), ("call", "StatefulPartitionedCall", []), ("y", "Identity", ["x", "^call"])],
               functions)
    call = g.node[1].attr["f"].func
    call.name = "Relay"
    call.attr["g"].list.func.add(name="Evil")  # a list of functions, one level down
    with pytest.raises(UserError, match="WriteFile operation \\(node 'Evil/write'\\)"):
        allowlist.check_graph(g, ["y"], "g")
    pruned = allowlist.library_of_nodes(g, "g", trust=True)
    assert {f.signature.name for f in pruned.library.function} == {"Relay", "Evil"}


@pytest.mark.tf
def test_allowlist_refuses_references_it_cannot_follow() -> None:
    """A function attribute its caller binds (a placeholder), and a name that is no function of the file (TensorFlow
    would run the op of that name), are refused by node; trusted, they are passed over."""
    pytest.importorskip("tensorflow")
    from onnxgru.frameworks.tf import allowlist

    g = _graph([("x", "Placeholder", []), ("call", "PartitionedCall", ["x"])])
    g.node[1].attr["f"].placeholder = "g"
    with pytest.raises(UserError, match="node \\('call'\\) whose attribute 'f' is bound by its caller"):
        allowlist.check_graph(g, ["call"], "g")
    g.node[1].attr["f"].func.name = "WriteFile"
    with pytest.raises(UserError, match="names 'WriteFile', which is no function of the file"):
        allowlist.check_graph(g, ["call"], "g")
    with pytest.raises(UserError, match="no function of the file"):
        allowlist.library_of_nodes(g, "g")  # every node, reached or not, before TensorFlow imports the graph
    allowlist.check_graph(g, ["call"], "g", trust=True)


@pytest.mark.tf
def test_allowlist_checks_what_grappler_may_swap_in_and_the_loader_sees_only_that() -> None:
    """A function with an ``api_implements`` may be swapped for any other of the same kind declaring the same, so
    they are checked together; the backward half of a training pair is not swapped for an inference call, and a
    function nothing calls is left out of what TensorFlow is given."""
    pytest.importorskip("tensorflow")
    from onnxgru.frameworks.tf import allowlist

    functions = {"Fast": ([("one", "Identity", [])], {}), "Slow": ([("write", "WriteFile", [])], {}),
                 "Grad": ([("grad", "SigmoidGrad", [])], {}), "Unused": ([("dump", "DebugIdentityV2", [])], {})}
    g = _graph([("x", "Placeholder", []), ("y", "Fast", ["x"])], functions)
    for f in g.library.function:
        f.attr["api_implements"].s = b"gru" if f.signature.name != "Unused" else b""
    g.library.function[2].attr["forward_function_name"].s = b"Fast"
    with pytest.raises(UserError, match="WriteFile operation \\(node 'Slow/write'\\)"):
        allowlist.check_graph(g, ["y"], "g")
    del g.library.function[1]  # Slow
    allowlist.check_graph(g, ["y"], "g")
    pruned, _ = allowlist.prune(g, ["y"])
    assert [f.signature.name for f in pruned.library.function] == ["Fast"]


@pytest.mark.tf
def test_restore_ops_read_only_the_file_the_loader_feeds() -> None:
    """In a meta graph, a restore op's prefix is the saver's filename tensor (through Identity); in a function, an
    argument, and then every call passes the filename tensor; an init op reaches none."""
    pytest.importorskip("tensorflow")
    from tensorflow.core.protobuf import meta_graph_pb2

    from onnxgru.frameworks.tf import allowlist

    def meta(nodes: list, functions: dict | None = None, init: str = "") -> object:
        m = meta_graph_pb2.MetaGraphDef()
        m.graph_def.CopyFrom(_graph(nodes, functions))
        m.saver_def.filename_tensor_name = "save/Const:0"
        m.saver_def.restore_op_name = "save/restore_all"
        if init:
            m.collection_def["legacy_init_op"].node_list.value.append(init)
        return m

    saver = [("save/Const", "PlaceholderWithDefault", []), ("save/names", "Const", []), ("other", "Const", [])]
    fed = meta([*saver, ("save/id", "Identity", ["save/Const"]),
                ("save/RestoreV2", "RestoreV2", ["save/id", "save/names", "save/names"]),
                ("save/restore_all", "NoOp", ["^save/RestoreV2"])])
    allowlist.check_meta_graph(fed, "m")
    fed.graph_def.node[4].input[0] = "other"
    with pytest.raises(UserError, match="'save/RestoreV2'.*from 'other:0'.*a file you did not name"):
        allowlist.check_meta_graph(fed, "m")
    allowlist.check_meta_graph(fed, "m", trust=True)

    restores = {"R": ([("id", "Identity", ["prefix"]), ("r", "RestoreV2", ["id:output:0", "prefix", "prefix"])], {})}
    called = meta([*saver, ("save/call", "R", ["save/Const"]), ("save/restore_all", "NoOp", ["^save/call"])],
                  restores)
    called.graph_def.library.function[0].signature.input_arg.add(name="prefix")
    allowlist.check_meta_graph(called, "m")
    called.graph_def.node[3].input[0] = "other"
    with pytest.raises(UserError, match="'save/call'.*a file you did not name"):
        allowlist.check_meta_graph(called, "m")
    body = meta([*saver, ("save/call", "R", ["save/Const"]), ("save/restore_all", "NoOp", ["^save/call"])],
                {"R": ([("c", "Const", []), ("r", "RestoreV2", ["c:output:0", "c:output:0", "c:output:0"])], {})})
    with pytest.raises(UserError, match="'R/r'.*from 'c:output:0'"):
        allowlist.check_meta_graph(body, "m")
    unfed = meta([*saver, ("init/RestoreV2", "RestoreV2", ["save/Const", "save/names", "save/names"]),
                  ("save/restore_all", "NoOp", [])], init="init/RestoreV2")
    with pytest.raises(UserError, match="'init/RestoreV2'.*an init op"):
        allowlist.check_meta_graph(unfed, "m")


# --- the TorchScript screen ----------------------------------------------------------------------------------------
def _archive(tmp_path: Path, code: str, pickles: dict[str, bytes] | None = None) -> Path:
    path = tmp_path / "m.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("m/version", "3\n")  # torch's archive reader refuses an archive without it
        z.writestr("m/code/__torch__.py", code)
        z.writestr("m/constants.pkl", pickle.dumps(()))
        z.writestr("m/data.pkl", pickle.dumps({}))
        for name, data in (pickles or {}).items():
            z.writestr(f"m/{name}", data)
    return path


_MODULE = """class M(Module):
  __parameters__ = []
  training : bool
  def forward(self: __torch__.M,
    x: Tensor) -> Tensor:
{body}
"""


@pytest.mark.parametrize("body,why", [
    ("    _0 = torch.from_file(\"/tmp/x\", True, 4)\n    return x", "torch.from_file"),
    ("    _0 = ops.aten.from_file(\"/tmp/x\", True, 4)\n    return x", "ops.aten.from_file"),
    ("    _0 = torch.ops.aten.save(x, \"/tmp/x\")\n    return x", "ops.aten.save"),
    ("    torch.save(x, \"/tmp/x\")\n    return x", "torch.save"),
    ("    _0 = torch.load(\"/tmp/x\")\n    return x", "torch.load"),
    ("    return ops.my_lib.run(x)", "custom op namespace ops.my_lib"),
    ("    _0 = __torch__.torch.classes.my_lib.Thing()\n    return x", "custom C++ class"),
    ("    _0 = torch.jit._load_for_mobile(\"/tmp/x\")\n    return x", "torch.jit"),
    ("    f = torch\n    return x", "bare name torch"),
    ("    return (x).my_method()", "method my_method"),
    ("    return open(\"/tmp/x\")", "function open"),
    ("    import os\n    return x", "Import"),
])
def test_screen_refuses(body: str, why: str, tmp_path: Path) -> None:
    from onnxgru.frameworks.torch import screen

    with pytest.raises(UserError, match="allowlisted tensor op") as err:
        screen.screen_archive(_archive(tmp_path, _MODULE.format(body=body)))
    assert why in str(err.value)


def test_screen_passes_tensor_code_and_refuses_foreign_pickles(tmp_path: Path) -> None:
    from onnxgru.frameworks.torch import screen

    body = "    _0 = torch.fill_(torch.zeros([2]), 1.)\n    return torch.add((x).tanh(), torch.sum(_0))"
    screen.screen_archive(_archive(tmp_path, _MODULE.format(body=body)))
    evil = b"cos\nsystem\n(S'touch /tmp/pwned'\ntR."
    with pytest.raises(UserError, match="os.system"):
        screen.screen_archive(_archive(tmp_path, _MODULE.format(body="    return x"), {"extra.pkl": evil}))
    with pytest.raises(UserError, match="cannot read"):
        screen.screen_archive(_archive(tmp_path, "class M(:\n"))


@pytest.mark.tf
def test_training_graphs_still_load(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A checkpoint and a SavedModel written while training hold gradients, optimizer and saver ops: loading runs
    none of them (only the restore op and the serving graph), so the allowlist does not refuse them."""
    import warnings

    import numpy as np

    from onnxgru.cli import main

    from ..builders import tf1_graph, tf_module

    tf = tf_module()
    v1 = tf.compat.v1

    def build() -> None:
        x = v1.placeholder(tf.float32, [None, None, 5], "x")
        o, s = v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(4), x, dtype=tf.float32)
        tf.identity(o, "output")
        tf.identity(s, "state")
        v1.train.AdamOptimizer().minimize(tf.reduce_mean(tf.square(o)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf1_graph(tf, tmp_path, "trained", build, np.random.default_rng(0), checkpoint=True, saved_model=True)
    for src in (tmp_path / "trained_ckpt" / "model", tmp_path / "trained_saved_model"):
        assert main(["inspect", str(src)]) == 0, capsys.readouterr().err
        assert "reset_before" in capsys.readouterr().out
