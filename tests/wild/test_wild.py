"""Shapes models take in the wild (issue 18), each as its owner writes it, with non-degenerate weights: the truth
invariants hold on every one (never a pass on nothing, exit 0 only with the file written, nothing given baked in,
a model that raises on its inputs is the user's exit 2, never exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ..builders import tf1_graph, tf_module
from ..whole.conftest import run

pytestmark = [pytest.mark.slow]


def onnx_inputs(path: Path) -> dict[str, list]:
    import onnx

    m = onnx.load(str(path))
    init = {t.name for t in m.graph.initializer}
    return {i.name: [d.dim_value or d.dim_param or None for d in i.type.tensor_type.shape.dim]
            for i in m.graph.input if i.name not in init}


@pytest.fixture(scope="module")
def tf1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tf = tf_module()
    v1 = tf.compat.v1
    folder = tmp_path_factory.mktemp("wild_tf1")
    rng = np.random.default_rng(18)
    out = {}

    def one_step() -> None:  # a decoder step: one GRUCell call, batch fixed at 50, the state fed
        x = v1.placeholder(tf.float32, [50, 16], name="x")
        h = v1.placeholder(tf.float32, [50, 32], name="h")
        _, new = v1.nn.rnn_cell.GRUCell(32, name="cell")(x, h)
        tf.identity(new, name="new_h")

    def unshaped() -> None:  # MNIST as rows: the image placeholder has no shape, a Reshape fixes it
        X = v1.placeholder(tf.float32, None, name="X")
        _, state = v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(12, name="cell"), tf.reshape(X, [-1, 28, 28]),
                                     dtype=tf.float32)
        tf.identity(tf.matmul(state, tf.ones([12, 10]) * 0.1), name="logits")

    def dropout_wrapped() -> None:  # the commonest TF1 pattern: a GRUCell in a DropoutWrapper, keep_prob fed
        x = v1.placeholder(tf.float32, [None, None, 6], name="x")
        keep = v1.placeholder(tf.float32, [], name="keep_prob")
        cell = v1.nn.rnn_cell.DropoutWrapper(v1.nn.rnn_cell.GRUCell(9, name="cell"), output_keep_prob=keep)
        outputs, state = v1.nn.dynamic_rnn(cell, x, dtype=tf.float32)
        tf.identity(outputs, name="output")
        tf.identity(state, name="state")

    def tied() -> None:  # MultiRNNCell([cell] * 2): one cell object stacked twice, its weights shared
        x = v1.placeholder(tf.float32, [None, None, 8], name="x")
        cell = v1.nn.rnn_cell.GRUCell(8, name="cell")
        outputs, state = v1.nn.dynamic_rnn(v1.nn.rnn_cell.MultiRNNCell([cell] * 2), x, dtype=tf.float32)
        tf.identity(outputs, name="output")
        tf.identity(state[-1], name="state")

    def with_lengths() -> None:  # ids through an embedding, then a bidirectional_dynamic_rnn given the lengths
        ids = v1.placeholder(tf.int32, [None, None], name="ids")
        lens = v1.placeholder(tf.int32, [None], name="lens")
        x = tf.nn.embedding_lookup(v1.get_variable("embedding", [50, 6]), ids)
        cell = v1.nn.rnn_cell.GRUCell
        (fw, bw), _ = v1.nn.bidirectional_dynamic_rnn(cell(7, name="fw"), cell(7, name="bw"), x,
                                                      sequence_length=lens, dtype=tf.float32)
        tf.identity(tf.concat([fw, bw], 2), name="output")

    def shakespeare() -> None:  # uint8 ids one-hot, DropoutWrapper'd cells in a MultiRNNCell, one concatenated state
        pkeep = v1.placeholder(tf.float32, name="pkeep")
        X = v1.placeholder(tf.uint8, [None, None], name="X")
        Hin = v1.placeholder(tf.float32, [None, 8 * 3], name="Hin")
        cells = [v1.nn.rnn_cell.DropoutWrapper(v1.nn.rnn_cell.GRUCell(8), input_keep_prob=pkeep) for _ in range(3)]
        multi = v1.nn.rnn_cell.DropoutWrapper(v1.nn.rnn_cell.MultiRNNCell(cells, state_is_tuple=False),
                                              output_keep_prob=pkeep)
        Yr, H = v1.nn.dynamic_rnn(multi, tf.one_hot(X, 11, 1.0, 0.0), dtype=tf.float32, initial_state=Hin)
        tf.identity(H, name="H")
        tf.identity(tf.reshape(Yr, [-1, 8]), name="Y")

    out["tied"] = tf1_graph(tf, folder, "tied", tied, rng)
    out["shakespeare"] = tf1_graph(tf, folder, "shakespeare", shakespeare, rng, v2=True, outputs=("Y", "H"))
    out["lengths"] = tf1_graph(tf, folder, "lengths", with_lengths, rng, outputs=("output",))
    np.save(folder / "lens.npy", np.array([9, 4, 2], np.int32))
    out["lens"] = folder / "lens.npy"
    for flow in ("v1", "v2"):  # TF1 sessions' loops, and what tf.compat.v1 code frozen under TF 2.x gets
        out[f"dropout_{flow}"] = tf1_graph(tf, folder, f"dropout_{flow}", dropout_wrapped, rng, v2=flow == "v2")
    out["one_step"] = tf1_graph(tf, folder, "one_step", one_step, rng, outputs=("new_h",))
    out["unshaped"] = tf1_graph(tf, folder, "unshaped", unshaped, rng, outputs=("logits",))
    np.save(folder / "images.npy", rng.uniform(-1, 1, (4, 784)).astype(np.float32))
    out["images"] = folder / "images.npy"
    return out


@pytest.mark.tf
def test_one_step_cell_is_checked_and_exported_not_passed_on_nothing(tf1, tmp_path: Path, capsys) -> None:
    """A GRUCell called once with a fixed batch of 50 and a fed state: before, tf2onnx's candidates had no value for
    the state, check passed with no export run and export said PASS without writing. Now the export keeps the
    source's interface (the state is a state), the batch is the graph's 50, and the file is written."""
    code, rep, err = run(["check", "--tf", tf1["one_step"], "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 0, err
    assert rep["inputs"]["batch"] == 50 and rep["pairs"] and all(p["passed"] for p in rep["pairs"])
    assert any(r["model"].startswith("export(") and r["status"] == "ok" for r in rep["runtimes"])
    out = tmp_path / "step.onnx"
    code, rep, err = run(["export", "tf", tf1["one_step"], "-o", out, "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 0 and out.is_file() and rep["export"]["written"], err
    assert set(onnx_inputs(out)) == {"x", "h"}
    assert any(f["code"] == "GRU005" for f in rep["findings"])  # the plain graph, said


@pytest.mark.tf
def test_an_export_that_cannot_be_made_fails_check_and_export(tf1, tmp_path: Path, capsys, monkeypatch) -> None:
    """The invariant itself: when no export can be made, check is not a pass and export does not exit 0."""
    from onnxgru.frameworks.tf import export as tf_export

    monkeypatch.setattr(tf_export, "_candidates", lambda *a, **k: iter(()))
    code, rep, _ = run(["check", "--tf", tf1["one_step"], "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 1 and rep["verdict"] == "fail"
    assert any(f["code"] == "GRU011" and f["severity"] == "error" for f in rep["findings"])
    out = tmp_path / "never.onnx"
    code, rep, _ = run(["export", "tf", tf1["one_step"], "-o", out, "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 1 and not out.exists() and rep["export"]["written"] is False
    capsys.readouterr()
    from onnxgru.cli import main

    assert main(["export", "tf", str(tf1["one_step"]), "-o", str(out), "--runtimes", "onnxruntime"]) == 1
    assert f"not written: {out}" in capsys.readouterr().out


@pytest.mark.tf
def test_a_given_data_input_is_never_baked(tf1, tmp_path: Path, capsys) -> None:
    """``--input X=images.npy`` verifies with the images; the ONNX keeps X as an input with a free batch axis. An
    unshaped X takes the shape its Reshape fixes when nothing is given."""
    out = tmp_path / "mnist.onnx"
    argv = ["export", "tf", tf1["unshaped"], "-o", out, "--input", f"X={tf1['images']}", "--runtimes", "onnxruntime"]
    code, rep, err = run(argv, tmp_path, capsys)
    assert code == 0 and out.is_file(), err
    dims = onnx_inputs(out)["X"]
    assert len(dims) == 2 and not isinstance(dims[0], int) and dims[1] == 784
    assert "X = array (4, 784) (given)" in rep["inputs"]["how"]
    code, rep, err = run(["check", "--tf", tf1["unshaped"], "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 0, err
    sig = rep["models"][0]["signature"]["inputs"][0]
    assert sig["role"] == "data" and sig["shape"] == [None, 784] and "Reshape" in sig["note"]


@pytest.mark.torch
def test_a_model_that_raises_on_its_inputs_is_exit_2_with_the_shapes(tmp_path: Path, capsys) -> None:
    """A traced decoder whose view bakes batch 2: onnxgru's generated batch of 3 makes it raise. The user gets one
    sentence naming the model, the shapes given, what it said and the flags; never an internal error. --batch 2
    (what the sentence suggests) passes."""
    import torch

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(16, 16, batch_first=True)

        def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.gru(x.view(2, -1, 16), h)

    torch.manual_seed(18)
    path = tmp_path / "decoder.pt"
    torch.jit.save(torch.jit.trace(Decoder().eval(), (torch.rand(2, 5, 16), torch.rand(1, 2, 16))), str(path))
    from onnxgru.cli import main

    code = main(["check", "--torch", str(path), "--runtimes", "onnxruntime"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "decoder.pt" in err and "(3, 12, 16)" in err and "--batch" in err and "internal error" not in err
    assert main(["check", "--torch", str(path), "--runtimes", "onnxruntime", "--batch", "2"]) == 0


@pytest.mark.torch
def test_scripted_nn_gru_exports(tmp_path: Path, capsys) -> None:
    """``torch.jit.script(nn.GRU(...))``: its forward is an overload torch.onnx cannot call (exit 2 before); it is
    exported as the stack, one GRU node per layer."""
    import torch

    torch.manual_seed(18)
    path = tmp_path / "gru.pt"
    torch.jit.save(torch.jit.script(torch.nn.GRU(8, 16, num_layers=2, batch_first=True)), str(path))
    out = tmp_path / "gru.onnx"
    code, rep, err = run(["export", "torch", path, "-o", out, "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 0 and out.is_file(), err
    assert rep["export"]["gru_nodes"] == 2


@pytest.mark.tf
def test_training_only_keras_objects_do_not_block_inference(tmp_path: Path, capsys) -> None:
    """A Keras 2 .hdf5 with a custom weight constraint, a regulariser and a custom loss and metric: inference needs
    none of them and none of their code runs (the constraint's class is never looked up)."""
    tf = tf_module()
    import tf_keras as keras

    class UnitNorm(keras.constraints.Constraint):
        def __call__(self, w):  # noqa: ANN001, ANN204
            raise AssertionError("a constraint's code ran")

    def my_loss(y, p):  # noqa: ANN001, ANN202
        return tf.reduce_mean((y - p) ** 2)

    i = keras.Input((9, 6))
    x = keras.layers.GRU(7, kernel_constraint=UnitNorm(), kernel_regularizer=keras.regularizers.l2(1e-4))(i)
    model = keras.Model(i, keras.layers.Dense(1)(x))
    model.compile("adam", loss=my_loss, metrics=[my_loss])
    rng = np.random.default_rng(18)
    model.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype("float32") for w in model.get_weights()])
    path = tmp_path / "model.hdf5"
    model.save(str(path))
    assert "UnitNorm" in json.dumps(__import__("h5py").File(path, "r").attrs["model_config"])
    code, rep, err = run(["check", "--tf", path, "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 0 and rep["pairs"], err


@pytest.mark.tf
def test_keras3_sequential_ids_and_its_saved_model(tmp_path: Path, capsys) -> None:
    """The README's headline on Keras 3's own tutorial shape: ``Sequential([Embedding, GRU, Dense])`` built for
    ``(None, None)`` (a float32 input, as ``build`` makes it) and the SavedModel ``model.export()`` writes, beside
    a correct PyTorch port: ids drawn in the vocabulary, --steps honoured, the GRU tapped, a pass."""
    tf_module()
    import keras

    import torch

    model = keras.Sequential([keras.layers.Embedding(50, 8), keras.layers.GRU(6), keras.layers.Dense(1)])
    model.build((None, None))
    rng = np.random.default_rng(18)
    model.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype("float32") for w in model.get_weights()])
    model.save(tmp_path / "c.keras")
    model.export(str(tmp_path / "serving"), verbose=False)
    emb, k, r, b, d, db = (np.asarray(w) for w in model.get_weights())

    def rzn(a: np.ndarray) -> torch.Tensor:
        z, rr, h = np.split(a, 3, axis=-1)
        return torch.from_numpy(np.concatenate([rr, z, h], axis=-1).T.copy())

    class Port(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.gru, self.out = torch.nn.Embedding(50, 8), torch.nn.GRU(8, 6, batch_first=True), \
                torch.nn.Linear(6, 1)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.out(self.gru(self.emb(ids))[1][-1])

    port = Port().eval()
    with torch.no_grad():
        port.emb.weight.copy_(torch.from_numpy(emb))
        for name, value in (("weight_ih_l0", k), ("weight_hh_l0", r), ("bias_ih_l0", b[0]), ("bias_hh_l0", b[1])):
            getattr(port.gru, name).copy_(rzn(value))
        port.out.weight.copy_(torch.from_numpy(d.T.copy()))
        port.out.bias.copy_(torch.from_numpy(db))
    torch.jit.save(torch.jit.script(port), str(tmp_path / "port.pt"))
    for source in ("c.keras", "serving"):
        argv = ["check", "--tf", tmp_path / source, "--torch", tmp_path / "port.pt", "--steps", "30",
                "--runtimes", "onnxruntime"]
        code, rep, err = run(argv, tmp_path, capsys)
        assert code == 0, err
        assert rep["inputs"]["steps"] == 30 and "vocabulary" in rep["inputs"]["how"]
        assert all(p["passed"] for p in rep["pairs"]) and rep["pairs"]
    assert not any(f["code"] == "GRU011" for f in run(["inspect", tmp_path / "c.keras"], tmp_path, capsys)[1]
                   .get("findings", []))


def test_per_step_curve_of_a_time_major_output() -> None:
    """An ONNX GRU's ``Y`` is (steps, directions, batch, hidden): its per-step error curve has one value per step
    (before, one value: GRU010 could not say where the error starts)."""
    from onnxgru.core.model import Run
    from onnxgru.verify.pairs import pair_outputs

    rng = np.random.default_rng(18)
    y = rng.normal(size=(7, 1, 3, 4)).astype(np.float32)
    drift = y.copy()
    drift[4:] += 0.1
    paired = pair_outputs("a", Run({"Y": drift}), "b", Run({"Y": y}), lambda _: (1e-5, 1e-5), 7)
    curve = paired.pairs[0].per_step_max_abs
    assert len(curve) == 7 and max(curve[:4]) == 0 and min(curve[4:]) > 0.09


@pytest.mark.tf
@pytest.mark.parametrize("flow", ["v1", "v2"])
def test_dropout_wrapped_cell_in_either_control_flow(flow: str, tf1, tmp_path: Path, capsys) -> None:
    """A DropoutWrapper'd GRUCell under dynamic_rnn, frozen with v1 control flow and with TF 2.x's default (a
    ``While`` whose body is a function): tapped (no GRU011), exported fused and runnable in every runtime (the
    keep_prob the fused node no longer reads is not left as an input OpenVINO refuses), converted exactly."""
    import onnx

    src = tf1[f"dropout_{flow}"]
    graph_def = src.read_bytes()
    assert (b"While" in graph_def) == (flow == "v2")  # the op, not the scope name "while"
    code, rep, err = run(["check", "--tf", src, "--input", "keep_prob=1.0", "--runtimes", "onnxruntime,openvino-f32"],
                         tmp_path, capsys)
    assert code == 0, (err, [f["message"] for f in rep.get("findings", [])])
    assert not any(f["code"] == "GRU011" for f in rep["findings"])
    tapped = [c for c in rep["gru_checks"] if c["execution"] == f"tf:{src.name}"]
    assert tapped and all(c["passed"] for c in tapped)
    assert {r["runtime"]: r["status"] for r in rep["runtimes"]} == {"onnxruntime": "ok", "openvino-f32": "ok"}
    out = tmp_path / "e.onnx"
    code, rep, err = run(["export", "tf", src, "-o", out, "--input", "keep_prob=1.0", "--runtimes", "onnxruntime"],
                         tmp_path, capsys)
    assert code == 0 and out.is_file(), err
    assert [n.op_type for n in onnx.load(str(out)).graph.node].count("GRU") == 1
    code, rep, err = run(["convert", src, "-o", tmp_path / "exact.pt", "--input", "keep_prob=1.0"], tmp_path, capsys)
    assert code == 0 and (tmp_path / "exact.pt").is_file(), err


@pytest.mark.tf
@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.25])
def test_keras3_bidirectional_gru_exports_as_one_bidirectional_node(recurrent_dropout: float, tmp_path: Path,
                                                                    capsys) -> None:
    """A Keras 3 ``Bidirectional(GRU)`` is one bidirectional GRU node per layer, in every runtime. Both directions
    have a (2, 3H) bias of the same shape: the backward node once took the forward one's (off by about 0.6). With
    ``recurrent_dropout`` Keras 3 multiplies each gate's kernel slice separately, which once left the loops unfused
    (tract and the reference refuse them). Fed large inputs (as after convolutions), a correct float32 GRU also rounds
    beyond 1e-5: that is held to float32's own floor, not reported."""
    tf_module()
    import keras
    import onnx

    i = keras.Input((None, 40))
    x = i
    for _ in range(2):
        x = keras.layers.Bidirectional(keras.layers.GRU(16, return_sequences=True,
                                                        recurrent_dropout=recurrent_dropout))(x)
    model = keras.Model(i, keras.layers.Dense(3)(x))
    rng = np.random.default_rng(18)
    model.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype("float32") for w in model.get_weights()])
    model.save(tmp_path / "bi.keras")
    np.save(tmp_path / "x.npy", rng.uniform(-30, 30, (3, 12, 40)).astype(np.float32))
    out = tmp_path / "bi.onnx"
    argv = ["export", "tf", tmp_path / "bi.keras", "-o", out, "--input", f"input_layer={tmp_path / 'x.npy'}",
            "--runtimes", "onnxruntime,tract,reference"]
    code, rep, err = run(argv, tmp_path, capsys)
    assert code == 0 and out.is_file(), (err, [f["message"][:300] for f in rep.get("findings", [])])
    nodes = onnx.load(str(out)).graph.node
    grus = [n for n in nodes if n.op_type == "GRU"]
    assert not [n for n in nodes if n.op_type in ("Loop", "Scan")]
    assert [onnx.helper.get_attribute_value(a) for n in grus for a in n.attribute if a.name == "direction"] == [
        b"bidirectional"] * 2
    assert [r["status"] for r in rep["runtimes"]] == ["ok"] * 3
    checks = [c for c in rep["gru_checks"] if c["execution"].startswith("onnxruntime")]
    assert len(checks) == 2 and all(c["passed"] for c in checks)


def test_rounding_floor_follows_the_inputs_reach() -> None:
    """The tap check's floor: float32's rounding of the largest pre-activation (inputs of 30 reach far beyond 1e-5
    of rounding), not a fixed 1e-5; a wrong formula stays far beyond it."""
    from onnxgru.core import reference
    from onnxgru.core import taps as T
    from onnxgru.core.taps import Tap

    from ..conftest import random_layer

    rng = np.random.default_rng(18)
    layer = random_layer(rng, input_size=40, hidden=16, linear_before_reset=1)
    x = rng.uniform(-30, 30, (3, 12, 40)).astype(np.float32)
    h0 = rng.uniform(-0.9, 0.9, (1, 3, 16)).astype(np.float32)
    y, states = reference.run_layers([layer], x.astype(np.float64), [h0.astype(np.float64)], None)
    noisy = (y + 5e-5 * rng.choice([-1.0, 1.0], y.shape)).astype(np.float32)  # beyond 1e-5, within the floor
    flipped, _ = reference.run_layers([layer], x, [h0], None, flip_linear_before_reset=True)
    assert T.reach_of([layer], x) > 100
    ok = T.check("runtime", Tap(0, 1, x, (h0,), noisy, (None,), None, ""), [layer], 1e-5, 0.0)
    bad = T.check("runtime", Tap(0, 1, x, (h0,), flipped.astype(np.float32), (None,), None, ""), [layer], 1e-5, 0.0)
    floor = T._EPS32 * T._ROUNDING_MARGIN * T.reach_of([layer], x)
    assert ok.passed and ok.max_abs > 1e-5 and not bad.passed and bad.max_abs > 100 * floor


@pytest.mark.torch
@pytest.mark.runtime
def test_scripted_optional_state_exports_for_every_runtime(tmp_path: Path, capsys) -> None:
    """A scripted model taking ``h: Optional[Tensor] = None`` (a robotics repo's GRU wrapper): torch.onnx writes an
    optional-typed input behind OptionalHasElement/If, which only ONNX Runtime runs; the export writes it as the
    tensor it takes, its Ifs resolved, and OpenVINO runs it too."""
    from typing import Optional

    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(6, 8, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(8, 2)

        def forward(self, x: torch.Tensor, h: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: UP045
            y, state = self.gru(x, h)
            return torch.tanh(self.head(y)), state

    torch.manual_seed(18)
    path = tmp_path / "wrapper.pt"
    torch.jit.save(torch.jit.script(Wrapper().eval()), str(path))
    out = tmp_path / "wrapper.onnx"
    code, rep, err = run(["export", "torch", path, "-o", out, "--runtimes", "onnxruntime,openvino-f32"], tmp_path,
                         capsys)
    assert code == 0 and out.is_file(), (err, [f["message"][:200] for f in rep.get("findings", [])])
    assert {r["status"] for r in rep["runtimes"]} == {"ok"}
    import onnx

    assert all(i.type.WhichOneof("value") == "tensor_type" for i in onnx.load(str(out)).graph.input)


@pytest.mark.tf
@pytest.mark.torch
def test_a_cell_stacked_twice_is_two_layers_sharing_weights(tf1, tmp_path: Path, capsys) -> None:
    """``MultiRNNCell([cell] * 2)`` runs one cell object twice per step: two layers with one set of weights, each
    tapped at its own application in the loop (the second reads the first's new state), so check localises and
    convert verifies both; it once read as one layer and convert refused it."""
    code, rep, err = run(["inspect", tf1["tied"]], tmp_path, capsys)
    layers = rep["models"][0]["gru_layers"]
    assert code == 0 and [la["name"].endswith(" #2") for la in layers] == [False, True], (err, layers)
    assert not [f for f in rep["findings"] if f["code"] == "GRU011"]
    code, rep, err = run(["check", "--tf", tf1["tied"], "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 0 and rep["pairs"] and all(p["passed"] for p in rep["pairs"]), err
    assert len([c for c in rep["gru_checks"] if c["execution"].startswith("tf")]) >= 1
    out = tmp_path / "tied.pt"
    code, rep, err = run(["convert", tf1["tied"], "-o", out], tmp_path, capsys)
    assert code == 0 and out.is_file() and all(p["passed"] for p in rep["pairs"]), err


@pytest.mark.tf
@pytest.mark.torch
def test_convert_of_a_gru_that_reads_lengths_takes_them(tf1, tmp_path: Path, capsys) -> None:
    """Given lengths shorter than the sequence, the source's GRU stops each row early (the backward direction starts
    at each row's own end): the converted module is the exact GRU with a ``lengths`` argument, held against the
    source on those lengths. An nn.GRU (``--target nn.GRU``) takes none: its GRU010 says so (and no 1e307 relative
    error for the padded zeros)."""
    import torch

    out = tmp_path / "exact.pt"
    code, rep, err = run(["convert", tf1["lengths"], "-o", out, "--input", f"lens={tf1['lens']}", "--steps", "9"],
                         tmp_path, capsys)
    assert code == 0 and out.is_file() and rep["pairs"] and all(p["passed"] for p in rep["pairs"]), err
    # cells named fw and bw inside bidirectional_rnn/fw and /bw are still one bidirectional layer
    assert [la["direction"] for la in rep["models"][0]["gru_layers"]] == ["bidirectional"]
    module = torch.jit.load(str(out))
    (name,) = rep["convert"]["keys"]
    x = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, (3, 9, 6)).astype(np.float32))
    lens = torch.tensor(np.load(tf1["lens"]).astype(np.int64))
    short, _ = module(name, x, None, lens)
    full, _ = module(name, x, None)
    assert float(short[2, 2:].abs().max()) == 0.0 and float((short[2, :2] - full[2, :2]).abs().max()) > 1e-3
    gru_out = tmp_path / "nn_gru.pt"
    code, rep, err = run(["convert", tf1["lengths"], "-o", gru_out, "--input", f"lens={tf1['lens']}", "--steps", "9",
                          "--target", "nn.GRU"], tmp_path, capsys)
    gru010 = [f["message"] for f in rep["findings"] if f["code"] == "GRU010"]
    assert code == 1 and gru010 and "takes no lengths" in gru010[0], err
    assert all(p["max_rel"] < 1e6 for p in rep["pairs"])


@pytest.mark.tf
@pytest.mark.torch
def test_an_nn_grucell_port_of_a_one_step_cell_is_checked(tf1, tmp_path: Path, capsys) -> None:
    """The owner's port of a one-step TF1 GRUCell is a scripted ``nn.GRUCell``: a GRU layer of one step, read from
    its ``aten::gru_cell`` and tapped, so the reset-before/after difference is named (GRU001), not "no GRU" (exit
    2)."""
    import torch

    rng = np.random.default_rng(5)
    cell = torch.nn.GRUCell(16, 32)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.4, 0.4, tuple(p.shape)).astype(np.float32)))
    port = tmp_path / "cell.pt"
    torch.jit.save(torch.jit.script(cell.eval()), str(port))
    code, rep, err = run(["check", "--tf", tf1["one_step"], "--torch", port, "--runtimes", "onnxruntime"], tmp_path,
                         capsys)
    assert code == 1, err
    gru001 = [f for f in rep["findings"] if f["code"] == "GRU001"]
    assert gru001 and "torch:cell.pt" in gru001[0]["message"]
    torch_model = next(m for m in rep["models"] if m["role"] == "torch:cell.pt")
    assert [(la["hidden_size"], la["input_size"], la["linear_before_reset"]) for la in torch_model["gru_layers"]] == [
        (32, 16, 1)]
    assert any(p["a"] == "torch:cell.pt" for p in rep["pairs"]), "the port ran at the graph's fixed batch of 50"


@pytest.mark.tf
def test_a_multirnncell_in_a_v2_loop_exports_fused_once_its_dropout_is_frozen(tf1, tmp_path: Path, capsys) -> None:
    """martin-gorner's Shakespeare model as TF 2.x freezes it: three DropoutWrapper'd GRUCells in a MultiRNNCell with
    one concatenated state, inside a ``While``. With pkeep frozen at 1 the dropout in the loop body goes, and the loop
    becomes three GRU nodes that every runtime runs; with pkeep fed, the loop stays (and says so). Each cell's columns
    of the state are followed into the loop, so convert verifies each GRU on its own."""
    import onnx

    out = tmp_path / "fused.onnx"
    code, rep, err = run(["export", "tf", tf1["shakespeare"], "-o", out, "--freeze", "pkeep=1.0"], tmp_path, capsys)
    assert code == 0 and out.is_file(), (err, [f["message"][:200] for f in rep["findings"]])
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("GRU") == 3 and "Loop" not in ops and "RandomUniformLike" not in ops
    statuses = {r["runtime"]: r["status"] for r in rep["runtimes"]}  # OpenVINO's bf16 default may mismatch (GRU008)
    assert statuses.get("onnxruntime") == "ok" and all(v == "ok" for k, v in statuses.items() if k != "openvino")
    kept = tmp_path / "kept.onnx"
    code, rep, err = run(["export", "tf", tf1["shakespeare"], "-o", kept, "--input", "pkeep=1.0", "--runtimes",
                          "onnxruntime"], tmp_path, capsys)
    assert code == 0 and "Loop" in [n.op_type for n in onnx.load(str(kept)).graph.node], err
    assert any(f["code"] == "GRU005" for f in rep["findings"])
    # the cells' columns of the one state followed into the loop: each GRU tapped, and converted on its own
    exact = tmp_path / "exact.pt"
    code, rep, err = run(["convert", tf1["shakespeare"], "-o", exact, "--input", "pkeep=1.0"], tmp_path, capsys)
    assert code == 0 and exact.is_file(), (err, [f["message"][:200] for f in rep["findings"]])
    assert len(rep["pairs"]) == 4 and all(p["passed"] for p in rep["pairs"])  # the last output, three states
