"""Keras's text classification with an RNN: ``Sequential([Embedding(vocab, 128), GRU(64), Dense(1)])`` on IMDB ids.

Rebuilt from the architecture of keras-team/keras-io, ``examples/nlp/bidirectional_lstm_imdb.py`` (20,000-word
vocabulary, 128-wide embedding) with the GRU that TensorFlow's text classification tutorial
(tensorflow/docs, ``site/en/tutorials/text/text_classification_rnn.ipynb``) swaps in: Keras 3, a ``Sequential``
built for ids of shape ``(None, None)``, saved with ``model.save("classifier.keras")`` and ``model.export("serving")``.
The owner's PyTorch port copies the weights with Keras's ``[z|r|h]`` reordered into torch's ``[r|z|n]`` and both
biases (Keras 3's ``reset_after=True`` is torch.nn.GRU's function, so the port is right) and saves TorchScript.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import randomize

LEGACY_KERAS = False
VOCAB, EMBED, UNITS = 20000, 128, 64


def build(out: Path) -> list[Run]:
    import keras

    import torch

    model = keras.Sequential([keras.layers.Embedding(VOCAB, EMBED), keras.layers.GRU(UNITS),
                              keras.layers.Dense(1, activation="sigmoid")], name="classifier")
    model.build((None, None))
    randomize(model, 1)
    model.save(out / "classifier.keras")
    model.export(str(out / "serving"), verbose=False)  # the SavedModel Keras 3 writes for TF Serving
    emb, kernel, recurrent, bias, dense, dense_b = (np.asarray(w) for w in model.get_weights())

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, EMBED)
            self.gru = torch.nn.GRU(EMBED, UNITS, batch_first=True)
            self.score = torch.nn.Linear(UNITS, 1)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            _, h = self.gru(self.embedding(ids))
            return torch.sigmoid(self.score(h[-1]))

    def rzn(a: np.ndarray) -> torch.Tensor:  # Keras [z|r|h] columns -> torch [r|z|n] rows
        z, r, h = np.split(a, 3, axis=-1)
        return torch.from_numpy(np.concatenate([r, z, h], axis=-1).T.copy())

    port = Classifier().eval()
    with torch.no_grad():
        port.embedding.weight.copy_(torch.from_numpy(emb))
        port.gru.weight_ih_l0.copy_(rzn(kernel))
        port.gru.weight_hh_l0.copy_(rzn(recurrent))
        port.gru.bias_ih_l0.copy_(rzn(bias[0]))
        port.gru.bias_hh_l0.copy_(rzn(bias[1]))
        port.score.weight.copy_(torch.from_numpy(dense.T.copy()))
        port.score.bias.copy_(torch.from_numpy(dense_b))
    torch.jit.save(torch.jit.script(port), str(out / "port.pt"))
    return [
        Run(("check", "--tf", "classifier.keras", "--torch", "port.pt"), 0, "a correct port of a reset-after GRU",
            fast=True),
        Run(("check", "--tf", "serving", "--torch", "port.pt", "--steps", "30"), 0,
            "the same model as the SavedModel model.export() writes"),
        Run(("inspect", "classifier.keras"), 0, "one reset-after GRU"),
        Run(("export", "tf", "classifier.keras", "-o", "classifier.onnx"), 0, "fused, the ids' free axes kept",
            writes="classifier.onnx"),
    ]
