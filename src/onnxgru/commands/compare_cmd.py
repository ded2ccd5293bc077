"""``onnxgru compare A B``: attributes, canonical weights, and both models run on the same inputs."""

from __future__ import annotations

from onnxgru.commands.common import Settings, disagreement, discrimination, execute, make_inputs, pair, refused
from onnxgru.core.diff import diff_layers
from onnxgru.report import Report
from onnxgru.runtimes import RuntimeRefused
from onnxgru.sources.load import LoadOptions, load


def compare(
    a: str,
    b: str,
    settings: Settings | None = None,
    options: LoadOptions | None = None,
    options_b: LoadOptions | None = None,
) -> Report:
    settings = settings or Settings()
    ma = load(a, "a", options)
    mb = load(b, "b", options_b or options)
    findings = list(ma.findings) + list(mb.findings)
    findings += diff_layers(f"A ({ma.path})", ma.layers, f"B ({mb.path})", mb.layers)
    inputs = make_inputs([ma, mb], settings)
    outputs, refusals = {}, []
    for label, m in (("A", ma), ("B", mb)):
        try:
            outputs[label] = execute(m, inputs)
        except RuntimeRefused as exc:
            refusals.append(refused("onnxruntime", f"{label} ({m.path})", str(exc)))
    findings += refusals
    tolerances = (settings.atol, settings.rtol, settings.atol_for, settings.rtol_for)
    pairs = pair("A", outputs["A"], "B", outputs["B"], *tolerances) if not refusals else []
    findings += [disagreement(p) for p in pairs if not p.passed]
    findings += discrimination([ma], inputs, settings.atol, settings.rtol)
    return Report(
        "compare",
        inputs=inputs.describe(),
        models=(ma.describe(), mb.describe()),
        pairs=tuple(pairs),
        findings=tuple(findings),
    )
