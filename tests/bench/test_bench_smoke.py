"""The benchmark script runs and prints its tables (tiny sizes, one round: a smoke test, never a timing test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@pytest.mark.torch  # the quick zoo section's model is a PyTorch tutorial's
def test_quick_bench_prints_the_ratio_and_scaling_tables() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--sections", "compare,scaling,zoo"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.startswith("machine: ") and "versions: " in out
    assert "side by side with" in out and "1 compare" in out and "onnxgru compare a.onnx b.onnx" in out
    assert "check --onnx scaling" in out and "baseline" in out
    # the owner's script ran (the bench fails on its exit 1)
    assert "7 zoo" in out and "torch_seq2seq_tutorial: check" in out
    assert "quick: tiny sizes, not a measurement" in out


def test_unknown_section_is_refused() -> None:
    done = subprocess.run([sys.executable, str(RUN), "--sections", "nope"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown sections" in done.stderr
