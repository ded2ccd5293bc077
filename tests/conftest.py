"""Shared fixtures: random, non-degenerate GRU layers and ONNX files built from them."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from onnxgru.core.spec import GRUAttrs, GRULayer


def random_layer(
    rng: np.random.Generator,
    input_size: int = 5,
    hidden: int = 4,
    direction: str = "forward",
    linear_before_reset: int = 1,
    name: str = "gru",
    scale: float = 0.6,
    **attrs: object,
) -> GRULayer:
    """A GRU layer with weights spread well away from zero (zero weights make every GRU return 0.5*h0)."""
    a = GRUAttrs(
        hidden_size=hidden, input_size=input_size, direction=direction, linear_before_reset=linear_before_reset, **attrs
    )
    d = a.num_directions
    return GRULayer(
        name,
        a,
        rng.normal(0, scale, (d, 3 * hidden, input_size)).astype(np.float32),
        rng.normal(0, scale, (d, 3 * hidden, hidden)).astype(np.float32),
        rng.normal(0, 0.4, (d, 6 * hidden)).astype(np.float32),
    )


def permute_gates(layer: GRULayer, perm: tuple[int, int, int]) -> GRULayer:
    """The same layer with its gate blocks reordered (new block i is old block perm[i]) in W, R and both biases."""
    from onnxgru.core.diff import _bias_gates, _gates

    return replace(layer, W=_gates(layer.W, perm, 1), R=_gates(layer.R, perm, 1),
                   B=_bias_gates(layer.B, perm, layer.attrs.hidden_size))


def with_attrs(layer: GRULayer, **changes: object) -> GRULayer:
    return replace(layer, attrs=replace(layer.attrs, **changes))


def save(model: object, path: Path) -> str:
    import onnx

    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(autouse=True, scope="session")
def _no_user_settings():
    """A developer's own settings stay out of the tests: ONNXGRU_MODELS would swap the bundled example, and
    ONNXGRU_DEBUG turns an internal error (exit 3, one line) into a traceback."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("ONNXGRU_MODELS", "ONNXGRU_DEBUG"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def stack_file(tmp_path: Path, rng: np.random.Generator):
    """Write a stack of layers as an ONNX file; returns its path."""
    from onnxgru.graph import build as onnx_build

    def make(layers: list[GRULayer], name: str = "model.onnx", **kw: object) -> str:
        return save(onnx_build.stack_model(layers, **kw), tmp_path / name)

    return make


def pytest_configure(config: pytest.Config) -> None:
    _validate_every_report()


# folders whose every test carries the folder's framework mark (tests/layout/test_marks.py holds them to it): their
# modules import the framework when collected (torch alone is 2.5 s), so a -m selecting none of their tests skips them
FRAMEWORK_FOLDERS = {"torch": "torch", "tf": "tf"}
MARKS = ("tf", "torch", "runtime", "slow")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    from _pytest.mark.expression import Expression

    mark = FRAMEWORK_FOLDERS.get(collection_path.name)
    expr = config.getoption("markexpr", "")
    if mark is None or not expr or collection_path.parent != Path(__file__).parent:
        return None
    compiled = Expression.compile(expr)
    others = [m for m in MARKS if m != mark]
    # a test there has the folder's mark and any of the others: skip the folder only when no such test is selected
    selectable = any(
        compiled.evaluate(lambda name, marks={mark, *extra}, **_: name in marks)
        for n in range(len(others) + 1)
        for extra in combinations(others, n)
    )
    return None if selectable else True


def _validate_every_report() -> None:
    """Every ``Report`` the suite builds, through any command or API, is checked against ``report.schema.json`` the
    moment it exists, as its ``--json`` rendering: the schema is the contract CI consumers parse against."""
    try:
        import jsonschema
    except ImportError:  # the dev extra pins it; without it the dedicated schema tests skip
        return
    import json

    from onnxgru import report as report_module
    from onnxgru.render import json_out

    cls = report_module.Report
    if getattr(cls, "_schema_checked", False):
        return
    validator = jsonschema.Draft202012Validator(report_module.schema())
    original = cls.__post_init__

    def post_init(self: report_module.Report) -> None:
        original(self)
        data = json.loads(json_out.render(self))
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
        assert not errors, f"a {self.command} report does not match report.schema.json: {errors[:5]}"

    cls.__post_init__ = post_init
    cls._schema_checked = True
