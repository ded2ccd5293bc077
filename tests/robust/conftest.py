"""Hostile and broken inputs, built once per session: good models to break, and models that are bad on purpose.

Each family (ONNX, PyTorch, TensorFlow/Keras) is its own session fixture so the numpy/ONNX part runs without the
frameworks, and a family is built only when a test asks for it. Hostile files carry a marker path: if onnxgru ever
ran their code, the marker file would appear.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ..conftest import random_layer, save, with_attrs
from . import hostile

I, H = 5, 4  # noqa: E741 - input size and hidden size of every good model


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import onnx
    from onnx import helper, numpy_helper

    from onnxgru.graph import build as onnx_build

    folder = tmp_path_factory.mktemp("robust_onnx")
    rng = np.random.default_rng(7)
    out: dict[str, Path] = {}

    def put(name: str, model: object) -> None:
        out[name.split(".")[0]] = Path(save(model, folder / name))

    good = random_layer(rng, I, H)
    put("good.onnx", onnx_build.stack_model([good]))

    # a graph without any GRU, and one whose recurrence is unrolled into MatMul/Sigmoid (no GRU onnxgru can describe)
    def graph(nodes: list, inits: list, name: str) -> object:
        g = helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", "T", I])],
            [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", "T", H])], inits,
        )
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    w = numpy_helper.from_array(rng.normal(size=(I, H)).astype(np.float32), "w")
    put("no_gru.onnx", graph([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
                             [w], "relu"))
    put("unrolled.onnx", graph([helper.make_node("MatMul", ["x", "w"], ["m"]),
                                helper.make_node("Sigmoid", ["m"], ["y"])], [w], "unrolled"))

    # external data: inside the folder (fine), ../ outside it, and a link inside the folder pointing outside it
    inner = folder / "external"
    inner.mkdir()
    onnx.save(onnx_build.stack_model([good]), str(inner / "inside.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    (folder / "weights.bin").write_bytes((inner / "weights.bin").read_bytes())
    (folder / "secret.bin").write_bytes((inner / "weights.bin").read_bytes())
    (inner / "linked.bin").symlink_to(folder / "secret.bin")
    for name, location in (("outside.onnx", "../weights.bin"), ("linked.onnx", "linked.bin"),
                           ("absolute.onnx", str(folder / "weights.bin"))):
        m = onnx.load(str(inner / "inside.onnx"), load_external_data=False)
        for t in m.graph.initializer:
            for e in t.external_data:
                if e.key == "location":
                    e.value = location
        onnx.save(m, str(inner / name))
        out[name.split(".")[0]] = inner / name
    out["inside"] = inner / "inside.onnx"

    # models that produce NaN/Inf from finite inputs: a Relu candidate with huge weights overflows float32, and
    # an Inf candidate bias under Relu is Inf from the first step; NaN weights spread everywhere
    relu = with_attrs(random_layer(rng, I, H), activations=("Sigmoid", "Relu"))
    R, B = relu.R.copy(), relu.B.copy()
    R[0, 2 * H :] = np.abs(R[0, 2 * H :]) * 1e20  # candidate block: each step multiplies the state by ~1e20
    B[0, :H], B[0, H : 2 * H], B[0, 2 * H : 3 * H] = -50.0, 50.0, 10.0  # z = 0 (take the candidate), r = 1
    put("overflows.onnx", onnx_build.stack_model([replace(relu, R=R, B=B)]))
    inf_bias = with_attrs(random_layer(rng, I, H), activations=("Sigmoid", "Relu"))
    B = inf_bias.B.copy()
    B[0, 2 * H] = np.inf  # Wb of the candidate (h) block
    put("inf_bias_relu.onnx", onnx_build.stack_model([replace(inf_bias, B=B)]))
    saturated = random_layer(rng, I, H)
    W = saturated.W.copy()
    W[0, 0, 0] = np.inf  # an update-gate weight: the gate saturates, the outputs stay finite
    put("inf_weight.onnx", onnx_build.stack_model([replace(saturated, W=W)]))

    return out


@pytest.fixture(scope="session")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    from ..torch.conftest import _RunsCode, randomize

    folder = tmp_path_factory.mktemp("robust_torch")
    gru = torch.nn.GRU(I, H)
    randomize(gru, 3)
    out = {"plain": folder / "plain.pt", "linear": folder / "linear.pt", "nan": folder / "nan_weights.pt",
           "evil": folder / "evil.pt", "evil_marker": folder.parent / f"{folder.name}-pickle-ran"}
    torch.save(gru.state_dict(), out["plain"])
    torch.save(torch.nn.Linear(I, H).state_dict(), out["linear"])
    state = {k: v.clone() for k, v in gru.state_dict().items()}
    state["weight_hh_l0"][0, 0] = float("nan")
    torch.save(state, out["nan"])
    torch.save({**gru.state_dict(), "payload": _RunsCode(out["evil_marker"])}, out["evil"])
    return out


@pytest.fixture(scope="session")
def tf_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from ..builders import tf1_graph, tf_module

    tf = tf_module()
    import keras as k3
    import tf_keras as k2

    v1 = tf.compat.v1
    folder = tmp_path_factory.mktemp("robust_tf")
    rng = np.random.default_rng(11)

    def dynamic(activation=None):
        def build() -> None:
            x = v1.placeholder(tf.float32, [None, None, I], "x")
            o, s = v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(H, activation=activation), x, dtype=tf.float32)
            tf.identity(o, "output")
            tf.identity(s, "state")
        return build

    def no_gru() -> None:
        x = v1.placeholder(tf.float32, [None, None, I], "x")
        tf.identity(tf.tensordot(x, v1.get_variable("w", [I, H]), 1), "output")

    warnings.filterwarnings("ignore", message=".*(deprecated|legacy).*")  # TF1 API and .h5: what is tested here
    out = {"dynamic": tf1_graph(tf, folder, "dynamic", dynamic(), rng),
           "no_gru": tf1_graph(tf, folder, "no_gru", no_gru, rng, outputs=("output",))}
    # the same GRUCell with a Relu candidate and an Inf in its candidate bias: Inf from the first step
    relu = tf1_graph(tf, folder, "relu", dynamic(tf.nn.relu), rng)
    graph_def = v1.GraphDef.FromString(relu.read_bytes())
    for node in graph_def.node:
        if node.op == "Const" and node.name.endswith("candidate/bias"):
            value = tf.make_ndarray(node.attr["value"].tensor).copy()
            value[0] = np.inf
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    out["inf_bias_relu"] = folder / "inf_bias_relu.pb"
    out["inf_bias_relu"].write_bytes(graph_def.SerializeToString())

    # graphs that write a marker file when they run: a WriteFile the output depends on, and a SavedModel whose
    # main op (run by the loader) writes it
    out["graph_marker"] = folder.parent / f"{folder.name}-graph-wrote"

    def writes() -> None:
        dynamic()()
        g = tf.compat.v1.get_default_graph()
        with tf.control_dependencies([tf.io.write_file(str(out["graph_marker"]), "ran")]):
            tf.identity(g.get_tensor_by_name("output:0"), "written")

    out["writes_file"] = tf1_graph(tf, folder, "writes_file", writes, rng, outputs=("written", "state"))
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None, None, I], "x")
        y = tf.identity(tf.tensordot(x, v1.get_variable("w", [I, H]), 1), "y")
        sess.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(folder / "writes_on_load"))
        builder.add_meta_graph_and_variables(
            sess, ["serve"], main_op=tf.io.write_file(str(out["graph_marker"]), "ran"),
            signature_def_map={"serving_default": v1.saved_model.predict_signature_def({"x": x}, {"y": y})},
        )
        builder.save()
    out["writes_on_load"] = folder / "writes_on_load"

    def keras_save(model, name: str) -> Path:
        for w in model.weights:
            w.assign(rng.uniform(-0.9, 0.9, tuple(w.shape)).astype(np.float32))
        model.save(str(folder / name))
        return folder / name

    seq2 = [k2.Input((None, I), name="x"), k2.layers.GRU(H, return_sequences=True)]
    out["keras"] = keras_save(k2.Sequential(seq2), "reset_after.keras")
    out["h5"] = keras_save(k2.Sequential([k2.Input((None, I), name="x"), k2.layers.GRU(H, return_sequences=True)]),
                           "reset_after.h5")
    out["dense"] = keras_save(k2.Sequential([k2.Input((None, I), name="x"), k2.layers.Dense(H)]), "dense.keras")
    # Lambda layers whose code creates a marker file when Keras rebuilds the model on loading
    out["lambda_marker"] = folder.parent / f"{folder.name}-lambda-ran"
    code = f"lambda t: (open({str(out['lambda_marker'])!r}, 'w').close(), t)[1]"
    out["lambda_keras"] = keras_save(
        k3.Sequential([k3.Input((None, I), name="x"), k3.layers.GRU(H, return_sequences=True),
                       k3.layers.Lambda(eval(code))]), "lambda.keras")  # noqa: S307 - the hostile payload
    out["lambda_h5"] = keras_save(
        k2.Sequential([k2.Input((None, I), name="x"), k2.layers.GRU(H, return_sequences=True),
                       k2.layers.Lambda(eval(code))]), "lambda.h5")  # noqa: S307
    out["lambda_marker"].unlink(missing_ok=True)  # building the models ran the lambda; loading must not
    return out


HASHED = 64 << 20  # bytes: a longer file (the 4 GiB sparse external data) is known by its size, mtime and ends


def _fingerprint(p: Path) -> str:
    st = p.stat()
    if st.st_size <= HASHED:
        return hashlib.sha1(p.read_bytes()).hexdigest()
    with p.open("rb") as f:
        head = f.read(1 << 20)
        f.seek(-(1 << 20), os.SEEK_END)
        tail = f.read()
    return f"{st.st_size}:{st.st_mtime_ns}:{hashlib.sha1(head + tail).hexdigest()}"


def snapshot(folders: Iterable[Path]) -> dict[str, str]:
    """Every file under ``folders`` with a hash of its bytes: equal snapshots mean nothing was written."""
    out = {}
    for folder in folders:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[str(p)] = _fingerprint(p)
            elif p.is_symlink() or p.is_dir():
                out[str(p)] = "link" if p.is_symlink() else "dir"
    return out


@pytest.fixture
def refused(capsys: pytest.CaptureFixture) -> Callable[..., str]:
    """Run ``onnxgru ARGV``; assert exit 2, one plain sentence, no traceback, nothing printed or written, no code run.
    Returns the sentence."""
    from onnxgru.cli import main

    def run(argv: list, says: str | tuple[str, ...], watch: Iterable[Path], markers: Iterable[Path] = ()) -> str:
        watch, markers = list(watch), list(markers)
        before = snapshot(watch)
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2, f"exit {code}: {err or out[-2000:]}"
        assert len(lines) == 1 and lines[0].startswith("onnxgru: error: ") and "Traceback" not in err, err
        assert lines[0].endswith("."), lines[0]
        words = (says,) if isinstance(says, str) else says
        assert any(w.lower() in lines[0].lower() for w in words), f"{lines[0]!r} says none of {words}"
        assert out == "", "a refused request prints no report"
        assert snapshot(watch) == before, "nothing may be written"
        for m in markers:
            assert not Path(m).exists(), f"code from a model file ran: {m} was created"
        return lines[0]

    return run


@pytest.fixture(scope="session")
def tf_hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("tf_keras")
    return hostile.tf_files(tmp_path_factory.mktemp("hostile_tf"))


@pytest.fixture(scope="session")
def torch_hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    return hostile.torch_files(tmp_path_factory.mktemp("hostile_torch"))


@pytest.fixture(scope="session")
def onnx_hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hostile.onnx_files(tmp_path_factory.mktemp("hostile_onnx"))


@pytest.fixture(scope="session")
def onnx_bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hostile.onnx_bombs(tmp_path_factory.mktemp("onnx_bombs"))


@pytest.fixture(scope="session")
def tf_relay(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("tensorflow")
    return hostile.relay_files(tmp_path_factory.mktemp("hostile_relay"))
