"""Holding two executions against each other: every output of the model, and GRU layer by GRU layer.

Outputs pair by name when both executions are of the same interface (a model and its export), else by position;
a state that one framework returns as ``(batch, hidden)`` and another as ``(1, batch, hidden)`` pairs as one. An
output with no counterpart is said (GRU011), never dropped in silence. When outputs disagree, the GRU taps localise
it: what agrees before the first differing GRU layer, which layer differs, and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from onnxgru.core import taps as T
from onnxgru.core.findings import Finding
from onnxgru.core.model import Run
from onnxgru.core.numerics import PairResult, compare_arrays
from onnxgru.core.spec import GRULayer


@dataclass(frozen=True)
class Paired:
    """Two executions' outputs held against each other, and what could not be."""

    pairs: tuple[PairResult, ...]
    missing: tuple[str, ...] = ()  # sentences: outputs of the expected side that were not compared
    extra: tuple[str, ...] = ()  # sentences: outputs only the other side has
    misshapen: tuple[str, ...] = ()  # sentences: the same output of the same interface, in another shape

    @property
    def unpaired(self) -> tuple[str, ...]:
        return self.missing + self.extra


def _time_axis(shape: tuple[int, ...], steps: int) -> int | None:
    """Where an output's steps are: outputs reach the pairing batch-major (axis 1), except a GRU's own ``Y``, which
    an ONNX model returns time-major as ``(steps, directions, batch, hidden)`` (axis 0)."""
    if len(shape) < 3 or steps < 2:
        return None
    return next((axis for axis in (1, 0) if shape[axis] == steps), None)


def pair_outputs(a_label: str, a: Run, b_label: str, b: Run, tolerance: Callable[[str], tuple[float, float]],
                 steps: int, by_value: bool = False, one_model: bool = False) -> Paired:
    """Every output of ``a`` held against its counterpart in ``b`` (``b`` is the expected side); ``tolerance`` gives
    each output its ``(atol, rtol)`` (``Settings.tolerance``: ``--atol state:1e-4``).

    With ``by_value`` (``a`` is a conversion returning every layer's final state, ``b`` a source that exposes some
    of them in its own order), each output of ``b`` pairs with the nearest output, or state row, of ``a`` that has
    its shape. With ``one_model`` (a runtime's execution of a model held against the model's own, or its source's)
    an output that comes back in another shape is a disagreement (``misshapen``), not an output left unpaired."""
    outputs = a.outputs
    same_interface = not by_value and list(a.outputs) == list(b.outputs)
    if by_value:
        outputs = _pieces(a.outputs)
        matches = _nearest(outputs, b.outputs)
    elif same_interface:
        matches = [(k, k) for k in a.outputs]
    else:
        matches = list(zip(a.outputs, b.outputs))
    pairs, missing, extra, misshapen = [], [], [], []
    for ka, kb in matches:
        va, vb = same_shape(np.asarray(outputs[ka]), np.asarray(b.outputs[kb]))
        if va is None and same_interface and one_model:  # one model, two executions: a shape apart disagrees
            misshapen.append(f"{a_label} gives its output {ka!r} in shape {np.shape(a.outputs[ka])} where {b_label} "
                             f"gives {np.shape(b.outputs[kb])}")
            continue
        if va is None:
            missing.append(f"{a_label}'s output {ka!r} {np.shape(a.outputs[ka])} and {b_label}'s {kb!r} "
                            f"{np.shape(b.outputs[kb])} have different shapes and were not compared")
            continue
        time_axis = _time_axis(va.shape, steps)
        name = kb if ka == kb or ka.startswith("output") else f"{kb} / {ka}"
        pairs.append(compare_arrays(a_label, b_label, name, va, vb, *_tolerance(tolerance, ka, kb), time_axis))
    used_a, used_b = {ka for ka, _ in matches}, {kb for _, kb in matches}
    if not by_value:
        extra += [f"{a_label}'s output {k!r} has no counterpart in {b_label} and was not compared"
                  for k in a.outputs if k not in used_a]
    missing += [f"{b_label}'s output {k!r} has no counterpart in {a_label} and was not compared"
                for k in b.outputs if k not in used_b]
    return Paired(tuple(pairs), tuple(missing), tuple(extra), tuple(misshapen))


def _pieces(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs, and each row of a stacked state ``(layers, batch, hidden)`` on its own (``output1[0]``)."""
    out = dict(outputs)
    for k, v in outputs.items():
        v = np.asarray(v)
        if v.ndim == 3 and v.shape[0] > 1:
            out.update({f"{k}[{i}]": v[i] for i in range(v.shape[0])})
    return out


def _nearest(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """Each output of ``b`` with the unused output of ``a`` of its shape that is nearest to it."""
    matches, used = [], set()
    for kb, vb in b.items():
        vb = np.asarray(vb)
        fits = [(_gap(va, vb), ka) for ka, va in a.items()
                if ka not in used and same_shape(np.asarray(va), vb)[0] is not None]
        if fits:
            gap, ka = min(fits, key=lambda f: (np.inf if f[0] is None or np.isnan(f[0]) else f[0]))
            matches.append((ka, kb))
            used.add(ka)
    return matches


def _tolerance(tolerance: Callable[[str], tuple[float, float]], *names: str) -> tuple[float, float]:
    """The tolerance of the first of ``names`` that has its own, else the default."""
    tols = [tolerance(n) for n in names]
    default = tolerance("\0")
    return next((t for t in tols if t != default), tols[0])


def same_shape(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """The two arrays in one shape: as they are, or with leading axes of size 1 dropped (a one-layer state)."""
    if a.shape == b.shape:
        return a, b
    if a.size == b.size and _lead_squeezed(a.shape) == _lead_squeezed(b.shape):
        return a.reshape(b.shape), b
    return None, b


def _lead_squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    i = 0
    while i < len(shape) - 1 and shape[i] == 1:
        i += 1
    return shape[i:]


# --- localising a disagreement with the taps -------------------------------------------------------------------
@dataclass(frozen=True)
class Localised:
    """Where two executions part: ``kind`` "before" (the input of ``layer`` already differs), "layer" (its input
    agrees, its output does not), "after" (every GRU agrees: the difference comes after the last one), or ""
    (the taps cannot tell)."""

    kind: str
    layer: int | None
    sentence: str
    agrees_to: float = 0.0
    differs_by: float = 0.0


def _gap(x: np.ndarray | None, y: np.ndarray | None) -> float | None:
    if x is None or y is None:
        return None
    x, y = same_shape(np.asarray(x), np.asarray(y))
    if x is None:
        return None
    with np.errstate(invalid="ignore"):
        d = np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))
    return float(np.nanmax(np.where(np.isnan(d), np.inf, d))) if d.size else 0.0


def localise(a: Sequence[T.Tap], layers_a: Sequence[GRULayer], b: Sequence[T.Tap], layers_b: Sequence[GRULayer],
             atol: float, rtol: float, labels: tuple[str, str] = ("the first", "the second")) -> Localised:
    """Walk the GRU layers in order and find the first whose input or output differs between two executions (named
    ``labels`` where the sentence tells them apart)."""
    count = min(len(layers_a), len(layers_b))
    if not a or not b or not count:
        return Localised("", None, "")
    agree = 0.0
    for k in range(count):
        name = layers_a[k].name if layers_a[k].name == layers_b[k].name else f"{layers_a[k].name} / {layers_b[k].name}"
        dx = _gap(T.input_of(a, k), T.input_of(b, k))
        bound = atol + rtol
        if dx is not None and dx > bound:
            where = "the layers before the first GRU" if k == 0 else f"what lies between GRU layer {k - 1} and it"
            return Localised("before", k, f"the input of GRU layer {k} ({name}) already differs by {dx:.3g}: "
                             f"{where} computes differently", agree, dx)
        gaps = (_gap(T.output_of(a, k), T.output_of(b, k)), _gap(T.state_of(a, k), T.state_of(b, k)))
        dy = max((g for g in gaps if g is not None), default=None)
        if dy is not None and dy > bound:
            said = (f"everything before GRU layer {k} ({name}) agrees" + (
                "" if dx is None else " (its input exactly)" if dx == 0 else f" (its input to {dx:.3g})")
                + f"; layer {k} differs by {dy:.3g}" + _masks_differ(a, b, k, labels))
            return Localised("layer", k, said, dx or agree, dy)
        agree = max(agree, *(v for v in (dx, dy) if v is not None)) if (dx is not None or dy is not None) else agree
    return Localised("after", None, f"every GRU layer agrees (to {agree:.3g}); the difference comes after the last "
                     f"GRU layer ({layers_a[count - 1].name})", agree)


def _masks_differ(a: Sequence[T.Tap], b: Sequence[T.Tap], layer: int, labels: tuple[str, str]) -> str:
    """A Keras mask one side follows and the other does not (the port of a ``mask_zero`` model fed padding)."""
    ta, tb = T.covering(a, layer), T.covering(b, layer)
    skipped = [0 if t is None else t.skipped for t in (ta, tb)]
    if skipped[0] == skipped[1]:
        return ""
    steps = next(t.mask.size for t in (ta, tb) if t is not None and t.mask is not None)
    return (f", and {labels[0]} skips {skipped[0]} and {labels[1]} {skipped[1]} of its {steps} steps by a Keras mask "
            "(id 0 is padding): skip the padded steps in the other model too (in PyTorch, "
            "torch.nn.utils.rnn.pack_padded_sequence), or compare on ids without padding")


def explain(loc: Localised, diff: Sequence[Finding]) -> tuple[str, str]:
    """The localisation in words, with the static finding that explains the differing layer (GRU001-GRU004), and
    that finding's key as the cause."""
    if loc.kind != "layer":
        return (loc.sentence + "." if loc.sentence else ""), ""
    prefix = f"layer {loc.layer} ("
    why = next((f for f in diff if (f.where.startswith(prefix) or f": {prefix}" in f.where)
                and f.code in ("GRU001", "GRU002", "GRU003", "GRU004")), None)
    if why is None:
        return loc.sentence + ".", ""
    words = {"GRU001": "reset before vs after", "GRU002": "a different structure", "GRU003": "other nonlinearities",
             "GRU004": "other weights"}[why.code]
    return f"{loc.sentence}: {words} ({why.code}).", why.ref
