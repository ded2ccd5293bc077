"""``onnxgru compare A B``: attributes, canonical weights, and both models run whole on the same inputs."""

from __future__ import annotations

from pathlib import Path

from onnxgru.files import Output
from onnxgru.report import Report
from onnxgru.sources.load import LoadOptions, load
from onnxgru.verify.pipeline import verify
from onnxgru.verify.settings import Settings


def compare(
    a: str,
    b: str,
    settings: Settings | None = None,
    options: LoadOptions | None = None,
    options_b: LoadOptions | None = None,
    *,
    save_inputs: Output | None = None,
    save_outputs: Output | None = None,
) -> Report:
    settings = settings or Settings()
    options = options or LoadOptions()
    ma = load(a, f"A:{Path(a).name}", options)
    mb = load(b, f"B:{Path(b).name}", options_b or options)
    v = verify([ma, mb], settings, fixed=options.fixed, keep=save_outputs is not None)
    v.save("compare", settings, save_inputs, save_outputs)
    return v.report("compare")
