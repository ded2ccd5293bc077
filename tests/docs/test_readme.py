"""The README tells the truth: each output it shows is its command's real run (tools/readme.py), and each command it
suggests is one the CLI accepts."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from onnxgru.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def suggested() -> list[str]:
    """Every ``onnxgru ...`` line of the README's plain code blocks (comments cut)."""
    blocks = re.findall(r"^```\n(.*?)^```$", README, re.M | re.S)
    # a block that shows a run: its first line only (the rest is output)
    lines = [line for b in blocks for line in (b.splitlines()[:1] if b.startswith("$ ") else b.splitlines())]
    lines = [line.removeprefix("$ ").split("  #")[0].strip() for line in lines]
    return [line for line in lines if line.startswith("onnxgru ")]


def test_every_suggested_command_parses() -> None:
    commands = suggested()
    assert len(commands) >= 10, commands
    for command in commands:
        args, unknown = build_parser().parse_known_args(shlex.split(command)[1:])
        assert not unknown, f"README: `{command}`: {unknown} not understood"
    assert not any("--exporter dynamo" in c and re.search(r"\.pt\b", c) for c in commands)  # dynamo reads a .pt2


@pytest.mark.slow
def test_the_outputs_shown_are_the_runs() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "readme.py"), "--check"], capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, "README.md differs from the run (`make readme` rewrites it):\n" + done.stdout[-4000:]
    assert "2 command outputs equal their runs" in done.stdout or "command outputs equal" in done.stdout
