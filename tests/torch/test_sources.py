"""PyTorch sources: every file form read, its architecture inferred, run natively; pickles refused unless trusted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onnxgru.errors import UserError
from onnxgru.sources.load import LoadOptions, load
from onnxgru.verify.inputs import make_inputs
from onnxgru.verify.settings import Settings

from ..builders import against_reference
from .conftest import RUN, I, N, T, one_error_line

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# name: (layers, direction, time-major as a source, format)
FORMS = {
    "plain": (1, "forward", True, "state dict"),
    "stacked_bi": (2, "bidirectional", True, "state dict"),
    "no_bias": (1, "forward", True, "state dict"),
    "nested": (2, "forward", True, "state dict"),
    "scripted_gru": (2, "bidirectional", True, "TorchScript"),
    "encoder": (2, "forward", False, "TorchScript"),
    "encoder_pt2": (2, "forward", False, "ExportedProgram"),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_form_is_read_and_runs_like_the_reference(torch_models: dict[str, Path], name: str) -> None:
    layers, direction, time_major, fmt = FORMS[name]
    model = load(torch_models[name], "torch")
    assert model.kind == "torch" and len(model.layers) == layers
    assert model.form.startswith(fmt)
    assert {layer.attrs.direction for layer in model.layers} == {direction}
    assert {layer.attrs.linear_before_reset for layer in model.layers} == {1}
    assert model.time_major == time_major and model.layers[0].attrs.input_size == I
    run, _ = against_reference(model, steps=T, batch=N)
    assert run.taps and sum(t.count for t in run.taps) == layers
    if name.startswith("encoder"):  # the whole module ran: its Linear head's output is the first output
        assert next(iter(run.outputs.values())).shape == (N, T, 2)
    if name == "no_bias":
        assert not np.any(model.layers[0].B)


def test_batch_first_state_dict_changes_the_layout_not_the_numbers(torch_models: dict[str, Path]) -> None:
    model = load(torch_models["plain"], "torch", LoadOptions(batch_first=True))
    assert not model.time_major and model.form == "state dict (batch_first)"
    other = load(torch_models["plain"], "torch")
    inputs = make_inputs([model, other], Settings(seed=1, batch=N, steps=T))
    np.testing.assert_allclose(model.run(inputs).outputs["output0"], other.run(inputs).outputs["output0"], atol=1e-6)


def test_a_whole_module_needs_trust(torch_models: dict[str, Path], cli) -> None:
    code, _, err = cli("inspect", torch_models["whole_module"])
    assert code == 2 and "--trust-pickle" in one_error_line(err)
    code, out, _ = cli("inspect", torch_models["whole_module"], "--trust-pickle")
    assert code == 0 and "reset_after" in out


def test_a_code_running_pickle_is_refused_and_does_not_run(code_running_pickle, cli, tmp_path: Path) -> None:
    path, marker = code_running_pickle
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in (["inspect", path], ["compare", path, path], ["export", "torch", path, "-o", tmp_path / "o.onnx"]):
        code, _, err = cli(*command)
        assert code == 2 and "--trust-pickle" in one_error_line(err)
    assert not marker.exists(), "unpickling ran code from the file"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _rewrite(src: Path, dst: Path, replace: dict[str, bytes]) -> None:
    """A copy of the zip ``src`` with the entries whose name ends with a key of ``replace`` replaced (or added)."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        root = zin.namelist()[0].split("/")[0]
        done = set()
        for name in zin.namelist():
            key = next((k for k in replace if name.endswith(k)), None)
            zout.writestr(name, replace[key] if key else zin.read(name))
            done.add(key)
        for key in set(replace) - done:
            zout.writestr(f"{root}/{key}", replace[key])


@pytest.mark.parametrize("part", ["data/sample_inputs/model.pt", "data/aotinductor/model/model.so"])
def test_an_exported_program_that_would_run_code_is_refused(torch_models, code_running_pickle, cli, part: str) -> None:
    path, marker = code_running_pickle
    evil = path.with_name("evil.pt2")
    _rewrite(torch_models["encoder_pt2"], evil, {part: path.read_bytes() if part.endswith(".pt") else b"\x7fELF"})
    code, _, err = cli("inspect", evil)
    assert code == 2 and "--trust-pickle" in one_error_line(err) and "ExportedProgram" in err
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "words"),
    [("lstm", "not a GRU"), ("linear", "contains no GRU"), ("cell", "nn.GRUCell")],
)
def test_what_is_not_a_gru_is_a_user_error(torch_models: dict[str, Path], name: str, words: str) -> None:
    with pytest.raises(UserError, match=words):
        load(torch_models[name], "torch")


@pytest.mark.parametrize("data", [b"", b"not a torch file at all", b"PK\x03\x04 broken zip"])
def test_unreadable_files_are_one_sentence(tmp_path: Path, cli, data: bytes) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(data)
    code, _, err = cli("inspect", path)
    assert code == 2
    one_error_line(err)


def test_inspect_and_compare_accept_every_pytorch_source(torch_models: dict[str, Path], cli) -> None:
    for name in FORMS:
        code, out, err = cli("inspect", torch_models[name])
        assert code == 0 and "reset_after" in out, out + err
    # The same weights in three forms and two layouts: they agree.
    code, out, err = cli("compare", torch_models["encoder"], torch_models["encoder_pt2"], *RUN)
    assert code == 0, out + err
    code, out, err = cli("compare", torch_models["stacked_bi"], torch_models["scripted_gru"], *RUN)
    assert code == 0, out + err
    # A state dict holds the weights, not the code: its GRU runs, and the report says what did not (GRU011).
    code, out, err = cli("compare", torch_models["nested"], torch_models["encoder"], *RUN)
    assert code == 0 and "GRU011" in out and "head.weight" in out, out + err
    # Different weights: GRU004 names the difference and the outputs disagree.
    code, out, _ = cli("compare", torch_models["plain"], torch_models["no_bias"], *RUN)
    assert code == 1 and "GRU004" in out and "GRU010" in out
