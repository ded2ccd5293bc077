"""The probe pool runs every model of a check in long-lived children, yet one runtime's crash or hang on one model
is that job's result only: the other runtimes and the later models still run (a fresh child takes over)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from onnxgru import runtimes
from onnxgru.core.spec import GRUAttrs
from onnxgru.graph.build import single_node
from onnxgru.runtimes.probe import ProbePool

pytestmark = pytest.mark.slow

# hidden 4 aborts the process, hidden 5 hangs, anything else runs in ONNX Runtime
FLAKY = """
import os, time
from onnxgru.runtimes import ort
from onnxgru.runtimes.base import Runtime

def _load(model):
    hidden = next(a.i for a in model.graph.node[0].attribute if a.name == "hidden_size")
    if hidden == 4:
        print("about to abort", flush=True)
        os.abort()
    if hidden == 5:
        time.sleep(60)
    return ort._load(model)

RUNTIME = Runtime("flaky", "onnxruntime", lambda: "0", _load)
"""


@pytest.fixture
def flaky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "flaky_rt.py").write_text(textwrap.dedent(FLAKY))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setitem(runtimes._MODULES, "flaky", "flaky_rt")
    return "flaky"


def _model(hidden: int):  # onnx.ModelProto
    rng = np.random.default_rng(hidden)
    return single_node(GRUAttrs(hidden_size=hidden, input_size=3), rng.normal(size=(1, 3 * hidden, 3)),
                       rng.normal(size=(1, 3 * hidden, hidden)))


def test_a_crash_or_hang_is_that_jobs_result_only(flaky: str) -> None:
    feeds = {"X": np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)}
    with ProbePool([flaky, "onnxruntime", "reference"], timeout=5) as pool:
        tickets = {h: pool.submit(_model(h), feeds, start=h != 6) for h in (3, 4, 5, 6)}
        got = {h: dict(pool.results(t)) for h, t in tickets.items()}
    assert [r.status for r in got[3].values()] == ["ok", "ok", "ok"]
    assert got[4][flaky].status == "crashed" and "SIGABRT" in got[4][flaky].detail
    assert got[5][flaky].status == "crashed" and "did not finish within 5 s" in got[5][flaky].detail
    assert got[6][flaky].status == "ok", "a fresh child takes the jobs after a crash"
    for h in (4, 5, 6):
        assert got[h]["onnxruntime"].status == got[h]["reference"].status == "ok", h
        np.testing.assert_allclose(got[h]["onnxruntime"].outputs[0], got[h]["reference"].outputs[0], atol=1e-5)


def test_a_runtime_past_its_share_of_the_command_budget_is_stopped(flaky: str) -> None:
    """A whole-command budget: the hanging job stops when what is left of the budget is spent (well before its
    per-run timeout), as ``stopped`` with the budget named, and so does the job behind it, which finds nothing left;
    given time again, the next model runs in a fresh child. The numpy-only reference gets half of what is left."""
    import time

    from onnxgru import limits

    feeds = {"X": np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)}
    budget = limits.Budget(6.0)
    began = time.monotonic()
    with ProbePool([flaky, "onnxruntime"], timeout=60, budget=budget) as pool:
        hung = dict(pool.results(pool.submit(_model(5), feeds)))
        stopped_after = time.monotonic() - began
        budget.seconds = 1e9  # what comes after has time again
        after = dict(pool.results(pool.submit(_model(3), feeds)))
    assert hung[flaky].status == "stopped" and "time budget of 6 s" in hung[flaky].detail, hung[flaky]
    assert 5 < stopped_after < 30, "stopped at the budget, not at the 60 s timeout"
    assert hung["onnxruntime"].status == "stopped"
    assert after[flaky].status == after["onnxruntime"].status == "ok"
    with ProbePool(["reference"], timeout=60, budget=limits.Budget(100.0)) as pool:
        job = pool.submit(_model(3), feeds)[0]
        allowed, budgeted = pool._allowance(job)
    assert budgeted and 45 < allowed <= 50


def test_unknown_and_missing_runtimes(monkeypatch: pytest.MonkeyPatch) -> None:
    from onnxgru.errors import UserError

    with pytest.raises(UserError, match="unknown runtime"):
        ProbePool(["nope"])
    monkeypatch.setitem(runtimes._MODULES, "ghost", "onnxgru.runtimes.ort")
    monkeypatch.setattr(runtimes.base.Runtime, "available", lambda self: self.package != "onnxruntime")
    with ProbePool(["ghost", "reference"]) as pool:
        got = dict(pool.results(pool.submit(_model(3), {"X": np.ones((2, 1, 3), np.float32)})))
    assert got["ghost"].status == "unavailable" and got["reference"].status == "ok"


def test_an_output_that_repeats_another_or_a_feed_crosses_once() -> None:
    """A GRU the model returns through Transpose/Reshape/Transpose, tapped: its tapped Y repeats the model's output
    and its tapped X the model's input, up to the order of their axes. The child writes each once; the parent rebuilds
    the repeats as views (of the output it read, of its own feed) with the runtime's very values."""
    from onnxgru.core import inputs as inp
    from onnxgru.core.spec import GRULayer
    from onnxgru.graph import build as onnx_build
    from onnxgru.runtimes.probe import probe
    from onnxgru.sources import onnx_model
    from onnxgru.sources.load import LoadOptions
    from onnxgru.verify.inputs import make_inputs
    from onnxgru.verify.settings import Settings

    rng = np.random.default_rng(5)
    W, R, B = (rng.uniform(-0.4, 0.4, s).astype(np.float32) for s in ((1, 192, 64), (1, 192, 64), (1, 384)))
    proto = onnx_build.stack_model([GRULayer("gru", GRUAttrs(64, 64), W, R, B)])
    m = onnx_model.from_proto(proto, "m.onnx", "m", LoadOptions())
    tapped, plan = m.handle.tapped()
    inputs = make_inputs([m], Settings(batch=8, steps=600))  # X and Y: 8 x 600 x 64 float32, 1.2 MiB each
    feeds = inp.feeds(m.signature, inputs)
    res = probe("onnxruntime", tapped, feeds)
    local = runtimes.get("onnxruntime").load(tapped)(feeds)
    assert res.status == "ok" and len(res.outputs) == len(local)
    for got, want in zip(res.outputs, local):
        np.testing.assert_array_equal(got, want)
    names = [o.name for o in tapped.graph.output]
    (node,) = plan.taps
    assert np.shares_memory(res.outputs[names.index(node.names["Y"])], res.outputs[names.index("output")])
    assert np.shares_memory(res.outputs[names.index(node.names["X"])], feeds["x"])
    assert float(np.abs(res.outputs[0]).max()) > 0.05


def test_repeats_are_found_by_value_not_by_shape() -> None:
    from onnxgru.core.numerics import repeated, repeats

    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 30, 256)).astype(np.float32)  # 1.2 MiB
    twin = np.ascontiguousarray(a.transpose(1, 0, 2))[:, None]  # (30, 1, 40, 256): a's values, other axes
    other = twin.copy()
    other[29, 0, 39, 255] += 1.0  # the same shape, one value apart
    small = a[:2].copy()
    found = repeats([a, twin, other, small, small.copy()], {"x": a[::-1].copy()})
    assert set(found) == {1}, found  # not the near twin, not below the size worth it, not a reversed feed
    what, axes = found[1]
    assert what == "#0" and np.array_equal(repeated(a, axes, twin.shape), twin)
