"""``onnxgru fix``: a PyTorch port whose GRU weights were copied in the wrong gate order becomes one that passes
``check`` against its source, in the port's own form; what no reordering repairs is refused, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import H, I, one_error_line, randomize

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.slow]

ORT = ["--runtimes", "onnxruntime"]


def _zr_swapped(t):  # torch's [r|z|n] rows with r and z exchanged: a [z|r|h] tensor pasted unchanged
    return torch.cat([t[H : 2 * H], t[:H], t[2 * H :]])


class Port(torch.nn.Module):
    """An nn.GRU inside a model, as ports are shipped."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(I, H, batch_first=True)

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.gru(x)[0]


@pytest.fixture(scope="module")
def keras_ports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Keras GRU(reset_after=True) and a reset_after=False one, with torch.nn.GRU ports whose weights were copied
    with a plain transpose (no gate reordering: GRU004), as TorchScript."""
    from onnxgru._lazy import require

    require("tensorflow", "build the Keras models")
    keras = pytest.importorskip("keras")
    d = tmp_path_factory.mktemp("fix")
    rng = np.random.default_rng(21)
    out = {}
    for name, reset_after in (("keras", True), ("reset_before", False)):
        model = keras.Sequential([keras.Input((None, I), name="x"),
                                  keras.layers.GRU(H, return_sequences=True, reset_after=reset_after)])
        for w in model.weights:
            w.assign(rng.uniform(-0.8, 0.8, tuple(w.shape)).astype(np.float32))
        model.save(str(d / f"{name}.keras"))
        kernel, recurrent, bias = model.layers[0].get_weights()
        port = Port()
        with torch.no_grad():  # the plain copy: transposed, gates left in Keras's [z|r|h] order
            port.gru.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
            port.gru.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
            b_ih, b_hh = (bias[0], bias[1]) if reset_after else (bias, np.zeros_like(bias))
            port.gru.bias_ih_l0.copy_(torch.from_numpy(b_ih))
            port.gru.bias_hh_l0.copy_(torch.from_numpy(b_hh))
        torch.jit.save(torch.jit.script(port.eval()), d / f"{name}_port.pt")
        out[name], out[f"{name}_port"] = d / f"{name}.keras", d / f"{name}_port.pt"
    return out


def _json(cli, report: Path, *argv: object) -> tuple[int, dict, str]:
    """The command line with a JSON report at ``report``: (exit code, report or {}, stderr)."""
    code, _, err = cli(*argv, "--json", report)
    return code, (json.loads(report.read_text()) if report.exists() else {}), err


@pytest.mark.tf
def test_a_plain_transpose_copy_of_keras_is_fixed_and_then_passes_check(keras_ports, cli, tmp_path: Path) -> None:
    port, fixed = keras_ports["keras_port"], tmp_path / "fixed.pt"
    code, _, _ = cli("check", "--tf", keras_ports["keras"], "--torch", port, *ORT, "-q")
    assert code == 1  # the port is wrong to begin with (GRU004)
    before = port.read_bytes()
    code, report, err = _json(cli, tmp_path / "fix.json", "fix", port, "--like", keras_ports["keras"], "-o", fixed,
                                *ORT)
    assert code == 0 and fixed.exists(), (err, report.get("findings"))
    assert report["command"] == "fix" and report["fix"]["written"] is True and report["fix"]["format"] == "torchscript"
    (repair,) = report["fix"]["repairs"]
    assert repair.startswith("layer 0 (gru.l0)") and "[r|z|h]" in repair and report["fix"]["max_abs"] <= 1e-6
    assert port.read_bytes() == before  # the port itself is left as it was
    # what `fix` promised: the written file passes `check` against the source on its own
    code, checked, err = _json(cli, tmp_path / "check.json", "check", "--tf", keras_ports["keras"], "--torch",
                                 fixed, *ORT)
    assert code == 0 and checked["verdict"] == "pass", (err, checked.get("findings"))
    assert checked["pairs"] and max(p["max_abs"] for p in checked["pairs"]) < 1e-5
    # and it is still plain TorchScript, loadable without onnxgru, with the same interface
    loaded = torch.jit.load(str(fixed))
    assert tuple(loaded(torch.zeros(2, 3, I)).shape) == (2, 3, H)


@pytest.mark.tf
def test_a_reset_before_source_is_refused_with_convert(keras_ports, cli, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.pt"
    code, _, err = cli("fix", keras_ports["reset_before_port"], "--like", keras_ports["reset_before"], "-o", fixed,
                       *ORT)
    line = one_error_line(err)
    assert code == 2 and "no weight mapping exists" in line
    assert f"onnxgru convert {keras_ports['reset_before']} -o OUT.pt" in line
    assert not fixed.exists() and not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def torch_ports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A two-layer bidirectional nn.GRU (TorchScript, the source) and ports of it as nested state dicts: one with z
    and r exchanged in every tensor (both layers, both directions), one with a weight changed (no reordering
    explains it)."""
    d = tmp_path_factory.mktemp("fix_torch")
    gru = torch.nn.GRU(I, H, num_layers=2, bidirectional=True)
    randomize(gru, 31)
    torch.jit.save(torch.jit.script(gru.eval()), d / "source.pt")
    state = gru.state_dict()
    torch.save({"model": {f"rnn.{k}": _zr_swapped(v) for k, v in state.items()}, "epoch": 7}, d / "swapped.pt")
    noisy = {f"rnn.{k}": v.clone() for k, v in state.items()}
    noisy["rnn.weight_hh_l1"][0, 0] += 0.5
    torch.save(noisy, d / "noisy.pt")
    return {"source": d / "source.pt", "swapped": d / "swapped.pt", "noisy": d / "noisy.pt"}


def test_z_and_r_swapped_in_a_nested_state_dict_are_fixed_in_its_own_form(torch_ports, cli, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.pt"
    code, report, err = _json(cli, tmp_path / "fix.json", "fix", torch_ports["swapped"], "--like",
                                torch_ports["source"], "-o", fixed, *ORT)
    assert code == 0 and fixed.exists(), (err, report.get("findings"))
    assert report["fix"]["format"] == "state dict" and len(report["fix"]["repairs"]) == 2  # both layers
    saved = torch.load(str(fixed), weights_only=True)
    assert saved["epoch"] == 7 and set(saved) == {"model", "epoch"}  # the file's structure kept
    want = torch.jit.load(str(torch_ports["source"])).state_dict()
    assert set(saved["model"]) == {f"rnn.{k}" for k in want}
    for k, v in want.items():
        assert torch.equal(saved["model"][f"rnn.{k}"], v), k
    code, _, err = cli("check", "--torch", torch_ports["source"], "--torch", fixed, *ORT, "-q")
    assert code == 0, err


def test_what_no_reordering_explains_is_refused(torch_ports, cli, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.pt"
    code, _, err = cli("fix", torch_ports["noisy"], "--like", torch_ports["source"], "-o", fixed, *ORT)
    line = one_error_line(err)
    assert code == 2 and "layer 1 (rnn.l1)" in line and "no gate permutation" in line and not fixed.exists()


def test_nothing_to_fix_passes_and_writes_nothing(torch_ports, cli, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.pt"
    code, out, err = cli("fix", torch_ports["source"], "--like", torch_ports["source"], "-o", fixed, *ORT)
    assert code == 0 and not fixed.exists(), err
    said = " ".join(out.split())  # the report is wrapped to a width
    assert "not written" in said and "(nothing to fix: the GRU weights of" in said


def test_the_output_may_not_be_the_port_or_another_form(torch_ports, cli, tmp_path: Path) -> None:
    port = torch_ports["swapped"]
    before = port.read_bytes()
    code, _, err = cli("fix", port, "--like", torch_ports["source"], "-o", port, "--force")
    assert code == 2 and "one of the inputs" in one_error_line(err) and port.read_bytes() == before
    code, _, err = cli("fix", port, "--like", torch_ports["source"], "-o", tmp_path / "fixed.onnx")
    assert code == 2 and "give a .pt path" in one_error_line(err) and not list(tmp_path.iterdir())


def test_the_python_api(torch_ports, tmp_path: Path) -> None:
    import onnxgru

    report = onnxgru.fix(torch_ports["swapped"], torch_ports["source"], tmp_path / "fixed.pt", "onnxruntime")
    assert report and report.fix is not None and report.fix.written and (tmp_path / "fixed.pt").exists()
    not_torch = tmp_path / "model.onnx"
    not_torch.write_bytes(b"not read")
    with pytest.raises(onnxgru.UserError, match="rewrites a PyTorch port"):
        onnxgru.fix(not_torch, torch_ports["source"], tmp_path / "other.pt")
    assert not (tmp_path / "other.pt").exists()
