"""The console script in a real process: a refused request prints exactly one line on stderr, even after TensorFlow
or PyTorch were loaded (their native libraries write to file descriptor 2, which in-process tests cannot see)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def run(*argv: object) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "onnxgru", *map(str, argv)], capture_output=True, text=True, timeout=300
    )
    return proc.returncode, proc.stdout, proc.stderr


def one_sentence(code: int, out: str, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("onnxgru: error: "), err
    assert out == ""
    return lines[0]


@pytest.mark.tf
def test_after_tensorflow_loaded(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pb"
    junk.write_bytes(np.random.default_rng(0).bytes(512))
    assert "not a readable TensorFlow GraphDef" in one_sentence(*run("inspect", junk))


@pytest.mark.torch
def test_after_torch_loaded(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(1).bytes(512))
    assert "not a readable PyTorch file" in one_sentence(*run("export", "torch", junk, "-o", tmp_path / "o.onnx"))
    assert not (tmp_path / "o.onnx").exists()
