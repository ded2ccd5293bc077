"""Golden outputs: ``--save-inputs`` read back by ``--inputs``, ``--save-outputs`` read back by ``check --against``
in another process, a tampered golden file caught as GRU010, and a file that is not one refused in one sentence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import onnxgru
from onnxgru.cli import main
from onnxgru.core.spec import GRUAttrs
from onnxgru.graph import build
from onnxgru.sources.load import LoadOptions, load
from onnxgru.verify.inputs import Given, by_name, make_inputs
from onnxgru.verify.settings import Settings

from ..conftest import random_layer, with_attrs
from ..whole.onnx_models import gru_model, weights

SRC = Path(__file__).resolve().parents[2] / "src"
FEDS = "onnxruntime(onnx:b.onnx)"  # the execution a tampered file changes


def onnxgru_process(*args: str) -> subprocess.CompletedProcess:
    """``python -m onnxgru ...`` in a process of its own, this source tree first on its path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("ONNXGRU_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "onnxgru", *args], capture_output=True, text=True, timeout=300,
                          env=env)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two-layer stacks with random weights: a.onnx, b.onnx (the same function under another name) and c.onnx
    (its first layer resets before the recurrent matmul: another GRU)."""
    folder = tmp_path_factory.mktemp("golden_models")
    rng = np.random.default_rng(20)
    layers = [random_layer(rng, 5, 4, "bidirectional", 1, name="l0"), random_layer(rng, 8, 4, name="l1")]
    other = [with_attrs(layers[0], linear_before_reset=0), layers[1]]
    out = {}
    for name, stack in (("a", layers), ("b", layers), ("c", other)):
        onnx.save(build.stack_model(stack), str(folder / f"{name}.onnx"))
        out[name] = str(folder / f"{name}.onnx")
    return out


@pytest.fixture(scope="module")
def golden(models: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``check --save-outputs`` in a process of its own: the file a training machine would hand on."""
    path = tmp_path_factory.mktemp("golden") / "g.npz"
    done = onnxgru_process("check", "--onnx", models["a"], "--onnx", models["b"], "--runtimes", "onnxruntime",
                           "--seed", "3", "--steps", "9", "--save-outputs", str(path), "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def report_of(path: Path) -> dict:
    return json.loads(path.read_text())


# --- the file ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_golden_file_is_plain_numpy_and_names_every_execution(golden: Path) -> None:
    with np.load(golden, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    labels = ["onnxruntime(onnx:a.onnx)", FEDS]
    assert meta["labels"] == labels and meta["command"] == "check" and meta["onnxgru_version"] == onnxgru.__version__
    assert meta["settings"] == {"seed": 3, "batch": 3, "steps": 9, "atol": 1e-5, "rtol": 1e-5}
    assert arrays["input/x"].shape == (3, 9, 5) and arrays["input/h0"].shape == (3, 3, 4)
    for label in labels:
        assert arrays[f"{label}/out/output"].shape == (3, 9, 4) and arrays[f"{label}/out/state"].shape == (3, 3, 4)
        assert arrays[f"{label}/tap/0/X"].shape == (3, 9, 5) and arrays[f"{label}/tap/1/X"].shape == (3, 9, 8)
        assert np.array_equal(arrays[f"{label}/tap/0/X"], arrays["input/x"])  # the GRU taps, by name
        assert [t["layers"] for t in next(e for e in meta["executions"] if e["label"] == label)["taps"]] == [
            ["l0"], ["l1"]]


# --- held against it in another process -------------------------------------------------------------------------
@pytest.mark.slow
def test_golden_outputs_round_trip_across_two_processes(models: dict[str, str], golden: Path, tmp_path: Path) -> None:
    js = tmp_path / "r.json"
    done = onnxgru_process("check", "--onnx", models["a"], "--onnx", models["b"], "--runtimes", "onnxruntime",
                           "--against", str(golden), "--json", str(js))
    assert done.returncode == 0, done.stdout + done.stderr
    report = report_of(js)
    held = [p for p in report["pairs"] if p["b"].startswith("golden:")]
    assert {(p["a"], p["b"], p["output"]) for p in held} == {
        (label, f"golden:{label}", output) for label in ("onnxruntime(onnx:a.onnx)", FEDS)
        for output in ("output", "state")}
    assert all(p["passed"] and p["max_abs"] <= 1e-6 for p in held)
    assert report["inputs"]["seed"] is None and str(golden) in report["inputs"]["how"]
    assert report["inputs"]["steps"] == 9, "the saved inputs are fed, not --steps' default"
    assert not [f for f in report["findings"] if f["code"] in ("GRU010", "GRU011")]


@pytest.mark.slow
def test_a_tampered_golden_file_is_a_gru010_naming_the_execution_and_output(models: dict[str, str], golden: Path,
                                                                         tmp_path: Path) -> None:
    with np.load(golden, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    key = f"{FEDS}/out/output"
    arrays[key] = arrays[key].copy()
    arrays[key][:, 4:] += 0.05  # from step 4 on: visible, and where the report says it starts
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **arrays)
    js = tmp_path / "r.json"
    code = main(["check", "--onnx", models["a"], "--onnx", models["b"], "--runtimes", "onnxruntime",
                 "--against", str(tampered), "--json", str(js), "-q"])
    report = report_of(js)
    assert code == 1 and report["verdict"] == "fail"
    gru010 = [f for f in report["findings"] if f["code"] == "GRU010"]
    assert [f["where"] for f in gru010] == [f"{FEDS} vs golden:{FEDS}: output"]
    assert "0.05" in gru010[0]["message"] and "from step 4" in gru010[0]["message"]
    assert "every GRU layer agrees" in gru010[0]["message"], "the taps place it after the last GRU"
    failed = [p for p in report["pairs"] if not p["passed"]]
    assert [(p["a"], p["output"]) for p in failed] == [(FEDS, "output")]
    assert failed[0]["per_step_max_abs"][3] == 0 and failed[0]["per_step_max_abs"][4] == pytest.approx(0.05)


@pytest.mark.slow
def test_executions_without_a_counterpart_are_said_and_nothing_held_is_no_pass(models: dict[str, str],
                                                                              golden: Path) -> None:
    report = onnxgru.check(onnx=[models["a"]], runtimes="onnxruntime", against=golden)
    assert report and [(f.code, f.where) for f in report.findings if f.code == "GRU011"] == [
        ("GRU011", f"{golden}: {FEDS}")]
    renamed = Path(golden).parent / "renamed.onnx"
    renamed.write_bytes(Path(models["a"]).read_bytes())
    report = onnxgru.check(onnx=[str(renamed)], runtimes="onnxruntime", against=golden)
    said = {(f.severity, f.where) for f in report.findings if f.code == "GRU011"}
    assert not report and report.exit_code == 1
    assert said == {("warning", f"onnxruntime(onnx:renamed.onnx) vs {golden}"),
                    ("warning", f"{golden}: onnxruntime(onnx:a.onnx), {FEDS}"), ("error", f"--against {golden}")}


# --- what is not a golden file ----------------------------------------------------------------------------------
def run_error(args: list[str], capsys, folder: Path) -> str:
    before = sorted(p.name for p in folder.iterdir())
    assert main(args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("onnxgru: error: "), lines
    assert sorted(p.name for p in folder.iterdir()) == before, "nothing may be written"
    return lines[0]


@pytest.fixture
def compared(models: dict[str, str], tmp_path: Path) -> Path:
    """A golden file written in this process, by ``compare`` (no runtime children)."""
    path = tmp_path / "compared.npz"
    report = onnxgru.compare(models["a"], models["b"], save_outputs=path)
    assert report and path.exists()
    return path


def test_a_file_that_is_not_golden_is_one_sentence(models: dict[str, str], compared: Path, tmp_path: Path,
                                                  capsys) -> None:
    check = ["check", "--onnx", models["a"], "--runtimes", "onnxruntime", "--json", str(tmp_path / "r.json")]
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones((3, 9, 5), np.float32))
    assert "not a golden file" in run_error([*check, "--against", str(plain)], capsys, tmp_path)
    pickled = tmp_path / "pickled.npz"
    with np.load(compared, allow_pickle=False) as data:
        np.savez(pickled, **{k: data[k] for k in data.files}, extra=np.array([{"a": 1}], dtype=object))
    assert "pickled Python objects" in run_error([*check, "--against", str(pickled)], capsys, tmp_path)
    assert "does not exist" in run_error([*check, "--against", str(tmp_path / "missing.npz")], capsys, tmp_path)
    reshaped = tmp_path / "reshaped.npz"
    with np.load(compared, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["A:a.onnx/out/output"] = arrays["A:a.onnx/out/output"][:, :5]
    np.savez(reshaped, **arrays)
    said = run_error([*check, "--against", str(reshaped)], capsys, tmp_path)
    assert "does not hold what its metadata lists" in said and "A:a.onnx/out/output" in said
    assert "leave out --inputs" in run_error([*check, "--against", str(compared), "--inputs", str(plain)], capsys,
                                             tmp_path)


def test_golden_files_are_outputs_under_the_file_policy(models: dict[str, str], compared: Path, tmp_path: Path,
                                                        capsys) -> None:
    check = ["check", "--onnx", models["a"], "--runtimes", "onnxruntime"]
    assert "one of the inputs" in run_error([*check, "--against", str(compared), "--save-outputs", str(compared),
                                             "--force"], capsys, tmp_path)
    assert "already exists" in run_error([*check, "--save-inputs", str(compared)], capsys, tmp_path)
    assert ".npz" in run_error([*check, "--save-outputs", str(tmp_path / "g.json")], capsys, tmp_path)
    assert "same file" in run_error([*check, "--save-outputs", str(tmp_path / "g.npz"), "--save-inputs",
                                     str(tmp_path / "g.npz")], capsys, tmp_path)


def test_compare_saves_a_self_contained_golden_file(compared: Path) -> None:
    with np.load(compared, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        assert meta["labels"] == ["A:a.onnx", "B:b.onnx"] and meta["command"] == "compare"
        assert {f"input/{n}" for n in meta["inputs"]["names"]} == {"input/x", "input/h0"}
        assert np.array_equal(data["A:a.onnx/out/output"], data["B:b.onnx/out/output"])


# --- --save-inputs read back by --inputs ------------------------------------------------------------------------
def test_saved_inputs_read_back_give_the_same_report(models: dict[str, str], tmp_path: Path) -> None:
    saved = tmp_path / "inputs.npz"
    first = onnxgru.compare(models["a"], models["c"], seed=7, steps=9, save_inputs=saved).to_dict()
    again = onnxgru.compare(models["a"], models["c"], inputs_file=str(saved)).to_dict()
    assert first["verdict"] == again["verdict"] == "fail"
    assert [(p["output"], p["max_abs"], p["per_step_max_abs"]) for p in first["pairs"]] == [
        (p["output"], p["max_abs"], p["per_step_max_abs"]) for p in again["pairs"]]
    assert min(p["max_abs"] for p in first["pairs"]) > 1e-2
    assert first["inputs"]["seed"] == 7 and again["inputs"]["how"] == f"from {saved}"
    with np.load(saved, allow_pickle=False) as data:
        assert sorted(data.files) == ["h0", "x"]


@pytest.mark.parametrize("shape", ["time_major_x", "lengths", "layout1_state"])
def test_saved_inputs_keep_each_input_in_its_own_form(shape: str, tmp_path: Path) -> None:
    """Inputs by the model's own names, in its own layout (a time-major sequence, lengths, a batch-major state) --
    except ``x`` and ``h0``, which ``--inputs`` reads in the canonical form -- read back to the same inputs."""
    rng = np.random.default_rng(5)
    path = tmp_path / "m.onnx"
    if shape == "time_major_x":
        onnx.save(build.stack_model([random_layer(rng, 5, 4), random_layer(rng, 4, 4)], time_major=True), path)
    else:
        attrs = GRUAttrs(hidden_size=4, input_size=3, layout=int(shape == "layout1_state"))
        kw = {"lens": True} if shape == "lengths" else {"h0_shape": ["N", 1, 4]}
        onnx.save(gru_model(attrs, *weights(rng, attrs), x_shape=["T", "N", 3] if shape == "lengths"
                            else ["N", "T", 3], outputs=("Y", "Y_h"), **kw), path)
    model = load(str(path), "m", LoadOptions(), kind="onnx")
    settings = Settings(seed=5, batch=2, steps=7)
    made = make_inputs([model], settings)
    back = make_inputs([model], settings, given_arrays=Given(by_name(model, made), "--inputs", "given"))
    assert len(made.data) == len(back.data) and all(np.array_equal(a, b) for a, b in zip(made.data, back.data))
    assert (made.h0 is None) == (back.h0 is None) and (made.h0 is None or np.array_equal(made.h0, back.h0))
