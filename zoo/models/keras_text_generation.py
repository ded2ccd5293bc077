"""TensorFlow's text generation tutorial: Shakespeare characters through ``Embedding(66, 256)``, ``GRU(1024,
return_sequences=True, return_state=True)`` and ``Dense(66)`` logits, plus the owner's exact PyTorch port.

Rebuilt from the architecture of tensorflow/docs, ``site/en/tutorials/text/text_generation.ipynb``: the vocabulary
is the 65 distinct characters of the Shakespeare text plus ``[UNK]`` from ``StringLookup`` (66 ids, int64),
``embedding_dim = 256``, ``rnn_units = 1024``, a GRU with the Keras default ``reset_after=True`` that returns both
the sequence and its final state (the tutorial's ``MyModel.call(..., return_state=True)`` feeds the state back in
its ``OneStep`` sampler). The tutorial subclasses ``tf.keras.Model``; a subclassed model saved to ``.keras`` cannot be
loaded without its Python class, so the same layers are wired as a functional Keras 3 model (ids in, logits and the
GRU state out) and saved with ``model.save("text_gen.keras")``. The tutorial's own ``tf.saved_model.save(one_step_model,
"one_step")`` takes strings and samples at random, so there is nothing to check it against and it is not rebuilt.

The owner's PyTorch port: ``nn.Embedding(66, 256)``, ``nn.GRU(256, 1024, batch_first=True)`` and ``nn.Linear(1024,
66)``, the GRU weights copied with Keras's ``[z|r|h]`` gate blocks reordered into torch's ``[r|z|n]`` and both
biases kept (Keras 3's reset-after GRU is torch.nn.GRU's function, so the port is exact), returning the logits and
the final state like the tutorial's model, saved as TorchScript.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import randomize

LEGACY_KERAS = False
VOCAB, EMBED, UNITS = 66, 256, 1024


def build(out: Path) -> list[Run]:
    import keras

    import torch

    ids = keras.Input(shape=(None,), dtype="int64", name="input_ids")
    x = keras.layers.Embedding(VOCAB, EMBED, name="embedding")(ids)
    x, state = keras.layers.GRU(UNITS, return_sequences=True, return_state=True, name="gru")(x)
    logits = keras.layers.Dense(VOCAB, name="dense")(x)
    model = keras.Model(ids, [logits, state], name="my_model")
    randomize(model, 11)
    model.save(out / "text_gen.keras")
    emb, kernel, recurrent, bias, dense, dense_b = (np.asarray(w) for w in model.get_weights())

    class CharGRU(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, EMBED)
            self.gru = torch.nn.GRU(EMBED, UNITS, batch_first=True)
            self.dense = torch.nn.Linear(UNITS, VOCAB)

        def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            seq, h = self.gru(self.embedding(ids))
            return self.dense(seq), h[0]

    def rzn(a: np.ndarray) -> torch.Tensor:  # Keras [z|r|h] columns -> torch [r|z|n] rows
        z, r, h = np.split(a, 3, axis=-1)
        return torch.from_numpy(np.concatenate([r, z, h], axis=-1).T.copy())

    port = CharGRU().eval()
    with torch.no_grad():
        port.embedding.weight.copy_(torch.from_numpy(emb))
        port.gru.weight_ih_l0.copy_(rzn(kernel))
        port.gru.weight_hh_l0.copy_(rzn(recurrent))
        port.gru.bias_ih_l0.copy_(rzn(bias[0]))
        port.gru.bias_hh_l0.copy_(rzn(bias[1]))
        port.dense.weight.copy_(torch.from_numpy(dense.T.copy()))
        port.dense.bias.copy_(torch.from_numpy(dense_b))
    torch.jit.save(torch.jit.script(port), str(out / "port.pt"))
    return [
        Run(("inspect", "text_gen.keras"), 0, "one 1024-unit reset-after GRU", fast=True),
        Run(("check", "--tf", "text_gen.keras", "--torch", "port.pt"), 0,
            "a correct port: logits and the returned state agree"),
        Run(("export", "tf", "text_gen.keras", "-o", "text_gen.onnx"), 0, "fused, logits and state kept",
            writes="text_gen.onnx"),
    ]
