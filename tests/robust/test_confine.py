"""The confined child (``onnxgru.confine``): what a hostile file could make it do, it cannot. Run as the command line
runs it (``python -m onnxgru``), every command loads and runs the models in a child that Landlock keeps from writing
outside its own folder, reading what the user did not name, or opening a TCP connection; the parent writes the
outputs it checked, and nothing else."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnxgru import cli, confine

pytestmark = pytest.mark.skipif(not confine.abi(), reason="this kernel has no Landlock")


def _try(what) -> str:
    try:
        what()
    except OSError as exc:
        return type(exc).__name__
    return "done"


def test_a_confined_child_writes_reads_and_connects_nowhere_else(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the user's own file")
    named = tmp_path / "named.txt"
    named.write_text("a model file")
    marker = tmp_path / "marker"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def work(files: confine.Written) -> int:
        said = {
            "write outside": _try(lambda: marker.write_text("x")),
            "read unnamed": _try(secret.read_text),
            "read named": _try(named.read_text),
            "connect": _try(lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close()),
            "own folder": _try(lambda: (Path(os.environ["TMPDIR"]) / "scratch").write_text("ok")),
            "home": os.environ["HOME"],
        }
        files.append((tmp_path / "out.json", repr(said).encode()))
        return 7

    try:
        code, files = confine.run_in_child(work, [named])
    finally:
        server.close()
    assert code == 7 and [p for p, _ in files] == [tmp_path / "out.json"]
    said = ast.literal_eval(files[0][1].decode())
    assert said["write outside"] == "PermissionError" and not marker.exists()
    assert said["read unnamed"] == "PermissionError" and said["read named"] == "done"
    assert said["connect"] == "PermissionError" and said["own folder"] == "done"
    assert not Path(said["home"]).exists()  # the child's folder is gone once it answered


def test_the_child_answers_with_data_only_and_a_crash_is_a_sentence(tmp_path: Path, capfd) -> None:
    code, files = confine.run_in_child(lambda files: os.kill(os.getpid(), 9) or 0, [])
    assert code == 3 and files == []
    assert "ended by SIGKILL" in capfd.readouterr().err


def _gru_onnx(path: Path) -> Path:
    rng = np.random.default_rng(3)
    h, i = 4, 3
    init = [helper.make_tensor(n, TensorProto.FLOAT, s, rng.normal(0, 0.5, s).astype(np.float32).ravel())
            for n, s in (("W", (1, 3 * h, i)), ("R", (1, 3 * h, h)), ("B", (1, 6 * h)))]
    node = helper.make_node("GRU", ["X", "W", "R", "B"], ["Y", "Y_h"], hidden_size=h)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, None, i])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)], init)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.slow
def test_the_command_line_runs_confined_and_writes_its_outputs(tmp_path: Path) -> None:
    model = _gru_onnx(tmp_path / "gru.onnx")
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    argv = [sys.executable, "-m", "onnxgru", "inspect", str(model), "--json", str(tmp_path / "r.json"), "-v"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.json").stat().st_size > 100 and "Landlock" not in done.stderr
    off = subprocess.run([*argv, "--force"], capture_output=True, text=True, timeout=300,
                         env={**env, "ONNXGRU_NO_LANDLOCK": "1"})
    assert off.returncode == 0 and off.stderr.count("no Landlock") == 1  # said once, with -v


def test_a_forged_answer_writes_nothing_the_command_did_not_declare(tmp_path: Path, monkeypatch, capsys) -> None:
    model = _gru_onnx(tmp_path / "gru.onnx")
    forged = tmp_path / "elsewhere.txt"
    monkeypatch.setattr(confine, "run_in_child", lambda work, read, limit=None: (0, [(forged, b"x")]))
    assert cli.main(["inspect", str(model), "--json", str(tmp_path / "r.json")], confined=True) == 2
    assert "no output of this command" in capsys.readouterr().err
    assert not forged.exists() and not (tmp_path / "r.json").exists()
