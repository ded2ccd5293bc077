"""The typed entries of a report: the models a command read, the inputs it fed, each runtime run, and what
``export``, ``convert`` and ``fix`` wrote. Each is decided before the ``Report`` is built and knows nothing of how it
is shown; ``to_dict()`` gives what ``report.schema.json`` describes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel
from onnxgru.core.signature import Signature
from onnxgru.core.spec import GRULayer


def _kept(entry: Any) -> dict[str, Any]:
    """An entry's fields as a dict, in declaration order, without the optional ones it does not set (None)."""
    return {f.name: _plain(getattr(entry, f.name)) for f in fields(entry)
            if not (getattr(entry, f.name) is None and f.name in _OPTIONAL)}


def _plain(value: object) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


# fields left out of to_dict() when None: what one exporter, one command or one model kind does not say
_OPTIONAL = frozenset({"exporter", "opset", "attempts", "frozen", "chosen", "route", "layers", "fixed",
                       "whole", "steps", "why_not_whole", "keys"})


@dataclass(frozen=True)
class RuntimeResult:
    """One runtime's run of one ONNX model: ok, mismatch, refused or unavailable, with its largest difference."""

    runtime: str
    version: str | None
    model: str
    status: str  # "ok" | "refused" | "mismatch" | "unavailable"
    max_abs: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return _kept(self)


@dataclass(frozen=True)
class LayerEntry:
    """One GRU layer of a model as the report describes it (the weights only as statistics)."""

    name: str
    semantics: str
    linear_before_reset: int
    layout: int
    direction: str
    hidden_size: int
    input_size: int
    activations: tuple[str, ...]
    activation_alpha: tuple[float | None, ...]
    activation_beta: tuple[float | None, ...]
    clip: float | None
    fused: bool
    output_reversed: bool
    detail: str
    weights: Mapping[str, Mapping[str, float]]  # W, R, B... -> min, max, mean, std

    @classmethod
    def of(cls, layer: GRULayer) -> LayerEntry:
        a = layer.attrs
        return cls(layer.name, a.semantics, a.linear_before_reset, a.layout, a.direction, a.hidden_size,
                   a.input_size, tuple(a.activations), tuple(a.activation_alpha), tuple(a.activation_beta), a.clip,
                   layer.fused, layer.output_reversed, layer.detail, layer.weight_stats())

    @property
    def recurrent_std(self) -> float | None:
        """The standard deviation of R, the recurrent weights (0 says the layer was never trained or filled)."""
        return self.weights.get("R", {}).get("std")

    def to_dict(self) -> dict[str, Any]:
        return _kept(self)


@dataclass(frozen=True)
class ModelEntry:
    """One model a command read or made: where it came from, its interface and its GRU layers."""

    role: str
    path: str
    kind: str
    dtype: str
    time_major: bool
    form: str
    code_ran: str | None
    signature: Signature
    gru_layers: tuple[LayerEntry, ...]
    layers: int | None = None  # inspect: how many GRU layers were read

    @classmethod
    def of(cls, model: LoadedModel, *, count: bool = False) -> ModelEntry:
        return cls(model.role, model.path, model.kind, model.dtype, model.time_major, model.form,
                   model.code_ran or None, model.signature, tuple(LayerEntry.of(la) for la in model.layers),
                   len(model.layers) if count else None)

    def to_dict(self) -> dict[str, Any]:
        out = _kept(self)
        out["signature"] = self.signature.describe()
        return out


@dataclass(frozen=True)
class InputsEntry:
    """The inputs every execution got: the seed, batch and steps, how they were made, and values given by name."""

    seed: int | None
    batch: int
    steps: int
    how: str
    fixed: Mapping[str, object] | None = None  # small values as lists, larger as "array (shape)"

    @classmethod
    def of(cls, inputs: Inputs) -> InputsEntry:
        fixed = {k: np.asarray(v).tolist() if np.asarray(v).size <= 8 else f"array {np.shape(v)}"
                 for k, v in inputs.named.items()} or None
        return cls(inputs.seed, inputs.batch, inputs.steps, inputs.how, fixed)

    def to_dict(self) -> dict[str, Any]:
        return _kept(self)


NO_EXECUTION = InputsEntry(None, 0, 0, "no execution")


@dataclass(frozen=True)
class ExportAttempt:
    """One candidate a TensorFlow exporter tried: how it was made, whether it holds fused GRUs, which ops, what
    became of it."""

    how: str
    fused: bool
    ops: Mapping[str, int]
    result: str

    def to_dict(self) -> dict[str, Any]:
        return _kept(self)


@dataclass(frozen=True)
class ExportDetails:
    """How ``export`` made its ONNX file and whether it wrote it. The exporter fills in how; the command, once the
    file is verified, how many GRU nodes it holds, where it goes and whether it was written."""

    dtype: str
    exporter: str | None = None  # torch: torchscript | dynamo
    opset: int | None = None  # torch
    attempts: tuple[ExportAttempt, ...] | None = None  # tf: every candidate, in order
    frozen: Mapping[str, object] | None = None  # tf: values given with --input, baked in
    chosen: str | None = None  # tf: the candidate written
    route: str | None = None  # torch: how the module was traced or scripted
    gru_nodes: int = 0
    written: bool = False
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = _kept(self)
        # the keys each exporter has always written first, then the command's
        order = ("exporter", "opset", "attempts", "dtype", "frozen", "chosen", "route", "gru_nodes", "written",
                 "output")
        return {k: out[k] for k in order if k in out}


@dataclass(frozen=True)
class ConvertDetails:
    """What ``convert`` built (the whole model or each GRU on its own), how close it came, and whether it wrote it."""

    target: str  # "exact" | "nn.GRU"
    module: str  # "nn.GRU" | "GRUStack" | "ConvertedModel" | "ConvertedGRUs"
    time_major: bool
    dtype: str
    max_abs: float | None
    output: str
    written: bool
    whole: bool
    steps: tuple[str, ...] | None = None  # whole: the layers rebuilt, in order
    why_not_whole: str | None = None
    keys: Mapping[str, str] | None = None  # each GRU on its own: source layer -> module key
    format: str = "torchscript"

    def to_dict(self) -> dict[str, Any]:
        out = _kept(self)
        order = ("target", "module", "format", "time_major", "dtype", "max_abs", "output", "written", "whole",
                 "why_not_whole", "keys", "steps")
        return {k: out[k] for k in order if k in out}


@dataclass(frozen=True)
class FixDetails:
    """What ``fix`` reordered in a PyTorch port and whether it wrote the result: only when the fixed port passes the
    check against its source. ``repairs`` says, per layer it changed, what it moved; none: nothing to fix."""

    port: str
    like: str
    format: str  # "torchscript" | "state dict": the port's own
    output: str
    written: bool
    repairs: tuple[str, ...]
    max_abs: float | None = None  # after the fix: the largest weight difference to the source (canonical, float64)

    def to_dict(self) -> dict[str, Any]:
        return _kept(self)


@dataclass(frozen=True)
class Example:
    """``onnxgru check`` of the bundled example: where its files are and the story it tells."""

    folder: str
    story: str

    def to_dict(self) -> dict[str, Any]:
        return _kept(self)
