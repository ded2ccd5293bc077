"""The framework folders are skipped whole when ``-m`` selects none of their tests (``make test-fast`` would otherwise
import torch to collect tests it then deselects): that holds only while every module there carries the folder's mark."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ..conftest import FRAMEWORK_FOLDERS, pytest_ignore_collect

TESTS = Path(__file__).parents[1]


def module_marks(path: Path) -> set[str]:
    """The names ``pytestmark`` gives a test module (``pytest.mark.X`` or a list of them)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            return {n.attr for n in ast.walk(node.value) if isinstance(n, ast.Attribute)} - {"mark"}
    return set()


@pytest.mark.parametrize("folder", sorted(FRAMEWORK_FOLDERS))
def test_every_module_in_a_framework_folder_carries_its_mark(folder: str) -> None:
    modules = sorted((TESTS / folder).glob("test_*.py"))
    assert modules
    unmarked = [m.name for m in modules if FRAMEWORK_FOLDERS[folder] not in module_marks(m)]
    assert not unmarked, f"tests/{folder}: every module needs pytestmark with pytest.mark.{FRAMEWORK_FOLDERS[folder]}"


class Config:
    def __init__(self, expr: str) -> None:
        self.expr = expr

    def getoption(self, name: str, default: object = None) -> object:
        assert name == "markexpr"
        return self.expr


@pytest.mark.parametrize(
    ("expr", "skipped"),
    [
        ("not tf and not torch and not runtime and not slow", True),
        ("not torch", True),
        ("", False),
        ("slow", False),  # tests/torch holds slow tests too
        ("torch and slow", False),
        ("not slow", False),
        ("runtime and not torch", True),
    ],
)
def test_a_folder_is_skipped_only_when_none_of_its_tests_can_be_selected(expr: str, skipped: bool) -> None:
    got = pytest_ignore_collect(TESTS / "torch", Config(expr))  # type: ignore[arg-type]
    assert bool(got) is skipped
    assert pytest_ignore_collect(TESTS / "cli", Config(expr)) is None  # type: ignore[arg-type]
