"""``onnxgru fix PORT --like SOURCE -o FIXED``: a PyTorch port whose GRU weights were copied in the wrong order,
reordered to match its source, and written only when the result passes ``check`` against that source.

What GRU004 explains exactly (gate blocks in another order, gate blocks transposed, directions or the input and
recurrent biases swapped) is applied to the port's own tensors (``core.diff.Reordering``); the result must equal
the source's weights in canonical form (float64, GRU004's tolerance) before anything runs. What no reordering can
repair is refused before any work, with the way out: GRU001 (the other GRU family: ``onnxgru convert``), GRU002
(other shapes), GRU003 (other nonlinearities), a difference nothing explains. A port whose weights already equal the
source's has nothing to fix: fix checks it as it is and writes nothing.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from onnxgru.commands.check_cmd import check_loaded
from onnxgru.core.diff import Reordering, diff_layers, reordering
from onnxgru.core.gatemaps import merge_biases
from onnxgru.core.model import LoadedModel
from onnxgru.core.spec import GRULayer
from onnxgru.entries import FixDetails
from onnxgru.errors import UserError
from onnxgru.files import Output
from onnxgru.frameworks.torch import fix as torch_fix
from onnxgru.progress import Progress
from onnxgru.report import Report
from onnxgru.sources.load import KIND_NAMES, TORCH_SUFFIXES, LoadOptions, kind_of, load
from onnxgru.verify.settings import Settings

FIXES_TO = TORCH_SUFFIXES - {".pt2"}  # the port's own form: TorchScript or a state dict


def fix(
    port: str,
    like: str,
    output: Output | None,
    runtimes: str | None = None,
    settings: Settings | None = None,
    options: LoadOptions | None = None,
    progress: Progress | None = None,
) -> Report:
    settings = settings or Settings()
    options = options or LoadOptions()
    progress = progress or Progress()
    if kind_of(port) != "torch":
        raise UserError(f"fix rewrites a PyTorch port's GRU weights, but {port!r} is {KIND_NAMES[kind_of(port)]} "
                        "source; give the port's .pt file (TorchScript or a state dict) and its source with --like.")
    if output is not None and output.path.suffix.lower() not in FIXES_TO:
        raise UserError(f"fix writes the port in its own form (TorchScript or a state dict), and {str(output)!r} "
                        "names another; give a .pt path.")
    progress(f"loading {port}")
    ported = load(port, _role(port), options, "torch")
    form = torch_fix.form_of(ported)  # before the source loads: a form fix cannot write is refused at once
    progress(f"loading {like}")
    source = load(like, _role(like), options)
    repairs = _plan(source, ported)
    if not repairs:  # nothing to fix: the port is checked as it is, and nothing is written
        v = check_loaded([source, ported], runtimes, settings, options, progress)
        unchanged = FixDetails(port, like, form, str(output or ""), False, (), _max_abs(source.layers, ported.layers))
        return v.report("fix", fix=unchanged)
    described = tuple(f"layer {k} ({ported.layers[k].name}): {how.describe()}" for k, (how, _) in repairs.items())
    data = torch_fix.rewrite(ported, {k: layer for k, (_, layer) in repairs.items()}, options.trust_pickle)
    name = output.path.name if output is not None else Path(port).name
    with tempfile.TemporaryDirectory(prefix="onnxgru-fix-") as folder:
        tmp = Path(folder) / name
        tmp.write_bytes(data)
        result = load(tmp, _role(name), options, "torch")  # read back as `check` reads a file
        result.path = str(output) if output is not None else f"fixed {port}"
        left = diff_layers(source.role, source.layers, result.role, result.layers)
        assert not left, [f.message for f in left]  # the plan held each layer to the source already
        v = check_loaded([source, result], runtimes, settings, options, progress)
    details = FixDetails(port, like, form, str(output or ""), False, described, _max_abs(source.layers, result.layers))
    if output is not None and v.report("fix", fix=details):  # written only when the fixed port passes
        output.write(data)
        details = replace(details, written=True)
    return v.report("fix", fix=details)


def _role(path: str | Path) -> str:
    """The label ``check`` gives a source: ``tf:model.h5``, ``torch:port.pt``, ``onnx:model.onnx``."""
    kind = kind_of(path)
    return f"{'tf' if kind == 'keras' else kind}:{Path(path).name}"


def _plan(source: LoadedModel, port: LoadedModel) -> dict[int, tuple[Reordering, GRULayer]]:
    """For each layer of ``port`` whose weights differ from ``source``'s, the reordering that makes them equal and the
    layer it gives; a UserError for any difference a reordering cannot repair."""
    for k, (ls, lp) in enumerate(zip(source.layers, port.layers)):
        if ls.attrs.linear_before_reset != lp.attrs.linear_before_reset:
            way = (f"use `onnxgru convert {source.path} -o OUT.pt`, which writes an exact PyTorch module"
                   if source.kind in ("tf", "keras") else "use `onnxgru convert SOURCE -o OUT.pt` on the TensorFlow "
                   "or Keras original, which writes an exact PyTorch module")
            raise UserError(
                f"layer {k} of {port.path!r} and of {source.path!r} compute different GRU formulas (one resets before "
                "the recurrent matmul, the other after) and no weight mapping exists between them, so fix cannot "
                f"repair the port; {way}."
            )
    found = diff_layers(source.role, source.layers, port.role, port.layers)
    for code, what in (("GRU002", "shapes"), ("GRU003", "nonlinearities")):
        first = next((f for f in found if f.code == code), None)
        if first is not None:
            raise UserError(f"{port.path!r} and {source.path!r} have different {what} ({first.message.rstrip('.')}), "
                            f"which no reordering of weights changes; build the port with the source's {what}, then "
                            "fix it.")
    out = {}
    for k, (ls, lp) in enumerate(zip(source.layers, port.layers)):
        how = reordering(ls, lp)
        if how is not None and how.equal:
            continue
        repaired = how.apply(lp) if how is not None else None
        if how is None or repaired is None or not _equal(ls, repaired):  # held to the source in float64 first
            raise UserError(
                f"the weights of layer {k} ({lp.name}) of {port.path!r} differ from those of {source.path!r} "
                f"({_differences(ls, lp)}) in a way no gate permutation, transposition or swap explains; fix only "
                "reorders weights, so copy them from the source again (`onnxgru explain GRU004` shows the copy)."
            )
        out[k] = (how, repaired)
    return out


def _equal(source: GRULayer, fixed: GRULayer) -> bool:
    """Equal in canonical form, as GRU004 compares (float64, atol 1e-6, biases with their equivalent split merged)."""
    same = reordering(source, fixed)
    return same is not None and same.equal


def _differences(a: GRULayer, b: GRULayer) -> str:
    lbr = a.attrs.linear_before_reset
    pairs = (("W", a.W, b.W), ("R", a.R, b.R), ("B", merge_biases(a.B, lbr), merge_biases(b.B, lbr)))
    return ", ".join(f"{n} by up to {np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).max():.3g}"
                     for n, x, y in pairs)


def _max_abs(source: tuple[GRULayer, ...], fixed: tuple[GRULayer, ...]) -> float:
    """The largest difference left between the fixed weights and the source's, in canonical form and float64."""
    worst = 0.0
    for a, b in zip(source, fixed):
        lbr = a.attrs.linear_before_reset
        for x, y in ((a.W, b.W), (a.R, b.R), (merge_biases(a.B, lbr), merge_biases(b.B, lbr))):
            worst = max(worst, float(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).max()))
    return worst
