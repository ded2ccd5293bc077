"""What a report means, whatever shows it: the verdict line, the findings as root causes with their consequences
nested under them and repeats collapsed, which finding reports which failed comparison, and what was written. The
``Report`` offers these as attributes; text, Markdown, HTML and JUnit lay them out and none re-derives them.

A finding is a consequence when its ``cause`` names another finding of the report, or, before every command fills
``cause``, by rule: a GRU010 (two executions disagree) between two models that a GRU001-GRU004 already says differ
follows from that difference. Executions are matched to models through their labels: ``onnxruntime(export(X))``
and ``openvino: export(X)`` are executions of ``X``; ``A (path)`` is the model ``A``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from onnxgru.core.findings import SEVERITIES, Finding
from onnxgru.core.numerics import PairResult

if TYPE_CHECKING:
    from onnxgru.report import Report

_DIFF_CODES = ("GRU001", "GRU002", "GRU003", "GRU004")
_WRAPPER = re.compile(r"[\w.+-]+\((.*)\)")
_PAREN_TAIL = re.compile(r"\s+\([^()]*\)$")


@dataclass
class Group:
    """Findings of one code shown as one entry: ``members[0]`` speaks for the others (``×N``)."""

    members: list[Finding]
    consequences: list[Group] = field(default_factory=list)

    @property
    def first(self) -> Finding:
        return self.members[0]

    @property
    def code(self) -> str:
        return self.first.code

    @property
    def severity(self) -> str:
        return self.first.severity

    @property
    def count(self) -> int:
        return len(self.members)

    def consequence_count(self) -> int:
        return sum(g.count for g in self.consequences)


def base_model(label: str) -> str:
    """The model an execution label is about: ``onnxruntime(export(blog/tf:a.pb))`` -> ``blog/tf:a.pb``."""
    s = label.strip()
    if ": " in s and "(" in s.split(": ", 1)[1]:  # a runtime row: "openvino: export(X)"
        s = s.split(": ", 1)[1]
    while m := _WRAPPER.fullmatch(s):
        s = m.group(1)
    return _PAREN_TAIL.sub("", s)


def models_of(f: Finding) -> frozenset[str]:
    """The models a finding is about, as base names: its ``models``, or the two sides of ``A vs B: output``."""
    names = list(f.models)
    if not names and " vs " in f.where:
        a, _, rest = f.where.partition(" vs ")
        names = [a, rest.rsplit(": ", 1)[0]]
    return frozenset(base_model(n) for n in names)


def _cause_of(f: Finding, findings: tuple[Finding, ...]) -> Finding | None:
    if f.cause:
        named = [r for r in findings if r.ref == f.cause and r is not f]
        mine = models_of(f)
        return next((r for r in named if models_of(r) == mine), named[0] if named else None)
    if f.code != "GRU010":
        return None
    mine = models_of(f)
    if len(mine) != 2:
        return None
    roots = [r for r in findings if r.code in _DIFF_CODES and models_of(r) == mine]
    return min(roots, key=lambda r: r.code) if roots else None


def organise(findings: tuple[Finding, ...]) -> list[Group]:
    """Root causes first by severity, each with its consequences; repeats of a code with no consequences collapsed."""
    causes: dict[int, Finding] = {}
    for i, f in enumerate(findings):
        root = _cause_of(f, findings)
        seen = set()
        while root is not None and id(root) not in seen:  # follow a chain of causes to its start, once
            seen.add(id(root))
            causes[i] = root
            root = _cause_of(root, findings)
    roots = [f for i, f in enumerate(findings) if i not in causes]
    nested: dict[int, list[Finding]] = {id(r): [] for r in roots}
    for i, r in causes.items():
        nested.setdefault(id(r), []).append(findings[i])
    groups: list[Group] = []
    plain: dict[tuple[str, str], Group] = {}
    for r in roots:
        follow = nested.get(id(r), [])
        if follow:
            groups.append(Group([r], collapse(follow)))
        elif (r.code, r.severity) in plain:
            plain[(r.code, r.severity)].members.append(r)
        else:
            plain[(r.code, r.severity)] = g = Group([r])
            groups.append(g)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(groups, key=lambda g: order[g.severity])  # stable: first appearance within a severity


def collapse(findings: list[Finding]) -> list[Group]:
    groups: dict[tuple[str, str], Group] = {}
    for f in findings:
        groups.setdefault((f.code, f.severity), Group([])).members.append(f)
    return list(groups.values())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def pair_where(p: PairResult) -> str:
    """The ``where`` of the GRU010 that reports a failed pair (``findings.disagreement``'s default)."""
    return f"{p.a} vs {p.b}: {p.output}"


def covers(f: Finding, p: PairResult) -> bool:
    """True when ``f`` is the GRU010 that reports the failed pair ``p``."""
    if f.code != "GRU010":
        return False
    return f.where == pair_where(p) or (
        f.where.endswith(f": {p.output}") and f"{p.a} and {p.b} disagree on {p.output}" in f.message
    )


def headline(report: Report) -> str:
    """One line that holds the verdict and what it rests on, e.g.
    ``onnxgru check: FAIL - 6 errors (2 root causes), 10 warnings; 16 of 20 comparisons agree``."""
    groups = report.groups
    counts = report.counts()
    parts = []
    if counts["error"]:
        roots = sum(g.count for g in groups if g.severity == "error")
        said = _plural(counts["error"], "error")
        if roots != counts["error"]:
            said += f" ({_plural(roots, 'root cause')})"
        parts.append(said)
    if counts["warning"]:
        parts.append(_plural(counts["warning"], "warning"))
    if counts["info"]:
        parts.append(f"{counts['info']} info")
    if counts["ignored"]:
        parts.append(f"{counts['ignored']} ignored ({', '.join(sorted(report.ignore & _codes(report)))})")
    facts = [", ".join(parts) if parts else "no findings"]
    if report.pairs:
        agree = sum(1 for p in report.pairs if p.passed)
        facts.append(f"{agree} of {_plural(len(report.pairs), 'comparison')} agree")
    if report.runtimes:
        by: dict[str, int] = {}
        for r in report.runtimes:
            by[r.status] = by.get(r.status, 0) + 1
        facts.append("runtime runs: " + ", ".join(f"{n} {s}" for s, n in by.items()))
    if report.command == "inspect":
        layers = sum(len(m.gru_layers) for m in report.models)
        facts.insert(0, _plural(layers, "GRU layer"))
    verdict = report.verdict.upper()
    if report.fail_on != "error":
        verdict += f" (--fail-on {report.fail_on})"
    return f"onnxgru {report.command}: {verdict} - " + "; ".join(facts)


def written_line(report: Report) -> str:
    """For a command that writes a file (export, convert, fix): "written: FILE", or "not written: why", else ''."""
    said = report.export or report.convert or report.fix
    if said is None or not said.output:
        return ""
    if said.written:
        return f"written: {said.output}"
    errors = [f for f in report.active_findings if f.severity == "error"]
    unchanged = report.fix is not None and not report.fix.repairs
    why = f"{errors[0].code} {errors[0].message}" if errors else (
        f"nothing to fix: the GRU weights of {report.fix.port} already equal {report.fix.like}'s" if unchanged
        and report.fix is not None else "nothing to write")
    return f"not written: {said.output} ({why.rstrip('.')})"


def _codes(report: Report) -> set[str]:
    return {f.code for f in report.all_findings}

