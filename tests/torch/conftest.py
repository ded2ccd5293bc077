"""PyTorch and TensorFlow models built in code once per session, with random non-degenerate weights.

Small sizes keep the suite fast: 5 features, 4 units, batch 3, 7 steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ..builders import tf1_graph, tf_module

I, H, N, T = 5, 4, 3, 7  # noqa: E741 - input size, hidden size, batch, steps
RUN = ["--batch", str(N), "--steps", str(T)]


def randomize(module, seed: int) -> None:
    """Weights spread well away from zero (zero weights make every GRU return 0.5*h0)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 1.8 - 0.9)


@pytest.fixture(scope="session")
def torch_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every PyTorch source form: state dicts, TorchScript, ExportedProgram, pickled modules."""
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("torch")

    def gru(seed: int, **kw: object) -> torch.nn.GRU:
        m = torch.nn.GRU(I, H, **kw)
        randomize(m, seed)
        return m.eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = gru(3, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(H, 2)
            randomize(self.head, 9)  # every copy the same model, head included

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            y, h = self.rnn(x)
            return self.head(y), h

    out: dict[str, Path] = {}
    plain, stacked_bi = gru(1), gru(2, num_layers=2, bidirectional=True)
    torch.save(plain.state_dict(), folder / "plain.pt")
    torch.save(stacked_bi.state_dict(), folder / "stacked_bi.pth")
    torch.save(gru(4, bias=False).state_dict(), folder / "no_bias.pt")
    torch.save({"model": Encoder().state_dict(), "epoch": 3}, folder / "nested.pt")
    torch.jit.save(torch.jit.script(stacked_bi), folder / "scripted_gru.ts")
    torch.jit.save(torch.jit.script(Encoder()), folder / "encoder.torchscript")
    with warnings.catch_warnings():  # torch.export's note about nn.GRU's _flat_weights is not the test's concern
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(Encoder(), (torch.zeros(N, T, I),)), folder / "encoder.pt2")
    torch.save(gru(5, batch_first=True), folder / "whole_module.pt")
    torch.save(torch.nn.LSTM(I, H).state_dict(), folder / "lstm.pt")
    torch.save(torch.nn.Linear(I, H).state_dict(), folder / "linear.pt")
    torch.save(torch.nn.GRUCell(I, H).state_dict(), folder / "cell.pt")
    for name in ("plain.pt", "stacked_bi.pth", "no_bias.pt", "nested.pt", "scripted_gru.ts", "encoder.torchscript",
                 "encoder.pt2", "whole_module.pt", "lstm.pt", "linear.pt", "cell.pt"):
        out[name.replace(".pt2", "_pt2").split(".")[0]] = folder / name
    return out


class _RunsCode:
    """Unpickling this creates a file: proof that code from the pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


@pytest.fixture
def code_running_pickle(tmp_path: Path) -> tuple[Path, Path]:
    """A .pt file whose unpickling would create ``marker``."""
    torch = pytest.importorskip("torch")
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    path = tmp_path / "evil.pt"
    torch.save({"weight_ih_l0": torch.zeros(3 * H, I), "payload": _RunsCode(marker)}, path)
    return path, marker


# --- TensorFlow ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tf_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One model per GRU family convert reads: TF1 GRUCell graphs and Keras GRUs of both reset modes."""
    tf = tf_module()
    import tf_keras as k2

    v1 = tf.compat.v1
    folder = tmp_path_factory.mktemp("tf")
    rng = np.random.default_rng(17)
    cell = v1.nn.rnn_cell.GRUCell

    def tf1(time_major: bool = False, dtype=tf.float32, h0: bool = False):
        def build() -> None:
            x = v1.placeholder(dtype, [None, None, I], "x")
            init = v1.placeholder(dtype, [None, H], "h0") if h0 else None
            o, s = v1.nn.dynamic_rnn(cell(H), x, initial_state=init, dtype=dtype, time_major=time_major)
            tf.identity(o, "output")
            tf.identity(s, "state")
        return build

    def bidirectional() -> None:
        x = v1.placeholder(tf.float32, [None, None, I], "x")
        (fw, bw), (sf, sb) = v1.nn.bidirectional_dynamic_rnn(cell(H), cell(H), x, dtype=tf.float32)
        tf.concat([fw, bw], -1, name="output")
        tf.stack([sf, sb], 0, name="state")

    def stacked() -> None:
        x = v1.placeholder(tf.float32, [None, None, I], "x")
        o, s = v1.nn.dynamic_rnn(v1.nn.rnn_cell.MultiRNNCell([cell(H), cell(H)]), x, dtype=tf.float32)
        tf.identity(o, "output")
        tf.stack(list(s), 0, name="state")

    graphs = {
        "tf1_dynamic": tf1(), "tf1_time_major": tf1(time_major=True), "tf1_initial_state": tf1(h0=True),
        "tf1_float64": tf1(dtype=tf.float64), "tf1_bidirectional": bidirectional, "tf1_stacked": stacked,
    }
    with warnings.catch_warnings():  # TF's deprecation notes about the TF1 API these models are made with
        warnings.simplefilter("ignore")
        out = {name: tf1_graph(tf, folder, name, build, rng) for name, build in graphs.items()}

    L = k2.layers

    def keras(name: str, *layers) -> Path:
        model = k2.Sequential([k2.Input((None, I), name="x"), *layers])
        for w in model.weights:
            w.assign(rng.uniform(-0.9, 0.9, tuple(w.shape)).astype(np.float32))
        with warnings.catch_warnings():  # "HDF5 is legacy": the .h5 form is what is being tested
            warnings.simplefilter("ignore")
            model.save(str(folder / name))
        return folder / name

    out["keras_reset_after"] = keras("reset_after.h5", L.GRU(H, return_sequences=True))
    out["keras_reset_before"] = keras("reset_before.keras", L.GRU(H, return_sequences=True, reset_after=False))
    out["keras_bidirectional"] = keras(
        "bidirectional.keras", L.Bidirectional(L.GRU(H, return_sequences=True, reset_after=False))
    )
    out["keras_stacked"] = keras(
        "stacked.keras", L.GRU(H, return_sequences=True, reset_after=False), L.GRU(H, return_sequences=True)
    )
    return out


@pytest.fixture
def cli(capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str, str]]:
    """Run ``onnxgru`` in-process; returns (exit code, stdout, stderr)."""
    from onnxgru.cli import main

    def run(*argv: object) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("onnxgru: error: ") and "Traceback" not in err, err
    return lines[0]
