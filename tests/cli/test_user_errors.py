"""Every input a user can get wrong: exit 2, one plain sentence on stderr, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onnxgru.cli import main

from ..conftest import random_layer


@pytest.fixture
def good(stack_file, rng: np.random.Generator) -> str:
    return stack_file([random_layer(rng, 5, 4)], "good.onnx")


def run_error(args: list[str], capsys, tmp_path: Path) -> str:
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("onnxgru: error: ") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing may be written"
    return lines[0]


def _bytes_file(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


@pytest.mark.parametrize("command", ["inspect", "compare"])
def test_missing_file(command: str, good: str, tmp_path: Path, capsys) -> None:
    args = [command, str(tmp_path / "nope.onnx")] + ([good] if command == "compare" else [])
    assert "does not exist" in run_error(args + ["--json", str(tmp_path / "r.json")], capsys, tmp_path)


def test_empty_file(tmp_path: Path, capsys) -> None:
    assert "empty" in run_error(["inspect", _bytes_file(tmp_path, "e.onnx", b"")], capsys, tmp_path)


def test_truncated_file(good: str, tmp_path: Path, capsys) -> None:
    data = Path(good).read_bytes()
    bad = _bytes_file(tmp_path, "t.onnx", data[: len(data) // 2])
    assert "not a readable ONNX model" in run_error(["inspect", bad], capsys, tmp_path)


def test_random_bytes(tmp_path: Path, capsys) -> None:
    bad = _bytes_file(tmp_path, "r.onnx", np.random.default_rng(0).bytes(4096))
    msg = run_error(["compare", bad, bad], capsys, tmp_path)
    assert "not a readable ONNX model" in msg or "not an ONNX model" in msg


def test_model_without_gru(tmp_path: Path, capsys) -> None:
    import onnx
    from onnx import helper

    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2, 3])],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(g), str(path))
    assert "contains no GRU" in run_error(["inspect", str(path)], capsys, tmp_path)


def test_external_data_outside_the_folder(tmp_path: Path, rng: np.random.Generator, capsys) -> None:
    import onnx

    from onnxgru.graph import build as onnx_build

    layer = random_layer(rng, 5, 4)
    model = onnx_build.stack_model([layer])
    inner = tmp_path / "inner"
    inner.mkdir()
    onnx.save(
        model,
        str(inner / "m.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    (tmp_path / "weights.bin").write_bytes((inner / "weights.bin").read_bytes())
    m = onnx.load(str(inner / "m.onnx"), load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../weights.bin"
    onnx.save(m, str(inner / "evil.onnx"))
    msg = run_error(["inspect", str(inner / "evil.onnx")], capsys, tmp_path)
    assert "outside the model's folder" in msg
    # the same data inside the folder is fine
    assert main(["inspect", str(inner / "m.onnx")]) == 0


@pytest.mark.parametrize(
    "flags,words",
    [
        (["--atol", "-1"], "--atol must be"),
        (["--rtol", "nan"], "--rtol must be"),
        (["--batch", "1000000000"], "too large"),
        (["--steps", "0"], "at least 1"),
        (["--atol", "abc"], "not a number"),
        (["--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_flags(flags: list[str], words: str, good: str, tmp_path: Path, capsys) -> None:
    assert words in run_error(["compare", good, good, *flags], capsys, tmp_path)


def test_inputs_of_the_wrong_shape(good: str, tmp_path: Path, capsys) -> None:
    npz = tmp_path / "in.npz"
    np.savez(npz, x=np.ones((2, 3, 7), np.float32))
    assert "features" in run_error(["compare", good, good, "--inputs", str(npz)], capsys, tmp_path)
    np.savez(npz, x=np.ones((2, 3), np.float32))
    assert "rank 3" in run_error(["compare", good, good, "--inputs", str(npz)], capsys, tmp_path)
    np.savez(npz, x=np.full((2, 3, 5), np.nan, np.float32))
    assert "NaN" in run_error(["compare", good, good, "--inputs", str(npz)], capsys, tmp_path)


def test_existing_output_needs_force(good: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.json"
    out.write_text("keep me")
    assert "--force" in run_error(["compare", good, good, "--json", str(out)], capsys, tmp_path)
    assert out.read_text() == "keep me"
    assert main(["compare", good, good, "--json", str(out), "--force"]) == 0
    assert out.read_text().startswith("{")


def test_output_over_an_input_is_refused(good: str, tmp_path: Path, capsys) -> None:
    assert "one of the inputs" in run_error(["compare", good, good, "--json", good, "--force"], capsys, tmp_path)


def test_output_in_a_missing_folder(good: str, tmp_path: Path, capsys) -> None:
    assert "does not exist" in run_error(
        ["compare", good, good, "--json", str(tmp_path / "no" / "r.json")], capsys, tmp_path
    )


def test_unsupported_source(tmp_path: Path, capsys) -> None:
    src = _bytes_file(tmp_path, "model.tflite", b"TFL3" * 10)
    assert "not a source onnxgru reads" in run_error(["inspect", src], capsys, tmp_path)


def test_a_folder_that_is_not_a_saved_model(tmp_path: Path, capsys) -> None:
    (tmp_path / "d").mkdir()
    assert "not a TensorFlow SavedModel" in run_error(["inspect", str(tmp_path / "d")], capsys, tmp_path)


@pytest.mark.parametrize("flag", ["--budget", "--time-limit"])
@pytest.mark.parametrize("value", ["0", "-5", "inf"])
def test_a_time_bound_must_be_positive_and_finite(flag: str, value: str, good: str, tmp_path: Path, capsys) -> None:
    assert flag in run_error(["compare", good, good, flag, value], capsys, tmp_path)
