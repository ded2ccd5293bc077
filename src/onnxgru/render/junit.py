"""``--junit``: the report as JUnit XML for CI dashboards, agreeing with the exit code.

One test case per compared pair, per runtime run, and per finding that belongs to neither. A case fails exactly when
a finding that fails the run (``Report.failing_findings``) belongs to it, and each such finding fails exactly one
case, so ``failures`` is the number of failing findings and is 0 exactly when the exit code is 0. Warnings (and
findings left out with ``--ignore``) are carried in the case's ``system-out``; a runtime that is not installed is a
skipped case. Names are unique; the suite carries the run's time and properties.
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from onnxgru.core.findings import Finding
from onnxgru.meaning import covers
from onnxgru.version import SCHEMA_VERSION, __version__

if TYPE_CHECKING:
    from onnxgru.report import Report


class _Case:
    def __init__(self, classname: str, name: str) -> None:
        self.classname, self.name = classname, name
        self.failure: Finding | None = None
        self.notes: list[str] = []
        self.skipped: str | None = None


def _cases(report: Report) -> list[_Case]:
    failing = {id(f) for f in report.failing_findings}
    ignored = {id(f) for f in report.ignored_findings}
    cases: list[_Case] = []
    taken: set[int] = set()  # findings that found their case

    def attach(case: _Case, f: Finding) -> bool:
        if id(f) in failing:
            if case.failure is not None:
                return False  # a case fails once; a second failing finding gets its own case
            case.failure = f
        else:
            label = "ignored" if id(f) in ignored else f.severity
            case.notes.append(f"{label} {f.code}: {f.message}")
        taken.add(id(f))
        return True

    group = f"onnxgru.{report.command.replace(' ', '.')}"
    findings = report.all_findings
    for p in report.pairs:
        case = _Case(f"{group}.pairs", f"{p.a} vs {p.b}: {p.output}")
        for f in findings:
            if id(f) not in taken and covers(f, p):
                attach(case, f)
        cases.append(case)
    for r in report.runtimes:
        case = _Case(f"{group}.runtimes", f"{r.runtime}: {r.model}")
        if r.status == "unavailable":
            case.skipped = r.detail or "not installed"
        where = f"{r.runtime}: {r.model}"
        for f in findings:
            if id(f) not in taken and f.where == where:
                attach(case, f)
        if r.status != "ok" and case.failure is None and not case.notes and r.status != "unavailable":
            case.notes.append(f"{r.status}: {r.detail}")
        cases.append(case)
    for f in findings:
        if id(f) not in taken:
            case = _Case(f"{group}.findings", f"{f.code} {f.where}".strip())
            attach(case, f)
            cases.append(case)
    seen: dict[str, int] = {}
    for case in cases:  # unique names: a dashboard merges cases of the same name
        key = f"{case.classname}/{case.name}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            case.name += f" #{seen[key]}"
    return cases


def _properties(report: Report) -> dict[str, str]:
    props = {
        "onnxgru_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "command": report.command,
        "verdict": report.verdict,
        "exit_code": str(report.exit_code),
        "fail_on": report.fail_on,
        "ignore": ",".join(sorted(report.ignore)),
    }
    for k, v in (report.inputs.to_dict() if report.inputs else {}).items():
        props[f"inputs.{k}"] = "" if v is None else str(v)
    if report.pairs:
        props["atol"], props["rtol"] = f"{report.pairs[0].atol:g}", f"{report.pairs[0].rtol:g}"
    for r in report.runtimes:
        props[f"runtime.{r.runtime}"] = r.version or ""
    return props


def render(report: Report) -> bytes:
    cases = _cases(report)
    failures = sum(1 for c in cases if c.failure is not None)
    skipped = sum(1 for c in cases if c.skipped is not None)
    elapsed = f"{report.elapsed_s or 0.0:.3f}"
    name = f"onnxgru {report.command}"
    counts: dict[str, Any] = {"tests": str(len(cases)), "failures": str(failures), "errors": "0",
                              "skipped": str(skipped), "time": elapsed}
    root = ET.Element("testsuites", name=name, **counts)
    suite = ET.SubElement(root, "testsuite", name=name, timestamp=_now(), **counts)
    props = ET.SubElement(suite, "properties")
    for k, v in _properties(report).items():
        ET.SubElement(props, "property", name=k, value=v)
    for c in cases:
        tc = ET.SubElement(suite, "testcase", classname=c.classname, name=c.name, time="0")
        if c.failure is not None:
            f = c.failure
            text = f"{f.code} ({f.severity}) {f.where}\n{f.message}"
            if f.cause:
                text += f"\ncaused by: {f.cause}"
            ET.SubElement(tc, "failure", message=f"{f.code}: {f.message}"[:500], type=f.code).text = text
        elif c.skipped is not None:
            ET.SubElement(tc, "skipped", message=c.skipped[:500])
        if c.notes:
            ET.SubElement(tc, "system-out").text = "\n".join(c.notes)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
