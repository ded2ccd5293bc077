"""Convert on stacks shaped the way people write them: hidden sizes that change from layer to layer, Keras
``go_backwards``, a state output beside the sequence, a TF1 ``MultiRNNCell`` of two sizes run time-major. Each
conversion is checked on every output the source gives (the converted module returns every layer's final state;
the source's state pairs with the one it is), and the written TorchScript is loaded back with plain torch and run
against TensorFlow's own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from onnxgru.cli import main

from ..builders import tf1_graph, tf_module
from .conftest import _randomize_keras

pytestmark = [pytest.mark.slow, pytest.mark.tf, pytest.mark.torch]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tf = tf_module()
    import tf_keras as K  # noqa: N812 - the Keras module

    folder = tmp_path_factory.mktemp("stacks")
    x = K.Input((None, 5), name="x")
    y = K.layers.GRU(8, return_sequences=True, reset_after=False, name="wide")(x)
    y, state = K.layers.GRU(4, return_sequences=True, return_state=True, go_backwards=True, name="narrow")(y)
    model = K.Model(x, [y, state])
    _randomize_keras(model, 7)
    model.save(str(folder / "stack.keras"))

    v1 = tf.compat.v1

    def multi() -> None:
        seq = v1.placeholder(tf.float32, [6, None, 5], "x")  # time-major, six steps
        cells = v1.nn.rnn_cell.MultiRNNCell([v1.nn.rnn_cell.GRUCell(6), v1.nn.rnn_cell.GRUCell(3)])
        o, s = v1.nn.dynamic_rnn(cells, seq, dtype=tf.float32, time_major=True)
        tf.identity(o, "output")
        tf.identity(s[0], "state_wide")
        tf.identity(s[1], "state_narrow")

    pb = tf1_graph(tf, folder, "multi", multi, np.random.default_rng(8),
                   outputs=("output", "state_wide", "state_narrow"))
    return {"keras": folder / "stack.keras", "multi": pb}


def convert(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> tuple[int, dict, Path]:
    out, report = tmp_path / "port.pt", tmp_path / "report.json"
    code = main(["convert", str(source), "-o", str(out), "--json", str(report)])
    capsys.readouterr()
    return code, json.loads(report.read_text()), out


@pytest.mark.parametrize("name", ["keras", "multi"])
def test_every_output_of_a_stack_of_two_sizes_is_compared(stacks, name, tmp_path, capsys) -> None:
    code, report, out = convert(stacks[name], tmp_path, capsys)
    assert code == 0 and report["verdict"] == "pass", report["findings"]
    source = [m for m in report["models"] if m["role"] == "source"][0]
    wanted = {"keras": {"narrow", "narrow:1"}, "multi": {"output", "state_wide", "state_narrow"}}[name]
    assert {p["output"] for p in report["pairs"]} == wanted
    assert all(p["passed"] and p["max_abs"] < 1e-5 for p in report["pairs"])
    assert not [f for f in report["findings"] if f["code"] == "GRU011"], report["findings"]
    assert [layer["hidden_size"] for layer in source["gru_layers"]] == ({"keras": [8, 4], "multi": [6, 3]}[name])
    assert out.exists()


def test_the_written_module_is_tensorflows_function(stacks, tmp_path, capsys) -> None:
    """Loaded with torch.jit.load alone: the go_backwards layer's sequence, last step first, as Keras gives it, and
    the narrow layer's final state, equal to the Keras model's own outputs."""
    import tf_keras as K  # noqa: N812

    import torch

    code, _, out = convert(stacks["keras"], tmp_path, capsys)
    assert code == 0
    x = np.random.default_rng(3).uniform(-1, 1, (2, 9, 5)).astype(np.float32)
    want_y, want_s = K.models.load_model(str(stacks["keras"]))(x)
    module = torch.jit.load(str(out))
    with torch.no_grad():
        got_y, states = module(torch.from_numpy(x))
    np.testing.assert_allclose(got_y.numpy(), want_y.numpy(), atol=1e-5)
    last = states[-1]  # every layer's final state: the last is the narrow layer's
    np.testing.assert_allclose(last.numpy(), want_s.numpy(), atol=1e-5)
    assert not np.allclose(got_y.numpy()[:, 0], got_y.numpy()[:, -1])  # the weights are not degenerate


def test_models_that_share_no_output_fail_instead_of_passing_unexamined(stacks, tmp_path, capsys) -> None:
    """A comparison that pairs nothing would pass on no evidence: it is an error naming what did not pair."""
    report = tmp_path / "r.json"
    code = main(["compare", str(stacks["keras"]), str(stacks["multi"]), "--json", str(report)])
    capsys.readouterr()
    found = json.loads(report.read_text())
    assert code == 1 and found["verdict"] == "fail"
    assert any(f["code"] == "GRU011" and f["severity"] == "error" for f in found["findings"])
    assert not found["pairs"]
