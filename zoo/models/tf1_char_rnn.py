"""A Tang-poem character RNN (jinfagang/tensorflow_poems lineage): Embedding -> MultiRNNCell of 2 GRUCells -> softmax.

Rebuilt from the architecture of liyaguo6/ML, ``_Rnn_poems/models/model.py`` (``rnn_model``) and
``_Rnn_poems/inference/tang_poems.py`` (``gen_poem``), with ``model='gru'``: ``cell = GRUCell(128)`` and
``MultiRNNCell([cell] * 2, state_is_tuple=True)`` (the same cell object twice, so both layers share one set of
weights, as TF 1.x warns), ``zero_state(1)`` as the initial state, an embedding ``tf.Variable`` of
``[vocab_size + 1, 128]`` initialised uniform in [-1, 1], ``tf.nn.dynamic_rnn`` (TF1: control flow v1), the outputs
reshaped to ``[-1, 128]``, ``bias_add(matmul(output, weights [128, vocab_size + 1]), bias)`` and ``softmax`` as the
prediction. ``gen_poem`` builds this graph with ``input_data = tf.placeholder(tf.int32, [1, None])`` (batch fixed at
one) and fetches ``prediction`` and ``last_state``; here that graph is frozen on both with
``convert_variables_to_constants``. The vocabulary is the poem corpus's distinct characters (about 6,000 for the
Tang poems file; 6,000 here, plus the padding row). Seeded random weights.

The owner's PyTorch port: ``nn.Embedding``, ``nn.GRU(128, 128, num_layers=2, batch_first=True)`` with the shared TF
weights copied into both layers (TF's ``[r|u]`` gates and candidate reordered into torch's ``[r|z|n]``, the gate and
candidate biases into ``bias_ih``, ``bias_hh`` zero), ``nn.Linear`` and softmax, saved as TorchScript. TF's GRUCell
resets before the recurrent matmul and ``nn.GRU`` after, so the port is wrong by nature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import glorot

LEGACY_KERAS = True
VOCAB, RNN_SIZE, NUM_LAYERS = 6000, 128, 2


def build(out: Path) -> list[Run]:
    import tensorflow as tf

    import torch

    v1 = tf.compat.v1
    v1.disable_control_flow_v2()  # a TF1 session's while loop (Enter/Exit/NextIteration), as the owner froze it
    rng = np.random.default_rng(618)
    graph = tf.Graph()
    with graph.as_default():
        input_data = v1.placeholder(tf.int32, [1, None])
        cell = v1.nn.rnn_cell.GRUCell(RNN_SIZE)
        cell = v1.nn.rnn_cell.MultiRNNCell([cell] * NUM_LAYERS, state_is_tuple=True)
        initial_state = cell.zero_state(1, tf.float32)
        embedding = tf.Variable(tf.random.uniform([VOCAB + 1, RNN_SIZE], -1.0, 1.0))
        inputs = tf.nn.embedding_lookup(embedding, input_data)
        outputs, last_state = v1.nn.dynamic_rnn(cell, inputs, initial_state=initial_state)
        output = tf.reshape(outputs, [-1, RNN_SIZE])
        weights = tf.Variable(tf.random.truncated_normal([RNN_SIZE, VOCAB + 1]))
        bias = tf.Variable(tf.zeros([VOCAB + 1]))
        prediction = tf.nn.softmax(tf.nn.bias_add(tf.matmul(output, weights), bias=bias))
        names = [prediction.op.name, *(s.op.name for s in last_state)]
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            values = {}
            for var in v1.global_variables():
                shape = tuple(var.shape.as_list())
                if var is embedding:
                    value = rng.uniform(-1.0, 1.0, shape).astype(np.float32)  # the owner's initialiser
                elif len(shape) >= 2:
                    value = glorot(rng, shape)
                else:
                    value = rng.normal(0, 0.2, shape).astype(np.float32)
                var.load(value, sess)
                values[var.op.name.split("/", 1)[-1] if "gru_cell" in var.op.name else var.op.name] = value
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), names)
    (out / "poems.pb").write_bytes(frozen.SerializeToString(deterministic=True))

    cell_vars = {k.split("gru_cell/")[-1]: v for k, v in values.items() if "gru_cell/" in k}
    gk, gb = cell_vars["gates/kernel"], cell_vars["gates/bias"]
    ck, cb = cell_vars["candidate/kernel"], cell_vars["candidate/bias"]
    r_k, u_k = gk[:, :RNN_SIZE], gk[:, RNN_SIZE:]
    w_ih = np.concatenate([r_k[:RNN_SIZE].T, u_k[:RNN_SIZE].T, ck[:RNN_SIZE].T])
    w_hh = np.concatenate([r_k[RNN_SIZE:].T, u_k[RNN_SIZE:].T, ck[RNN_SIZE:].T])
    b_ih = np.concatenate([gb[:RNN_SIZE], gb[RNN_SIZE:], cb])

    class PoemRNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB + 1, RNN_SIZE)
            self.gru = torch.nn.GRU(RNN_SIZE, RNN_SIZE, num_layers=NUM_LAYERS, batch_first=True)
            self.fc = torch.nn.Linear(RNN_SIZE, VOCAB + 1)
            self.size = RNN_SIZE

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            states, _ = self.gru(self.embedding(ids))
            return torch.softmax(self.fc(states.reshape(-1, self.size)), dim=-1)

    port = PoemRNN().eval()
    with torch.no_grad():
        port.embedding.weight.copy_(torch.from_numpy(values["Variable"]))
        for layer in range(NUM_LAYERS):  # one GRUCell object, so one set of weights for both layers
            getattr(port.gru, f"weight_ih_l{layer}").copy_(torch.from_numpy(w_ih.copy()))
            getattr(port.gru, f"weight_hh_l{layer}").copy_(torch.from_numpy(w_hh.copy()))
            getattr(port.gru, f"bias_ih_l{layer}").copy_(torch.from_numpy(b_ih.copy()))
            getattr(port.gru, f"bias_hh_l{layer}").zero_()
        port.fc.weight.copy_(torch.from_numpy(values["Variable_1"].T.copy()))
        port.fc.bias.copy_(torch.from_numpy(values["Variable_2"]))
    torch.jit.save(torch.jit.script(port), str(out / "naive_port.pt"))
    return [
        Run(("inspect", "poems.pb"), 0, "two reset-before GRU layers sharing one set of weights", fast=True),
        Run(("check", "--tf", "poems.pb"), 0, "ids in the 6,001-row embedding, the batch fixed at one"),
        Run(("check", "--tf", "poems.pb", "--torch", "naive_port.pt"), 1,
            "nn.GRU resets after the recurrent matmul: no weight copy makes it TF's GRUCell"),
        Run(("export", "tf", "poems.pb", "-o", "poems.onnx"), 0, "two fused GRU nodes with the same weights",
            writes="poems.onnx"),
        Run(("convert", "poems.pb", "-o", "exact.pt"), 0, "the tied 2-layer stack as an exact PyTorch module",
            writes="exact.pt"),
    ]
