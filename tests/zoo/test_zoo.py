"""The zoo's fast subset (``python -m zoo.run --fast``): models rebuilt from public repositories, each command
giving the exit code its truth calls for. ``make zoo`` runs every command; ``ZOO.md`` keeps its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.tf, pytest.mark.torch]


def test_every_builder_names_its_repository() -> None:
    """Each builder says whose architecture it rebuilds (repository and path) and what it returns."""
    for path in sorted((ROOT / "zoo" / "models").glob("[!_]*.py")):
        text = path.read_text()
        doc = text.split('"""')[1]
        assert "/" in doc and ("``" in doc), f"{path.name}: its docstring names no repository and path"
        assert "def build(out: Path) -> list[Run]" in text and "LEGACY_KERAS" in text, path.name


def test_fast_subset_gives_what_the_truth_calls_for(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "ONNXGRU_MODELS")}
    done = subprocess.run([sys.executable, "-m", "zoo.run", "--fast"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "MISSED" not in done.stdout and " of " in done.stdout
