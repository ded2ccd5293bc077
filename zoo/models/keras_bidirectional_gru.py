"""A Kaggle toxic-comment classifier: word ids through a frozen 300-wide embedding, two stacked
``Bidirectional(GRU(300, return_sequences=True))`` layers, global max pooling and a six-label sigmoid head, plus the
owner's exact PyTorch port.

Rebuilt from the architecture of okotaku/kaggle_toxic_comment_classification, ``solution2/model/bidgru_mp.py``
(``BidGru``) with the sizes of ``solution2/main.py``: ``Input(shape=(maxlen,))`` with ``maxlen = 150`` (Keras's default
float32 input, as the owner wrote it), ``Embedding(max_features, 300, trainable=False)`` (GloVe 840B vectors),
``Bidirectional(GRU(300, return_sequences=True, dropout=0.25, recurrent_dropout=0.25))`` twice,
``GlobalMaxPooling1D``, ``Dense(256, relu)``, ``Dropout(0.25)``, ``Dense(6, sigmoid)`` (toxic, severe_toxic, obscene,
threat, insult, identity_hate), compiled with binary cross-entropy and Adam. The owner checkpoints to ``.hdf5`` with
Keras 2; the rebuild is Keras 3 (the GRU resets after its recurrent matmul, the Keras 3 default) saved with
``model.save("toxic_bigru.keras")``.

Reduced: ``max_features = 100000`` becomes 20,000 words (the embedding alone would be 120 MB in the ``.keras`` file
and again in the port; the GRUs and the head keep the owner's sizes).

The owner's PyTorch port: ``nn.Embedding``, one ``nn.GRU(300, 300, num_layers=2, bidirectional=True,
batch_first=True)``, max over time, ``nn.Linear(600, 256)`` + ReLU, ``nn.Linear(256, 6)`` + sigmoid; each direction's
Keras ``[z|r|h]`` gate blocks reordered into torch's ``[r|z|n]`` with both biases (``*_l{k}`` forward,
``*_l{k}_reverse`` backward), saved as TorchScript; it casts the ids to int64 itself, as the Keras input is float.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import randomize

LEGACY_KERAS = False
MAXLEN, VOCAB, EMBED, UNITS, DENSE, LABELS = 150, 20000, 300, 300, 256, 6


def build(out: Path) -> list[Run]:
    import keras
    from keras import layers

    import torch

    inp = layers.Input(shape=(MAXLEN,))
    x = layers.Embedding(VOCAB, EMBED, trainable=False)(inp)
    for _ in range(2):
        x = layers.Bidirectional(layers.GRU(UNITS, return_sequences=True, dropout=0.25, recurrent_dropout=0.25))(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(DENSE, activation="relu")(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Dense(LABELS, activation="sigmoid")(x)
    model = keras.Model(inputs=inp, outputs=x)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    randomize(model, 51)
    model.save(out / "toxic_bigru.keras")

    class ToxicBiGRU(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, EMBED)
            self.gru = torch.nn.GRU(EMBED, UNITS, num_layers=2, bidirectional=True, batch_first=True)
            self.dense = torch.nn.Linear(2 * UNITS, DENSE)
            self.out = torch.nn.Linear(DENSE, LABELS)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            seq, _ = self.gru(self.embedding(ids.long()))
            pooled = torch.max(seq, dim=1).values
            return torch.sigmoid(self.out(torch.relu(self.dense(pooled))))

    def rzn(a: np.ndarray) -> torch.Tensor:  # Keras [z|r|h] columns -> torch [r|z|n] rows
        z, r, h = np.split(a, 3, axis=-1)
        return torch.from_numpy(np.concatenate([r, z, h], axis=-1).T.copy())

    port = ToxicBiGRU().eval()
    bidis = [layer for layer in model.layers if isinstance(layer, layers.Bidirectional)]
    dense, head = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    with torch.no_grad():
        port.embedding.weight.copy_(torch.from_numpy(np.asarray(model.layers[1].get_weights()[0])))
        for k, bidi in enumerate(bidis):
            for suffix, direction in ((f"l{k}", bidi.forward_layer), (f"l{k}_reverse", bidi.backward_layer)):
                kernel, recurrent, bias = (np.asarray(w) for w in direction.get_weights())
                getattr(port.gru, f"weight_ih_{suffix}").copy_(rzn(kernel))
                getattr(port.gru, f"weight_hh_{suffix}").copy_(rzn(recurrent))
                getattr(port.gru, f"bias_ih_{suffix}").copy_(rzn(bias[0]))
                getattr(port.gru, f"bias_hh_{suffix}").copy_(rzn(bias[1]))
        for linear, layer in ((port.dense, dense), (port.out, head)):
            w, b = (np.asarray(v) for v in layer.get_weights())
            linear.weight.copy_(torch.from_numpy(w.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
    torch.jit.save(torch.jit.script(port), str(out / "port.pt"))
    return [
        Run(("inspect", "toxic_bigru.keras"), 0, "two bidirectional reset-after GRUs", fast=True),
        Run(("check", "--tf", "toxic_bigru.keras", "--torch", "port.pt"), 0,
            "a correct port: both directions of both layers reordered"),
        Run(("export", "tf", "toxic_bigru.keras", "-o", "toxic_bigru.onnx"), 0,
            "one bidirectional GRU node per layer", writes="toxic_bigru.onnx"),
    ]
