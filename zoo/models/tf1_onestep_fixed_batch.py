"""One TF1 GRUCell step on a fixed batch: ``output, state = GRUCell(100)(inputs, previous_state)``, checkpointed.

Rebuilt from madeibao/PythonAlgorithm, ``PartC/tf_BasicGRUShape.py``: ``batch_size = 10``, ``depth = 128``,
``output_dim = 100``, ``inputs`` ``(10, 128)`` and ``previous_state`` ``(10, 100)``, ``tf.nn.rnn_cell.GRUCell(100)``
called once (its output and new state are the same tensor, ``gru_cell/add:0``, as the script prints). The script
holds the step's input and previous state in ``tf.Variable``s; a step that is run as a decoder step is fed both, so
here they are placeholders of the script's shapes (the batch fixed at 10, the state fed). Saved the TF1 way with
``tf.compat.v1.train.Saver`` (``gru_step`` prefix, ``.index``, ``.data-*`` and ``.meta``). Seeded random weights.

The owner's PyTorch port: ``torch.nn.GRUCell(128, 100)`` with TF's ``[r|u]`` gate kernel and the candidate kernel
split into input and recurrent halves and reordered into torch's ``[r|z|n]`` rows, the biases into ``bias_ih`` and
``bias_hh`` zero, saved as TorchScript. ``nn.GRUCell`` resets after the recurrent matmul, TF's GRUCell before, so the
port is wrong by nature (one step is enough to show it with a non-zero state).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import glorot

LEGACY_KERAS = True
BATCH, DEPTH, UNITS = 10, 128, 100


def build(out: Path) -> list[Run]:
    import tensorflow as tf

    import torch

    v1 = tf.compat.v1
    rng = np.random.default_rng(10)
    graph = tf.Graph()
    with graph.as_default():
        inputs = v1.placeholder(tf.float32, [BATCH, DEPTH], name="inputs")
        previous_state = v1.placeholder(tf.float32, [BATCH, UNITS], name="previous_state")
        cell = v1.nn.rnn_cell.GRUCell(UNITS)
        cell(inputs, previous_state)
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            values = {}
            for var in v1.global_variables():
                shape = tuple(var.shape.as_list())
                value = glorot(rng, shape) if len(shape) >= 2 else rng.normal(0, 0.2, shape).astype(np.float32)
                var.load(value, sess)
                values["/".join(var.op.name.split("/")[-2:])] = value
            saver.save(sess, str(out / "gru_step"))

    gk, gb = values["gates/kernel"], values["gates/bias"]
    ck, cb = values["candidate/kernel"], values["candidate/bias"]
    r_k, u_k = gk[:, :UNITS], gk[:, UNITS:]
    port = torch.nn.GRUCell(DEPTH, UNITS).eval()
    with torch.no_grad():
        port.weight_ih.copy_(torch.from_numpy(np.concatenate([r_k[:DEPTH].T, u_k[:DEPTH].T, ck[:DEPTH].T])))
        port.weight_hh.copy_(torch.from_numpy(np.concatenate([r_k[DEPTH:].T, u_k[DEPTH:].T, ck[DEPTH:].T])))
        port.bias_ih.copy_(torch.from_numpy(np.concatenate([gb[:UNITS], gb[UNITS:], cb])))
        port.bias_hh.zero_()
    torch.jit.save(torch.jit.script(port), str(out / "naive_port.pt"))
    return [
        Run(("inspect", "gru_step"), 0, "one reset-before GRU cell, called once", fast=True),
        Run(("check", "--tf", "gru_step"), 0, "the checkpoint's batch of 10 and its fed state"),
        Run(("check", "--tf", "gru_step", "--torch", "naive_port.pt"), 1,
            "nn.GRUCell resets after the recurrent matmul: wrong from the first step with a non-zero state"),
        Run(("export", "tf", "gru_step", "-o", "gru_step.onnx"), 0, "the step exported with its state as an input",
            writes="gru_step.onnx"),
        Run(("convert", "gru_step", "-o", "exact.pt"), 0, "the cell as an exact PyTorch module", writes="exact.pt"),
    ]
