"""A finding about a whole model points at its file, whatever the command called it."""

from __future__ import annotations

from onnxgru.core.model import LoadedModel
from onnxgru.core.signature import Signature


def test_a_model_is_placed_by_its_file_unless_its_label_names_it() -> None:
    single = LoadedModel("source", "/work/models/gru.pb", "tf", (), Signature())
    assert single.place == "/work/models/gru.pb"  # not "source", "tf" or "model"
    labelled = LoadedModel("blog/tf:gru.pb", "/work/models/gru.pb", "tf", (), Signature())
    assert labelled.place == "blog/tf:gru.pb"  # a check's label already says which file
