"""ONNX's own conformance GRU models: single GRU nodes whose weights are graph inputs, not initializers.

Rebuilt from onnx/onnx, ``onnx/backend/test/case/node/gru.py`` (``export_defaults``, ``export_initial_bias``,
``export_seq_length``, ``export_batchwise``), the cases behind ``test_gru_defaults``, ``test_gru_with_initial_bias``,
``test_gru_seq_length`` and ``test_gru_batchwise``: one ``GRU`` node with ``X``, ``W``, ``R`` (and ``B``) all graph
inputs fed by the test data, at the documented sizes --

- defaults: ``X (1, 3, 2)``, hidden 5, ``W``/``R`` all 0.1, outputs ``["", "Y_h"]`` (no ``Y``);
- with_initial_bias: ``X (1, 3, 3)``, hidden 3, ``W``/``R`` all 0.1, ``B`` 0.1 for the input half, 0 for the recurrence;
- seq_length: ``X (2, 3, 3)``, hidden 5, ``W``, ``R``, ``B`` normal random, outputs ``["", "Y_h"]``;
- batchwise: ``layout = 1``, ``X (3, 1, 2)`` (batch, seq, input), hidden 6, ``W``/``R`` all 0.2, outputs ``Y``, ``Y_h``.

Each case is a folder ``test_gru_*/`` with ``model.onnx`` (opset 14, where ``layout`` arrived) and ``data.npz``: the
test's inputs by graph input name, as its ``test_data_set_0/input_*.pb`` hold them. ONNX Runtime's CPU GRU does not
load ``layout = 1``, so the batchwise check must end in GRU007.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run

LEGACY_KERAS = False
GATES = 3


def _case(out: Path, name: str, feeds: dict[str, np.ndarray], outputs: list[str], hidden: int,
          layout: int = 0) -> None:
    import onnx
    from onnx import TensorProto, helper

    attrs = {"hidden_size": hidden}
    if layout:
        attrs["layout"] = layout
    node = helper.make_node("GRU", inputs=list(feeds), outputs=outputs, **attrs)
    x = feeds["X"]
    seq, batch = (x.shape[1], x.shape[0]) if layout else (x.shape[0], x.shape[1])
    shapes = {"Y": [batch, seq, 1, hidden] if layout else [seq, 1, batch, hidden],
              "Y_h": [batch, 1, hidden] if layout else [1, batch, hidden]}
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape)) for k, v in feeds.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in outputs if o])
    model = helper.make_model(graph, producer_name="backend-test", opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model, full_check=True)
    folder = out / name
    folder.mkdir()
    onnx.save(model, folder / "model.onnx")
    np.savez(folder / "data.npz", **feeds)
    for key in ("W", "R"):  # what a user passes with --input NAME=FILE.npy
        np.save(folder / f"{key}.npy", feeds[key])


def build(out: Path) -> list[Run]:
    f32 = np.float32
    rng = np.random.default_rng(51)

    def ones(shape: tuple[int, ...], scale: float) -> np.ndarray:
        return (scale * np.ones(shape)).astype(f32)

    x = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]], dtype=f32)
    _case(out, "test_gru_defaults", {"X": x, "W": ones((1, GATES * 5, 2), 0.1), "R": ones((1, GATES * 5, 5), 0.1)},
          ["", "Y_h"], 5)

    x = np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], dtype=f32)
    b = np.concatenate([ones((1, GATES * 3), 0.1), np.zeros((1, GATES * 3), f32)], axis=1)
    _case(out, "test_gru_with_initial_bias",
          {"X": x, "W": ones((1, GATES * 3, 3), 0.1), "R": ones((1, GATES * 3, 3), 0.1), "B": b}, ["", "Y_h"], 3)

    x = np.arange(1, 19, dtype=f32).reshape(2, 3, 3)
    _case(out, "test_gru_seq_length",
          {"X": x, "W": rng.standard_normal((1, GATES * 5, 3)).astype(f32),
           "R": rng.standard_normal((1, GATES * 5, 5)).astype(f32),
           "B": rng.standard_normal((1, 2 * GATES * 5)).astype(f32)}, ["", "Y_h"], 5)

    x = np.array([[[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 6.0]]], dtype=f32)
    _case(out, "test_gru_batchwise", {"X": x, "W": ones((1, GATES * 6, 2), 0.2), "R": ones((1, GATES * 6, 6), 0.2)},
          ["Y", "Y_h"], 6, layout=1)

    def check(name: str, expect: int, why: str, fast: bool = False) -> Run:
        return Run(("check", "--onnx", f"{name}/model.onnx", "--inputs", f"{name}/data.npz"), expect, why, fast=fast)

    return [
        check("test_gru_defaults", 0, "W, R are graph inputs fed from the test data; Y not produced", fast=True),
        check("test_gru_with_initial_bias", 0, "W, R, B are graph inputs fed from the test data"),
        check("test_gru_seq_length", 0, "W, R, B random graph inputs, 2 steps of batch 3"),
        check("test_gru_batchwise", 1, "GRU007: ONNX Runtime's CPU GRU refuses layout = 1 (the model is right)"),
        Run(("inspect", "test_gru_defaults/model.onnx"), 2,
            "the weights are graph inputs, not in the file: one sentence asks for them by name"),
        Run(("inspect", "test_gru_batchwise/model.onnx", "--input", "W=test_gru_batchwise/W.npy", "--input",
             "R=test_gru_batchwise/R.npy"), 0, "layout = 1, its weights given by name"),
        Run(("compare", "test_gru_seq_length/model.onnx", "test_gru_seq_length/model.onnx", "--inputs",
             "test_gru_seq_length/data.npz"), 0, "a model agrees with itself on the test data"),
        Run(("compare", "test_gru_defaults/model.onnx", "test_gru_defaults/model.onnx"), 2,
            "no weights to run with: one sentence asks for them (--inputs, --input W=...)"),
    ]
