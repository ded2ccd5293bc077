"""The knobs CI users expect: --json - to stdout, --ignore, --fail-on, per-output tolerances, -q/-v, explain, help
with kinds/examples/exit codes, per-framework export flags, near-miss suggestions, paths checked before imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onnxgru.cli import main
from onnxgru.core.spec import GRULayer

from ..conftest import random_layer


@pytest.fixture
def lbr0(stack_file, rng: np.random.Generator) -> str:
    """A reset-before ONNX GRU: a check of it passes with a GRU009 warning (no cuDNN for reset-before)."""
    return stack_file([random_layer(rng, 5, 4, linear_before_reset=0)], "lbr0.onnx")


@pytest.fixture
def near_pair(stack_file, rng: np.random.Generator) -> tuple[str, str]:
    """Two GRUs whose weights differ by 1e-4: outputs differ by about 1e-4, states too."""
    a = random_layer(rng, 5, 4)
    b = GRULayer(a.name, a.attrs, a.W + np.float32(2e-4), a.R, a.B)
    return stack_file([a], "a.onnx"), stack_file([b], "b.onnx")


def error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("onnxgru: error: "), err
    return err[0]


def test_json_dash_goes_to_stdout_and_the_text_to_stderr(lbr0: str, capsys, tmp_path: Path) -> None:
    assert main(["inspect", lbr0, "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["command"] == "inspect" and err.startswith("onnxgru inspect: PASS")
    assert not (Path.cwd() / "-").exists()
    assert main(["inspect", lbr0, "--json", "/dev/stdout"]) == 0
    assert json.loads(capsys.readouterr().out)["command"] == "inspect"
    assert main(["inspect", lbr0, "--json", "-", "--markdown", "-"]) == 2
    assert "only one report" in error_line(capsys)


def junit_failures(path: Path) -> int:
    import xml.etree.ElementTree as ET

    suite = ET.parse(path).getroot().find("testsuite")
    assert int(suite.get("failures")) == sum(1 for c in suite.iter("testcase") if c.find("failure") is not None)
    return int(suite.get("failures"))


@pytest.mark.slow  # spawns onnxgru and its runtime children: seconds each (make test-fast skips it)
def test_ignore_and_fail_on(lbr0: str, capsys, tmp_path: Path) -> None:
    args = ["check", "--onnx", lbr0, "--runtimes", "onnxruntime"]
    assert main([*args, "--junit", str(tmp_path / "a.xml")]) == 0  # a warning only: green, and so is the XML
    assert junit_failures(tmp_path / "a.xml") == 0 and "GRU009" in (tmp_path / "a.xml").read_text()
    assert "GRU009" in capsys.readouterr().out
    assert main([*args, "--fail-on", "warning", "--junit", str(tmp_path / "b.xml")]) == 1
    assert junit_failures(tmp_path / "b.xml") == 1
    capsys.readouterr()
    assert main([*args, "--fail-on", "warning"]) == 1
    assert capsys.readouterr().out.startswith("onnxgru check: FAIL (--fail-on warning)")
    out = tmp_path / "r.json"
    assert main([*args, "--fail-on", "warning", "--ignore", "GRU009", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "GRU009" in text.splitlines()[0] and "! GRU009" not in text  # counted as ignored, not shown
    report = json.loads(out.read_text())
    assert report["findings"] == [] and [f["code"] for f in report["ignored_findings"]] == ["GRU009"]
    assert report["policy"] == {"ignore": ["GRU009"], "fail_on": "warning"}
    assert main([*args, "--ignore", "GRU09"]) == 2
    assert "did you mean GRU009" in error_line(capsys)


def test_per_output_tolerances(near_pair: tuple[str, str], capsys, tmp_path: Path) -> None:
    a, b = near_pair
    out = tmp_path / "r.json"
    args = ["compare", a, b, "--ignore", "GRU004"]  # the weights differ on purpose, by 2e-4
    assert main([*args, "--json", str(out)]) == 1
    failed = {p["output"] for p in json.loads(out.read_text())["pairs"] if not p["passed"]}
    assert failed == {"output", "state"}
    assert main([*args, "--atol", "1e-2", "--atol", "state:1e-9", "--json", str(out), "-f"]) == 1
    pairs = {p["output"]: p for p in json.loads(out.read_text())["pairs"]}
    assert pairs["output"]["passed"] and not pairs["state"]["passed"] and pairs["state"]["atol"] == 1e-9
    assert main([*args, "--atol", "1e-2", "--json", str(out), "-f"]) == 0
    capsys.readouterr()
    assert main([*args, "--atol", "1e-2", "--atol", "stat:1e-9"]) == 0
    assert "names no compared output" in capsys.readouterr().err
    assert main(["compare", a, b, "--atol", "state:-1"]) == 2
    assert "--atol must be" in error_line(capsys)


@pytest.mark.slow
def test_quiet_and_verbose(lbr0: str, capsys) -> None:
    assert main(["compare", lbr0, lbr0, "-q"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("onnxgru compare: PASS")
    assert main(["check", "--onnx", lbr0, "--runtimes", "onnxruntime,reference", "-v"]) == 0
    out = capsys.readouterr().out
    assert "Runtimes:" in out and "agrees with the reference GRU" in out
    assert main(["compare", lbr0, lbr0, "-q", "-v"]) == 2
    assert "contradict" in error_line(capsys)


def test_explain(capsys) -> None:
    assert main(["explain", "GRU001"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("GRU001 (error)") and "onnxgru convert" in out and "Why:" in out and "Fix:" in out
    assert main(["explain", "gru008"]) == 0 and "INFERENCE_PRECISION_HINT" in capsys.readouterr().out
    assert main(["explain"]) == 0
    assert capsys.readouterr().out.count("GRU0") >= 11
    assert main(["explain", "GRU01"]) == 2
    said = error_line(capsys)
    assert "did you mean GRU01" in said  # GRU010, GRU011 or GRU001: one near miss, named


def test_every_code_is_explained() -> None:
    from onnxgru.core.catalog import CATALOG
    from onnxgru.request import CODES

    assert tuple(CATALOG) == CODES and all(e.cause and e.fix and e.title for e in CATALOG.values())


def help_of(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "-h"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["inspect"], ["compare"], ["check"], ["export", "tf"], ["export", "torch"],
                                  ["convert"]])
def test_help_lists_examples_and_exit_codes(argv: list[str], capsys) -> None:
    out = help_of(argv, capsys)
    assert "examples:" in out and "exit codes:" in out and "2  the request cannot be carried out" in out
    assert "sources (the kind is read from the path)" in out
    if argv[:1] != ["export"] and argv[:1] != ["convert"]:
        assert ".onnx" in out and ".keras" in out and "SavedModel" in out and ".pt2" in out  # the file kinds


def test_export_shows_only_its_frameworks_flags(capsys) -> None:
    tf = help_of(["export", "tf"], capsys)
    torch = help_of(["export", "torch"], capsys)
    assert "--exporter" not in tf and "--batch-first" not in tf and "--trust-pickle" not in tf
    assert "--input-names" in tf and "--time-major" in tf
    assert "--exporter" in torch and "--batch-first" in torch and "--input-names" not in torch


@pytest.mark.parametrize(
    "argv,words",
    [
        (["chek"], "did you mean 'check'"),
        (["compare", "a.onnx", "b.onnx", "--atl", "1e-3"], "did you mean --atol"),
        (["check", "--runtims", "onnxruntime"], "did you mean --runtimes"),
        (["check", "--onnx", "{good}", "--runtimes", "onxruntime"], "did you mean 'onnxruntime'"),
        (["export", "tf", "m.pb", "-o", "o.onnx", "--exporter", "dynamo"], "see `onnxgru export tf -h`"),
        (["export", "tensorflow", "m.pb"], "did you mean 'tf'"),
    ],
)
def test_near_misses_are_suggested(argv: list[str], words: str, lbr0: str, capsys) -> None:
    assert main([a.replace("{good}", lbr0) for a in argv]) == 2
    assert words in error_line(capsys)


def test_paths_are_checked_before_any_framework_import(tmp_path: Path) -> None:
    """A missing --torch file is refused before TensorFlow is imported for the --tf one (a real process: in this one
    another test may have imported it already)."""
    pb = tmp_path / "model.pb"
    pb.write_bytes(b"\x00" * 16)
    code = (
        "import sys\n"
        "from onnxgru.cli import main\n"
        f"code = main(['check', '--tf', {str(pb)!r}, '--torch', {str(tmp_path / 'missing.pt')!r}])\n"
        "print('CODE', code, 'HEAVY', [m for m in ('tensorflow', 'torch') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "CODE 2 HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "missing.pt" in out.stderr and "does not exist" in out.stderr
    wrong = subprocess.run([sys.executable, "-c", code.replace("'--torch'", "'--onnx'").replace("missing.pt", "x.pt")],
                           capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in wrong.stdout and "CODE 2" in wrong.stdout


def test_framework_logs_are_silenced_unless_verbose(monkeypatch) -> None:
    from onnxgru import _lazy

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    _lazy.set_verbose(True)
    try:
        assert _lazy.verbose() and "TF_CPP_MIN_LOG_LEVEL" not in __import__("os").environ
    finally:
        _lazy.set_verbose(False)
    assert not _lazy.verbose() and __import__("os").environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


@pytest.mark.tf
@pytest.mark.slow
def test_tensorflow_log_lines_only_with_vv() -> None:
    """TF's C++ lines ("failed call to cuInit", oneDNN notices) read like errors in a CI log: silent by default."""
    pytest.importorskip("tensorflow")
    from onnxgru import example

    pb = example.paths()["tf"]
    cmd = [sys.executable, "-m", "onnxgru", "inspect", pb]
    quiet = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    tables = subprocess.run([*cmd, "-v"], capture_output=True, text=True, timeout=300, env=env)
    assert tables.returncode == 0 and tables.stderr == "", "-v shows every table, not the frameworks' log lines"
    loud = subprocess.run([*cmd, "-vv"], capture_output=True, text=True, timeout=300, env=env)
    assert loud.returncode == 0 and loud.stderr.strip(), "with -vv the frameworks' own lines come through"


def test_an_unknown_ignored_code_is_one_sentence_with_one_stop() -> None:
    """A near miss ends on its question mark (not "GRU009?."); a code with none names the range, one full stop."""
    from onnxgru.errors import UserError
    from onnxgru.request import ignored_codes

    with pytest.raises(UserError) as near:
        ignored_codes(["GRU0009"])
    assert str(near.value).endswith("did you mean GRU009?")
    with pytest.raises(UserError) as far:
        ignored_codes(["XYZ"])
    assert str(far.value).endswith("codes are GRU001-GRU011.") and ".." not in str(far.value)
