"""JUnit agrees with the exit code: failures are exactly the findings that fail the run, warnings ride along in
system-out, names are unique, and the suite carries its time and the run's properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from onnxgru.core.findings import Finding
from onnxgru.render import junit

from .reports import example_like, warnings_only


def suite(report) -> ET.Element:
    root = ET.fromstring(junit.render(report))
    assert root.tag == "testsuites"
    return root.find("testsuite")


def failures(s: ET.Element) -> list[ET.Element]:
    return [c for c in s.findall("testcase") if c.find("failure") is not None]


def test_warnings_and_reduced_precision_mismatches_are_not_failures() -> None:
    """The bundled example on a bf16 machine: OpenVINO rows are `mismatch` with GRU008 warnings, and the job is
    green. The XML must be green too."""
    report = warnings_only()
    s = suite(report)
    assert report.exit_code == 0
    assert int(s.get("failures")) == len(failures(s)) == 0
    outs = [c.findtext("system-out") or "" for c in s.findall("testcase")]
    assert sum("warning GRU008" in o for o in outs) == 5 and sum("warning GRU009" in o for o in outs) == 2
    ov = [c for c in s.findall("testcase") if c.get("name").startswith("openvino:")]
    assert len(ov) == 5 and all("GRU008" in (c.findtext("system-out") or "") for c in ov)


def test_failures_equal_the_error_findings() -> None:
    report = example_like()
    s = suite(report)
    errors = [f for f in report.to_dict()["findings"] if f["severity"] == "error"]
    assert report.exit_code == 1
    assert int(s.get("failures")) == len(failures(s)) == len(errors) == 5
    assert {c.find("failure").get("type") for c in failures(s)} == {"GRU001", "GRU010"}


def test_fail_on_warning_and_ignore_move_the_count_with_the_exit_code() -> None:
    strict = warnings_only().with_policy(fail_on="warning")
    assert strict.exit_code == 1 and int(suite(strict).get("failures")) == 7
    quiet = strict.with_policy(ignore=["GRU008", "GRU009"])
    assert quiet.exit_code == 0 and int(suite(quiet).get("failures")) == 0
    loud = example_like().with_policy(ignore=["GRU010"])
    assert loud.exit_code == 1 and int(suite(loud).get("failures")) == 1  # the GRU001 stays


def test_two_failing_findings_on_one_row_fail_two_cases() -> None:
    report = example_like()
    row = report.runtimes[1]
    extra = Finding("GRU007", "error", "refused", f"{row.runtime}: {row.model}")
    extra2 = Finding("GRU010", "error", "differs", f"{row.runtime}: {row.model}")
    from dataclasses import replace

    both = replace(report, findings=report.findings + (extra, extra2))
    assert int(suite(both).get("failures")) == 7 == len([f for f in both.active_findings if f.severity == "error"])


def test_names_are_unique_and_the_suite_has_time_and_properties() -> None:
    from dataclasses import replace

    report = replace(example_like(), elapsed_s=12.5)
    report = replace(report, findings=report.findings + report.findings[:1])  # the same finding twice
    s = suite(report)
    keys = [(c.get("classname"), c.get("name")) for c in s.findall("testcase")]
    assert len(keys) == len(set(keys))
    assert s.get("time") == "12.500" and s.get("timestamp")
    props = {p.get("name"): p.get("value") for p in s.find("properties")}
    assert props["command"] == "check" and props["verdict"] == "fail" and props["inputs.seed"] == "0"
    assert props["runtime.openvino"] == "2026.4.1" and props["atol"] == "1e-05"


def test_an_absent_runtime_is_skipped() -> None:
    s = suite(example_like())
    skipped = [c for c in s.findall("testcase") if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped] == ["tract: export(blog/tf:gru.pb)"] and s.get("skipped") == "1"
