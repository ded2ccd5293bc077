"""``onnxgru inspect SRC``: every GRU in a source, described."""

from __future__ import annotations

from typing import Any

from onnxgru.core.findings import Finding
from onnxgru.report import Report
from onnxgru.sources.load import LoadOptions, load


def inspect(source: str, options: LoadOptions | None = None, **_: Any) -> Report:
    model = load(source, "model", options)
    findings = list(model.findings)
    for layer in model.layers:
        if why := layer.degenerate():
            findings.append(
                Finding(
                    "GRU006",
                    "warning",
                    f"{layer.name} has degenerate weights ({why}): every GRU formula gives the same outputs with them, "
                    "so a comparison on these weights proves nothing.",
                    layer.name,
                )
            )
    describe = model.describe()
    describe["layers"] = len(model.layers)
    return Report("inspect", models=(describe,), findings=tuple(findings))
