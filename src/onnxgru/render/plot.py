"""``--plot``: the error per time step of every compared sequence output (top) and of every final state (below),
log scale. Comparisons that differ are drawn bold and listed first, those that agree thin; an exact zero, which a
log scale cannot show, is drawn on a marked floor line; the legend sits outside the data."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from onnxgru._lazy import require

if TYPE_CHECKING:
    from onnxgru.report import Report


def _label(p: object) -> str:
    text = f"{p.a} vs {p.b}"  # type: ignore[attr-defined]
    return text if len(text) <= 80 else text[:38] + "…" + text[-41:]


def render(report: Report) -> bytes:
    matplotlib = require("matplotlib", "draw --plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [p for p in report.pairs if p.output == "output" and p.per_step_max_abs]
    states = [p for p in report.pairs if p.output != "output"]
    series.sort(key=lambda p: p.passed)  # the ones that differ first, in the legend too
    states.sort(key=lambda p: p.passed)
    values = [v for p in series + states for v in p.per_step_max_abs if v > 0]
    atol = report.pairs[0].atol if report.pairs else None
    floor = min([*values, atol or 1.0, 1e-6]) / 10  # where exact zeros are drawn, below every real value
    fig, (ax, ax_state) = plt.subplots(
        2, 1, figsize=(11, 4 + 0.25 * max(len(states), 4)), dpi=100,
        gridspec_kw={"height_ratios": [3, 0.5 + 0.25 * max(len(states), 4)], "hspace": 0.45},
    )
    cmap = plt.get_cmap("tab10")
    for i, p in enumerate(series):
        ys = [max(v, floor) for v in p.per_step_max_abs]
        style = {"lw": 2.2, "marker": "o", "ms": 4} if not p.passed else {"lw": 1, "marker": ".", "ms": 3, "alpha": 0.7}
        ax.plot(range(len(ys)), ys, color=cmap(i % 10), label=("✗ " if not p.passed else "") + _label(p), **style)
        zeros = [t for t, v in enumerate(p.per_step_max_abs) if v == 0]
        if zeros:
            ax.plot(zeros, [floor] * len(zeros), "v", color=cmap(i % 10), ms=5, mfc="none")
    if atol is not None:
        ax.axhline(max(atol, floor), color="black", ls="--", lw=1, label=f"atol {atol:g}")
    if series:
        ax.axhline(floor, color="grey", ls=":", lw=1, label="exactly 0 (drawn at this floor, ▽)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, "no sequence outputs were compared", ha="center", va="center", transform=ax.transAxes)
    ax.set_yscale("log")
    ax.set_xlabel("time step")
    ax.set_ylabel("max abs error")
    ax.set_title(f"onnxgru {report.command} ({report.verdict.upper()}): sequence output, error per time step")
    if states:
        ys = [max(p.max_abs, floor) for p in states]
        colors = ["tab:red" if not p.passed else "tab:gray" for p in states]
        ax_state.barh(range(len(states)), ys, color=colors, left=floor / 10)
        ax_state.set_yticks(
            range(len(states)),
            [("✗ " if not p.passed else "") + _label(p) + (" (= 0)" if p.max_abs == 0 else "") for p in states],
            fontsize=7,
        )
        ax_state.invert_yaxis()
        ax_state.set_xscale("log")
        if atol is not None:
            ax_state.axvline(max(atol, floor), color="black", ls="--", lw=1)
        ax_state.set_title("final state: max abs error (red: differs)", fontsize=9)
    else:
        ax_state.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
