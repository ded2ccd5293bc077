"""Hvass-Labs' weather forecaster: 20 weather signals of five Danish cities through ``GRU(512, return_sequences=True)``
(reset before the recurrent matmul) and ``Dense(3, sigmoid)``, tomorrow's temperature, pressure and wind in Odense.

Rebuilt from the architecture of Hvass-Labs/TensorFlow-Tutorials, ``23_Time-Series-Prediction.ipynb``: a
``Sequential`` of ``GRU(units=512, return_sequences=True, input_shape=(None, 20))`` and ``Dense(3,
activation="sigmoid")`` over sequences of any length, compiled with RMSprop and the tutorial's custom
``loss_mse_warmup`` (MSE after 50 warm-up steps). The tutorial was written for TensorFlow 1.5
(``tf.keras`` 2.1.2-tf, commit e686db8), whose GRU has no ``reset_after`` and resets before the recurrent matmul
(one bias); the rebuild keeps that with tf-keras 2's ``GRU(reset_after=False)``. The tutorial checkpoints weights
(``ModelCheckpoint(..., save_weights_only=True)``); what its readers ship is the whole model, saved here with
``model.save("23_model.h5")`` (HDF5).

The owner's naive PyTorch port: ``nn.GRU(20, 512, batch_first=True)`` and ``nn.Linear(512, 3)`` + sigmoid, the
kernels' ``[z|r|h]`` blocks reordered into torch's ``[r|z|n]``, the single Keras bias copied into ``bias_ih`` and
``bias_hh`` left at zero, saved as TorchScript. It is wrong by nature: torch.nn.GRU resets after the recurrent
matmul, and no weight mapping turns one GRU into the other (GRU001). ``onnxgru convert`` writes the exact module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import randomize

LEGACY_KERAS = True
SIGNALS_X, SIGNALS_Y, UNITS, WARMUP = 20, 3, 512, 50


def build(out: Path) -> list[Run]:
    import tf_keras as keras

    import torch

    model = keras.Sequential(name="weather")
    model.add(keras.layers.GRU(units=UNITS, return_sequences=True, reset_after=False,
                               input_shape=(None, SIGNALS_X)))
    model.add(keras.layers.Dense(SIGNALS_Y, activation="sigmoid"))

    def loss_mse_warmup(y_true, y_pred):  # the tutorial's loss: MSE after the warm-up steps
        return keras.backend.mean(keras.backend.square(y_true[:, WARMUP:, :] - y_pred[:, WARMUP:, :]))

    model.compile(loss=loss_mse_warmup, optimizer=keras.optimizers.RMSprop(learning_rate=1e-3))
    randomize(model, 31)
    model.save(out / "23_model.h5")
    kernel, recurrent, bias, dense, dense_b = (np.asarray(w) for w in model.get_weights())

    class WeatherGRU(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(SIGNALS_X, UNITS, batch_first=True)
            self.dense = torch.nn.Linear(UNITS, SIGNALS_Y)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seq, _ = self.gru(x)
            return torch.sigmoid(self.dense(seq))

    def rzn(a: np.ndarray) -> torch.Tensor:  # Keras [z|r|h] columns -> torch [r|z|n] rows
        z, r, h = np.split(a, 3, axis=-1)
        return torch.from_numpy(np.concatenate([r, z, h], axis=-1).T.copy())

    port = WeatherGRU().eval()
    with torch.no_grad():
        port.gru.weight_ih_l0.copy_(rzn(kernel))
        port.gru.weight_hh_l0.copy_(rzn(recurrent))
        port.gru.bias_ih_l0.copy_(rzn(bias))
        port.gru.bias_hh_l0.zero_()
        port.dense.weight.copy_(torch.from_numpy(dense.T.copy()))
        port.dense.bias.copy_(torch.from_numpy(dense_b))
    torch.jit.save(torch.jit.script(port), str(out / "naive_port.pt"))
    return [
        Run(("inspect", "23_model.h5"), 0, "one reset-before GRU (lbr 0)", fast=True),
        Run(("check", "--tf", "23_model.h5", "--torch", "naive_port.pt"), 1,
            "reset before vs after: no mapping makes the nn.GRU port right (GRU001)"),
        Run(("convert", "23_model.h5", "-o", "exact.pt"), 0, "the exact module, GRU and head",
            writes="exact.pt"),
    ]
