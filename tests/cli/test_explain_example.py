"""``onnxgru explain GRU004`` shows the copy that GRU004 most often catches done wrong: run here, it must make a
torch.nn.GRU equal to the Keras GRU it copies."""

from __future__ import annotations

import numpy as np
import pytest

from onnxgru.cli import main
from onnxgru.core import catalog


@pytest.mark.slow
def test_the_gru004_example_copies_keras_into_torch_exactly() -> None:
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (3, 7, 5)).astype(np.float32)
    keras_gru = keras.layers.GRU(6, return_sequences=True)  # reset_after=True, the default
    keras_gru.build((None, None, 5))
    keras_gru.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in keras_gru.get_weights()])
    gru = torch.nn.GRU(5, 6, batch_first=True)
    exec(catalog.CATALOG["GRU004"].example, {"np": np, "torch": torch, "keras_gru": keras_gru, "gru": gru})
    want = np.asarray(keras_gru(x))
    got = gru(torch.from_numpy(x))[0].detach().numpy()
    assert np.abs(got - want).max() < 1e-5
    # and the copy is not trivially right: the gate order matters (a plain transpose gives another GRU)
    plain = torch.nn.GRU(5, 6, batch_first=True)
    kernel, recurrent, bias = keras_gru.get_weights()
    with torch.no_grad():
        plain.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        plain.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        plain.bias_ih_l0.copy_(torch.from_numpy(bias[0]))
        plain.bias_hh_l0.copy_(torch.from_numpy(bias[1]))
    assert np.abs(plain(torch.from_numpy(x))[0].detach().numpy() - want).max() > 1e-2


def test_explain_is_wrapped_to_the_terminal_and_keeps_its_example(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["explain", "GRU004"]) == 0
    out = capsys.readouterr().out
    prose = [line for line in out.splitlines() if not line.startswith("    ")]
    assert max(len(line) for line in prose) <= 60, max(prose, key=len)
    assert "    def rzn(w):" in out and "gru.bias_hh_l0.copy_(rzn(bias[1]))" in out  # the code as it is
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["explain", "GRU001"]) == 0
    wide = capsys.readouterr().out
    assert max(len(line) for line in wide.splitlines()) > 60 and "onnxgru convert" in wide
