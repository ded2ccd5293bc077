"""``onnxgru convert SRC -o OUT``: a TensorFlow/Keras GRU as a PyTorch module, verified against the source.

The file is written (atomically) only when the converted module agreed with the source; with ``--target nn.GRU``
it is written anyway, and a reset-before source then fails with GRU001 and the measured error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core import findings as F
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel
from onnxgru.entries import ConvertDetails
from onnxgru.errors import UserError
from onnxgru.files import Output
from onnxgru.frameworks.tf import plan as tf_plan
from onnxgru.frameworks.torch import convert as torch_convert
from onnxgru.report import Report
from onnxgru.sources.load import KIND_NAMES, LoadOptions, kind_of, load
from onnxgru.verify.inputs import make_inputs
from onnxgru.verify.pipeline import Verification, verify
from onnxgru.verify.settings import Settings

if TYPE_CHECKING:
    from onnxgru.frameworks.torch.convert import Converted

TARGETS = ("exact", "nn.GRU")


def convert(
    source: str, output: Output | None, settings: Settings | None = None, options: LoadOptions | None = None,
    target_kind: str = "exact", save_inputs: Output | None = None,
) -> Report:
    settings = settings or Settings()
    options = options or LoadOptions()
    if target_kind not in TARGETS:
        raise UserError(f"--target must be one of {', '.join(TARGETS)}, got {target_kind!r}.")
    if output is not None and output.path.suffix.lower() in (".onnx", ".pt2", ".pb", ".keras", ".h5"):
        raise UserError(
            f"convert writes TorchScript, which loads with torch.jit.load; {str(output)!r} names another format "
            "(an ExportedProgram .pt2 would also fix the number of time steps): give a .pt path."
        )
    kind = kind_of(source)
    if kind not in ("tf", "keras"):
        raise UserError(
            f"convert reads TensorFlow and Keras sources, but {source!r} is {KIND_NAMES[kind]} source; give a .pb, "
            "checkpoint, SavedModel, .keras or .h5 file (`onnxgru export torch` exports PyTorch models to ONNX)."
        )
    model = load(source, "source", options, kind)


    inputs = make_inputs([model], settings, options.fixed)
    path = str(output) if output else "converted"
    try:
        plan, why = tf_plan.plan_for(model, inputs), ""
    except tf_plan.NotAChain as exc:
        plan, why = None, str(exc)
    if plan is not None:
        if plan.bare:
            converted = torch_convert.build(model, target_kind, path)
        else:
            converted = torch_convert.build_whole(model, plan, target_kind, path)
        assert converted.model is not None  # a module loads back as a source (only ConvertedGRUs do not)
        v = verify([model, converted.model], settings, inputs=inputs)
    else:
        converted, v = _each(model, source, path, why, target_kind, settings, inputs)
    if target_kind == "nn.GRU" and (forced := torch_convert.forced_nn_gru(model, v.pairs)) is not None:
        v.findings.append(forced)
    max_abs = max((p.max_abs for p in v.pairs), default=None)
    written = False  # when the conversion passes (an nn.GRU that cannot equal its source is written with the reasons)
    if output is not None and (v.report("convert") or target_kind == "nn.GRU"):
        output.write(converted.data)
        written = True
    v.save("convert", settings, save_inputs, None)
    details = ConvertDetails(
        target_kind, converted.module, model.time_major, converted.model.dtype if converted.model else model.dtype,
        max_abs, str(output or ""), written, whole=plan is not None,
        steps=tuple(plan.describe()) if plan is not None else None,
        why_not_whole=why if plan is None else None, keys=converted.keys if plan is None else None,
    )
    return v.report("convert", convert=details)


def _each(model: LoadedModel, source: str, path: str, why: str, target: str, settings: Settings, inputs: Inputs
          ) -> tuple[Converted, Verification]:
    """Each GRU of a model that cannot be rebuilt whole as its own module, held against what the source's GRU
    received and gave (its taps); GRU011 says what was not converted and why."""

    v = verify([model], settings, inputs=inputs)
    runs = [e.run for e in v.executions if e.model is model]
    taps = runs[0].taps if runs else ()
    tapped = sorted({k for tap in taps for k in range(tap.first, tap.last + 1)})
    if not tapped:
        raise UserError(
            f"convert cannot rebuild {source!r} whole ({why}) and cannot tap its GRUs to verify each on its own"
            + (f" ({'; '.join(model.untapped)})" if model.untapped else "") + ": nothing it could convert would be "
            "verified, so nothing is written."
        )
    converted = torch_convert.build_each(model, tapped, target, path,
                                         lengths=any(tap.lengths is not None for tap in taps))
    pairs = torch_convert.hold_each(converted, model, runs[0], settings.tolerance)
    v.pairs += pairs
    lengths = [tap for tap in runs[0].taps if tap.lengths is not None and int(np.min(tap.lengths)) < tap.X.shape[1]]
    said = ("The source's GRU reads sequence lengths (rows shorter than the longest stop early: later steps give "
            "0, the state holds, the backward direction starts at each row's own end); an nn.GRU (--target nn.GRU) "
            "takes no lengths and runs every step of every row, so it equals the source only on full-length rows: "
            "convert with the default target, whose exact GRU takes them." if lengths and not converted.takes_lengths
            else "")
    v.findings += [F.disagreement(p, said=said) for p in pairs if not p.passed]
    names = [model.layers[k].name for k in tapped]
    left = [layer.name for k, layer in enumerate(model.layers) if k not in tapped]
    v.findings.append(F.partial(source, (
        f"{source} was not converted whole: {why}. Each GRU ({', '.join(names)}) is its own exact module, held "
        "against what that GRU received and gave inside the model; the layers around them are not converted"
        + (f", nor the GRUs that could not be tapped ({', '.join(left)})" if left else "")
        + f". Call one as `torch.jit.load({Path(path).name!r})(name, x, h0=None"
        + (", lengths=None" if converted.takes_lengths else "") + ")` -> (outputs, state).")))
    if not pairs:
        v.findings.append(F.nothing_compared("convert", "the converted GRUs", model.role))
    return converted, v
