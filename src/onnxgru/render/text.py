"""The terminal report, summary first: the verdict line, the root causes with their fix and consequences, repeats
collapsed; then what differs. ``verbosity`` -1 prints the verdict line only, 1 adds every table and section.
Everything is wrapped to ``width`` (the terminal's, ``COLUMNS`` honoured)."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from onnxgru.core import catalog
from onnxgru.entries import LayerEntry, ModelEntry
from onnxgru.meaning import Group, covers

if TYPE_CHECKING:
    from onnxgru.report import Report

MARK = {"error": "✗", "warning": "!", "info": "i"}
_SHOWN = 3  # where-labels listed for a collapsed group before "and N more" (all of them with -v)
_ALL_PAIRS = 6  # up to this many comparisons are all listed; beyond, only those that differ (all with -v)


def terminal_width() -> int:
    return max(40, min(shutil.get_terminal_size((100, 24)).columns, 160))


def render(report: Report, verbosity: int = 0, width: int | None = None) -> str:
    width = width or terminal_width()
    groups = report.groups
    if verbosity < 0:  # one line, unwrapped: what a CI log greps for
        return report.headline + "\n"
    out = wrap(report.headline, width, "", "  ")
    if written := report.written_line:
        out += wrap(written, width, "", "  ")
    if (example := report.example) is not None:
        out += wrap(
            f"This is the bundled example ({example.folder}); give your own sources with --tf, --torch and --onnx. "
            f"{example.story}",
            width,
        )
    hidden = False
    if groups:
        out += _findings(groups, width, verbosity, report)
    if report.command not in ("check", "fix") or verbosity > 0:
        for m in report.models:
            out += ["", *_model_block(m, width)]
    if report.pairs:
        out += ["", *wrap(f"Inputs: {_how(report)}", width, "", "  ")]
        if verbosity > 0 or len(report.pairs) <= _ALL_PAIRS:
            out += [*wrap("Comparisons (each execution against its reference; max rel is relative to it):", width,
                          "", "  "), *_pair_tables(report, width)]
        else:
            out += _differing_pairs(report, width)
            hidden = True
    if report.runtimes:
        if verbosity > 0:
            out += ["", "Runtimes:", *table(
                ["runtime", "version", "model", "status", "max abs", "detail"],
                [[r.runtime, (r.version or "-").split("-")[0], r.model, r.status, _fmt(r.max_abs), r.detail]
                 for r in report.runtimes],
                width, indent=2,
            )]
        else:
            out += _runtimes_not_ok(report, width)
            hidden = True
    for key in ("export", "convert", "fix"):
        if (entry := getattr(report, key)) is None:
            continue
        value = entry.to_dict()
        if verbosity > 0 or _flat(value) or key == "fix":  # what fix moved is its answer
            out += ["", *_section(key, value, width)]
        else:
            hidden = True
    if verbosity > 0 and report.ignored_findings:
        out += ["", "Ignored (--ignore):"]
        for f in report.ignored_findings:
            out += wrap(f"{f.code} {f.where}: {f.message}", width, "  ", "    ")
    if verbosity > 0 and report.elapsed_s is not None:
        out += ["", f"took {report.elapsed_s:.1f} s"]
    tips = []
    if hidden:
        tips.append("-v shows every table")
    if groups:
        tips.append(f"`onnxgru explain {groups[0].code}` explains a code")
    if tips:
        out += ["", *wrap("; ".join(tips) + ".", width)]
    return "\n".join(out).rstrip() + "\n"


def _findings(groups: list[Group], width: int, verbosity: int, report: Report) -> list[str]:
    out: list[str] = []
    titles = {"error": "To fix:", "warning": "Warnings:", "info": "Notes:"}
    last = None
    told: set[str] = set()  # codes whose message was printed in full once already
    for g in groups:
        if g.severity != last:
            out += ["", titles[g.severity]]
            last = g.severity
        out += _group(g, width, verbosity, "  ", report, brief=verbosity <= 0 and g.code in told)
        told.add(g.code)
    return out


def _group(g: Group, width: int, verbosity: int, indent: str, report: Report, brief: bool = False) -> list[str]:
    mark = MARK[g.severity]
    body = indent + "    "
    if g.count == 1:
        head = f"{indent}{mark} {g.code} {g.first.where}".rstrip()
        out = wrap(head, width, "", indent + "  ")
        if brief:
            out += wrap(f"{catalog.title(g.code)}, as above.", width, body, body)
        else:
            out += wrap(g.first.message, width, body, body)
    else:
        out = wrap(f"{indent}{mark} {g.code} ×{g.count}: {catalog.title(g.code)}", width, "", indent + "  ")
        out += _wheres(g, width, body, verbosity, report)
        if verbosity > 0:
            for f in g.members:
                out += wrap(f"- {f.message}", width, body, body + "  ")
        else:
            out += wrap(f"e.g. {g.first.message}", width, body, body)
    if g.consequences:
        n = g.consequence_count()
        out += wrap(f"→ {n} consequence{'s' if n > 1 else ''} of it (fix the cause and these go too):", width, body,
                    body)
        for c in g.consequences:
            out += wrap(f"{c.code} ×{c.count}: {catalog.title(c.code)}", width, body + "  ", body + "    ")
            out += _wheres(c, width, body + "    ", verbosity, report)
            located = list(dict.fromkeys(f.located for f in c.members if f.located))
            if verbosity <= 0 and located:  # where the disagreement starts: the line that says which layer
                out += wrap(located[0] + (f" (and {len(located) - 1} more: -v)" if len(located) > 1 else ""), width,
                            body + "    ", body + "      ")
            if verbosity > 0:
                for f in c.members:
                    out += wrap(f"- {f.message}", width, body + "    ", body + "      ")
    return out


def _wheres(g: Group, width: int, indent: str, verbosity: int, report: Report) -> list[str]:
    """Where the members of a group are; for disagreements, one line per two executions with their errors."""
    wheres: list[str] = []
    by_pair: dict[tuple[str, str], list] = {}
    for f in g.members:
        p = next((p for p in report.pairs if not p.passed and covers(f, p)), None)
        if p is None:
            wheres.append(f.where or "-")
        else:
            if (p.a, p.b) not in by_pair:
                by_pair[(p.a, p.b)] = []
                wheres.append(f"\0{len(by_pair) - 1}")
            by_pair[(p.a, p.b)].append(p)
    said = [
        f"{a} vs {b}: " + ", ".join(f"{p.output} by {_fmt(p.max_abs)}" for p in ps) for (a, b), ps in by_pair.items()
    ]
    wheres = [said[int(w[1:])] if w.startswith("\0") else w for w in wheres]
    if verbosity <= 0 and len(wheres) > _SHOWN + 1:
        wheres = [*wheres[:_SHOWN], f"… and {len(wheres) - _SHOWN} more"]
    out: list[str] = []
    for w in wheres:
        out += wrap(f"· {w}", width, indent, indent + "  ")
    return out


def _how(report: Report) -> str:
    return (report.inputs.how if report.inputs else "") or "-"


def _differing_pairs(report: Report, width: int) -> list[str]:
    """The comparisons that differ and no finding above lists, one line per two executions."""
    agree = sum(1 for p in report.pairs if p.passed)
    told = [f for f in report.active_findings if f.code == "GRU010"]
    by: dict[tuple[str, str], list] = {}
    for p in report.pairs:
        if not p.passed and not any(covers(f, p) for f in told):
            by.setdefault((p.a, p.b), []).append(p)
    failed = len(report.pairs) - agree
    said = f"Comparisons: {agree} of {len(report.pairs)} agree"
    if failed and not by:
        said += f"; the {failed} that differ are under GRU010 above."
    out = wrap(said + ("; these differ:" if by else "." if not failed else ""), width, "", "  ")
    for (a, b), ps in by.items():
        said = ", ".join(f"{p.output} by {_fmt(p.max_abs)}" for p in ps)
        out += wrap(f"✗ {a} vs {b}: {said}", width, "  ", "      ")
    return out


def _pair_tables(report: Report, width: int) -> list[str]:
    """Every comparison, one small table per two executions under a line that names them whole."""
    by: dict[tuple[str, str], list] = {}
    for p in report.pairs:
        by.setdefault((p.a, p.b), []).append(p)
    out: list[str] = []
    for (a, b), ps in by.items():
        mark = "✓" if all(p.passed for p in ps) else MARK["error"]
        out += wrap(f"{mark} {a} against {b}", width, "  ", "      ")
        out += table(["output", "max abs", "max rel", "needs atol", "result"],
                     [[p.output, _fmt(p.max_abs), _fmt(p.max_rel), _fmt(p.required_atol),
                       "ok" if p.passed else "DIFFERS"] for p in ps], width, indent=4)
    return out


def _runtimes_not_ok(report: Report, width: int) -> list[str]:
    """Runtime runs that are not ok, one line per runtime and status."""
    ok = sum(1 for r in report.runtimes if r.status == "ok")
    by: dict[tuple[str, str], list] = {}
    for r in report.runtimes:
        if r.status != "ok":
            by.setdefault((r.runtime, r.status), []).append(r)
    out = ["", f"Runtime runs: {ok} of {len(report.runtimes)} ok" + ("; these are not:" if by else ".")]
    wheres = {f.where: f.code for f in report.active_findings}
    for (name, status), rs in by.items():
        worst = max((r.max_abs for r in rs if r.max_abs is not None), default=None)
        codes = sorted({wheres[w] for r in rs if (w := f"{r.runtime}: {r.model}") in wheres})
        head = f"{name} {status} on " + (f"{len(rs)} models" if len(rs) > 2 else ", ".join(r.model for r in rs))
        if worst is not None:
            head += f", max abs {'up to ' if len(rs) > 1 else ''}{_fmt(worst)}"
        head += f" ({', '.join(codes)} above)" if codes else f": {rs[0].detail.split('; ')[0]}"
        out += wrap(f"{MARK['error' if status == 'refused' else 'warning']} {head}", width, "  ", "      ")
    return out


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _layer_row(i: int, layer: LayerEntry) -> list[str]:
    std = layer.recurrent_std
    return [
        str(i),
        layer.name,
        layer.semantics,
        str(layer.linear_before_reset),
        layer.direction,
        str(layer.input_size),
        str(layer.hidden_size),
        str(layer.layout),
        ",".join(layer.activations),
        _fmt(layer.clip),
        "yes" if layer.fused else "no",
        _fmt(std) if isinstance(std, float) else "-",
    ]


def _model_block(m: ModelEntry, width: int) -> list[str]:
    out = wrap(f"{m.role}: {m.path} ({m.kind}, {m.dtype})", width, "", "  ")
    layers = m.gru_layers
    if not layers:
        return [*out, "  no GRU layer could be read"]
    headers = ["#", "name", "semantics", "lbr", "direction", "in", "hidden", "layout", "activations", "clip", "fused",
               "std(R)"]
    return out + table(headers, [_layer_row(i, layer) for i, layer in enumerate(layers)], width, indent=2)


def _flat(value: object) -> bool:
    """A section small enough for the default view: a dict of scalars, or a scalar."""
    if isinstance(value, dict):
        return all(isinstance(v, str | int | float | bool) or v is None for v in value.values())
    return isinstance(value, str | int | float | bool)


def _section(key: str, value: object, width: int) -> list[str]:
    """Any report section, plainly: nested dicts as ``key: value`` lines, lists as ``-`` items."""
    if _flat(value) and isinstance(value, dict):
        return wrap(f"{key}: " + ", ".join(f"{k}={_scalar(v)}" for k, v in value.items()), width, "", "  ")
    return _plain(key, value, width, "")


def _plain(key: str, value: object, width: int, indent: str) -> list[str]:
    if isinstance(value, dict):
        out = [f"{indent}{key}:"]
        for k, v in value.items():
            out += _plain(str(k), v, width, indent + "  ")
        return out
    if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        out = [f"{indent}{key}:"]
        for i, v in enumerate(value):
            out += _plain(f"[{i}]", v, width, indent + "  ")
        return out
    if isinstance(value, list | tuple):
        return wrap(f"{key}: " + ", ".join(_scalar(v) for v in value), width, indent, indent + "  ")
    return wrap(f"{key}: {_scalar(value)}", width, indent, indent + "  ")


def _scalar(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def wrap(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """``text`` wrapped to ``width``, words kept whole where they fit (paths may break)."""
    subsequent = indent if subsequent is None else subsequent
    return textwrap.wrap(
        text, width, initial_indent=indent, subsequent_indent=subsequent, break_on_hyphens=False,
        break_long_words=True, replace_whitespace=True, drop_whitespace=True,
    ) or [indent.rstrip()]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int, indent: int = 0) -> list[str]:
    """A plain table no wider than ``width``: the widest columns are narrowed and their cells wrap over lines."""
    n = len(headers)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    # a column is not narrowed below its longest part: "mismatch" and a file's name stay whole, a path breaks at "/"
    floor = [
        min(w, max(4, max(len(t.strip()) for c in [h, *(r[i] for r in rows)] for t in _BREAKS.split(c))))
        for i, (w, h) in enumerate(zip(widths, headers))
    ]
    budget = width - indent - 2 * (n - 1)
    if sum(floor) > budget:  # too many columns for this terminal: one wrapped record per row instead
        records: list[str] = []
        for r in rows:
            records += wrap(", ".join(f"{h}={c}" for h, c in zip(headers, r)), width, " " * indent, " " * (indent + 2))
        return records
    columns = [[headers[i], *(r[i] for r in rows)] for i in range(n)]

    def lines_at(i: int, w: int) -> int:
        return sum(len(_cell_lines(c, w)) for c in columns[i])

    while sum(widths) > budget:
        # narrow the column that costs the fewest extra lines (a path breaks at its slashes, a word does not)
        shrinkable = [k for k in range(n) if widths[k] > floor[k]]
        if not shrinkable:
            break  # as narrow as it goes: the terminal is narrower than the table's headers
        i = min(shrinkable, key=lambda k: (lines_at(k, widths[k] - 1) - lines_at(k, widths[k]), -widths[k]))
        widths[i] -= 1
    pad = " " * indent
    out: list[str] = []
    for cells in [list(headers), ["-" * w for w in widths], *(list(r) for r in rows)]:
        columns = [_cell_lines(c, w) for c, w in zip(cells, widths)]
        for k in range(max(len(c) for c in columns)):
            line = "  ".join((c[k] if k < len(c) else "").ljust(w) for c, w in zip(columns, widths))
            out.append((pad + line).rstrip())
    return out


_BREAKS = re.compile(r"(?<=[/:(),= ])")


def _cell_lines(text: str, width: int) -> list[str]:
    """A table cell over lines of at most ``width``: broken after spaces, slashes, colons, commas and brackets
    (a path or a label keeps its parts whole where it can), and inside a part only when that part is too long."""
    lines, line = [], ""
    for token in _BREAKS.split(text):
        while len(token) > width:
            if line:
                lines.append(line.rstrip())
                line = ""
            lines.append(token[:width])
            token = token[width:]
        if len(line) + len(token.rstrip()) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    lines.append(line.rstrip())
    return [ln for ln in lines if ln] or [""]
