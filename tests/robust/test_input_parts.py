"""Outputs never land on a file an input is made of, even with --force (issue 19): an ONNX model's external data, a
TF1 checkpoint's .meta/.index/.data-* and ``checkpoint`` file however the checkpoint is named, a SavedModel's files
however the folder is named, single-file models, --inputs, the bundled example; by path, link or hard link. Each
refusal is exit 2, one sentence, nothing written (``refused`` hashes every watched file before and after)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from ..conftest import random_layer

SAYS = "one of the inputs or part of one"
DATA = "data-00000-of-00001"


@pytest.fixture
def external(tmp_path: Path) -> Path:
    """A GRU (random weights) whose tensors are all in ``w.bin`` beside it, read through ``sub/../w.bin``."""
    import onnx

    from onnxgru.graph import build

    model = build.stack_model([random_layer(np.random.default_rng(19), 5, 4)])
    onnx.save_model(model, str(tmp_path / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="w.bin", size_threshold=0)
    (tmp_path / "sub").mkdir()
    dotted = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    for t in dotted.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "sub/../w.bin"
    onnx.save(dotted, str(tmp_path / "dotted.onnx"))
    return tmp_path / "m.onnx"


@pytest.mark.parametrize("model", ["m.onnx", "dotted.onnx"])
@pytest.mark.parametrize("argv", [["inspect", "{m}", "--json"], ["compare", "{m}", "{m}", "--markdown"],
                                  ["check", "--onnx", "{m}", "--runtimes", "onnxruntime", "--junit"]],
                         ids=["inspect", "compare", "check"])
def test_external_data_is_an_input(model: str, argv: list[str], external: Path, refused) -> None:
    src, data = external.parent / model, external.parent / "w.bin"
    before = data.read_bytes()
    args = [a.format(m=src) for a in argv]
    refused([*args, data, "--force"], SAYS, [external.parent])
    refused([*args, external.parent / "sub" / ".." / "w.bin", "--force"], SAYS, [external.parent])
    assert data.read_bytes() == before


def test_links_to_external_data_are_inputs(external: Path, refused) -> None:
    folder = external.parent
    (folder / "link.json").symlink_to(folder / "w.bin")
    os.link(folder / "w.bin", folder / "hard.json")  # a second name of the same file
    for name in ("link.json", "hard.json"):
        refused(["inspect", external, "--json", folder / name, "--force"], SAYS, [folder])


def test_an_output_beside_external_data_is_written(external: Path) -> None:
    from onnxgru.cli import main

    assert main(["inspect", str(external), "--json", str(external.parent / "r.json"), "-q"]) == 0
    assert (external.parent / "r.json").read_text().startswith("{")


def test_parts_of_an_onnx_model(external: Path) -> None:
    from onnxgru.sources.load import parts_of

    folder = external.parent.resolve()
    assert parts_of(external) == [external, folder / "w.bin"]
    assert parts_of(external.parent / "dotted.onnx") == [external.parent / "dotted.onnx", folder / "w.bin"]


@pytest.fixture(scope="module")
def tf_saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One TF1 GRUCell graph (random weights) as a checkpoint (``m_ckpt/model``) and a SavedModel."""
    from ..builders import tf1_graph, tf_module

    tf = tf_module()
    v1 = tf.compat.v1
    folder = tmp_path_factory.mktemp("parts_tf")

    def build() -> None:
        x = v1.placeholder(tf.float32, [None, None, 5], "x")
        o, s = v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(4), x, dtype=tf.float32)
        tf.identity(o, "output")
        tf.identity(s, "state")

    with warnings.catch_warnings():  # the TF1 API is deprecated; it is what wrote these models
        warnings.simplefilter("ignore")
        tf1_graph(tf, folder, "m", build, np.random.default_rng(19), checkpoint=True, saved_model=True)
    return folder


@pytest.mark.tf
@pytest.mark.parametrize("named", ["", ".meta", ".index"], ids=["prefix", "meta", "index"])
@pytest.mark.parametrize("part", [".meta", ".index", f".{DATA}", "checkpoint"])
@pytest.mark.parametrize("command", [["convert", "{src}", "-o"], ["inspect", "{src}", "--json"]],
                         ids=["convert", "inspect"])
def test_checkpoint_files_are_inputs(named: str, part: str, command: list[str], tf_saved: Path, refused) -> None:
    prefix = tf_saved / "m_ckpt" / "model"
    out = prefix.parent / "checkpoint" if part == "checkpoint" else Path(f"{prefix}{part}")
    before = out.read_bytes()
    refused([a.format(src=f"{prefix}{named}") for a in command] + [out, "--force"], SAYS, [tf_saved])
    assert out.read_bytes() == before


@pytest.mark.tf
@pytest.mark.parametrize("named", ["", "saved_model.pb"], ids=["folder", "saved_model.pb"])
@pytest.mark.parametrize("part", ["saved_model.pb", "variables/variables.index", f"variables/variables.{DATA}",
                                  "variables/new.json"])
def test_saved_model_files_are_inputs(named: str, part: str, tf_saved: Path, refused) -> None:
    folder = tf_saved / "m_saved_model"
    refused(["convert", folder / named if named else folder, "-o", folder / part, "--force"], SAYS, [tf_saved])


@pytest.mark.tf
def test_a_linked_folder_of_a_saved_model_is_an_input(tf_saved: Path, tmp_path: Path, refused) -> None:
    """``variables/`` a link to a folder elsewhere: what the link leads to is read, so it is an input."""
    import shutil

    folder = tmp_path / "saved"
    shutil.copytree(tf_saved / "m_saved_model", folder)
    shutil.move(folder / "variables", tmp_path / "elsewhere")
    (folder / "variables").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    for out in (tmp_path / "elsewhere" / "variables.index", tmp_path / "elsewhere" / "new.json"):
        refused(["convert", folder, "-o", out, "--force"], SAYS, [tmp_path])


@pytest.mark.tf
def test_parts_of_a_checkpoint_and_a_saved_model(tf_saved: Path) -> None:
    from onnxgru.sources.load import parts_of

    prefix = tf_saved / "m_ckpt" / "model"
    files = {Path(f"{prefix}.meta"), Path(f"{prefix}.index"), Path(f"{prefix}.{DATA}"), prefix.parent / "checkpoint"}
    assert files == {p for p in prefix.parent.iterdir()}  # what Saver wrote, and nothing else
    for named in ("", ".meta", ".index"):
        assert set(parts_of(f"{prefix}{named}")) == files
    saved = tf_saved / "m_saved_model"
    tree = {saved, *saved.rglob("*")}
    assert set(parts_of(saved)) == tree == set(parts_of(saved / "saved_model.pb"))
    assert parts_of(tf_saved / "m.pb") == [tf_saved / "m.pb"]  # a frozen graph is one file


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.pt", "m.pt2", "m.ts", "m.pb"])
def test_single_file_models_and_hard_links_to_them(name: str, tmp_path: Path, refused) -> None:
    """Refused before any reader opens the file, so its bytes need not be a model."""
    src = tmp_path / name
    src.write_bytes(np.random.default_rng(19).bytes(256))
    os.link(src, tmp_path / "hard.json")
    for out in (src, tmp_path / "hard.json"):
        refused(["inspect", src, "--json", out, "--force"], SAYS, [tmp_path])


def test_inputs_file_is_an_input(external: Path, refused) -> None:
    npz = external.parent / "in.npz"
    np.savez(npz, x=np.random.default_rng(19).uniform(-1, 1, (2, 3, 5)).astype(np.float32))
    refused(["compare", external, external, "--inputs", npz, "--json", npz, "--force"], SAYS, [external.parent])


def test_the_bundled_example_is_an_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused) -> None:
    """``check`` without sources reads the bundled example: its files are inputs too."""
    from onnxgru import example

    monkeypatch.setenv("ONNXGRU_MODELS", str(tmp_path))
    pb = tmp_path / example.FILES["tf"]
    pb.write_bytes(b"stands for the example's frozen graph")
    refused(["check", "--json", pb, "--force"], SAYS, [tmp_path])
