"""ONNX models as exporters and ONNX's own node tests ship them: every output compared in every runtime, each GRU
tapped and held against the reference on its own input, inputs that fit the model's fixed shapes and feeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import run
from .onnx_models import build


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build(tmp_path_factory.mktemp("onnx_whole"))


def rows(report: dict, runtime: str) -> list[dict]:
    return [r for r in report["runtimes"] if r["runtime"] == runtime]


@pytest.mark.runtime
def test_final_state_only_is_compared_and_tract_reverse_is_caught(models, tmp_path, capsys) -> None:
    """test_gru_defaults' layout: Y_h is the only output. tract runs a reverse GRU forwards: its Y_h is wrong and the
    check must fail on it (it used to compare the sequence output only and pass)."""
    pytest.importorskip("tract")
    code, report, _ = run(["check", "--onnx", models["yh_only_reverse.onnx"], "--runtimes", "onnxruntime,tract"],
                          tmp_path, capsys)
    assert code == 1
    tract = rows(report, "tract")[0]
    assert tract["status"] == "mismatch" and tract["max_abs"] > 1e-2
    assert any(f["code"] == "GRU010" and "tract" in f["where"] and "reverse" in f["message"]
               for f in report["findings"])
    ort = rows(report, "onnxruntime")[0]
    assert ort["status"] == "ok" and ort["max_abs"] < 1e-5
    # the forward twin agrees everywhere: the failure above is the reverse pass, not the Y_h-only layout
    code, report, _ = run(["check", "--onnx", models["yh_only_forward.onnx"], "--runtimes", "onnxruntime,tract"],
                          tmp_path, capsys)
    assert code == 0 and all(r["status"] == "ok" for r in report["runtimes"])


@pytest.mark.slow
def test_fixed_input_shape_is_honoured(models, tmp_path, capsys) -> None:
    """Every dim of X is fixed (6 steps, 2 rows): the generated inputs fit it, so no runtime 'refuses' the model."""
    code, report, _ = run(["check", "--onnx", models["yh_only_forward.onnx"], "--runtimes", "onnxruntime",
                           "--batch", "5", "--steps", "9"], tmp_path, capsys)
    assert code == 0, report["findings"]
    assert (report["inputs"]["batch"], report["inputs"]["steps"]) == (2, 6)
    assert not [f for f in report["findings"] if f["code"] == "GRU007"]
    assert report["gru_checks"] and all(c["passed"] for c in report["gru_checks"])


@pytest.mark.runtime
def test_layout1_initial_h_is_fed_batch_major(models, tmp_path, capsys) -> None:
    """A layout=1 GRU takes initial_h as (batch, directions, hidden): fed that shape, tract and the ONNX reference
    evaluator compute it and agree with the reference GRU (ONNX Runtime's CPU GRU refuses layout=1: known)."""
    pytest.importorskip("tract")
    code, report, _ = run(["check", "--onnx", models["layout1_h0.onnx"], "--runtimes", "tract,reference"],
                          tmp_path, capsys)
    assert code == 0, report["findings"]
    assert [r["status"] for r in report["runtimes"]] == ["ok", "ok"]
    checks = [c for c in report["gru_checks"] if "tract" in c["execution"] or "reference" in c["execution"]]
    assert len(checks) == 2 and all(c["passed"] and c["max_abs"] < 1e-5 for c in checks)


@pytest.mark.slow
def test_sequence_lens_given_are_followed_by_the_reference(models, tmp_path, capsys) -> None:
    """--input sequence_lens=lens.npy with short rows: the reference GRU runs each row to its length, so a correct
    ONNX Runtime is not accused (it used to be, by 0.11)."""
    lens = tmp_path / "lens.npy"
    np.save(lens, np.array([12, 5, 1], np.int32))
    code, report, _ = run(["check", "--onnx", models["lens.onnx"], "--runtimes", "onnxruntime", "--input",
                           f"sequence_lens={lens}"], tmp_path, capsys)
    assert code == 0, report["findings"]
    assert rows(report, "onnxruntime")[0]["status"] == "ok"
    # and the lengths were really used: a reference that ignored them would differ from ONNX Runtime's zeros
    assert "sequence_lens" in report["inputs"]["how"]


@pytest.mark.slow
def test_constant_recurrent_weights_are_measured_not_guessed(models, tmp_path, capsys) -> None:
    """ONNX Runtime's own test weights (R constant): flipping linear_before_reset changes the outputs (measured), so
    no GRU006; inspect and compare measure too."""
    for argv in (["compare", models["constant_r.onnx"], models["constant_r.onnx"]],
                 ["check", "--onnx", models["constant_r.onnx"], "--runtimes", "onnxruntime"],
                 ["inspect", models["constant_r.onnx"]]):
        code, report, _ = run(argv, tmp_path, capsys)
        assert code == 0 and not [f for f in report["findings"] if f["code"] == "GRU006"], argv


@pytest.mark.slow
def test_weights_given_as_feeds_make_the_gru_checkable(models, tmp_path, capsys) -> None:
    """ONNX's node-test models take W, R, B as graph inputs: given with --input NAME=FILE.npy (or by name in
    --inputs), the GRU is described and checked; without them one sentence names what is missing."""
    folder = Path(models["weights_as_inputs.onnx"]).parent
    path = models["weights_as_inputs.onnx"]
    code, _, err = run(["check", "--onnx", path, "--runtimes", "onnxruntime"], tmp_path, capsys)
    assert code == 2 and "--input W=W.npy" in err
    given = [a for n in "WRB" for a in ("--input", f"{n}={folder / f'{n}.npy'}")]
    code, report, _ = run(["check", "--onnx", path, "--runtimes", "onnxruntime", *given], tmp_path, capsys)
    assert code == 0, report["findings"]
    layer = report["models"][0]["gru_layers"][0]
    assert layer["semantics"] == "reset_before" and layer["weights"]["R"]["std"] > 0.1
    assert report["gru_checks"] and all(c["passed"] for c in report["gru_checks"])
    code, report, _ = run(["check", "--onnx", path, "--runtimes", "onnxruntime", "--inputs",
                           models["weights_as_inputs.npz"], *given], tmp_path, capsys)
    assert code == 0 and report["inputs"]["how"].startswith("from ")


def test_a_value_the_model_already_has_is_not_tapped_twice(models, tmp_path) -> None:
    """At 10,000 steps a GRU's tapped Y is as big as the model's output: a GRU value that is a graph input or output
    is read from there (no second output added), and one the model returns through a Transpose and a Reshape is
    taken from that output (the same values bit for bit), so each execution holds it once."""
    import onnx

    from onnxgru.core.spec import GRUAttrs, GRULayer
    from onnxgru.graph import build as onnx_build
    from onnxgru.sources import onnx_model
    from onnxgru.sources.load import LoadOptions
    from onnxgru.verify.inputs import make_inputs
    from onnxgru.verify.settings import Settings

    m = onnx_model.load(models["lens.onnx"], "m", LoadOptions())
    proto, plan = m.handle.tapped()
    added = {o.name for o in proto.graph.output} - set(m.handle.output_names)
    assert not added & {"X", "Y", "Y_h", "sequence_lens"} and plan.fed == {"X", "sequence_lens"}
    inputs = make_inputs([m], Settings())
    run = m.run(inputs)
    (tap,) = run.taps
    assert np.shares_memory(tap.Y, run.outputs["Y"]) and np.shares_memory(tap.Y_h[0], run.outputs["Y_h"])
    assert np.shares_memory(tap.X, inputs.data[0])

    rng = np.random.default_rng(3)
    W, R, B = (rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in ((1, 12, 3), (1, 12, 4), (1, 24)))
    path = tmp_path / "stack.onnx"  # X through a Transpose; Y out through Transpose, Reshape, Transpose
    onnx.save(onnx_build.stack_model([GRULayer("gru", GRUAttrs(4, 3), W, R, B)]), str(path))
    m = onnx_model.load(path, "m", LoadOptions())
    inputs = make_inputs([m], Settings())
    run = m.run(inputs)
    (tap,) = run.taps
    assert tap.Y is run.outputs["output"] and tap.X is inputs.data[0]
    assert np.abs(tap.Y).max() > 0.05  # non-degenerate: the equality means something
