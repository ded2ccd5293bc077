"""martin-gorner/tensorflow-rnn-shakespeare: a 3-layer GRU character model with "naive" dropout on a ``pkeep`` feed.

Rebuilt from the architecture of martin-gorner/tensorflow-rnn-shakespeare, ``rnn_train.py`` (and what ``rnn_play.py``
fetches): ``X`` uint8 ``[None, None]`` one-hot encoded to ``ALPHASIZE = 98`` characters, ``Hin`` float32
``[None, INTERNALSIZE * NLAYERS]`` (512 x 3: ``state_is_tuple=False``, the three states concatenated), three
``GRUCell(512)`` each wrapped in ``DropoutWrapper(input_keep_prob=pkeep)``, stacked in ``MultiRNNCell`` and wrapped
again in ``DropoutWrapper(output_keep_prob=pkeep)`` (``pkeep`` a float32 placeholder), ``dynamic_rnn(...,
initial_state=Hin)``, the last state named ``H``, the outputs flattened to ``[-1, 512]`` into ``layers.linear`` to 98
logits (``fully_connected/weights``, ``fully_connected/biases``) and ``softmax`` named ``Yo``. The owner samples with
``sess.run(['Yo:0', 'H:0'], {'X:0': ..., 'pkeep:0': 1., 'Hin:0': ...})``; here the graph is built the way TF 2.x
builds it today (control flow v2: a ``While`` op whose body and condition are functions) and frozen on ``Yo`` and
``H`` with ``convert_variables_to_constants``. Seeded random weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import glorot

LEGACY_KERAS = True
ALPHASIZE, INTERNALSIZE, NLAYERS = 98, 512, 3


def build(out: Path) -> list[Run]:
    import tensorflow as tf

    v1 = tf.compat.v1
    rnn = v1.nn.rnn_cell
    rng = np.random.default_rng(1495440473)
    graph = tf.Graph()  # TF 2.x default: control flow v2
    with graph.as_default():
        pkeep = v1.placeholder(tf.float32, name="pkeep")
        X = v1.placeholder(tf.uint8, [None, None], name="X")
        Xo = tf.one_hot(X, ALPHASIZE, 1.0, 0.0)
        Hin = v1.placeholder(tf.float32, [None, INTERNALSIZE * NLAYERS], name="Hin")
        cells = [rnn.GRUCell(INTERNALSIZE) for _ in range(NLAYERS)]
        dropcells = [rnn.DropoutWrapper(cell, input_keep_prob=pkeep) for cell in cells]
        multicell = rnn.MultiRNNCell(dropcells, state_is_tuple=False)
        multicell = rnn.DropoutWrapper(multicell, output_keep_prob=pkeep)
        Yr, H = v1.nn.dynamic_rnn(multicell, Xo, dtype=tf.float32, initial_state=Hin)
        tf.identity(H, name="H")
        Yflat = tf.reshape(Yr, [-1, INTERNALSIZE])
        with v1.variable_scope("fully_connected"):
            weights = v1.get_variable("weights", [INTERNALSIZE, ALPHASIZE])
            biases = v1.get_variable("biases", [ALPHASIZE], initializer=v1.zeros_initializer())
            Ylogits = tf.matmul(Yflat, weights) + biases
        tf.nn.softmax(Ylogits, name="Yo")
        while_ops = [op.type for op in graph.get_operations() if op.type in ("While", "StatelessWhile", "Enter")]
        assert while_ops and "Enter" not in while_ops, f"expected a control flow v2 loop, got {set(while_ops)}"
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for var in v1.global_variables():
                shape = tuple(var.shape.as_list())
                var.load(glorot(rng, shape) if len(shape) >= 2 else rng.normal(0, 0.2, shape).astype(np.float32),
                         sess)
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), ["Yo", "H"])
    (out / "shakespeare.pb").write_bytes(frozen.SerializeToString(deterministic=True))
    # a minibatch as rnn_minibatch_sequencer gives it: character codes in the 98-letter alphabet, SEQLEN 30
    np.save(out / "x.npy", rng.integers(0, ALPHASIZE, (3, 30)).astype(np.uint8))
    return [
        Run(("inspect", "shakespeare.pb"), 0, "three reset-before GRUs inside one control flow v2 While", fast=True),
        Run(("check", "--tf", "shakespeare.pb", "--input", "pkeep=1.0"), 1,
            "uint8 ids one-hot to 98, the concatenated state fed, pkeep fed: the export keeps the dropout inside the "
            "loop, so no GRU node can stand for it; tract and the reference refuse the loop"),
        Run(("check", "--tf", "shakespeare.pb", "--freeze", "pkeep=1.0"), 0,
            "pkeep folded: the three GRUs fused, every runtime runs the export"),
        Run(("check", "--tf", "shakespeare.pb", "--freeze", "pkeep=1.0", "--input", "X=x.npy"), 0,
            "the same with the characters given: the GRUs and the export, not the ids, under test"),
        Run(("export", "tf", "shakespeare.pb", "-o", "shakespeare.onnx", "--input", "pkeep=1.0"), 1,
            "pkeep kept as an input: written (ONNX Runtime agrees), tract refuses its loop", writes="shakespeare.onnx"),
        Run(("export", "tf", "shakespeare.pb", "-o", "shakespeare_nodrop.onnx", "--freeze", "pkeep=1.0"), 0,
            "pkeep folded: three GRU nodes, no dropout left in the ONNX", writes="shakespeare_nodrop.onnx"),
        Run(("convert", "shakespeare.pb", "-o", "exact.pt", "--input", "pkeep=1.0"), 0,
            "the three GRUs as exact PyTorch modules", writes="exact.pt"),
    ]
