"""``--markdown FILE``: the report as a pull-request comment (GitHub/GitLab Markdown), and ``Report._repr_html_``
for notebooks. Verdict and root causes first; the tables folded in ``<details>``."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from onnxgru.core import catalog
from onnxgru.meaning import Group
from onnxgru.version import __version__

if TYPE_CHECKING:
    from onnxgru.report import Report

ICON = {"pass": "✅", "fail": "❌"}
MARK = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}
TITLES = {"error": "To fix", "warning": "Warnings", "info": "Notes"}


def _cell(v: object) -> str:
    s = f"{v:.3g}" if isinstance(v, float) else "-" if v is None else str(v)
    return s.replace("|", "\\|").replace("\n", " ")


def _code(s: str) -> str:
    return f"`{s}`" if s and "`" not in s else s


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def _details(summary: str, body: list[str]) -> list[str]:
    return ["", f"<details><summary>{html.escape(summary)}</summary>", "", *body, "", "</details>"]


def _group(g: Group) -> list[str]:
    if g.count == 1:
        out = [f"- {MARK[g.severity]} **{g.code}** {_code(g.first.where)}: {g.first.message}"]
    else:
        wheres = ", ".join(_code(f.where) for f in g.members if f.where)
        out = [f"- {MARK[g.severity]} **{g.code} ×{g.count}** {catalog.title(g.code)} ({wheres}). "
               f"For example: {g.first.message}"]
    for c in g.consequences:
        wheres = ", ".join(_code(f.where) for f in c.members if f.where)
        out.append(f"  - ↳ consequence, goes away with the cause: **{c.code} ×{c.count}** {catalog.title(c.code)}"
                   + (f" ({wheres})" if wheres else ""))
    return out


def render(report: Report) -> str:
    groups = report.groups
    out = [f"### {ICON[report.verdict]} {report.headline}"]
    if report.example is not None:
        out += ["", f"> The bundled example: {report.example.story}"]
    last = None
    for g in groups:
        if g.severity != last:
            out += ["", f"#### {TITLES[g.severity]}", ""]
            last = g.severity
        out += _group(g)
    if report.pairs:
        agree = sum(1 for p in report.pairs if p.passed)
        out += _details(
            f"Comparisons: {agree} of {len(report.pairs)} agree",
            _table(["checked", "against", "output", "max abs", "max rel", "needs atol", "result"],
                   [[p.a, p.b, p.output, p.max_abs, p.max_rel, p.required_atol, "ok" if p.passed else "**differs**"]
                    for p in report.pairs]),
        )
    if report.runtimes:
        ok = sum(1 for r in report.runtimes if r.status == "ok")
        out += _details(
            f"Runtime runs: {ok} of {len(report.runtimes)} ok",
            _table(["runtime", "version", "model", "status", "max abs", "detail"],
                   [[r.runtime, r.version, r.model, r.status, r.max_abs, r.detail] for r in report.runtimes]),
        )
    if report.models:
        rows = []
        for m in report.models:
            for layer in m.gru_layers:
                rows.append([m.role, m.kind, layer.name, layer.semantics, layer.direction, layer.input_size,
                             layer.hidden_size, "yes" if layer.fused else "no"])
        out += _details(f"Models: {len(report.models)}",
                        _table(["model", "kind", "GRU", "semantics", "direction", "in", "hidden", "fused"], rows))
    if report.ignored_findings:
        out += _details(f"Ignored: {len(report.ignored_findings)}",
                        [f"- **{f.code}** {_code(f.where)}: {f.message}" for f in report.ignored_findings])
    foot = f"onnxgru {__version__}"
    if report.inputs is not None and report.inputs.how:
        foot += f" · inputs {report.inputs.how}"
    if report.pairs:
        foot += f" · atol {report.pairs[0].atol:g}, rtol {report.pairs[0].rtol:g}"
    out += ["", f"<sub>{html.escape(foot)}</sub>", ""]
    return "\n".join(out)


def render_html(report: Report) -> str:
    """A notebook's rendering: the verdict line, findings with consequences nested, tables folded."""
    e = html.escape
    groups = report.groups
    color = "#1a7f37" if report else "#cf222e"
    out = [f'<div><p style="font-weight:bold;color:{color}">{e(ICON[report.verdict] + " " + report.headline)}'
           "</p>"]
    if groups:
        out.append("<ul>")
        for g in groups:
            times = f" ×{g.count}" if g.count > 1 else ""
            where = "" if g.count > 1 else f" <code>{e(g.first.where)}</code>"
            out.append(f"<li>{MARK[g.severity]} <b>{e(g.code)}{times}</b>{where}: {e(g.first.message)}")
            if g.consequences:
                out.append("<ul>")
                for c in g.consequences:
                    out.append(f"<li>↳ <b>{e(c.code)} ×{c.count}</b> {e(catalog.title(c.code))}</li>")
                out.append("</ul>")
            out.append("</li>")
        out.append("</ul>")
    if report.pairs:
        out.append(_html_table("Comparisons", ["checked", "against", "output", "max abs", "needs atol", "result"], [
            [e(p.a), e(p.b), e(p.output), f"{p.max_abs:.3g}", f"{p.required_atol:.3g}",
             "ok" if p.passed else "<b>differs</b>"] for p in report.pairs]))
    if report.runtimes:
        out.append(_html_table("Runtime runs", ["runtime", "model", "status", "max abs", "detail"], [
            [e(r.runtime), e(r.model), e(r.status), "-" if r.max_abs is None else f"{r.max_abs:.3g}", e(r.detail)]
            for r in report.runtimes]))
    out.append("</div>")
    return "".join(out)


def _html_table(summary: str, headers: list[str], rows: list[list[str]]) -> str:
    """A folded HTML table (cells already escaped)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<details><summary>{summary}</summary><table><tr>{head}</tr>{body}</table></details>"
