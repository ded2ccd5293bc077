"""GRU001-GRU004 from the layer diff: every finding fires on the difference it names, and only then."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from onnxgru.core.diff import diff_layers, diff_weights

from ..conftest import permute_gates, random_layer, with_attrs


def codes(findings) -> list[str]:
    return sorted(f.code for f in findings)


def test_identical_layers_have_no_findings(rng: np.random.Generator) -> None:
    layer = random_layer(rng)
    assert diff_layers("A", (layer,), "B", (layer,)) == []


def test_semantics_differ_is_gru001_with_both_formulas(rng: np.random.Generator) -> None:
    a = random_layer(rng, linear_before_reset=1)
    found = diff_layers("A", (a,), "B", (with_attrs(a, linear_before_reset=0),))
    assert codes(found) == ["GRU001"]
    assert "r⊙(Rh·h" in found[0].message and "Rh·(r⊙h)" in found[0].message and "onnxgru convert" in found[0].message


@pytest.mark.parametrize("field,value", [("hidden_size", 6), ("direction", "reverse"), ("layout", 1)])
def test_structure_differs_is_gru002(field: str, value: object, rng: np.random.Generator) -> None:
    a = random_layer(rng)
    b = random_layer(rng, hidden=6) if field == "hidden_size" else with_attrs(a, **{field: value})
    found = diff_layers("A", (a,), "B", (b,))
    assert "GRU002" in codes(found)
    assert field in next(f.message for f in found if f.code == "GRU002")


def test_layer_count_differs_is_gru002(rng: np.random.Generator) -> None:
    a = random_layer(rng)
    assert codes(diff_layers("A", (a,), "B", (a, random_layer(rng, 4, 4)))) == ["GRU002"]


@pytest.mark.parametrize("change", [{"clip": 3.0}, {"activations": ("HardSigmoid", "Tanh")}])
def test_activation_or_clip_differs_is_gru003(change: dict, rng: np.random.Generator) -> None:
    a = random_layer(rng)
    assert codes(diff_layers("A", (a,), "B", (with_attrs(a, **change),))) == ["GRU003"]


def test_torch_order_read_as_onnx_is_named(rng: np.random.Generator) -> None:
    a = random_layer(rng)
    b = permute_gates(a, (1, 0, 2))  # z and r swapped
    found = diff_layers("A", (a,), "B", (b,))
    assert codes(found) == ["GRU004"]
    assert "z and r swapped" in found[0].message and "[r|z|h]" in found[0].message


def test_transposed_recurrent_matrix_is_named(rng: np.random.Generator) -> None:
    a = random_layer(rng, 4, 4)
    blocks = np.split(a.R, 3, axis=1)
    b = type(a)(a.name, a.attrs, a.W, np.concatenate([x.transpose(0, 2, 1) for x in blocks], axis=1), a.B)
    assert "transposed" in diff_weights(a, b)


def test_swapped_directions_are_named(rng: np.random.Generator) -> None:
    a = random_layer(rng, direction="bidirectional")
    b = type(a)(a.name, a.attrs, a.W[::-1], a.R[::-1], a.B[::-1])
    assert "directions are swapped" in diff_weights(a, b)


def test_equivalent_bias_split_is_not_a_difference(rng: np.random.Generator) -> None:
    a = random_layer(rng, linear_before_reset=0)
    h = a.attrs.hidden_size
    moved = a.B.copy()
    moved[:, : 3 * h] += moved[:, 3 * h :]
    moved[:, 3 * h :] = 0  # reset-before: the two biases of each gate simply add
    assert diff_weights(a, type(a)(a.name, a.attrs, a.W, a.R, moved)) == ""
    # with reset-after the candidate's recurrent bias sits inside r*(...): moving it changes the function
    b = random_layer(rng, linear_before_reset=1)
    moved = b.B.copy()
    moved[:, 2 * h : 3 * h] += moved[:, 5 * h :]
    moved[:, 5 * h :] = 0
    assert "biases differ" in diff_weights(b, type(b)(b.name, b.attrs, b.W, b.R, moved))


def test_unexplained_difference_says_so(rng: np.random.Generator) -> None:
    a = random_layer(rng)
    b = type(a)(a.name, a.attrs, a.W + 0.1, a.R, a.B)
    msg = diff_weights(a, b)
    assert "no gate permutation" in msg and "W (max abs difference per gate: z 0.1" in msg


def test_gru004_names_the_model_the_slices_and_a_keras_copy_into_torch(rng: np.random.Generator) -> None:
    """The classic mistake: Keras [z|r|h] columns pasted into torch's [r|z|n] rows. The message names the torch
    model, the ONNX and torch slices to exchange, and the copy that caused it."""
    a = random_layer(rng, 5, 4)
    b = permute_gates(a, (1, 0, 2))
    (found,) = diff_layers("keras:gru.h5", (a,), "torch:port.pt", (b,))
    msg = found.message
    assert found.code == "GRU004" and "in torch:port.pt, the gate blocks" in msg and "second model" not in msg
    assert "W[:, 4:8] (holds z), W[:, 0:4] (holds r)" in msg
    assert "rows 0:4 (hold z), rows 4:8 (hold r) of torch's weight_ih_l0, weight_hh_l0, bias_ih_l0" in msg
    assert "Keras's [z|r|h] kernel columns copied into torch's [r|z|n] rows" in msg
    assert found.models == ("keras:gru.h5", "torch:port.pt") and "keras:gru.h5 vs torch:port.pt" in found.where


def test_gru004_torch_rows_read_as_onnx(rng: np.random.Generator) -> None:
    a = random_layer(rng, 5, 4)
    b = permute_gates(a, (1, 0, 2))
    msg = diff_weights(a, b, a_name="torch:m.pt", b_name="onnx:m.onnx")
    assert "torch's [r|z|n] rows copied into ONNX's [z|r|h] rows of onnx:m.onnx" in msg


def test_gru004_names_a_partial_swap(rng: np.random.Generator) -> None:
    """W and R swapped, the biases not: each tensor is explained on its own."""
    from onnxgru.core.diff import _gates

    a = random_layer(rng, 5, 4)
    b = type(a)(a.name, a.attrs, _gates(a.W, (1, 0, 2), 1), _gates(a.R, (1, 0, 2), 1), a.B)
    msg = diff_weights(a, b, b_name="B.onnx")
    assert "the gate blocks of W and R are in the order [r|z|h]" in msg and "B is in the right order" in msg
    assert "Only part of the parameters was reordered" in msg
    only_w = type(a)(a.name, a.attrs, _gates(a.W, (0, 2, 1), 1), a.R, a.B)
    msg = diff_weights(a, only_w)
    assert "gate blocks of W are in the order [z|h|r]" in msg and "R and B are in the right order" in msg


def test_zero_biases_cannot_show_an_order_and_are_not_called_left_alone(rng: np.random.Generator) -> None:
    """A port copied with the gates in torch's order and zero biases: the biases fit every order, so GRU004 says they
    cannot tell (reorder them the same way), not that only part of the parameters was reordered."""
    a = replace(random_layer(rng, 4, 3), B=np.zeros((1, 18), np.float32))
    b = permute_gates(a, (1, 0, 2))
    [found] = diff_layers("A", (a,), "B", (b,))
    assert found.code == "GRU004"
    assert "gate blocks of W and R are in the order" in found.message
    assert "B cannot show an order" in found.message
    assert "Only part of the parameters" not in found.message and "B is in the right order" not in found.message
    # biases that can tell, left in place: still said as such
    c = replace(permute_gates(a, (1, 0, 2)), B=rng.normal(0, 0.4, (1, 18)).astype(np.float32))
    a2 = replace(a, B=c.B)
    [partial] = diff_layers("A", (a2,), "B", (c,))
    assert "B is in the right order" in partial.message and "Only part of the parameters" in partial.message


@pytest.mark.parametrize("perm", [(1, 0, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_every_gate_order_is_returned_as_data_and_undone(perm: tuple[int, int, int], rng: np.random.Generator) -> None:
    """What GRU004 names, as the Reordering `onnxgru fix` applies: every order, rotations that move the candidate's
    recurrent bias (reset-after keeps it apart) included."""
    from onnxgru.core.diff import reordering

    a = random_layer(rng, 5, 4, linear_before_reset=1)
    b = permute_gates(a, perm)
    how = reordering(a, b)
    assert how is not None and not how.equal
    assert reordering(a, how.apply(b)).equal  # type: ignore[union-attr]
    held = "[" + "|".join("zrh"[g] for g in perm) + "]"  # b's block i holds gate perm[i]
    assert f"in the order {held} instead of [z|r|h]" in diff_weights(a, b)
    assert held in how.describe()


def test_transpositions_and_swaps_are_undone(rng: np.random.Generator) -> None:
    from onnxgru.core.diff import reordering

    a = random_layer(rng, 4, 4, direction="bidirectional")
    h = a.attrs.hidden_size
    transposed = replace(a, W=np.concatenate([x.transpose(0, 2, 1) for x in np.split(a.W, 3, axis=1)], axis=1))
    directions = replace(a, W=a.W[::-1], R=a.R[::-1], B=a.B[::-1])
    biases = replace(a, B=np.concatenate([a.B[:, 3 * h :], a.B[:, : 3 * h]], axis=-1))
    for b, said in ((transposed, "W: each gate block transposed"), (directions, "directions exchanged"),
                    (biases, "biases (Wb, Rb) exchanged")):
        how = reordering(a, b)
        assert how is not None and said in how.describe()
        assert reordering(a, how.apply(b)).equal  # type: ignore[union-attr]
    assert reordering(a, replace(a, W=a.W + 0.1)) is None
    assert reordering(a, a).equal  # type: ignore[union-attr]
