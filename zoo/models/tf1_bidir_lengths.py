"""ilivans/tf-rnn-attention: IMDB sentiment through a bidirectional GRU with sequence lengths and attention.

Rebuilt from the architecture of ilivans/tf-rnn-attention, ``train.py`` and ``attention.py``: placeholders under the
name scope ``Inputs`` (``batch_ph`` int32 ``[None, 250]`` of zero-padded word ids, ``seq_len_ph`` int32 ``[None]``
with each review's length, ``keep_prob_ph`` float32 with no shape), an ``Embedding_layer`` variable
``[10000, 100]`` (``NUM_WORDS``, ``EMBEDDING_DIM``, initialised uniform in [-1, 1]) looked up by the ids,
``bidirectional_dynamic_rnn(GRUCell(150), GRUCell(150), sequence_length=seq_len_ph)`` (TF1: control flow v1), the
attention layer (forward and backward outputs concatenated to 300, ``tanh(tensordot(inputs, w_omega (300, 50)) +
b_omega)``, ``tensordot`` with ``u_omega`` named ``vu``, ``softmax`` named ``alphas`` over the 250 steps, and the
weighted sum over time), ``tf.nn.dropout(keep_prob_ph)`` and a ``Fully_connected_layer`` ``xw_plus_b`` to one logit,
squeezed. The owner trains with ``keep_prob_ph: 0.8`` and evaluates with ``1.0``; the graph here is frozen on the
logit and the attention weights (``visualize.py`` reads ``alphas``) with ``convert_variables_to_constants``. Seeded
random weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import glorot

LEGACY_KERAS = True
NUM_WORDS, SEQUENCE_LENGTH, EMBEDDING_DIM, HIDDEN_SIZE, ATTENTION_SIZE = 10000, 250, 100, 150, 50


def build(out: Path) -> list[Run]:
    import tensorflow as tf

    v1 = tf.compat.v1
    v1.disable_control_flow_v2()  # a TF1 session's while loop (Enter/Exit/NextIteration), as the owner's graph has
    rng = np.random.default_rng(250)
    graph = tf.Graph()
    with graph.as_default():
        with tf.name_scope("Inputs"):
            batch_ph = v1.placeholder(tf.int32, [None, SEQUENCE_LENGTH], name="batch_ph")
            seq_len_ph = v1.placeholder(tf.int32, [None], name="seq_len_ph")
            keep_prob_ph = v1.placeholder(tf.float32, name="keep_prob_ph")
        with tf.name_scope("Embedding_layer"):
            embeddings = tf.Variable(tf.zeros([NUM_WORDS, EMBEDDING_DIM]), name="Variable")
            embedded = tf.nn.embedding_lookup(embeddings, batch_ph)
        (fw, bw), _ = v1.nn.bidirectional_dynamic_rnn(
            v1.nn.rnn_cell.GRUCell(HIDDEN_SIZE), v1.nn.rnn_cell.GRUCell(HIDDEN_SIZE), inputs=embedded,
            sequence_length=seq_len_ph, dtype=tf.float32)
        with tf.name_scope("Attention_layer"):
            inputs = tf.concat([fw, bw], 2)
            w_omega = tf.Variable(tf.zeros([2 * HIDDEN_SIZE, ATTENTION_SIZE]))
            b_omega = tf.Variable(tf.zeros([ATTENTION_SIZE]))
            u_omega = tf.Variable(tf.zeros([ATTENTION_SIZE]))
            with tf.name_scope("v"):
                v = tf.tanh(tf.tensordot(inputs, w_omega, axes=1) + b_omega)
            vu = tf.tensordot(v, u_omega, axes=1, name="vu")
            alphas = tf.nn.softmax(vu, name="alphas")
            attention = tf.reduce_sum(inputs * tf.expand_dims(alphas, -1), 1)
        drop = v1.nn.dropout(attention, keep_prob=keep_prob_ph)
        with tf.name_scope("Fully_connected_layer"):
            W = tf.Variable(tf.zeros([2 * HIDDEN_SIZE, 1]))
            b = tf.Variable(tf.zeros([1]))
            y_hat = tf.squeeze(v1.nn.xw_plus_b(drop, W, b))
        outputs = [y_hat.op.name, alphas.op.name]
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for var in v1.global_variables():
                shape = tuple(var.shape.as_list())
                if var is embeddings:
                    value = rng.uniform(-1.0, 1.0, shape).astype(np.float32)  # the owner's initialiser
                elif len(shape) >= 2:
                    value = glorot(rng, shape)
                else:
                    value = rng.normal(0, 0.2, shape).astype(np.float32)
                var.load(value, sess)
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), outputs)
    (out / "imdb_attention.pb").write_bytes(frozen.SerializeToString(deterministic=True))
    # reviews of different lengths, as the owner feeds them (index of the first padding 0, plus one)
    np.save(out / "lengths.npy", np.array([SEQUENCE_LENGTH, 120, 7], dtype=np.int32))
    # every row names ONNX Runtime: tract refuses a sequence_lens fed as an input and OpenVINO ignores it (known
    # runtime limits, said as GRU007), so across all runtimes the truth would be those limits, not the model
    return [
        Run(("inspect", "imdb_attention.pb"), 0, "one bidirectional reset-before GRU with sequence lengths",
            fast=True),
        Run(("check", "--tf", "imdb_attention.pb", "--input", "Inputs/keep_prob_ph=1.0", "--runtimes", "onnxruntime"),
            0, "ids in the 10,000-word vocabulary, a length per review, dropout fed off"),
        Run(("check", "--tf", "imdb_attention.pb", "--input", "Inputs/keep_prob_ph=1.0", "--input",
             "Inputs/seq_len_ph=lengths.npy", "--runtimes", "onnxruntime"), 0,
            "reviews of 250, 120 and 7 words: each direction skips the padding, so must the reference and export"),
        Run(("export", "tf", "imdb_attention.pb", "-o", "imdb_attention.onnx", "--input", "Inputs/keep_prob_ph=1.0",
             "--runtimes", "onnxruntime"), 0,
            "one bidirectional GRU node that skips each review's padding (sequence_lens)",
            writes="imdb_attention.onnx"),
        Run(("convert", "imdb_attention.pb", "-o", "exact.pt", "--input", "Inputs/keep_prob_ph=1.0"), 0,
            "each GRU direction as an exact module, held against what it computed inside the model",
            writes="exact.pt"),
        Run(("convert", "imdb_attention.pb", "-o", "exact_lengths.pt", "--input", "Inputs/keep_prob_ph=1.0", "--input",
             "Inputs/seq_len_ph=lengths.npy"), 0,
            "the same held against reviews of 250, 120 and 7 words: an exact module skips what TF skips",
            writes="exact_lengths.pt"),
    ]
