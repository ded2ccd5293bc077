"""The plot: every output with a time axis a curve, whatever its name, every other a bar; each labelled by its pair,
cut to the ends that tell executions apart, and its output; those that differ first and marked; exact zeros and
NaN on marked lines; many curves split by output or listed in part."""

from __future__ import annotations

import io
import math

import pytest

from onnxgru.core.numerics import PairResult
from onnxgru.entries import InputsEntry
from onnxgru.render import plot
from onnxgru.report import Report

from .reports import example_like

TF, NAIVE, EXACT = "blog/tf:gru.pb", "blog/torch:naive.pt", "blog/torch:exact.pt"


def compared(a: str, b: str, output: str, errors: tuple[float, ...]) -> PairResult:
    worst = max(errors)
    return PairResult(a, b, output, worst, worst, worst, worst <= 1e-5, errors, 1e-5, 1e-5)


def sequence_and_state() -> Report:
    """A model whose outputs are ``y`` (batch, steps, hidden) and ``h_n``: no output is called ``output``."""
    pairs = (
        compared(EXACT, TF, "y", (1e-7, 2e-7, 1e-7, 3e-7, 2e-7)),
        compared(NAIVE, TF, "h_n", (0.013,)),
        compared(NAIVE, TF, "y", (1e-7, 0.004, 0.01, 0.02, 0.035)),
        compared(EXACT, TF, "h_n", (8e-8,)),
        compared(f"onnxruntime(export({TF}))", TF, "y", (0.0,) * 5),
        compared(f"onnxruntime(export({TF}))", TF, "h_n", (0.0,)),
    )
    return Report("check", InputsEntry(0, 3, 5, "generated"), (), pairs)


def test_every_output_with_steps_is_a_curve_and_every_other_a_bar() -> None:
    drawn = plot.layout(sequence_and_state().pairs)
    assert [p.output for p in drawn.panels] == [""]  # few curves: one panel
    curves = drawn.panels[0].listed
    assert [m.label for m in curves] == [
        "✗ naive.pt vs gru.pb: y", "exact.pt vs gru.pb: y", "onnxruntime(export(gru.pb)) vs gru.pb: y"]
    assert [m.failed for m in curves] == [True, False, False]
    assert curves[0].errors == (1e-7, 0.004, 0.01, 0.02, 0.035)  # the error at every step, as compared
    assert [m.label for m in drawn.bars] == [
        "✗ naive.pt vs gru.pb: h_n", "exact.pt vs gru.pb: h_n", "onnxruntime(export(gru.pb)) vs gru.pb: h_n"]
    assert [m.errors for m in drawn.bars] == [(0.013,), (8e-8,), (0.0,)]


def test_names_are_cut_to_the_ends_that_tell_them_apart() -> None:
    names = [NAIVE, f"onnxruntime(export({NAIVE}))", "blog/reference GRU (numpy)", f"{NAIVE} (no initial state)",
             "a/tf:model.pb", "b/tf:model.pb", "/runs/1/model.onnx", "/runs/2/model.onnx"]
    assert plot.short_names(names) == {
        NAIVE: "naive.pt", f"onnxruntime(export({NAIVE}))": "onnxruntime(export(naive.pt))",
        "blog/reference GRU (numpy)": "reference GRU (numpy)",
        f"{NAIVE} (no initial state)": "naive.pt (no initial state)",
        "a/tf:model.pb": "a/tf:model.pb", "b/tf:model.pb": "b/tf:model.pb",  # the file names alone would clash
        "/runs/1/model.onnx": "1/model.onnx", "/runs/2/model.onnx": "2/model.onnx"}
    long = "x/torch:" + "a_very_long_checkpoint_name_" * 3 + "final_epoch_0042.pt"
    short = plot.short_names([long])[long]
    assert len(short) <= plot.NAME_MAX and short.endswith("final_epoch_0042.pt")


def test_many_curves_get_a_panel_per_output_with_the_differing_first() -> None:
    many = plot.CURVES_PER_PANEL
    pairs = [compared(f"g/torch:m{i}.pt", TF, ("y", "probs")[i % 2], (1e-7, 2e-7)) for i in range(many)]
    pairs.append(compared(NAIVE, TF, "probs", (1e-7, 0.03)))
    drawn = plot.layout(pairs)
    assert [p.output for p in drawn.panels] == ["probs", "y"]
    assert drawn.panels[0].listed[0].label == "✗ naive.pt vs gru.pb: probs"
    assert all(m.label.endswith(": y") for m in drawn.panels[1].listed)
    assert sum(len(p.listed) for p in drawn.panels) == len(pairs) and not any(p.unlisted for p in drawn.panels)


def test_a_long_legend_lists_every_differing_curve_and_some_that_agree() -> None:
    outputs = [f"out{k}" for k in range(plot.PANELS_MAX + 1)]  # too many names for a panel each
    pairs = [compared(f"g/torch:m{i}.pt", TF, outputs[i % len(outputs)], (1e-7, 2e-7)) for i in range(40)]
    pairs += [compared(f"g/torch:bad{i}.pt", TF, "out0", (1e-7, 0.03)) for i in range(3)]
    pairs += [compared(f"g/torch:m{i}.pt", TF, "h_n", (1e-7,)) for i in range(40)]
    drawn = plot.layout(pairs)
    [panel] = drawn.panels
    assert [m.failed for m in panel.listed[:3]] == [True] * 3 and len(panel.listed) == plot.LEGEND_MAX
    assert len(panel.unlisted) == 43 - plot.LEGEND_MAX and not any(m.failed for m in panel.unlisted)
    assert len(drawn.bars) == plot.BARS_MAX + 1
    assert drawn.bars[-1].label == f"{40 - plot.BARS_MAX} more that agree (the largest of their errors)"
    just_one_more = plot.layout(pairs[: plot.LEGEND_MAX + 1])
    assert len(just_one_more.panels[0].listed) == plot.LEGEND_MAX + 1  # its own line, not "1 more that agree"


def test_the_png_draws_the_layout(monkeypatch) -> None:
    """What render draws is what layout decided: each curve its errors per step, each bar its error."""
    pytest.importorskip("matplotlib")
    import matplotlib.axes
    import matplotlib.image

    lines: dict[str, list[float]] = {}
    bars: list[list[float]] = []
    real_plot, real_barh = matplotlib.axes.Axes.plot, matplotlib.axes.Axes.barh

    def draw(self, *args, **k):
        if k.get("label"):
            lines[k["label"]] = list(args[1])
        return real_plot(self, *args, **k)

    def barh(self, y, width, *a, **k):
        bars.append(list(width))
        return real_barh(self, y, width, *a, **k)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", draw)
    monkeypatch.setattr(matplotlib.axes.Axes, "barh", barh)
    png = plot.render(sequence_and_state())
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(io.BytesIO(png)).shape
    assert width > 600 and height > 300
    assert lines["✗ naive.pt vs gru.pb: y"] == [1e-7, 0.004, 0.01, 0.02, 0.035]
    floor = lines["onnxruntime(export(gru.pb)) vs gru.pb: y"]
    assert len(set(floor)) == 1 and 0 < floor[0] < 1e-7  # exact zeros on the floor, below every real error
    assert len(bars) == 1 and bars[0][:2] == [0.013, 8e-8] and bars[0][2] == floor[0]


@pytest.mark.parametrize("pairs", [(), (compared(NAIVE, TF, "y", (1e-7, math.inf, math.nan)),
                                        compared(NAIVE, TF, "h_n", (math.nan,)))])
def test_nothing_compared_or_nan_still_draws(pairs: tuple[PairResult, ...]) -> None:
    pytest.importorskip("matplotlib")
    assert plot.render(Report("compare", None, (), pairs))[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_renders_output_and_state(monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.axes

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
    assert labels[0] == "✗ naive.pt vs gru.pb: output"
    assert any("exactly 0" in t for t in labels)  # the reference pair's zero error has a floor
    assert drawn["anchor"][0] > 1  # the legend sits right of the axes, outside the data
