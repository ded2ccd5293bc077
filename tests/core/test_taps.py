"""The reference GRU on taps: shared runs give each tap exactly its own result; GRU006's early look decides as the
whole run would."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from onnxgru.core import reference
from onnxgru.core import taps as T
from onnxgru.core.spec import GRULayer

from ..conftest import random_layer


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    calls: list[tuple] = []
    run = reference.run_layers

    def counted(layers, x, *args, **kwargs):
        calls.append((len(layers), x.shape, kwargs.get("flip_linear_before_reset", False)))
        return run(layers, x, *args, **kwargs)

    monkeypatch.setattr(reference, "run_layers", counted)
    return calls


def _alone(tap: T.Tap, layers: list[GRULayer]) -> tuple[np.ndarray, list[np.ndarray]]:
    return reference.run_layers(tap.layers_of(layers), tap.X, list(tap.initial_h), tap.lengths, mask=tap.mask,
                                carry=tap.carry, out_dtype=np.float32)


def test_taps_sharing_a_run_each_get_their_own_result(rng: np.random.Generator,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A source and three runtimes' taps of a two-layer bidirectional stack, with and without initial states,
    lengths and a mask, run side by side in one reference run; each reads what the reference gives on it alone.
    The source's layers and the export's are other objects with the same weights: they share the run too."""
    layers = [random_layer(rng, 5, 4, "bidirectional", 0, name="l0"), random_layer(rng, 8, 4, "forward", 1,
                                                                                   name="l1")]
    export = [replace(la) for la in layers]  # the same weights loaded again
    steps = 9

    def tap(n: int, h0: bool, lengths: bool, mask: bool) -> T.Tap:
        x = rng.uniform(-1, 1, (n, steps, 5)).astype(np.float32)
        initial = tuple(rng.uniform(-0.9, 0.9, (la.attrs.num_directions, n, 4)).astype(np.float32) if h0 else None
                        for la in layers)
        return T.Tap(0, 2, x, initial, None, (None, None),
                     rng.integers(1, steps + 1, n) if lengths else None,
                     mask=rng.uniform(size=(n, steps)) > 0.3 if mask else None)

    taps = [tap(2, False, False, False), tap(3, True, True, False), tap(1, True, False, True),
            tap(2, False, True, True)]
    calls = _counting(monkeypatch)
    refs = T.References()
    refs.prefetch([(taps[0], layers)] + [(t, export) for t in taps[1:]])
    assert len(calls) == 1 and calls[0][1] == (8, steps, 5), calls  # one run, every row side by side
    shares = [refs.of(t, owner) for t, owner in zip(taps, [layers, export, export, export])]
    assert len(calls) == 1, "each tap read its share of the shared run"
    for t, (out, states) in zip(taps, shares):
        want, want_states = _alone(t, layers)
        np.testing.assert_allclose(out, want, atol=1e-6, rtol=0)
        for got, w in zip(states, want_states):
            np.testing.assert_allclose(got, w, atol=1e-12, rtol=0)


def test_taps_of_other_weights_or_lengths_run_apart(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = random_layer(rng, 5, 4, name="a"), random_layer(rng, 5, 4, name="b")
    taps = [T.Tap(0, 1, rng.uniform(-1, 1, (2, n, 5)).astype(np.float32), (None,), None, (None,)) for n in (6, 6, 7)]
    calls = _counting(monkeypatch)
    refs = T.References()
    refs.prefetch([(taps[0], [a]), (taps[1], [b]), (taps[2], [a])])
    assert calls == []  # no two taps could share a run: each runs when it is read
    shares = [refs.of(t, owner)[0] for t, owner in zip(taps, ([a], [b], [a]))]
    assert len(calls) == 3
    refs.clear()
    refs.of(taps[0], [a])
    assert len(calls) == 4, "a cleared run is run again"
    for t, owner, out in zip(taps, ([a], [b], [a]), shares):
        np.testing.assert_allclose(out, _alone(t, owner)[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_gru006_decides_on_the_first_steps_as_on_all_of_them(direction: str, rng: np.random.Generator,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights that tell the families apart: a forward GRU is told apart on its first steps (the other family run on
    those only), a reverse one on the whole run; either way no GRU006. Weights too small to tell them apart: GRU006,
    the whole run measured."""
    steps = 4 * T._EARLY_STEPS
    distinct = random_layer(rng, 5, 4, direction, 1)
    x = rng.uniform(-1, 1, (2, steps, 5)).astype(np.float32)
    tap = T.Tap(0, 1, x, (None,), None, (None,))
    calls = _counting(monkeypatch)
    assert T.discrimination("m", [distinct], [tap], 1e-4, 1e-4, T.References()) == []
    flipped = [c for c in calls if c[2]]
    assert [c[1][1] for c in flipped] == ([T._EARLY_STEPS] if direction == "forward" else [steps])

    faint = random_layer(rng, 5, 4, direction, 1, scale=1e-4)
    faint = replace(faint, B=faint.B * 1e-4)
    calls.clear()
    found = T.discrimination("m", [faint], [tap], 1e-4, 1e-4)
    assert [f.code for f in found] == ["GRU006"]
    assert [c[1][1] for c in calls if c[2]][-1] == steps  # close on the first steps: measured on every step


def test_kept_runs_stay_within_their_budget(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The oldest kept run goes first once the runs would hold more than the budget; the newest stays."""
    layer = random_layer(rng, 5, 4)
    taps = [T.Tap(0, 1, rng.uniform(-1, 1, (2, 6, 5)).astype(np.float32), (None,), None, (None,)) for _ in range(3)]
    one = 2 * 6 * 4 * 4 + 1 * 2 * 4 * 8  # a float32 output and a float64 state
    refs = T.References(budget=2 * one)
    calls = _counting(monkeypatch)
    for t in taps:
        refs.of(t, [layer])
    refs.of(taps[2], [layer])
    refs.of(taps[1], [layer])
    assert len(calls) == 3, "the two newest are kept"
    refs.of(taps[0], [layer])
    assert len(calls) == 4, "the oldest went"
