"""The probe runs each runtime in a child process: a crash, a hang or a missing package is a result, not an exit."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import pytest

from onnxgru import runtimes
from onnxgru.core.spec import GRUAttrs
from onnxgru.runtimes.probe import ProbeResult, probe, probe_all

from .cases import BF16_ATOL, Case, is_reduced, reported_precision
from .fake_runtimes import register

pytestmark = pytest.mark.runtime


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the misbehaving runtimes."""
    register(monkeypatch, crashing="CRASHING", hanging="HANGING", refusing="REFUSING", absent="ABSENT",
             **{"tract-symbolic": "TRACT_SYMBOLIC"})


@pytest.fixture(scope="module")
def model_and_feeds():
    model, feeds, expected = Case(GRUAttrs(hidden_size=3, input_size=2, linear_before_reset=1)).build()
    return model, feeds, expected


def test_probe_runs_onnxruntime_and_returns_its_outputs(model_and_feeds) -> None:
    model, feeds, expected = model_and_feeds
    result = probe("onnxruntime", model, feeds)
    assert result and result.status == "ok" and result.version == runtimes.get("onnxruntime").version()
    np.testing.assert_allclose(result.outputs[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(result.outputs[1], expected[1], atol=1e-5)


def test_a_runtime_that_aborts_is_crashed_and_the_caller_lives_on(fakes, model_and_feeds) -> None:
    model, feeds, _ = model_and_feeds
    result = probe("crashing", model, feeds)
    assert not result and result.status == "crashed" and "SIGABRT" in result.detail and result.outputs is None


@pytest.mark.skipif(not runtimes.get("tract").available(), reason="tract is not installed")
def test_a_real_native_panic_is_crashed_with_the_panic_message(fakes, model_and_feeds) -> None:
    model, feeds, _ = model_and_feeds
    result = probe("tract-symbolic", model, feeds)
    assert result.status == "crashed" and "SIGABRT" in result.detail and "UndeterminedSymbol" in result.detail
    assert probe("tract", model, feeds), "onnxgru's tract runtime types the shapes first and does not crash"


def test_a_runtime_that_hangs_is_stopped_at_the_timeout(fakes, model_and_feeds) -> None:
    model, feeds, _ = model_and_feeds
    start = time.monotonic()
    result = probe("hanging", model, feeds, timeout=2.0)
    assert result.status == "crashed" and "did not finish within 2 s" in result.detail
    assert time.monotonic() - start < 60, "stopped, not waited for (it sleeps 600 s); generous for a busy machine"


def test_a_refusal_keeps_the_first_line_of_the_runtimes_words(fakes, model_and_feeds) -> None:
    model, feeds, _ = model_and_feeds
    result = probe("refusing", model, feeds)
    assert result.status == "refused" and result.detail == "this runtime has no GRU kernel" and result.version == "0"


def test_an_absent_package_is_unavailable_without_a_child(fakes, model_and_feeds, monkeypatch) -> None:
    import subprocess

    model, feeds, _ = model_and_feeds
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kw: pytest.fail(f"a child started: {args}"))
    result = probe("absent", model, feeds)
    assert result.status == "unavailable" and "onnxgru_no_such_package" in result.detail and result.version is None


def test_an_unknown_runtime_is_a_user_error(model_and_feeds) -> None:
    from onnxgru.errors import UserError

    model, feeds, _ = model_and_feeds
    with pytest.raises(UserError, match="unknown runtime 'nope'"):
        probe("nope", model, feeds)


def test_probe_all_runs_every_runtime_at_once_and_one_crash_spares_the_rest(fakes, model_and_feeds) -> None:
    model, feeds, expected = model_and_feeds
    names = [*runtimes.installed(), "crashing", "absent"]
    results = probe_all(names, model, feeds)
    assert list(results) == names and all(isinstance(r, ProbeResult) for r in results.values())
    assert results["crashing"].status == "crashed" and results["absent"].status == "unavailable"
    for name in runtimes.installed():
        result = results[name]
        assert result.status == "ok" and result.precision == reported_precision(name), (name, result.detail)
        atol = BF16_ATOL if is_reduced(result.precision) else 1e-5  # OpenVINO's default is bf16 on some CPUs
        np.testing.assert_allclose(result.outputs[1], expected[1], atol=atol, err_msg=f"{name} at {result.precision}")


def test_the_probe_leaves_nothing_of_its_own_in_the_temp_dir(fakes, model_and_feeds, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Job folders and tract's copies go, even after a crash. Only onnxgru's own names are looked at: runtimes and
    frameworks leave files of theirs in the temp dir (``.ses`` files, ``torchinductor_*`` folders)."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the children's
    model, feeds, _ = model_and_feeds
    results = probe_all([*runtimes.installed(), "crashing"], model, feeds)
    assert results["crashing"].status == "crashed"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("onnxgru-")] == []


def test_the_precision_a_runtime_reports_comes_back_from_the_child(monkeypatch, model_and_feeds) -> None:
    """The bf16 branch on any CPU, with a stand-in for OpenVINO on a CPU with AVX512_BF16 (ONNX Runtime in bf16)."""
    register(monkeypatch, openvino="OPENVINO_BF16")
    model, feeds, expected = model_and_feeds
    result = probe("openvino", model, feeds)
    assert result.status == "ok" and result.precision == "bf16" and is_reduced(result.precision)
    error = np.max(np.abs(result.outputs[0] - expected[0]))
    assert 1e-5 < error < BF16_ATOL


def test_openvino_results_say_the_precision_the_compiled_model_reports(model_and_feeds) -> None:
    pytest.importorskip("openvino")
    from onnxgru.runtimes.openvino_rt import default_precision

    model, feeds, _ = model_and_feeds
    results = probe_all(["openvino", "openvino-f32"], model, feeds)
    assert results["openvino-f32"].precision == "f32"
    assert results["openvino"].precision == default_precision()


def test_openvino_default_precision_follows_the_cpu() -> None:
    """bf16 by default exactly where the CPU computes bf16 natively (AVX512_BF16 or AMX): GRU008's premise."""
    pytest.importorskip("openvino")
    from onnxgru.runtimes.openvino_rt import default_precision

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"the bf16 rule is measured on x86-64 CPUs, not {platform.machine()} (elsewhere it may pick f16)")
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").is_file() else None
    if flags is None:
        pytest.skip("no /proc/cpuinfo to read the CPU's features from")
    native_bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    assert default_precision() == ("bf16" if native_bf16 else "f32")
