"""The README's command outputs are the run: every fenced block that starts with ``$ onnxgru ...`` is the real
command's standard output at 100 columns, run from the repository root. ``python tools/readme.py`` rewrites those
blocks from fresh runs (``make readme``); ``--check`` rewrites nothing and exits 1 with a diff where the README
and the run differ (tests/docs/test_readme.py)."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
WIDTH = 100
_BLOCK = re.compile(r"^```\n(\$ onnxgru [^\n]*)\n(.*?)^```$", re.M | re.S)


def commands(text: str) -> list[str]:
    """The commands whose output the README shows, in order."""
    return [m.group(1)[2:] for m in _BLOCK.finditer(text)]


def run(command: str) -> str:
    """What ``command`` prints, as a user at the repository root would see it in a 100-column terminal."""
    argv = shlex.split(command)
    assert argv[0] == "onnxgru", command
    env = {**os.environ, "COLUMNS": str(WIDTH), "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "onnxgru", *argv[1:]], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    if done.returncode not in (0, 1):
        raise SystemExit(f"`{command}` exited {done.returncode}:\n{done.stderr[-2000:]}")
    out = done.stdout.replace(f"{ROOT}/", "").replace(str(ROOT), ".")
    return "\n".join(line.rstrip() for line in out.rstrip().splitlines())


def rendered(text: str) -> str:
    """The README with every command block replaced by its run."""
    return _BLOCK.sub(lambda m: f"```\n{m.group(1)}\n{run(m.group(1)[2:])}\n```", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 with a diff where they differ")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = rendered(text)
    if args.check:
        diff = list(difflib.unified_diff(text.splitlines(), new.splitlines(), "README.md", "the run", lineterm=""))
        print("\n".join(diff) if diff else f"README.md: {len(commands(text))} command outputs equal their runs")
        return 1 if diff else 0
    if new != text:
        README.write_text(new, encoding="utf-8")
    print(f"README.md: {len(commands(text))} command outputs written from their runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
