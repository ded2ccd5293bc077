"""tf2onnx's own GRU test model: MNIST rows through a ``static_rnn`` GRUCell(128), dropout and a 10-way dense head.

Rebuilt from onnx/tensorflow-onnx, ``tests/models/gru/frozen.pb`` (run by ``tests/run_pretrained_models.yaml`` as
``benchtf-gru``: inputs ``X:0`` ``[1, 784]`` and ``keep_prob:0``, output ``output:0``), read node by node: ``X`` is a
float32 placeholder with no shape at all and ``keep_prob`` one of unknown rank; under the name scope ``model`` the
image is reshaped to ``[batch, 28, 28]`` (the batch from ``tf.shape(X)[0]``), unstacked into 28 steps of 28 pixels
and run through ``static_rnn`` over ``rnn/gru_cell`` (GRUCell(128): ``gates/kernel (156, 256)``,
``candidate/kernel (156, 128)``), zero initial state; the last output goes through ``tf.nn.dropout(keep_prob)``,
``MatMul`` with ``model/w1 (128, 10)`` and ``Add`` of ``model/b1`` (``model/pred``) into ``Identity`` ``output``.
Frozen the way the file was made: ``convert_variables_to_constants`` on ``output``. Seeded random weights. tf2onnx's
benchmark feeds ``keep_prob``, so the owner's commands give ``--input keep_prob=1.0`` (kept as an input, as the
file has it) or ``--freeze keep_prob=1.0`` (folded, for deployment).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import glorot

LEGACY_KERAS = True
ROWS, PIXELS, UNITS, CLASSES = 28, 28, 128, 10


def build(out: Path) -> list[Run]:
    import tensorflow as tf

    v1 = tf.compat.v1
    v1.disable_control_flow_v2()  # static_rnn has no loop; TF1 graphs as the 2018 file was written
    rng = np.random.default_rng(2018)
    graph = tf.Graph()
    with graph.as_default():
        X = v1.placeholder(tf.float32, None, name="X")  # no shape, as in the file
        keep_prob = v1.placeholder(tf.float32, None, name="keep_prob")
        with tf.name_scope("model"):
            w1 = tf.Variable(tf.zeros([UNITS, CLASSES]), name="w1")
            b1 = tf.Variable(tf.zeros([CLASSES]), name="b1")
            images = tf.reshape(X, tf.stack([tf.shape(X)[0], ROWS, PIXELS]))
            steps = tf.unstack(images, ROWS, axis=1)
            cell = v1.nn.rnn_cell.GRUCell(UNITS)
            outputs, _ = v1.nn.static_rnn(cell, steps, dtype=tf.float32)
            dropped = v1.nn.dropout(outputs[-1], keep_prob=keep_prob)
            pred = tf.add(tf.matmul(dropped, w1), b1, name="pred")
        tf.identity(pred, name="output")
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for var in v1.global_variables():
                shape = tuple(var.shape.as_list())
                var.load(glorot(rng, shape) if len(shape) >= 2 else rng.normal(0, 0.2, shape).astype(np.float32),
                         sess)
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), ["output"])
    (out / "frozen.pb").write_bytes(frozen.SerializeToString(deterministic=True))
    # what the benchmark feeds X with: flat images, pixel intensities in [0, 1]
    np.save(out / "images.npy", rng.uniform(0.0, 1.0, (3, ROWS * PIXELS)).astype(np.float32))
    return [
        Run(("inspect", "frozen.pb"), 0, "one reset-before GRU unrolled 28 times by static_rnn", fast=True),
        Run(("check", "--tf", "frozen.pb", "--input", "keep_prob=1.0"), 1,
            "keep_prob fed, so the export keeps the dropout's RandomUniformLike: tract refuses it, the message says "
            "--freeze"),
        Run(("check", "--tf", "frozen.pb", "--freeze", "keep_prob=1.0"), 0,
            "an unshaped X whose Reshape fixes 784 pixels; dropout folded away"),
        Run(("check", "--tf", "frozen.pb", "--freeze", "keep_prob=1.0", "--input", "X=images.npy"), 0,
            "the same with the images given, as tf2onnx's benchmark feeds them"),
        Run(("export", "tf", "frozen.pb", "-o", "gru_nodrop.onnx", "--freeze", "keep_prob=1.0", "--input",
             "X=images.npy"), 0, "keep_prob folded, the images given: one GRU node and no dropout",
            writes="gru_nodrop.onnx"),
        Run(("export", "tf", "frozen.pb", "-o", "gru.onnx", "--input", "keep_prob=1.0"), 1,
            "the 28 unrolled cells fused, keep_prob kept: written (ONNX Runtime agrees), tract refuses the dropout",
            writes="gru.onnx"),
        Run(("convert", "frozen.pb", "-o", "exact.pt", "--input", "keep_prob=1.0"), 0,
            "the GRU as an exact PyTorch module", writes="exact.pt"),
    ]
