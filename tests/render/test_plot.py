"""The plot draws failing comparisons apart, the final states too, and exact zeros on a marked floor."""

from __future__ import annotations

import pytest

from .reports import example_like


def test_plot_renders_output_and_state(monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    from onnxgru.render import plot

    drawn: dict[str, list] = {"barh": [], "labels": []}
    real_barh, real_legend = matplotlib.axes.Axes.barh, matplotlib.axes.Axes.legend

    def barh(self, y, width, *a, **k):
        drawn["barh"].append(list(width))
        return real_barh(self, y, width, *a, **k)

    def legend(self, *a, **k):
        drawn["labels"] += [t for t in self.get_legend_handles_labels()[1]]
        drawn["anchor"] = k.get("bbox_to_anchor")
        return real_legend(self, *a, **k)

    monkeypatch.setattr(matplotlib.axes.Axes, "barh", barh)
    monkeypatch.setattr(matplotlib.axes.Axes, "legend", legend)
    png = plot.render(example_like())
    assert png[:4] == b"\x89PNG"
    assert len(drawn["barh"][0]) == 3  # every final state compared
    labels = drawn["labels"]
    assert labels[0].startswith("✗ ") and labels[1].startswith("✗ ")  # the failing ones first, marked
    assert any("exactly 0" in t for t in labels)  # the reference pair's zero error has a floor
    assert drawn["anchor"][0] > 1  # the legend sits right of the axes, outside the data
