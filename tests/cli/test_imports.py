"""Frameworks are imported only when a command needs them; every module imports and every -h works."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

import onnxgru
from onnxgru.cli import main

from ..conftest import random_layer

HEAVY = ("tensorflow", "torch", "tf2onnx", "tf_keras", "keras", "openvino", "tract", "matplotlib")


@pytest.mark.slow  # spawns onnxgru in a child: seconds (make test-fast skips it)
def test_inspect_and_compare_of_onnx_never_import_frameworks(stack_file, rng: np.random.Generator) -> None:
    a = stack_file([random_layer(rng, 5, 4)], "a.onnx")
    code = (
        "import sys\n"
        "from onnxgru.cli import main\n"
        f"assert main(['inspect', {a!r}]) == 0\n"
        f"assert main(['compare', {a!r}, {a!r}]) == 0\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout


def test_every_module_imports_without_loading_a_framework() -> None:
    code = (
        "import importlib, pkgutil, sys, onnxgru\n"
        "for m in pkgutil.walk_packages(onnxgru.__path__, 'onnxgru.'):\n"
        "    if m.name != 'onnxgru.__main__':\n"
        "        importlib.import_module(m.name)\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout


@pytest.mark.parametrize("argv", [[], ["inspect"], ["compare"], ["check"], ["export"], ["convert"], ["fix"]])
def test_help_works(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "-h"])
    assert exc.value.code == 0
    assert "usage: onnxgru" in capsys.readouterr().out


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "onnxgru", "--version"], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == f"onnxgru {onnxgru.__version__}"


def test_package_walk_is_not_empty() -> None:
    names = [m.name for m in pkgutil.walk_packages(onnxgru.__path__, "onnxgru.")]
    assert "onnxgru.core.reference" in names and "onnxgru.cli" in names
    importlib.import_module("onnxgru.core.reference")
