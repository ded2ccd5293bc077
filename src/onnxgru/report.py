"""The report every command returns: a frozen object made of typed entries (``entries``), with what it means beside
it (``meaning``: the verdict line, root causes, grouping), that text, JSON, JUnit, Markdown and plots render.
The entries and the meaning know no renderer; the report sits above the renderers only to give ``str()``,
``_repr_html_`` and ``VerificationError`` their text.

A report is true when it passed. What counts is set by its policy: ``ignore`` (codes left out of the verdict and
of every rendering but the JSON's ``ignored_findings``) and ``fail_on`` (the lowest severity that fails the run,
``"error"`` unless a user asks for ``"warning"``). Every failed comparison is a GRU010: where a command did not say so
itself, the report adds one, so the verdict, the exit code, the JUnit failures and the JSON findings always agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from importlib import resources

from onnxgru import meaning
from onnxgru.core.findings import SEVERITIES, Finding, disagreement
from onnxgru.core.numerics import PairResult
from onnxgru.core.taps import LayerCheck
from onnxgru.entries import (
    NO_EXECUTION,
    ConvertDetails,
    Example,
    ExportDetails,
    FixDetails,
    InputsEntry,
    ModelEntry,
    RuntimeResult,
)
from onnxgru.meaning import covers, pair_where
from onnxgru.render import markdown, text
from onnxgru.version import SCHEMA_VERSION, __version__

__all__ = ["FAIL_ON", "SCHEMA_VERSION", "ConvertDetails", "Example", "ExportDetails", "FixDetails", "InputsEntry",
           "ModelEntry", "Report", "RuntimeResult", "VerificationError", "covers", "pair_where", "schema"]

FAIL_ON = ("error", "warning", "info")
_RANK = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}  # error 3, warning 2, info 1


def schema() -> dict:
    """The JSON Schema of ``Report.to_dict()`` as written by ``--json`` (``report.schema.json``)."""

    return json.loads(resources.files("onnxgru").joinpath("report.schema.json").read_text(encoding="utf-8"))


class VerificationError(AssertionError):
    """``Report.raise_for_errors()``: the run failed; ``.report`` holds the report, ``str()`` its summary."""

    def __init__(self, report: Report) -> None:
        super().__init__(text.render(report, verbosity=0, width=100).rstrip())
        self.report = report


@dataclass(frozen=True)
class Report:
    """What a command found, whatever renders it (text, JSON, JUnit, Markdown, plot): the verdict follows from
    its findings and policy."""

    command: str
    inputs: InputsEntry | None = None  # None: nothing was executed
    models: tuple[ModelEntry, ...] = ()
    pairs: tuple[PairResult, ...] = ()
    runtimes: tuple[RuntimeResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    export: ExportDetails | None = None  # export commands
    convert: ConvertDetails | None = None
    fix: FixDetails | None = None
    example: Example | None = None  # check of the bundled example
    checks: tuple[LayerCheck, ...] = ()  # every GRU tap held against the reference GRU on its own input
    ignore: frozenset[str] = frozenset()
    fail_on: str = "error"
    elapsed_s: float | None = None

    def __post_init__(self) -> None:
        assert self.fail_on in FAIL_ON, self.fail_on
        object.__setattr__(self, "ignore", frozenset(c.upper() for c in self.ignore))

    # --- what counts --------------------------------------------------------------------------------------------

    @cached_property
    def all_findings(self) -> tuple[Finding, ...]:
        """The command's findings and a GRU010 for every failed pair that none of them reports."""

        added = tuple(
            disagreement(p)
            for p in self.pairs
            if not p.passed and not any(covers(f, p) for f in self.findings)
        )
        return self.findings + added

    @property
    def active_findings(self) -> tuple[Finding, ...]:
        """The findings that are not ignored: what every rendering shows."""
        return tuple(f for f in self.all_findings if f.code not in self.ignore)

    @property
    def ignored_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.all_findings if f.code in self.ignore)

    @property
    def failing_findings(self) -> tuple[Finding, ...]:
        """The findings that fail the run: not ignored, and at least as severe as ``fail_on``."""
        return tuple(f for f in self.active_findings if _RANK[f.severity] >= _RANK[self.fail_on])

    def counts(self) -> dict[str, int]:
        active = self.active_findings
        out = {s: sum(1 for f in active if f.severity == s) for s in SEVERITIES}
        out["ignored"] = len(self.all_findings) - len(active)
        return out

    @property
    def verdict(self) -> str:
        return "fail" if self.failing_findings else "pass"

    def __bool__(self) -> bool:
        return self.verdict == "pass"

    @property
    def exit_code(self) -> int:
        return 0 if self else 1

    @cached_property
    def groups(self) -> list[meaning.Group]:
        """The active findings as root causes, each with its consequences, repeats collapsed (``meaning.organise``)."""
        return meaning.organise(self.active_findings)

    @property
    def headline(self) -> str:
        """The verdict and what it rests on, in one line."""
        return meaning.headline(self)

    @property
    def written_line(self) -> str:
        """``written: FILE`` or ``not written: FILE (why)`` for export, convert and fix; empty for other commands."""
        return meaning.written_line(self)

    def with_policy(self, ignore: Iterable[str] = (), fail_on: str | None = None) -> Report:
        """The same report judged with more codes ignored and/or another ``fail_on``."""
        return replace(self, ignore=self.ignore | {c.upper() for c in ignore}, fail_on=fail_on or self.fail_on)

    def raise_for_errors(self) -> Report:
        """Raise ``VerificationError`` (an AssertionError) when the report failed; return it otherwise, to chain."""
        if not self:
            raise VerificationError(self)
        return self

    # --- renderings --------------------------------------------------------------------------------------------

    def __str__(self) -> str:
        return text.render(self, verbosity=0, width=100)

    def _repr_html_(self) -> str:
        return markdown.render_html(self)

    def to_dict(self) -> dict:
        out = {
            "schema_version": SCHEMA_VERSION,
            "onnxgru_version": __version__,
            "command": self.command,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "inputs": (self.inputs or NO_EXECUTION).to_dict(),
            "models": [m.to_dict() for m in self.models],
            "pairs": [p.to_dict() for p in self.pairs],
            "runtimes": [r.to_dict() for r in self.runtimes],
            "findings": [f.to_dict() for f in self.active_findings],
            "ignored_findings": [f.to_dict() for f in self.ignored_findings],
            "counts": self.counts(),
            "policy": {"ignore": sorted(self.ignore), "fail_on": self.fail_on},
            "elapsed_s": self.elapsed_s,
            "gru_checks": [c.to_dict() for c in self.checks],
        }
        for key in ("example", "export", "convert", "fix"):
            if (entry := getattr(self, key)) is not None:
                out[key] = entry.to_dict()
        return out
