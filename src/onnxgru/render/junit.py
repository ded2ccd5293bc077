"""``--junit``: one test case per compared pair, per runtime and per finding, for CI dashboards."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from onnxgru.report import Report


def render(report: Report) -> bytes:
    d = report.to_dict()
    suite = ET.Element("testsuite", name=f"onnxgru {d['command']}")
    failures = 0

    def case(classname: str, name: str, failure: str | None = None, skipped: str | None = None) -> None:
        nonlocal failures
        tc = ET.SubElement(suite, "testcase", classname=classname, name=name)
        if failure is not None:
            failures += 1
            ET.SubElement(tc, "failure", message=failure[:500]).text = failure
        elif skipped is not None:
            ET.SubElement(tc, "skipped", message=skipped[:500])

    for p in d["pairs"]:
        verdict = (
            None
            if p["passed"]
            else (f"max abs {p['max_abs']:.3g} > atol {p['atol']:g} (needs atol {p['required_atol']:.3g})")
        )
        case("onnxgru.pairs", f"{p['a']} vs {p['b']}: {p['output']}", verdict)
    for r in d["runtimes"]:
        name = f"{r['runtime']}: {r['model']}"
        if r["status"] == "ok":
            case("onnxgru.runtimes", name)
        elif r["status"] == "unavailable":
            case("onnxgru.runtimes", name, skipped=r["detail"] or "not installed")
        else:
            case("onnxgru.runtimes", name, f"{r['status']}: {r['detail']}")
    for f in d["findings"]:
        name = f"{f['code']} {f['where']}".strip()
        case("onnxgru.findings", name, f["message"] if f["severity"] == "error" else None)
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(sum(1 for tc in suite if tc.find("skipped") is not None)))
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n"
