"""Keras's speech recognition with CTC: a DeepSpeech2-like spectrogram model, two Conv2D blocks, a reshape and a
stack of five ``Bidirectional(GRU(..., reset_after=True))`` layers under a dense softmax over 32 CTC classes.

Rebuilt from the architecture of keras-team/keras-io, ``examples/audio/ctc_asr.py`` (``build_model``): input
``(None, 193)`` STFT magnitudes (``fft_length // 2 + 1`` with ``fft_length = 384``) named ``input``, reshaped to one
channel; ``Conv2D(32, [11, 41], strides [2, 2], "same", no bias)``, BatchNormalization, ReLU; ``Conv2D(32, [11, 21],
strides [1, 2], "same", no bias)``, BatchNormalization, ReLU; a reshape of the frequency and channel axes into
``49 * 32`` features per (halved) frame; five ``Bidirectional(GRU(units, return_sequences=True, reset_after=True),
merge_mode="concat")`` layers with ``Dropout(0.5)`` between them; ``Dense(2 * units)``, ReLU, dropout; and
``Dense(31 + 1, softmax)`` (30 characters and the out-of-vocabulary id, plus the CTC blank). Compiled with the
example's CTC loss and saved with ``model.save("asr.keras")`` (Keras 3).

Reduced: the example calls ``build_model(..., rnn_units=512)``; here ``units = 128``, ``build_model``'s own default,
keeping all five bidirectional layers. Ten 512-unit GRUs on a 1568-wide input are about 26 M parameters, and every
check runs each model in four runtimes on 2 cores; the structure (conv front end, reshape, stacked BiGRUs, head)
is what the checks are about. BatchNormalization gets seeded statistics with positive variances.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import randomize

LEGACY_KERAS = False
INPUT_DIM, CLASSES, RNN_LAYERS, UNITS = 193, 31, 5, 128


def build(out: Path) -> list[Run]:
    import keras
    from keras import layers

    spec = layers.Input((None, INPUT_DIM), name="input")
    x = layers.Reshape((-1, INPUT_DIM, 1), name="expand_dim")(spec)
    x = layers.Conv2D(32, [11, 41], strides=[2, 2], padding="same", use_bias=False, name="conv_1")(x)
    x = layers.BatchNormalization(name="conv_1_bn")(x)
    x = layers.ReLU(name="conv_1_relu")(x)
    x = layers.Conv2D(32, [11, 21], strides=[1, 2], padding="same", use_bias=False, name="conv_2")(x)
    x = layers.BatchNormalization(name="conv_2_bn")(x)
    x = layers.ReLU(name="conv_2_relu")(x)
    x = layers.Reshape((-1, x.shape[-2] * x.shape[-1]))(x)
    for i in range(1, RNN_LAYERS + 1):
        gru = layers.GRU(UNITS, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                         return_sequences=True, reset_after=True, name=f"gru_{i}")
        x = layers.Bidirectional(gru, name=f"bidirectional_{i}", merge_mode="concat")(x)
        if i < RNN_LAYERS:
            x = layers.Dropout(rate=0.5)(x)
    x = layers.Dense(UNITS * 2, name="dense_1")(x)
    x = layers.ReLU(name="dense_1_relu")(x)
    x = layers.Dropout(rate=0.5)(x)
    output = layers.Dense(CLASSES + 1, activation="softmax")(x)
    model = keras.Model(spec, output, name="DeepSpeech_2")

    def ctc_loss(y_true, y_pred):  # the example's loss, through Keras 3's ops
        batch = keras.ops.shape(y_true)[0]
        input_length = keras.ops.full((batch,), keras.ops.shape(y_pred)[1], dtype="int32")
        label_length = keras.ops.full((batch,), keras.ops.shape(y_true)[1], dtype="int32")
        return keras.ops.ctc_loss(y_true, y_pred, label_length, input_length)

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-4), loss=ctc_loss)
    randomize(model, 21)
    rng = np.random.default_rng(22)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([1 + rng.normal(0, 0.1, n), rng.normal(0, 0.1, n), rng.normal(0, 0.1, n),
                               rng.uniform(0.5, 1.5, n)])
    model.save(out / "asr.keras")
    return [
        Run(("inspect", "asr.keras"), 0, "five bidirectional reset-after GRUs behind a conv front end", fast=True),
        Run(("check", "--tf", "asr.keras"), 0, "Keras against its own ONNX export in every runtime"),
        Run(("export", "tf", "asr.keras", "-o", "asr.onnx"), 0, "one bidirectional GRU node per layer",
            writes="asr.onnx"),
        Run(("convert", "asr.keras", "-o", "exact.pt"), 0, "each GRU an exact module (conv front end not a chain)",
            writes="exact.pt"),
    ]
