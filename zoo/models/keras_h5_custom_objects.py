"""RNNoise's Keras training model: three ReLU GRUs (24, 48, 96 units, reset before the recurrent matmul) with a
custom ``WeightClip`` constraint on every kernel, compiled with custom losses and a custom metric, saved as
``weights.hdf5`` after training.

Rebuilt from the architecture of xiph/rnnoise, ``training/rnn_train.py``: input ``main_input`` of ``(None, 42)``
features per 10 ms frame; ``Dense(24, tanh)`` named ``input_dense``; ``GRU(24, activation="relu",
recurrent_activation="sigmoid", return_sequences=True)`` named ``vad_gru`` under ``Dense(1, sigmoid)`` (voice
activity); ``noise_gru`` ``GRU(48, relu)`` on the concatenation of the dense output, ``vad_gru`` and the input;
``denoise_gru`` ``GRU(96, relu)`` on ``vad_gru``, ``noise_gru`` and the input; ``Dense(22, sigmoid)`` band gains.
Every kernel, recurrent kernel and bias has ``kernel_constraint=WeightClip(0.499)`` (a ``keras.constraints.Constraint``
subclass defined in the script, with ``get_config``) and an L2 regularizer of 1e-6. The model is compiled with
``loss=[mycost, my_crossentropy]``, ``metrics=[msse]``, ``loss_weights=[10, 0.5]``, fitted, and saved with
``model.save("weights.hdf5")``. RNNoise was trained with Keras 2.0/2.1, whose GRU resets before the recurrent matmul
with one bias (RNNoise's C inference, ``rnn.c``, computes that form), so the rebuild uses tf-keras 2's
``GRU(reset_after=False)``.

Loading the file with plain ``load_model`` fails on the unknown ``WeightClip`` and ``mycost``; inference needs
neither (a constraint only acts in the optimizer step, a loss only in training), so a correct tool checks it. The
rebuild fits one batch of random frames (so the file holds optimizer state, as the owner's does), then gives every
weight seeded values inside the clip range.

The ReLU candidate activation is also a runtime test: an ONNX GRU node says ``activations=[Sigmoid, Relu]``, which
ONNX Runtime and OpenVINO honour and tract and the ONNX reference evaluator ignore (``src/onnxgru/runtimes/KNOWN.md``),
so the default check (every installed runtime) must fail on those two, and the check restricted to the runtimes that
honour the attribute must pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import randomize

LEGACY_KERAS = True
FEATURES, BANDS, CLIP, REG = 42, 22, 0.499, 0.000001


def build(out: Path) -> list[Run]:
    import tf_keras as keras
    from tf_keras import backend as K
    from tf_keras import regularizers

    def my_crossentropy(y_true, y_pred):
        return K.mean(2 * K.abs(y_true - 0.5) * K.binary_crossentropy(y_true, y_pred), axis=-1)

    def mymask(y_true):
        return K.minimum(y_true + 1.0, 1.0)

    def msse(y_true, y_pred):
        return K.mean(mymask(y_true) * K.square(K.sqrt(y_pred) - K.sqrt(y_true)), axis=-1)

    def mycost(y_true, y_pred):
        diff = K.sqrt(y_pred) - K.sqrt(y_true)
        return K.mean(mymask(y_true) * (10 * K.square(K.square(diff)) + K.square(diff)
                                        + 0.01 * K.binary_crossentropy(y_true, y_pred)), axis=-1)

    class WeightClip(keras.constraints.Constraint):
        """Clips every weight into [-c, c]."""

        def __init__(self, c: float = 2) -> None:
            self.c = c

        def __call__(self, p):
            return K.clip(p, -self.c, self.c)

        def get_config(self) -> dict:
            return {"name": self.__class__.__name__, "c": self.c}

    constraint = WeightClip(CLIP)
    clipped = {"kernel_constraint": constraint, "bias_constraint": constraint}

    def gru(units: int, name: str):
        return keras.layers.GRU(units, activation="relu", recurrent_activation="sigmoid", return_sequences=True,
                                reset_after=False, name=name, kernel_regularizer=regularizers.l2(REG),
                                recurrent_regularizer=regularizers.l2(REG), recurrent_constraint=constraint,
                                **clipped)

    main_input = keras.Input(shape=(None, FEATURES), name="main_input")
    tmp = keras.layers.Dense(24, activation="tanh", name="input_dense", **clipped)(main_input)
    vad_gru = gru(24, "vad_gru")(tmp)
    vad_output = keras.layers.Dense(1, activation="sigmoid", name="vad_output", **clipped)(vad_gru)
    noise_gru = gru(48, "noise_gru")(keras.layers.concatenate([tmp, vad_gru, main_input]))
    denoise_gru = gru(96, "denoise_gru")(keras.layers.concatenate([vad_gru, noise_gru, main_input]))
    denoise_output = keras.layers.Dense(BANDS, activation="sigmoid", name="denoise_output", **clipped)(denoise_gru)
    model = keras.Model(inputs=main_input, outputs=[denoise_output, vad_output])
    model.compile(loss=[mycost, my_crossentropy], metrics=[msse], optimizer="adam", loss_weights=[10, 0.5])

    rng = np.random.default_rng(41)
    x = rng.normal(0, 1, (4, 20, FEATURES)).astype(np.float32)
    gains = rng.uniform(0, 1, (4, 20, BANDS)).astype(np.float32)
    vad = (rng.uniform(0, 1, (4, 20, 1)) > 0.5).astype(np.float32)
    model.fit(x, [gains, vad], batch_size=4, epochs=1, verbose=0)
    randomize(model, 42)
    model.set_weights([np.clip(w, -CLIP, CLIP) for w in model.get_weights()])
    model.save(out / "weights.hdf5")
    return [
        Run(("check", "--tf", "weights.hdf5", "--runtimes", "onnxruntime,openvino-f32"), 0,
            "inference needs neither the custom constraint nor the custom losses", fast=True),
        Run(("check", "--tf", "weights.hdf5"), 1,
            "tract and the ONNX reference evaluator compute Sigmoid/Tanh whatever the Relu activations say (GRU010)"),
        Run(("inspect", "weights.hdf5"), 0, "three reset-before ReLU GRUs"),
        Run(("export", "tf", "weights.hdf5", "-o", "rnnoise.onnx"), 1,
            "written (ONNX Runtime agrees); tract and the reference evaluator ignore the Relu activations",
            writes="rnnoise.onnx"),
    ]
