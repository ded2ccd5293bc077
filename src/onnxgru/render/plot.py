"""``--plot``: the error per time step of every compared sequence output, log scale."""

from __future__ import annotations

import io

from onnxgru._lazy import require
from onnxgru.report import Report


def render(report: Report) -> bytes:
    matplotlib = require("matplotlib", "draw --plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    drew = False
    for p in report.pairs:
        if p.output != "output" or len(p.per_step_max_abs) < 1:
            continue
        ys = [max(v, 1e-12) for v in p.per_step_max_abs]
        ax.plot(range(len(ys)), ys, marker="o", ms=3, label=f"{p.a} vs {p.b}" + ("" if p.passed else " (FAIL)"))
        drew = True
    if report.pairs:
        atol = report.pairs[0].atol
        ax.axhline(max(atol, 1e-12), color="grey", ls="--", lw=1, label=f"atol {atol:g}")
    ax.set_yscale("log")
    ax.set_xlabel("time step")
    ax.set_ylabel("max abs error")
    ax.set_title(f"onnxgru {report.command}: error per time step ({report.verdict})")
    if drew or report.pairs:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no sequence outputs were compared", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
