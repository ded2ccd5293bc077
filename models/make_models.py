"""Regenerate the bundled example: the blog's TF1 GRUCell, its naive nn.GRU port, the exact port, zero weights; and
the same mistake inside a real model: a Keras tagger and its naive and exact PyTorch ports.

    python models/make_models.py          # writes the files next to this script, deterministically

The blog (see the project's reference notes) ported ``tf.compat.v1.nn.dynamic_rnn`` over a ``GRUCell`` (5 features,
5 units) to ``torch.nn.GRU`` and "checked" it with every weight zero. Here the TF cell gets realistic weights
(Glorot-uniform kernels, small biases, seeded), the naive port copies them into ``nn.GRU`` with the gate order
fixed (exactly what a careful porter would do, and still wrong: the reset gate sits elsewhere), and the exact port
is what ``onnxgru convert`` writes. The bundled graphs are float32: the blog's float64 is a separate trap
(ONNX Runtime's CPU GRU has no float64 kernel), covered by the tests.

The second story is the same port inside a model people ship: a Keras tagger (token ids -> Embedding -> GRU with
``reset_after=False`` -> Dense per step), ported by hand to Embedding -> ``nn.GRU`` -> Linear with every weight
copied and the gates reordered correctly (still the other GRU family), and to Embedding -> onnxgru's exact GRU ->
Linear. Both ports are TorchScript, as people save them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
INPUT, UNITS = 5, 5
SEED = 20200813  # the blog's publication date


def realistic_weights(seed: int, input_size: int = INPUT, units: int = UNITS) -> dict[str, np.ndarray]:
    """TF1 GRUCell variables as training would leave them: Glorot-uniform kernels and small biases."""
    rng = np.random.default_rng(seed)

    def glorot(shape: tuple[int, int]) -> np.ndarray:
        limit = np.sqrt(6.0 / sum(shape))
        return rng.uniform(-limit, limit, shape).astype(np.float32)

    return {
        "gates/kernel": glorot((input_size + units, 2 * units)),
        "gates/bias": (1.0 + rng.normal(0, 0.2, 2 * units)).astype(np.float32),  # GRUCell starts its gate bias at 1
        "candidate/kernel": glorot((input_size + units, units)),
        "candidate/bias": rng.normal(0, 0.2, units).astype(np.float32),
    }


def write_tf1_graph(weights: dict[str, np.ndarray], path: Path) -> None:
    """A frozen GraphDef of ``dynamic_rnn(GRUCell)``: inputs ``x`` (batch, steps, I) and ``h0`` (batch, H),
    outputs ``outputs`` (batch, steps, H) and ``state`` (batch, H); I and H come from the weights."""
    units = weights["candidate/kernel"].shape[1]
    input_size = weights["candidate/kernel"].shape[0] - units
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    v1 = tf.compat.v1
    v1.disable_control_flow_v2()  # a TF1 session's graph: Enter/Exit/NextIteration, as TF1 users froze them
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, None, input_size], name="x")
        h0 = v1.placeholder(tf.float32, [None, units], name="h0")
        cell = v1.nn.rnn_cell.GRUCell(units, name="gru_cell")
        outputs, state = v1.nn.dynamic_rnn(cell, x, initial_state=h0)
        tf.identity(outputs, name="outputs")
        tf.identity(state, name="state")
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for var in cell.variables:
                key = "/".join(var.op.name.split("/")[-2:])
                var.load(weights[key], sess)
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), ["outputs", "state"])
    path.write_bytes(frozen.SerializeToString(deterministic=True))


def write_naive_port(weights: dict[str, np.ndarray], path: Path) -> None:
    """The blog's port, done carefully: TF's [r|u] gates and candidate copied into nn.GRU's [r|z|n] rows."""
    import torch

    gk, gb = weights["gates/kernel"], weights["gates/bias"]
    ck, cb = weights["candidate/kernel"], weights["candidate/bias"]
    r_k, u_k = gk[:, :UNITS], gk[:, UNITS:]
    weight_ih = np.concatenate([r_k[:INPUT].T, u_k[:INPUT].T, ck[:INPUT].T])
    weight_hh = np.concatenate([r_k[INPUT:].T, u_k[INPUT:].T, ck[INPUT:].T])
    bias_ih = np.concatenate([gb[:UNITS], gb[UNITS:], cb])
    state = {
        "weight_ih_l0": torch.from_numpy(weight_ih.copy()),
        "weight_hh_l0": torch.from_numpy(weight_hh.copy()),
        "bias_ih_l0": torch.from_numpy(bias_ih.copy()),
        "bias_hh_l0": torch.zeros(3 * UNITS),
    }
    torch.save(state, path)


TAG_VOCAB, TAG_EMBED, TAG_UNITS, TAGS = 40, 8, 6, 4


def write_tagger(path: Path, seed: int) -> dict[str, np.ndarray]:
    """The Keras tagger with realistic weights; returns them (embedding, kernel, recurrent, bias, dense, its bias)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow  # noqa: F401 - tf_keras needs it imported first
    import tf_keras as keras

    rng = np.random.default_rng(seed)
    ids = keras.Input((None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(TAG_VOCAB, TAG_EMBED, name="embedding")(ids)
    x = keras.layers.GRU(TAG_UNITS, return_sequences=True, reset_after=False, name="gru")(x)
    model = keras.Model(ids, keras.layers.Dense(TAGS, name="tags")(x), name="tagger")

    def glorot(shape: tuple[int, ...]) -> np.ndarray:
        limit = np.sqrt(6.0 / sum(shape[-2:]))
        return rng.uniform(-limit, limit, shape).astype(np.float32)

    weights = {
        "embedding": rng.normal(0, 0.6, (TAG_VOCAB, TAG_EMBED)).astype(np.float32),
        "kernel": glorot((TAG_EMBED, 3 * TAG_UNITS)),
        "recurrent": glorot((TAG_UNITS, 3 * TAG_UNITS)),
        "bias": rng.normal(0, 0.2, 3 * TAG_UNITS).astype(np.float32),
        "dense": glorot((TAG_UNITS, TAGS)),
        "dense_bias": rng.normal(0, 0.1, TAGS).astype(np.float32),
    }
    model.set_weights(list(weights.values()))
    model.save(str(path))
    return weights


def write_tagger_ports(weights: dict[str, np.ndarray], naive_path: Path, exact_path: Path) -> None:
    """The hand-written PyTorch ports of the tagger: nn.GRU with Keras's [z|r|h] reordered into torch's [r|z|n]
    (the careful port, still reset-after), and onnxgru's exact GRU (reset-before, the canonical weights). The sizes
    are the weights' own (the tests write ports of their own taggers with it)."""
    import torch
    from onnxgru.core import gatemaps
    from onnxgru.core.spec import GRUAttrs, GRULayer
    from onnxgru.frameworks.torch import build

    vocab, embed = weights["embedding"].shape
    units, tags = weights["dense"].shape

    class Tagger(torch.nn.Module):
        def __init__(self, gru: torch.nn.Module) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab, embed)
            self.gru = gru
            self.tags = torch.nn.Linear(units, tags)
            with torch.no_grad():
                self.embedding.weight.copy_(torch.from_numpy(weights["embedding"]))
                self.tags.weight.copy_(torch.from_numpy(weights["dense"].T.copy()))
                self.tags.bias.copy_(torch.from_numpy(weights["dense_bias"]))

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            states, _ = self.gru(self.embedding(ids))
            return self.tags(states)

    def rzn(a: np.ndarray) -> torch.Tensor:
        z, r, h = np.split(a, 3, axis=0)
        return torch.from_numpy(np.concatenate([r, z, h]).copy())

    naive = torch.nn.GRU(embed, units, batch_first=True)
    with torch.no_grad():
        naive.weight_ih_l0.copy_(rzn(weights["kernel"].T))
        naive.weight_hh_l0.copy_(rzn(weights["recurrent"].T))
        naive.bias_ih_l0.copy_(rzn(weights["bias"]))
        naive.bias_hh_l0.zero_()
    torch.jit.save(torch.jit.script(Tagger(naive).eval()), str(naive_path))
    W, R, B = gatemaps.keras_to_onnx(weights["kernel"], weights["recurrent"], weights["bias"])
    attrs = GRUAttrs(hidden_size=units, input_size=embed, linear_before_reset=0)
    exact = build.exact_stack([GRULayer("gru", attrs, W[None], R[None], B[None])], batch_first=True)
    torch.jit.save(torch.jit.script(Tagger(exact).eval()), str(exact_path))


def main() -> None:
    weights = realistic_weights(SEED)
    zeros = {k: np.zeros_like(v) for k, v in weights.items()}
    write_tf1_graph(weights, HERE / "blog_gru_cell.pb")
    write_tf1_graph(zeros, HERE / "blog_zero_gru_cell.pb")
    write_naive_port(weights, HERE / "blog_naive_port.pt")
    write_naive_port(zeros, HERE / "blog_zero_naive_port.pt")
    exact = HERE / "blog_exact_port.pt"
    subprocess.run(
        [sys.executable, "-m", "onnxgru", "convert", str(HERE / "blog_gru_cell.pb"), "-o", str(exact), "--force"],
        check=True,
    )
    tagger = write_tagger(HERE / "tagger.keras", SEED + 1)
    write_tagger_ports(tagger, HERE / "tagger_naive_port.pt", HERE / "tagger_exact_port.pt")
    for name in sorted(p.name for p in HERE.iterdir() if p.suffix in (".pb", ".pt", ".keras")):
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
