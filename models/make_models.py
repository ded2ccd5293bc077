"""Regenerate the bundled example: the blog's TF1 GRUCell, its naive nn.GRU port, the exact port, zero weights.

    python models/make_models.py          # writes the files next to this script, deterministically

The blog (see the project's reference notes) ported ``tf.compat.v1.nn.dynamic_rnn`` over a ``GRUCell`` (5 features,
5 units) to ``torch.nn.GRU`` and "checked" it with every weight zero. Here the TF cell gets realistic weights
(Glorot-uniform kernels, small biases, seeded), the naive port copies them into ``nn.GRU`` with the gate order
fixed (exactly what a careful porter would do, and still wrong: the reset gate sits elsewhere), and the exact port
is what ``onnxgru convert`` writes. The bundled graphs are float32: the blog's float64 is a separate trap
(ONNX Runtime's CPU GRU has no float64 kernel), covered by the tests.
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
    for name in sorted(p.name for p in HERE.iterdir() if p.suffix in (".pb", ".pt")):
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
