"""``onnxgru inspect SRC``: every GRU in a source, described, with its interface."""

from __future__ import annotations

from typing import Any

from onnxgru.core import findings as F
from onnxgru.core import taps as T
from onnxgru.entries import ModelEntry
from onnxgru.report import Report
from onnxgru.sources.load import LoadOptions, load


def inspect(source: str, options: LoadOptions | None = None, **_: Any) -> Report:
    model = load(source, "model", options)
    findings = list(model.findings)
    findings += [F.partial(model.place, f"GRU {why}.") for why in model.untapped]
    # nothing runs the model here: GRU006 is measured on generated inputs, each layer on its own
    findings += T.discrimination(model.role, model.layers, T.probe_taps(model.layers), 1e-5, 1e-5)
    return Report("inspect", models=(ModelEntry.of(model, count=True),), findings=tuple(findings))
