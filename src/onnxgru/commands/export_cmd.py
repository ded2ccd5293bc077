"""``onnxgru export tf|torch SRC -o OUT.onnx``: dispatch to the framework's exporter.

Each exporter returns ``(report, model_bytes)``; the file is written (atomically) only when the report passed,
i.e. the exported model agreed with the native framework in ONNX Runtime.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from onnxgru.commands.common import Settings, write_atomic
from onnxgru.report import Report
from onnxgru.sources.load import LoadOptions

_EXPORTERS = {"tf": "onnxgru.frameworks.tf.export", "torch": "onnxgru.frameworks.torch.export"}


def export(
    framework: str,
    source: str,
    output: Path | None,
    settings: Settings | None = None,
    options: LoadOptions | None = None,
    *,
    dtype: str | None = None,
    exporter: str = "torchscript",
    opset: int | None = None,
) -> Report:
    settings = settings or Settings()
    options = options or LoadOptions()
    module = importlib.import_module(_EXPORTERS[framework])
    report, data = module.export(
        source, settings=settings, options=options, dtype=dtype, exporter=exporter, opset=opset
    )
    if output is not None and data is not None and report:
        write_atomic(Path(output), data)
    return report
