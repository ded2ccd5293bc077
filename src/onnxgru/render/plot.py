"""``--plot``: the error of every compared output, log scale. An output with a time axis is a curve of its largest
error at each step; one without (a final state, a pooled output) is a bar. Each is labelled by its two executions,
cut to the ends that tell them apart, and its output. Comparisons that differ are drawn bold and red, marked ✗ and
listed first; those that agree thin. An exact zero, which a log scale cannot show, sits on a marked floor line, a
NaN or Inf on a marked ceiling; legends sit outside the data. Many curves get one panel per output name, and a
legend lists every curve that differs but only so many that agree: the rest are drawn thin grey under one entry
(and so many bars that agree, the rest one bar at the largest of their errors).

``layout`` decides what is drawn (curves or bars, labels, panels, order) without matplotlib; ``render`` draws it."""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from onnxgru._lazy import require

if TYPE_CHECKING:
    from onnxgru.core.numerics import PairResult
    from onnxgru.report import Report

CURVES_PER_PANEL = 16  # more, and the curves are split into one panel per output name
PANELS_MAX = 6  # more output names than this, and they share one panel
LEGEND_MAX = 16  # curves a legend lists (every one that differs, then those that agree, up to this many)
BARS_MAX = 24  # bars drawn (every one that differs, then those that agree); one more stands for the rest
NAME_MAX = 48  # characters of one execution's name in a label

_FAILED_COLORS = ("tab:red", "darkred", "orangered", "deeppink", "firebrick", "chocolate")
_PASSED_COLORS = ("tab:blue", "tab:green", "tab:purple", "tab:cyan", "tab:olive", "tab:brown", "navy", "teal",
                  "slateblue", "seagreen", "darkkhaki", "tab:gray")
_PLACE = re.compile(r"[^\s()]*[/:\\][^\s()]*")  # a token that names a place: group/framework:file.pt, a path


@dataclass(frozen=True)
class Mark:
    """One comparison as drawn: a curve when ``errors`` has one value per time step, a bar when it has one."""

    label: str
    failed: bool
    errors: tuple[float, ...]
    atol: float


@dataclass(frozen=True)
class Panel:
    """Curves drawn together: ``listed`` each in the legend, ``unlisted`` (all agree) thin grey under one entry."""

    output: str  # the output name its curves share; "" when they are not split by output
    listed: tuple[Mark, ...]
    unlisted: tuple[Mark, ...] = ()


@dataclass(frozen=True)
class Layout:
    """The whole plot: panels of curves, top down, then the bars."""

    panels: tuple[Panel, ...]
    bars: tuple[Mark, ...]


def layout(pairs: Sequence[PairResult]) -> Layout:
    """What the plot draws for ``pairs``: those that differ first, then the report's order."""
    names = short_names(n for p in pairs for n in (p.a, p.b))
    ordered = sorted(pairs, key=lambda p: p.passed)
    marks = [(p.output, Mark(f"{'✗ ' if not p.passed else ''}{names[p.a]} vs {names[p.b]}{': ' * bool(p.output)}"
                             f"{p.output}", not p.passed, p.per_step_max_abs or (p.max_abs,), p.atol))
             for p in ordered]
    curves = [(output, m) for output, m in marks if len(m.errors) > 1]
    groups: dict[str, list[Mark]] = {"": [m for _, m in curves]} if curves else {}
    if len(curves) > CURVES_PER_PANEL and len({output for output, _ in curves}) <= PANELS_MAX:
        groups = {}
        for output, m in curves:  # in order: the panels whose curves differ come first
            groups.setdefault(output, []).append(m)
    panels = []
    for output, group in groups.items():
        room = _room(group, LEGEND_MAX)
        panels.append(Panel(output, tuple(group[:room]), tuple(group[room:])))
    bars = [m for _, m in marks if len(m.errors) <= 1]
    room = _room(bars, BARS_MAX)
    if len(bars) > room:
        rest = bars[room:]
        bars[room:] = [Mark(f"{len(rest)} more that agree (the largest of their errors)", False,
                            (max(m.errors[0] for m in rest),), max(m.atol for m in rest))]
    return Layout(tuple(panels), tuple(bars))


def _room(marks: Sequence[Mark], most: int) -> int:
    """How many of ``marks`` to show one by one: every one that differs, then those that agree up to ``most``; all
    when just one would be left out (the line that says so would take its place)."""
    room = max(most, sum(m.failed for m in marks))
    return room + (len(marks) == room + 1)


def short_names(names: Iterable[str]) -> dict[str, str]:
    """Each execution's name with every place in it cut to its last part (``blog/torch:naive.pt`` -> ``naive.pt``,
    ``onnxruntime(export(blog/torch:naive.pt))`` -> ``onnxruntime(export(naive.pt))``), keeping as many more parts
    as it takes to tell two names apart; at most ``NAME_MAX`` characters, the end kept."""
    unique = sorted(set(names))
    parts = dict.fromkeys(unique, 1)
    while True:
        short = {n: _cut(n, parts[n]) for n in unique}
        holders: dict[str, list[str]] = {}
        for n in unique:
            holders.setdefault(short[n], []).append(n)
        clashing = [n for same in holders.values() if len(same) > 1 for n in same if short[n] != n]
        if not clashing:
            break
        for n in clashing:
            parts[n] += 1
    return {n: s if len(s) <= NAME_MAX else s[:12] + "…" + s[13 - NAME_MAX:] for n, s in short.items()}


def _cut(name: str, parts: int) -> str:
    def tail(match: re.Match[str]) -> str:
        token = match.group(0)
        cuts = [i for i, c in enumerate(token) if c in "/:\\"]
        return token if len(cuts) < parts else token[cuts[-parts] + 1:] or token

    return _PLACE.sub(tail, name)


def render(report: Report) -> bytes:
    matplotlib = require("matplotlib", "draw --plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    drawn = layout(report.pairs)
    every = [m for p in drawn.panels for m in p.listed + p.unlisted] + list(drawn.bars)
    finite = [v for m in every for v in (*m.errors, m.atol) if 0 < v < math.inf]
    edges = _Edges(min([*finite, 1e-6]) / 10, max([*finite, 1.0]) * 10)  # below, above every real value

    # inches: a legend lists up to ``LEGEND_MAX`` curves and three lines (atol, floor, ceiling) beside its panel
    heights = [max(1.8, 0.3 + 0.15 * (len(p.listed) + bool(p.unlisted) + 3)) for p in drawn.panels]
    heights += [0.5 + 0.2 * len(drawn.bars)] if drawn.bars else []
    gap, top, bottom = 0.75, 0.8, 0.5  # inches: a panel's title and steps; the figure's title; the last label
    total = max(sum(heights) + gap * (len(heights) - 1) + top + bottom, 2.0)
    fig = plt.figure(figsize=(7, total), dpi=100)
    fig.suptitle(f"onnxgru {report.command} ({report.verdict.upper()}): max abs error of each compared output",
                 x=0.0, y=1 - 0.1 / total, ha="left", va="top")
    grid = fig.add_gridspec(max(len(heights), 1), 1, height_ratios=heights or None, left=0.0, right=1.0,
                            top=1 - top / total, bottom=bottom / total,
                            hspace=gap / (sum(heights) / len(heights)) if heights else 0)
    first = None
    for row, panel in enumerate(drawn.panels):
        ax = fig.add_subplot(grid[row], sharex=first, sharey=first)
        first = first or ax
        _curves(ax, panel, edges)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("max abs error")
        ax.set_xlabel("time step" if row == len(drawn.panels) - 1 else "")
        what = f"output {panel.output!r}" if panel.output else "outputs with a time axis"
        ax.set_title(f"{what}: error per time step", fontsize=10, loc="left")
    if drawn.bars:
        _bars(fig.add_subplot(grid[len(drawn.panels)]), drawn.bars, edges)
    if not every:
        fig.text(0.5, 0.5, "no outputs were compared", ha="center", va="center")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


@dataclass(frozen=True)
class _Edges:
    """The ends of the log scale: an exact zero is drawn on ``floor``, a NaN or an Inf on ``ceiling``."""

    floor: float
    ceiling: float

    def at(self, v: float) -> float:
        return self.ceiling if not v < math.inf else max(v, self.floor)  # NaN fails both comparisons


def _curves(ax: Any, panel: Panel, edges: _Edges) -> None:
    failed, passed = itertools.cycle(_FAILED_COLORS), itertools.cycle(_PASSED_COLORS)
    for m in panel.listed:
        color = next(failed if m.failed else passed)
        style = {"lw": 2.4, "marker": "o", "ms": 4, "zorder": 3} if m.failed else {"lw": 1, "marker": ".", "ms": 3}
        _curve(ax, m, color, m.label, edges, **style)
    for i, m in enumerate(panel.unlisted):
        _curve(ax, m, "0.6", f"{len(panel.unlisted)} more that agree" if i == 0 else None, edges,
               lw=0.8, alpha=0.6, zorder=1)
    marks = panel.listed + panel.unlisted
    for atol in sorted({m.atol for m in marks}):
        ax.axhline(max(atol, edges.floor), color="black", ls="--", lw=1, label=f"atol {atol:g}")
    if any(v == 0 for m in marks for v in m.errors):
        ax.axhline(edges.floor, color="grey", ls=":", lw=1, label="exactly 0 (drawn at this floor, ▽)")
    if any(not v < math.inf for m in marks for v in m.errors):
        ax.axhline(edges.ceiling, color="grey", ls="-.", lw=1, label="NaN or Inf (drawn at this ceiling, △)")
    ax.set_yscale("log")
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    for text in legend.get_texts():
        if text.get_text().startswith("✗"):
            text.set_color("darkred")
            text.set_fontweight("bold")


def _curve(ax: Any, m: Mark, color: str, label: str | None, edges: _Edges, **style: Any) -> None:
    ax.plot(range(len(m.errors)), [edges.at(v) for v in m.errors], color=color, label=label, **style)
    for edge, symbol, at in ((edges.floor, "v", [t for t, v in enumerate(m.errors) if v == 0]),
                             (edges.ceiling, "^", [t for t, v in enumerate(m.errors) if not v < math.inf])):
        if at:
            ax.plot(at, [edge] * len(at), symbol, color=color, ms=6, mfc="none", zorder=4)


def _bars(ax: Any, bars: Sequence[Mark], edges: _Edges) -> None:
    def note(v: float) -> str:
        return " (= 0)" if v == 0 else " (NaN or Inf)" if not v < math.inf else ""

    ax.barh(range(len(bars)), [edges.at(m.errors[0]) for m in bars], left=edges.floor / 10, height=0.7,
            color=["tab:red" if m.failed else "0.6" for m in bars])
    ax.yaxis.tick_right()  # the labels beside the bars, where the curves' legends are
    ax.set_yticks(range(len(bars)), [m.label + note(m.errors[0]) for m in bars], fontsize=7)
    for text, m in zip(ax.get_yticklabels(), bars):
        if m.failed:
            text.set_color("darkred")
            text.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(edges.floor / 10, edges.ceiling * 3)
    atols = sorted({m.atol for m in bars})
    for atol in atols:
        ax.axvline(max(atol, edges.floor), color="black", ls="--", lw=1)
    if any(m.errors[0] == 0 for m in bars):
        ax.axvline(edges.floor, color="grey", ls=":", lw=1)  # where "(= 0)" bars end, as on the curves
    ax.set_xlabel(f"max abs error (dashed: atol {', '.join(f'{a:g}' for a in atols)})")
    ax.set_title("outputs without a time axis (final states, pooled outputs): max abs error (red: differs)",
                 fontsize=10, loc="left")
