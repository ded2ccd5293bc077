"""Models shaped the way people ship them, built once per session with non-degenerate weights: GRUs inside networks
(embeddings, convolutions, reshapes, dropout feeds, heads, integer ids, fixed shapes, a final-state-only output).

Each fixture returns paths. The sizes are small so the suite stays fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ..builders import tf1_graph, tf_module

VOCAB, EMB, H, CLASSES = 40, 6, 5, 3
ROOT = Path(__file__).resolve().parents[2]


def run(argv: list, tmp_path: Path, capsys: pytest.CaptureFixture) -> tuple[int, dict, str]:
    """The command line as a user runs it, with a JSON report: (exit code, report or {}, stderr)."""
    import json

    from onnxgru.cli import main

    report = tmp_path / f"r{len(list(tmp_path.iterdir()))}.json"
    code = main([str(a) for a in argv] + ["--json", str(report)])
    err = capsys.readouterr().err
    return code, (json.loads(report.read_text()) if report.exists() else {}), err


def _randomize_keras(model: object, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for w in model.weights:  # type: ignore[attr-defined]
        w.assign(rng.uniform(-0.6, 0.6, tuple(w.shape)).astype(np.float32))


@pytest.fixture(scope="session")
def keras_whole(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tf_module()
    import keras as k3
    import tf_keras as k2

    folder = tmp_path_factory.mktemp("keras_whole")
    out: dict[str, Path] = {}

    def text_classifier(K, name: str, seed: int) -> None:  # noqa: N803 - the Keras module
        ids = K.Input((None,), dtype="int32", name="ids")
        x = K.layers.Embedding(VOCAB, EMB, name="embedding")(ids)
        x = K.layers.GRU(8, return_sequences=True, reset_after=False, name="gru_a")(x)
        x = K.layers.GRU(4, name="gru_b")(x)
        model = K.Model(ids, K.layers.Dense(CLASSES, activation="softmax", name="head")(x))
        _randomize_keras(model, seed)
        model.save(str(folder / name))
        out[name] = folder / name

    text_classifier(k3, "text_classifier.keras", 1)
    text_classifier(k2, "text_classifier.h5", 1)

    K = k2
    x = K.Input((16, 4), name="x")  # a sensor model: fixed 16 steps of 4 channels
    y = K.layers.Conv1D(6, 3, padding="same", activation="relu", name="conv")(x)
    y = K.layers.GRU(H, name="gru")(y)
    model = K.Model(x, K.layers.Dense(2, name="head")(y))
    _randomize_keras(model, 2)
    model.save(str(folder / "sensor.keras"))
    out["sensor.keras"] = folder / "sensor.keras"

    x = K.Input((None, 5), name="x")
    y = K.layers.GRU(H, return_sequences=True, reset_after=False, name="gru")(x)
    model = K.Model(x, K.layers.Dense(2, name="head")(y))
    _randomize_keras(model, 3)
    model.save(str(folder / "gru_head.keras"))
    out["gru_head.keras"] = folder / "gru_head.keras"

    x = K.Input((None, 5), name="x")
    model = K.Model(x, K.layers.GRU(4, go_backwards=True, return_sequences=True, name="gru")(x))
    _randomize_keras(model, 4)
    model.save(str(folder / "backwards.keras"))
    out["backwards.keras"] = folder / "backwards.keras"

    # masking: id 0 is padding; the GRUs skip its steps (Keras repeats the last output there)
    ids = k3.Input((None,), dtype="int32", name="ids")
    y = k3.layers.Embedding(VOCAB, EMB, mask_zero=True, name="embedding")(ids)
    y = k3.layers.GRU(8, return_sequences=True, reset_after=False, name="gru_a")(y)
    y = k3.layers.Bidirectional(k3.layers.GRU(4, return_sequences=True, name="gru_b"), name="bi")(y)
    model = k3.Model(ids, k3.layers.Dense(CLASSES, name="head")(y))
    _randomize_keras(model, 5)
    model.save(str(folder / "masked.keras"))
    out["masked.keras"] = folder / "masked.keras"

    ids = K.Input((None,), dtype="int32", name="ids")
    y = K.layers.Embedding(VOCAB, EMB, mask_zero=True, name="embedding")(ids)
    y = K.layers.GRU(H, go_backwards=True, name="gru")(y)
    model = K.Model(ids, K.layers.Dense(CLASSES, name="head")(y))
    _randomize_keras(model, 6)
    model.save(str(folder / "masked_backwards.h5"))
    out["masked_backwards.h5"] = folder / "masked_backwards.h5"
    return out


def _make_models():  # noqa: ANN202 - the bundled example's script, as a module
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("make_models", ROOT / "models" / "make_models.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["make_models"] = module  # TorchScript reads its classes' source through it
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="session")
def tagger_ports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The seed blog's mistake inside a real model: a Keras tagger (ids -> Embedding -> reset-before GRU -> Dense per
    step) and two hand-written PyTorch ports: nn.GRU with the gates reordered correctly (still the other GRU
    family), and the exact GRU; both save as TorchScript."""
    tf_module()
    import tf_keras as k2

    folder = tmp_path_factory.mktemp("tagger")
    ids = k2.Input((None,), dtype="int32", name="ids")
    x = k2.layers.Embedding(VOCAB, EMB, name="embedding")(ids)
    x = k2.layers.GRU(H, return_sequences=True, reset_after=False, name="gru")(x)
    keras = k2.Model(ids, k2.layers.Dense(CLASSES, name="tags")(x))
    _randomize_keras(keras, 5)
    keras.save(str(folder / "tagger.keras"))
    ids = k2.Input((None,), dtype="int32", name="ids")  # the same tagger, id 0 its padding (mask_zero)
    x = k2.layers.Embedding(VOCAB, EMB, mask_zero=True, name="embedding")(ids)
    x = k2.layers.GRU(H, return_sequences=True, reset_after=False, name="gru")(x)
    masked = k2.Model(ids, k2.layers.Dense(CLASSES, name="tags")(x))
    masked.set_weights(keras.get_weights())
    masked.save(str(folder / "tagger_masked.keras"))
    names = ("embedding", "kernel", "recurrent", "bias", "dense", "dense_bias")  # keras.weights, in order
    # the ports as the bundled example writes them (models/make_models.py), of this tagger's weights
    _make_models().write_tagger_ports({k: w.numpy() for k, w in zip(names, keras.weights)},
                                      folder / "tagger_naive.pt", folder / "tagger_exact.pt")
    files = {"tagger": ".keras", "tagger_masked": ".keras", "tagger_naive": ".pt", "tagger_exact": ".pt"}
    return {k: folder / f"{k}{suffix}" for k, suffix in files.items()}


@pytest.fixture(scope="session")
def pixels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built the way tf2onnx's public GRU test model (tests/models/gru/frozen.pb) is: flat pixels [None, 784] ->
    reshape -> static_rnn GRUCell -> dropout(keep_prob) -> dense, frozen from a TF1 session."""
    tf = tf_module()

    v1 = tf.compat.v1

    def build() -> None:
        x = v1.placeholder(tf.float32, [None, 784], "x")
        keep = v1.placeholder(tf.float32, [], "keep_prob")
        seq = tf.unstack(tf.reshape(x, [-1, 28, 28]), 28, 1)
        outputs, _ = v1.nn.static_rnn(v1.nn.rnn_cell.GRUCell(8), seq, dtype=tf.float32)
        dropped = tf.nn.dropout(outputs[-1], rate=1.0 - keep)
        w = v1.get_variable("dense_w", [8, 10])
        tf.identity(tf.matmul(dropped, w), "logits")

    folder = tmp_path_factory.mktemp("pixels")
    return tf1_graph(tf, folder, "pixels", build, np.random.default_rng(6), outputs=("logits",))


@pytest.fixture(scope="session")
def torch_whole(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A PyTorch tagger (int64 ids -> Embedding -> 2-layer nn.GRU -> Linear on the last step), scripted, traced and
    as an ExportedProgram."""
    torch = pytest.importorskip("torch")
    import warnings

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, EMB)
            self.gru = torch.nn.GRU(EMB, 4, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(4, CLASSES)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            y, _ = self.gru(self.embedding(ids))
            return self.head(y[:, -1])

    torch.manual_seed(0)
    model = Classifier().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.6, 0.6)
    folder = tmp_path_factory.mktemp("torch_whole")
    example = torch.randint(0, VOCAB, (3, 7))
    torch.jit.save(torch.jit.script(model), folder / "scripted.pt")
    torch.jit.save(torch.jit.trace(model, example), folder / "traced.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(model, (example,)), folder / "program.pt2")
    return {"scripted": folder / "scripted.pt", "traced": folder / "traced.pt", "program": folder / "program.pt2"}


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bare stacks of two sizes (Keras 8 -> 4 with go_backwards and a state output; a time-major TF1 MultiRNNCell
    6 -> 3) and Keras models that are no chain (a skip connection, a layer called twice, masking)."""
    tf = tf_module()
    import tf_keras as K  # noqa: N812 - the Keras module

    folder = tmp_path_factory.mktemp("stacks")
    x = K.Input((None, 5), name="x")
    y = K.layers.GRU(8, return_sequences=True, reset_after=False, name="wide")(x)
    y, state = K.layers.GRU(4, return_sequences=True, return_state=True, go_backwards=True, name="narrow")(y)
    model = K.Model(x, [y, state])
    _randomize_keras(model, 7)
    model.save(str(folder / "stack.keras"))

    v1 = tf.compat.v1

    def multi() -> None:
        seq = v1.placeholder(tf.float32, [6, None, 5], "x")  # time-major, six steps
        cells = v1.nn.rnn_cell.MultiRNNCell([v1.nn.rnn_cell.GRUCell(6), v1.nn.rnn_cell.GRUCell(3)])
        o, s = v1.nn.dynamic_rnn(cells, seq, dtype=tf.float32, time_major=True)
        tf.identity(o, "output")
        tf.identity(s[0], "state_wide")
        tf.identity(s[1], "state_narrow")

    pb = tf1_graph(tf, folder, "multi", multi, np.random.default_rng(8),
                   outputs=("output", "state_wide", "state_narrow"))

    def classifier() -> None:  # ids -> embedding lookup -> MultiRNNCell 6 -> 3 -> dense on the last step
        ids = v1.placeholder(tf.int32, [None, None], "ids")
        x = tf.nn.embedding_lookup(v1.get_variable("table", [VOCAB, 5]), ids)
        cells = v1.nn.rnn_cell.MultiRNNCell([v1.nn.rnn_cell.GRUCell(6), v1.nn.rnn_cell.GRUCell(3)])
        o, _ = v1.nn.dynamic_rnn(cells, x, dtype=tf.float32)
        tf.identity(tf.matmul(o[:, -1], v1.get_variable("w", [3, 2])), "logits")

    tf1_graph(tf, folder, "multi_classifier", classifier, np.random.default_rng(13), outputs=("logits",))

    x = K.Input((None, 5), name="x")  # a skip connection: the GRU's input added to its output
    y = K.layers.Add(name="skip")([K.layers.GRU(5, return_sequences=True, reset_after=False, name="gru")(x), x])
    model = K.Model(x, K.layers.Dense(2, name="head")(y))
    _randomize_keras(model, 9)
    model.save(str(folder / "skip.keras"))

    x = K.Input((None, 5), name="x")  # one Dense layer called twice: its layers listed once are no chain
    shared = K.layers.Dense(5, name="shared")
    y = K.layers.GRU(5, return_sequences=True, reset_after=False, name="gru")(shared(x))
    model = K.Model(x, shared(y))
    _randomize_keras(model, 12)
    model.save(str(folder / "shared.keras"))

    ids = K.Input((None,), dtype="int32", name="ids")  # padded token ids, masked
    y = K.layers.Embedding(VOCAB, 4, mask_zero=True, name="embedding")(ids)
    model = K.Model(ids, K.layers.Dense(2, name="head")(K.layers.GRU(3, name="gru")(y)))
    _randomize_keras(model, 10)
    model.save(str(folder / "masked.keras"))
    return {"keras": folder / "stack.keras", "multi": pb, "multi_classifier": folder / "multi_classifier.pb",
            "skip": folder / "skip.keras",
            "shared": folder / "shared.keras", "masked": folder / "masked.keras"}
