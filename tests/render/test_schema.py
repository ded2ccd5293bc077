"""report.schema.json is the contract of ``--json``: it is a valid JSON Schema, and the reports of real commands
(inspect, compare, check, export, convert) match it. (tests/conftest.py also checks every Report the suite builds.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from onnxgru.cli import main
from onnxgru.report import SCHEMA_VERSION, schema

from ..conftest import random_layer

jsonschema = pytest.importorskip("jsonschema")


def validate(path: Path) -> dict:
    data = json.loads(path.read_text())
    jsonschema.Draft202012Validator(schema()).validate(data)
    assert data["schema_version"] == SCHEMA_VERSION
    return data


def test_the_schema_is_a_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    required = set(schema()["required"])
    assert {"verdict", "models", "pairs", "runtimes", "findings", "schema_version"} <= required


def test_a_report_missing_a_stable_key_is_refused() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"command": "check", "verdict": "pass"}, schema())


@pytest.mark.slow
def test_onnx_commands(stack_file, rng: np.random.Generator, tmp_path: Path) -> None:
    a = stack_file([random_layer(rng, 5, 4, linear_before_reset=0)], "a.onnx")
    b = stack_file([random_layer(rng, 5, 4, linear_before_reset=1)], "b.onnx")
    for argv in (["inspect", a], ["compare", a, b], ["check", "--onnx", a, "--runtimes", "onnxruntime,reference"]):
        out = tmp_path / f"{argv[0]}.json"
        assert main([*argv, "--json", str(out)]) in (0, 1)
        data = validate(out)
        assert data["command"] == argv[0] and data["exit_code"] == (0 if data["verdict"] == "pass" else 1)
    assert {f["code"] for f in validate(tmp_path / "compare.json")["findings"]} >= {"GRU001", "GRU010"}


@pytest.mark.slow
@pytest.mark.tf
@pytest.mark.torch
def test_framework_commands(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    from onnxgru import example

    p = example.paths()
    runs = {
        "export tf": ["export", "tf", p["tf"], "-o", str(tmp_path / "tf.onnx")],
        "export torch": ["export", "torch", p["exact"], "-o", str(tmp_path / "torch.onnx")],
        "convert": ["convert", p["tf"], "-o", str(tmp_path / "port.pt")],
    }
    for command, argv in runs.items():
        out = tmp_path / f"{command.replace(' ', '_')}.json"
        assert main([*argv, "--json", str(out)]) == 0
        assert validate(out)["command"] == command
