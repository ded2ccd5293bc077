"""GRU taps: what each GRU of a model actually received and produced in one execution, and the reference on it.

Every execution (TensorFlow, Keras, PyTorch, an ONNX model in a runtime) captures, for each GRU call, its input
sequence, initial states and outputs. A ``Tap`` covers the canonical layers ``first .. first+count-1`` that one call
computes (one ONNX GRU node is one layer; a 2-layer ``nn.GRU`` or a ``MultiRNNCell`` loop is several). Running the
numpy reference GRU on the tapped input checks each GRU in isolation, in every execution, whatever surrounds it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from onnxgru.core import findings as F
from onnxgru.core import reference
from onnxgru.core.numerics import PairResult, compare_arrays
from onnxgru.core.spec import GRULayer


@dataclass(frozen=True, eq=False)
class Tap:
    """Layers ``first .. first+count-1`` as one execution ran them. Arrays are batch-major and ONNX-aligned (a Keras
    ``go_backwards`` output is put back in input order); None where the execution does not expose a value."""

    first: int
    count: int
    X: np.ndarray  # (N, T, I)
    initial_h: tuple[np.ndarray | None, ...]  # per layer (D, N, H); None: zeros
    Y: np.ndarray | None  # the last layer's (N, T, D*H)
    Y_h: tuple[np.ndarray | None, ...]  # per layer (D, N, H)
    lengths: np.ndarray | None = None
    where: str = ""
    mask: np.ndarray | None = None  # (N, T), False where the execution skipped a step (Keras masking); None: none
    carry: bool = False  # a skipped step outputs the last output (Keras), not zeros

    @property
    def skipped(self) -> int:
        """How many (row, step) the mask skipped."""
        return 0 if self.mask is None else int(self.mask.size - np.count_nonzero(self.mask))

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    def layers_of(self, layers: Sequence[GRULayer]) -> list[GRULayer]:
        return list(layers[self.first : self.first + self.count])


@dataclass(frozen=True)
class LayerCheck:
    """A tap held against the reference GRU run on its own input: does this GRU compute what its weights say?"""

    execution: str
    layers: str  # the layer names, "a+b" for a multi-layer tap
    first: int
    count: int
    max_abs: float
    passed: bool
    required_atol: float
    detail: str
    pairs: tuple[PairResult, ...] = ()
    reach: float = 0.0  # the largest pre-activation magnitude a gate row can reach on this input (rounding scales)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict:
        return {"execution": self.execution, "layers": self.layers, "first": self.first, "count": self.count,
                "max_abs": self.max_abs, "passed": self.passed, "required_atol": self.required_atol,
                "detail": self.detail}


def unknown_to_reference(layers: Sequence[GRULayer]) -> str:
    """Why the reference cannot run these layers (an activation the ONNX GRU does not define, such as TF's Relu6),
    or ''."""
    odd = sorted({a for layer in layers for a in layer.attrs.activations if a not in reference._ACTIVATIONS})
    return f"its activation {', '.join(odd)} is not one an ONNX GRU defines" if odd else ""


def checkable(taps: Sequence[Tap], layers: Sequence[GRULayer]) -> list[Tap]:
    """The taps the reference GRU can be run on."""
    return [t for t in taps if not unknown_to_reference(t.layers_of(layers))]


class References:
    """The reference GRU's runs on taps, kept by the content of what went in; a verification owns one. The reference
    is the costliest step of a check: GRU006 and every runtime tapping the same input read a kept run again, and
    ``prefetch`` runs many taps of the same weights side by side. What the kept runs may hold is bounded; the oldest
    go first."""

    def __init__(self, budget: int = 256 << 20) -> None:
        self._runs: dict[bytes, tuple[np.ndarray, list[np.ndarray]]] = {}  # oldest first
        self._layers: dict[int, tuple[GRULayer, bytes]] = {}  # each layer's digest, the layer kept so its id stays
        self._budget = budget

    def of(self, tap: Tap, layers: Sequence[GRULayer], flip: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """What the reference GRU computes on the tap's input: the last layer's output and each layer's final
        state. With ``flip``, the other GRU family on the same weights (GRU006's look; not kept)."""
        chosen, x, initial, kept, masked = _prepared(tap, layers)
        if flip:
            return reference.run_layers(chosen, x, initial, tap.lengths, flip_linear_before_reset=True,
                                        out_dtype=kept, **masked)
        key = self._key(tap, chosen, x, initial)
        if key not in self._runs:
            self._remember(key, reference.run_layers(chosen, x, initial, tap.lengths, out_dtype=kept, **masked))
        return self._runs[key]

    def prefetch(self, taps: Sequence[tuple[Tap, Sequence[GRULayer]]]) -> None:
        """The reference on many taps of the same weights (a source and every runtime's run of its export) in one
        run, their rows side by side: a step's recurrent product costs about as much for a dozen rows as for two.
        ``of`` then reads each tap's own share. Taps that cannot share a run (other weights, numbers of steps, float
        types) run apart, when they are read."""
        groups: dict[tuple, list[tuple[Tap, list[GRULayer], bytes]]] = {}
        seen: set[bytes] = set()
        for tap, layers in taps:
            if unknown_to_reference(tap.layers_of(layers)):
                continue
            chosen, x, initial, _, _ = _prepared(tap, layers)
            key = self._key(tap, chosen, x, initial)
            if key not in self._runs and key not in seen:
                seen.add(key)
                groups.setdefault((self._layers_digest(chosen), x.shape[1:], x.dtype.str, tap.carry), []).append(
                    (tap, chosen, key))
        for members in groups.values():
            if len(members) > 1:
                self._run_together(members)

    def clear(self) -> None:
        """Let every kept run go (the verification that owns them is done)."""
        self._runs.clear()
        self._layers.clear()

    def _run_together(self, members: Sequence[tuple[Tap, list[GRULayer], bytes]]) -> None:
        group = [t for t, _, _ in members]
        chosen = members[0][1]
        prepared = [_prepared(t, chosen, whole=True) for t in group]
        rows = [len(x) for _, x, _, _, _ in prepared]
        x = np.concatenate([x for _, x, _, _, _ in prepared])
        steps = x.shape[1]
        initial = [None if all(p[2][k] is None for p in prepared) else np.concatenate(
            [np.zeros((la.attrs.num_directions, n, la.attrs.hidden_size), x.dtype) if p[2][k] is None else p[2][k]
             for p, n in zip(prepared, rows)], axis=1) for k, la in enumerate(chosen)]
        lengths = None if all(t.lengths is None for t in group) else np.concatenate(
            [np.full(n, steps) if t.lengths is None else np.asarray(t.lengths) for t, n in zip(group, rows)])
        mask = None if all(t.mask is None for t in group) else np.concatenate(
            [np.ones((n, steps), bool) if t.mask is None else np.asarray(t.mask, bool)
             for t, n in zip(group, rows)])
        try:
            out, states = reference.run_layers(chosen, x, initial, lengths, out_dtype=prepared[0][3], mask=mask,
                                               carry=group[0].carry)
        except (ValueError, IndexError):  # a tap that does not fit: each is then run (and said) on its own
            return
        bounds = np.cumsum([0, *rows])
        for (_, _, key), a, b in zip(members, bounds, bounds[1:]):
            self._remember(key, (out[a:b], [s[:, a:b] for s in states]))

    def _key(self, tap: Tap, chosen: Sequence[GRULayer], x: np.ndarray,
             initial: Sequence[np.ndarray | None]) -> bytes:
        return _digest(self._layers_digest(chosen), x, *initial, tap.lengths, tap.mask, np.array(tap.carry))

    def _layers_digest(self, chosen: Sequence[GRULayer]) -> bytes:
        """What the reference reads of the layers (attributes, weights), hashed once per layer object: the same
        weights loaded from a source and from its export share their reference runs."""
        out = []
        for layer in chosen:
            if id(layer) not in self._layers:
                self._layers[id(layer)] = layer, _digest(repr((layer.attrs, layer.output_reversed)).encode(),
                                                         layer.W, layer.R, layer.B)
            out.append(self._layers[id(layer)][1])
        return b"".join(out)

    def _remember(self, key: bytes, result: tuple[np.ndarray, list[np.ndarray]]) -> None:
        self._runs[key] = result
        held = sum(out.nbytes + sum(s.nbytes for s in states) for out, states in self._runs.values())
        while held > self._budget and len(self._runs) > 1:
            out, states = self._runs.pop(next(iter(self._runs)))
            held -= out.nbytes + sum(s.nbytes for s in states)


def _prepared(tap: Tap, layers: Sequence[GRULayer], whole: bool = False) -> tuple[
        list[GRULayer], np.ndarray, list, np.dtype, dict]:
    """The layers a tap covers (``layers`` themselves with ``whole``), its input and initial states as the
    reference takes them, the float type its result is kept in, and its masking."""
    dtype = tap.X.dtype if np.issubdtype(tap.X.dtype, np.floating) else np.float32
    initial = [None if h is None else np.asarray(h, dtype) for h in tap.initial_h]
    # computed in float64, kept in the tap's own float type (at least float32): what the GRU gave is compared with
    # the exact result rounded as it could at best have given it, at half the memory of a float64 output
    kept = np.promote_types(dtype, np.float32)
    return list(layers) if whole else tap.layers_of(layers), np.ascontiguousarray(tap.X, dtype), initial, kept, {
        "mask": tap.mask, "carry": tap.carry}


def _digest(head: bytes, *arrays: np.ndarray | None) -> bytes:
    h = hashlib.blake2b(head, digest_size=16)
    for a in arrays:
        if a is None:
            h.update(b"-")
            continue
        a = np.ascontiguousarray(a)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(a.data.cast("B") if a.size else b"")  # the shape is in the digest already
    return h.digest()


_EPS32 = float(np.finfo(np.float32).eps)
_ROUNDING_MARGIN = 16  # summation orders differ between kernels; a wrong formula or bf16 is 1e-3 and far beyond


def reach_of(chosen: Sequence[GRULayer], x: np.ndarray) -> float:
    """The largest pre-activation magnitude a gate row can reach on input ``x`` (``|W|·max|x| + |R|·1 + |b|``; a
    state stays within 1). Rounding scales with it: a GRU fed large inputs (after convolutions and normalisation)
    rounds more than ``atol`` allows, and that is no disagreement."""
    if not np.asarray(x).size or not np.issubdtype(np.asarray(x).dtype, np.floating):
        return 0.0
    scale = float(np.max(np.abs(x)))
    if not np.isfinite(scale):
        return 0.0
    most = 0.0
    for layer in chosen:
        reach = np.abs(layer.W) @ np.full(layer.W.shape[-1], scale) + np.abs(layer.R).sum(axis=-1)
        reach = reach + np.abs(layer.B[:, : reach.shape[-1]]) + np.abs(layer.B[:, reach.shape[-1]:])
        most = max(most, float(np.max(reach)))
        scale = 1.0  # the next layer reads this one's outputs
    return most


def check(execution: str, tap: Tap, layers: Sequence[GRULayer], atol: float, rtol: float,
          references: References | None = None) -> LayerCheck:
    """Hold the tapped outputs against the reference GRU on the tapped input (float64, the oracle), within ``atol``
    or, where larger, the rounding a correct float32 GRU commits on that input: float32's epsilon times the reach of
    its pre-activations (``reach_of``), with a margin for the kernels' summation orders."""
    atol_given = atol
    chosen = tap.layers_of(layers)
    names = "+".join(layer.name for layer in chosen)
    try:
        out, states = (references or References()).of(tap, layers)
    except (ValueError, IndexError) as exc:  # the tapped input does not fit the layer: the runtime's shapes are off
        return _unfit(execution, tap, names, f"its tapped input does not fit the layer ({exc})")
    reach = reach_of(chosen, tap.X)
    floor = _ROUNDING_MARGIN * _EPS32 * reach if np.asarray(tap.X).dtype == np.float32 else 0.0
    atol = max(atol, floor)
    pairs = []
    wanted = [(f"{names}: Y", tap.Y, out, 1)] + [
        (f"{layer.name}: Y_h", got, want, None) for layer, got, want in zip(chosen, tap.Y_h, states)]
    for name, got, want, time_axis in wanted:
        if got is None:
            continue
        if np.shape(got) != np.shape(want):
            return _unfit(execution, tap, names, f"it returns {name.split(': ')[-1]} of shape {np.shape(got)} where "
                          f"the operator gives {np.shape(want)}")
        pairs.append(compare_arrays(execution, "reference GRU", name, np.asarray(got), want, atol, rtol, time_axis))
    max_abs = max((p.max_abs for p in pairs), default=0.0)
    required = max((p.required_atol for p in pairs), default=0.0)
    passed = all(p.passed for p in pairs)
    said = [p.output.split(": ")[-1] for p in pairs]
    detail = (f"{' and '.join(said)} on its own input agree with the reference GRU" if passed
              else f"differs from the reference GRU on its own input by {max_abs:.3g}") if pairs else "nothing tapped"
    if pairs and floor > atol_given:
        detail += f" (atol {floor:.3g}: what float32 rounding of its pre-activations allows on this input)"
    if pairs and tap.skipped:
        detail += (f" (the reference followed its mask: {tap.skipped} of {tap.mask.size} steps skipped, "  # type: ignore[union-attr]
                   f"{'the last output repeated' if tap.carry else 'zeros output'} there)")
    return LayerCheck(execution, names, tap.first, tap.count, max_abs, passed, required, detail, tuple(pairs), reach)


def _unfit(execution: str, tap: Tap, names: str, why: str) -> LayerCheck:
    return LayerCheck(execution, names, tap.first, tap.count, float("inf"), False, float("inf"), why)


def covering(taps: Sequence[Tap], layer: int) -> Tap | None:
    return next((t for t in taps if t.first <= layer <= t.last), None)


def input_of(taps: Sequence[Tap], layer: int) -> np.ndarray | None:
    """The sequence that entered ``layer``, when a tap starts there."""
    return next((t.X for t in taps if t.first == layer), None)


def output_of(taps: Sequence[Tap], layer: int) -> np.ndarray | None:
    """The sequence ``layer`` produced, when a tap ends there."""
    return next((t.Y for t in taps if t.last == layer and t.Y is not None), None)


def state_of(taps: Sequence[Tap], layer: int) -> np.ndarray | None:
    t = covering(taps, layer)
    return None if t is None else t.Y_h[layer - t.first]


def discrimination(model: str, layers: Sequence[GRULayer], taps: Sequence[Tap], atol: float, rtol: float,
                   references: References | None = None) -> list:
    """Measured: the reference run on each GRU's tapped input with ``linear_before_reset`` as it is and flipped. When
    every output stays within the tolerance, agreement proves nothing about the GRU family (GRU006)."""

    refs = references or References()
    gaps, close = [], True
    taps = checkable(taps, layers)
    reasons = [f"{layer.name}: {why}" for layer in layers if (why := layer.degenerate())]
    for t in taps:
        same, same_states = refs.of(t, layers)
        if not any("NaN or Inf" in r for r in reasons) and _apart_early(t, layers, same, atol, rtol, refs):
            close = False  # told apart on the first steps: the rest cannot bring them together again
            continue
        flip, flip_states = refs.of(t, layers, flip=True)
        for x, y in [(same, flip), *zip(same_states, flip_states)]:
            # a slice of steps at a time (compare_arrays): no temporaries the size of the whole output
            p = compare_arrays("as it is", "flipped", "", x, y, atol, rtol, 1 if x.ndim == 3 else None)
            gaps.append(p.max_abs if np.isfinite(p.max_abs) else 0.0)  # NaN/Inf: the layer's own reason says it
            close = close and p.passed
        del flip, flip_states
    gap = max(gaps, default=0.0)
    if any("NaN or Inf" in r for r in reasons):  # not a GRU of either family: no measurement makes it one
        return [F.degenerate(model, reasons, gap)]
    if not taps or not close:
        return []
    return [F.degenerate(model, reasons, gap) if reasons else F.indistinct(model, gap)]


_EARLY_STEPS = 32  # the steps GRU006 first measures the two families on


def _apart_early(tap: Tap, layers: Sequence[GRULayer], same: np.ndarray, atol: float, rtol: float,
                 refs: References) -> bool:
    """Whether the other GRU family's outputs already leave the tolerance within the tap's first steps. A forward
    recurrence's first steps do not depend on the later ones, so they are ``same``'s first steps; a long sequence then
    costs GRU006 a few steps, not a second whole reference run. (A reverse or bidirectional GRU starts at the end.)"""
    steps = tap.X.shape[1] if np.ndim(tap.X) == 3 else 0
    forward = all(la.attrs.direction == "forward" and not la.output_reversed for la in tap.layers_of(layers))
    if not forward or steps <= _EARLY_STEPS:
        return False
    head = Tap(tap.first, tap.count, tap.X[:, :_EARLY_STEPS], tap.initial_h, None, (None,) * tap.count,
               None if tap.lengths is None else np.minimum(tap.lengths, _EARLY_STEPS), tap.where,
               None if tap.mask is None else tap.mask[:, :_EARLY_STEPS], tap.carry)
    flip, _ = refs.of(head, layers, flip=True)
    return not compare_arrays("as it is", "flipped", "", same[:, :_EARLY_STEPS], flip, atol, rtol, 1).passed


def probe_taps(layers: Sequence[GRULayer], seed: int = 0, batch: int = 3, steps: int = 12) -> list[Tap]:
    """One tap per layer on generated inputs (x ~ U(-1, 1), h0 ~ U(-0.9, 0.9)): what ``inspect`` measures GRU006 on
    when nothing runs the model."""
    rng = np.random.default_rng(seed)
    out = []
    for k, layer in enumerate(layers):
        a = layer.attrs
        x = rng.uniform(-1, 1, (batch, steps, a.input_size))
        h0 = rng.uniform(-0.9, 0.9, (a.num_directions, batch, a.hidden_size))
        out.append(Tap(k, 1, x, (h0,), None, (None,)))
    return out
