"""Diffing two GRU stacks: structure and attributes (GRU001-GRU003) and weights in canonical form (GRU004)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from onnxgru.core import findings as F
from onnxgru.core.findings import Finding
from onnxgru.core.gatemaps import merge_biases
from onnxgru.core.spec import GRULayer

GATES = ("z", "r", "h")


def diff_layers(
    a_name: str,
    a_layers: tuple[GRULayer, ...],
    b_name: str,
    b_layers: tuple[GRULayer, ...],
    atol: float = 1e-6,
    a_kind: str | None = None,
    b_kind: str | None = None,
) -> list[Finding]:
    """Pair the layers in order and report every difference that changes the function. ``a_kind``/``b_kind``
    (``"tf"``, ``"keras"``, ``"torch"``, ``"onnx"``) let GRU004 name the likely source order of a mix-up; without
    them it is read from the names and the layers."""
    findings: list[Finding] = []
    models = (a_name, b_name)
    if len(a_layers) != len(b_layers):
        findings.append(F.layer_count_differs(a_name, len(a_layers), b_name, len(b_layers)))
    for index, (la, lb) in enumerate(zip(a_layers, b_layers)):
        where = f"{a_name} vs {b_name}: layer {index} ({la.name} / {lb.name})"
        findings += [replace(f, models=models) for f in diff_attrs(a_name, la, b_name, lb, where)]
        if _shapes_match(la, lb):
            weight = diff_weights(la, lb, atol, a_name, b_name, a_kind, b_kind, index)
            if weight:
                findings.append(replace(F.weights_differ(where, a_name, b_name, weight), models=models))
    return findings


def diff_attrs(a_name: str, la: GRULayer, b_name: str, lb: GRULayer, where: str) -> list[Finding]:
    a, b = la.attrs, lb.attrs
    out: list[Finding] = []
    if a.linear_before_reset != b.linear_before_reset:
        out.append(F.semantics_differ(where, a_name, a.linear_before_reset, b_name, b.linear_before_reset))
    structural = [
        (k, getattr(a, k), getattr(b, k))
        for k in ("hidden_size", "input_size", "direction", "layout")
        if getattr(a, k) != getattr(b, k)
    ]
    if structural:
        said = "; ".join(f"{k}: {va!r} vs {vb!r}" for k, va, vb in structural)
        hint = (
            " layout only changes the axis order of X/Y (1 = batch first); transpose the inputs or re-export "
            "with layout=0, which every runtime loads."
            if [s[0] for s in structural] == ["layout"]
            else ""
        )
        out.append(F.structure_differs(where, a_name, b_name, said, hint))
    act = [
        (k, getattr(a, k), getattr(b, k))
        for k in ("activations", "activation_alpha", "activation_beta", "clip")
        if getattr(a, k) != getattr(b, k)
    ]
    if act:
        said = "; ".join(f"{k}: {va!r} vs {vb!r}" for k, va, vb in act)
        out.append(F.nonlinearity_differs(where, a_name, b_name, said))
    return out


def _shapes_match(la: GRULayer, lb: GRULayer) -> bool:
    return la.W.shape == lb.W.shape and la.R.shape == lb.R.shape and la.B.shape == lb.B.shape


def diff_weights(
    la: GRULayer,
    lb: GRULayer,
    atol: float = 1e-6,
    a_name: str = "the first model",
    b_name: str = "the second model",
    a_kind: str | None = None,
    b_kind: str | None = None,
    index: int = 0,
) -> str:
    """An empty string when the parameters are equal (biases compared with their equivalent split merged), else a
    sentence naming the gate permutation, transposition or direction swap that explains the difference: which tensors
    of ``b_name`` it touches (a partial swap, e.g. W and R but not the biases, is named as such), the slices to move,
    and the copy that usually causes it."""
    how = reordering(la, lb, atol)
    h = la.attrs.hidden_size
    if how is not None and how.equal:
        return ""
    if how is not None and how.directions:
        return (
            f"{b_name} has the forward and backward directions swapped: the directions are swapped in W, R and B "
            "(index 0 is forward, index 1 reverse; torch's *_reverse tensors hold the reverse direction)."
        )
    if how is not None and how.biases:
        return (
            f"the input and recurrent biases (Wb = B[:, 0:{3 * h}] and Rb = B[:, {3 * h}:{6 * h}]) of {b_name} "
            "are swapped."
        )
    if how is not None:
        return _explain(dict(how.gates), h, la, lb, a_name, b_name, a_kind, b_kind, index, how.blind)
    lbr = la.attrs.linear_before_reset
    Wa, Ra, Ba = _f64(la.W), _f64(la.R), merge_biases(la.B, lbr)
    Wb, Rb, Bb = _f64(lb.W), _f64(lb.R), merge_biases(lb.B, lbr)
    if _same(Wa, Wb, atol) and _same(Ra, Rb, atol):
        return f"W and R are equal; the biases differ by up to {_max_diff(Ba, Bb):.3g}."
    parts = [
        f"{name} (max abs difference per gate: "
        + ", ".join(f"{g} {_max_diff(gx, gy):.3g}" for g, gx, gy in zip(GATES, np.split(x, 3, 1), np.split(y, 3, 1)))
        + ")"
        for name, x, y in (("W", Wa, Wb), ("R", Ra, Rb))
        if not _same(x, y, atol)
    ]
    if not _same(Ba, Bb, atol):
        parts.append(f"B (max abs difference {_max_diff(Ba, Bb):.3g})")
    return "they differ in " + "; ".join(parts) + "; no gate permutation or transposition explains it."


@dataclass(frozen=True)
class Reordering:
    """How one layer's parameters map exactly onto another's: what GRU004 names, as data (``onnxgru fix`` applies
    it). ``gates`` holds, for each of W, R and B, the gate order that puts the second layer's blocks where the
    first has them (new block i is its block ``perm[i]``; the identity: already in place) or ``"transposed"`` (each
    gate block of W or R transposed); ``directions``: forward and backward swapped; ``biases``: the input and
    recurrent biases swapped. ``blind`` tensors have gate blocks all alike (zero biases): any order fits them."""

    gates: Mapping[str, tuple[int, ...] | str] = field(default_factory=dict)
    directions: bool = False
    biases: bool = False
    blind: tuple[str, ...] = ()

    @property
    def equal(self) -> bool:
        return not (self.directions or self.biases) and all(v == _IDENTITY for v in self.gates.values())

    def apply(self, layer: GRULayer) -> GRULayer:
        """``layer``'s parameters reordered as the first layer holds them (the second layer of ``reordering``)."""
        h = layer.attrs.hidden_size
        W, R, B = layer.W, layer.R, layer.B
        if self.directions:
            W, R, B = W[::-1], R[::-1], B[::-1]
        if self.biases:
            B = np.concatenate([B[..., 3 * h :], B[..., : 3 * h]], axis=-1)
        W, R = self._matrix(W, "W"), self._matrix(R, "R")
        perm = self.gates.get("B", _IDENTITY)
        assert isinstance(perm, tuple), perm  # a bias has no transposition
        B = _bias_gates(B, perm, h)
        return replace(layer, W=np.ascontiguousarray(W), R=np.ascontiguousarray(R), B=np.ascontiguousarray(B))

    def _matrix(self, a: np.ndarray, name: str) -> np.ndarray:
        how = self.gates.get(name, _IDENTITY)
        return _gates(a, how, 1) if isinstance(how, tuple) else _transpose_gates(a)  # "transposed"

    def describe(self) -> str:
        """What ``apply`` moves, in a few words: ``W, R and B: gate blocks [r|z|h] put in [z|r|h] order``."""
        if self.directions:
            return "forward and backward directions exchanged in W, R and B"
        if self.biases:
            return "input and recurrent biases (Wb, Rb) exchanged"
        said = []
        by_change: dict[tuple[int, ...] | str, list[str]] = {}
        for name, how in self.gates.items():
            if how != _IDENTITY:
                by_change.setdefault(how, []).append(name)
        for how, names in by_change.items():
            which = " and ".join(names) if len(names) < 3 else "W, R and B"
            if how == "transposed":
                said.append(f"{which}: each gate block transposed")
            else:
                assert isinstance(how, tuple)
                said.append(f"{which}: gate blocks {_order(how)} put in [z|r|h] order")
        return "; ".join(said)


def reordering(la: GRULayer, lb: GRULayer, atol: float = 1e-6) -> Reordering | None:
    """How ``lb``'s parameters map exactly onto ``la``'s (an ``equal`` Reordering when they already are), or None when
    no gate permutation, transposition, direction swap or bias swap explains the difference. Biases are compared with
    their equivalent split merged (``merge_biases``); the layers have the same shapes."""
    lbr = la.attrs.linear_before_reset
    Wa, Ra, Ba = _f64(la.W), _f64(la.R), merge_biases(la.B, lbr)
    Wb, Rb, Bb = _f64(lb.W), _f64(lb.R), merge_biases(lb.B, lbr)

    def same(x: np.ndarray, y: np.ndarray) -> bool:
        return _same(x, y, atol)

    if same(Wa, Wb) and same(Ra, Rb) and same(Ba, Bb):
        return Reordering({"W": _IDENTITY, "R": _IDENTITY, "B": _IDENTITY})
    h = la.attrs.hidden_size
    if Wa.shape[0] == 2 and same(Wa, Wb[::-1]) and same(Ra, Rb[::-1]) and same(Ba, Bb[::-1]):
        return Reordering(directions=True)
    # each tensor on its own: equal, or which gate order (or transposition) of it explains the difference. The
    # biases are reordered as stored, then merged: with reset-after the candidate's recurrent bias stays apart, so
    # merging first would hide an order that moves the candidate block
    tensors = {
        "W": (Wa, Wb, lambda x, p: _gates(x, p, 1)),
        "R": (Ra, Rb, lambda x, p: _gates(x, p, 1)),
        "B": (Ba, lb.B, lambda x, p: merge_biases(_bias_gates(x, p, h), lbr)),
    }
    explained: dict[str, tuple[int, ...] | str | None] = {}
    for name, (x, y, reorder) in tensors.items():
        explained[name] = next((p for p in _PERMS if same(x, reorder(y, p))), None)
        if explained[name] is None and name in ("W", "R") and same(x, _transpose_gates(y)):
            explained[name] = "transposed"
    # a tensor whose gate blocks are all alike (zero biases) fits the identity and any order: it cannot tell, so it
    # follows the order the other tensors show instead of reading as "left in the right order"
    shown = {v for v in explained.values() if isinstance(v, tuple) and v != _IDENTITY}
    blind = []
    if len(shown) == 1:
        (perm,) = shown
        for name, (x, y, reorder) in tensors.items():
            if explained[name] == _IDENTITY and same(x, reorder(y, perm)):
                explained[name] = perm
                blind.append(name)
    if all(v is not None for v in explained.values()):
        return Reordering({k: v for k, v in explained.items() if v is not None}, blind=tuple(blind))
    if same(Wa, Wb) and same(Ra, Rb):
        wb_a, rb_a = np.split(la.B.astype(np.float64), 2, axis=-1)
        wb_b, rb_b = np.split(lb.B.astype(np.float64), 2, axis=-1)
        if same(wb_a, rb_b) and same(rb_a, wb_b):
            return Reordering(biases=True)
    return None


def _same(x: np.ndarray, y: np.ndarray, atol: float) -> bool:
    return x.shape == y.shape and bool(np.allclose(x, y, atol=atol, rtol=1e-5))


_IDENTITY = (0, 1, 2)
_PERMS = [_IDENTITY, *(p for p in itertools.permutations(range(3)) if p != _IDENTITY)]


def _explain(
    explained: dict[str, tuple[int, ...] | str | None], h: int, la: GRULayer, lb: GRULayer, a_name: str, b_name: str,
    a_kind: str | None, b_kind: str | None, index: int, blind: Sequence[str] = (),
) -> str:
    """Words for a difference every tensor's own reordering explains: one sentence per kind of change. ``blind``
    tensors have gate blocks all alike (zero biases): they fit that order, and the words say they cannot tell."""
    sentences = []
    by_change: dict[tuple[int, ...] | str, list[str]] = {}
    for name, how in explained.items():
        if how != _IDENTITY:
            by_change.setdefault(how, []).append(name)  # type: ignore[arg-type]
    untouched = [n for n, how in explained.items() if how == _IDENTITY]
    for how, names in by_change.items():
        names = [n for n in names if n not in blind] or names
        which = " and ".join(names)
        if how == "transposed":
            sentences.append(
                f"in {b_name}, each gate block of {which} is transposed (a Keras/TF (in, out) kernel read as (out, in))"
            )
            continue
        perm = how
        assert isinstance(perm, tuple)
        slices = "; ".join(_slices(name, perm, h) for name in names)
        native = _native_slices(_kind(lb, b_name, b_kind), perm, h, index, names)
        sentences.append(
            f"in {b_name}, the gate blocks of {which} are in the order {_order(perm)} instead of [z|r|h] "
            f"({_swap_words(perm)}): {_fix_words(perm)} in {slices} (ONNX W/R/B terms)"
            + (f", that is {native}" if native else "")
        )
    if untouched and by_change:
        sentences.append(f"{' and '.join(untouched)} {'is' if len(untouched) == 1 else 'are'} in the right order")
    if blind:
        sentences.append(f"{' and '.join(blind)} cannot show an order: {'its' if len(blind) == 1 else 'their'} gate "
                         "blocks are all alike (zero biases, say), so reorder them the same way")
    text = "; ".join(sentences) + "."
    perms = [p for p in by_change if isinstance(p, tuple)]  # not "transposed"
    if perms:
        source = _likely_source(perms[0], _kind(la, a_name, a_kind), _kind(lb, b_name, b_kind), a_name, b_name)
        if source:
            text += f" {source}"
        if untouched:
            text += " Only part of the parameters was reordered: check the copy of each tensor separately."
    return text


def _slices(name: str, perm: tuple[int, ...], h: int) -> str:
    """Where each misplaced gate sits in ONNX terms: ``W[:, 0:4] (holds r)``."""
    moved = [i for i in range(3) if perm[i] != i]
    if name == "B":
        parts = [f"B[:, {off + perm[i] * h}:{off + (perm[i] + 1) * h}] ({part} of {GATES[i]})"
                 for off, part in ((0, "Wb"), (3 * h, "Rb")) for i in moved]
    else:
        parts = [f"{name}[:, {perm[i] * h}:{(perm[i] + 1) * h}] (holds {GATES[i]})" for i in moved]
    return ", ".join(parts)


_TORCH_BLOCK = (1, 0, 2)  # canonical gate slot -> torch row block: ONNX z is torch's block 1, r block 0, h (n) block 2
_TORCH_NAMES = ("z", "r", "n")
_TORCH_TENSORS = {"W": "weight_ih_l{k}", "R": "weight_hh_l{k}", "B": "bias_ih_l{k} and bias_hh_l{k}"}
_KERAS_TENSORS = {"W": "kernel", "R": "recurrent_kernel", "B": "bias"}


def _native_slices(kind: str | None, perm: tuple[int, ...], h: int, index: int, names: list[str]) -> str:
    """The same blocks in the tensors of the model's own framework (torch rows, Keras columns)."""
    moved = [i for i in range(3) if perm[i] != i]
    if kind == "torch":
        blocks = ", ".join(
            f"rows {_TORCH_BLOCK[perm[i]] * h}:{(_TORCH_BLOCK[perm[i]] + 1) * h} (hold {_TORCH_NAMES[i]})"
            for i in moved
        )
        tensors = ", ".join(_TORCH_TENSORS[n].format(k=index) for n in names)
        return f"{blocks} of torch's {tensors} (and their _reverse tensors, if bidirectional)"
    if kind == "keras":
        blocks = ", ".join(f"columns {perm[i] * h}:{(perm[i] + 1) * h} (hold {GATES[i]})" for i in moved)
        return f"{blocks} of Keras's {', '.join(_KERAS_TENSORS[n] for n in names)}"
    return ""


def _fix_words(perm: tuple[int, ...]) -> str:
    moved = [i for i in range(3) if perm[i] != i]
    if len(moved) == 2:
        return "exchange the two row blocks"
    return "move each row block to its gate's place"


def _kind(layer: GRULayer, name: str, given: str | None) -> str | None:
    """The parameter layout a layer was read from: ``torch`` ([r|z|n] rows), ``keras``/``onnx`` ([z|r|h]),
    ``tf1`` (a GRUCell's [r|u] gates kernel), or None when nothing says."""
    detail = layer.detail or ""
    if given:
        return ("keras" if detail.startswith("Keras") else "tf1") if given == "tf" else given
    if detail.startswith("Keras"):
        return "keras"
    if detail.startswith("TF1"):
        return "tf1"
    lowered = name.lower()
    if "torch" in lowered or lowered.rstrip(")").endswith((".pt", ".pth", ".pt2")) or ".l0" in layer.name:
        return "torch"
    if lowered.rstrip(")").endswith((".keras", ".h5")):
        return "keras"
    if lowered.rstrip(")").endswith(".onnx") or "fused ONNX" in detail:
        return "onnx"
    return None


_ORDERS = {"torch": "torch's [r|z|n] rows", "keras": "Keras's [z|r|h] kernel columns",
           "onnx": "ONNX's [z|r|h] rows", "tf1": "a TF1 GRUCell's [r|u] gates kernel"}


def _likely_source(perm: tuple[int, ...], a_kind: str | None, b_kind: str | None, a_name: str, b_name: str) -> str:
    """The copy that usually produces a z/r swap: a [z|r|h] tensor pasted into torch's [r|z|n] rows unchanged, or
    the reverse. Other permutations have no common cause worth guessing."""
    if perm != (1, 0, 2):
        return ""
    zrh, rzn = {"keras", "onnx"}, {"torch", "tf1"}
    if b_kind in rzn and a_kind in zrh:
        return (f"Likely cause: {_ORDERS[a_kind]} copied into {_ORDERS[b_kind]} of {b_name} without reordering "
                "(the first two gate blocks must be exchanged on the way).")
    if b_kind in zrh and a_kind in rzn:
        return (f"Likely cause: {_ORDERS[a_kind]} copied into {_ORDERS[b_kind]} of {b_name} without reordering "
                "(the first two gate blocks must be exchanged on the way).")
    if b_kind in rzn or b_kind in zrh:
        other = "[z|r|h] (Keras, ONNX)" if b_kind in rzn else "[r|z|n] (torch) or [r|u] (TF1 GRUCell)"
        return (f"Likely cause: weights in {other} order copied into {_ORDERS[b_kind]} of {b_name} without "
                "reordering.")
    return ("Likely cause: torch's [r|z|n] rows copied as ONNX/Keras [z|r|h] without reordering, or the reverse "
            "(a Keras [z|r|h] kernel pasted into torch's weight_ih/weight_hh).")


def _max_diff(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(x - y).max())


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _gates(a: np.ndarray, perm: tuple[int, ...], axis: int) -> np.ndarray:
    """Reorder the three gate blocks along ``axis``: new block i is old block ``perm[i]``."""
    blocks = np.split(a, 3, axis=axis)
    return np.concatenate([blocks[p] for p in perm], axis=axis)


def _bias_gates(B: np.ndarray, perm: tuple[int, ...], h: int) -> np.ndarray:
    wb, rb = B[..., : 3 * h], B[..., 3 * h :]
    return np.concatenate([_gates(wb, perm, -1), _gates(rb, perm, -1)], axis=-1)


def _transpose_gates(a: np.ndarray) -> np.ndarray:
    blocks = np.split(a, 3, axis=1)
    if blocks[0].shape[1] != blocks[0].shape[2]:
        return np.full_like(a, np.nan)
    return np.concatenate([blk.transpose(0, 2, 1) for blk in blocks], axis=1)


def _order(perm: tuple[int, ...]) -> str:
    """The order the blocks are in when ``perm`` puts them right: block ``perm[i]`` holds gate i (for a rotation that
    is the inverse of ``perm``, not ``perm`` itself)."""
    held = [""] * 3
    for gate, block in enumerate(perm):
        held[block] = GATES[gate]
    return "[" + "|".join(held) + "]"


def _swap_words(perm: tuple[int, ...]) -> str:
    moved = [GATES[i] for i in range(3) if perm[i] != i]
    if len(moved) == 2:
        return f"{moved[0]} and {moved[1]} swapped"
    return "all three gates rotated"
