"""Every command against every class of bad input: exit 2, one plain sentence, nothing written, no code run.

The matrix (one test per cell; ``-`` = the command has no such input):

| bad input                          | inspect | compare | check | export tf | export torch | convert |
|------------------------------------|---------|---------|-------|-----------|--------------|---------|
| missing / empty / truncated / random bytes (per file kind) | x | x | x | x | x | x |
| wrong kind of model                | x       | x       | x     | x         | x            | x       |
| model without a GRU                | x       | x       | x     | x         | x            | x       |
| ONNX external data outside folder  | x       | x       | x     | x         | x            | x       |
| code-running pickle (marker)       | x       | x       | x     | x         | x            | x       |
| Keras Lambda, .keras and .h5 (marker) | x    | x       | x     | x         | x            | x       |
| TF graph / SavedModel that writes a file when run or loaded (marker) | x | x | x | x | x | x        |
| TF file writer behind a control input / in a TF2 serving function (marker, test_hostile) | x | x | x | x | x | x |
| TorchScript from_file in __setstate__ or forward, custom op namespace (marker, test_hostile) | x | x | x | x | x | x |
| Keras 2 SavedModel folder with a Lambda (marker, test_hostile) | x | x | x     | x         | x            | x       |
| inputs: wrong shape / dtype / NaN / Inf | -  | x       | x     | x         | x            | x       |
| fixed feed NaN/Inf (--input)       | x       | x       | x     | x         | x            | x       |
| absurd sizes (flags, model width, inputs file) | - | x | x   | x         | x            | x       |
| output: exists / is an input / a link to one / inside an input folder or checkpoint / missing folder /      |
|   parent is a file / under /proc or /sys / a folder / a pipe / name too long | x | x | x | x | x | x |

Corrupt files are refused by the reader of their kind, so the file-kind axis lists which readers each command reaches.
``test_hostile`` holds round two (issue 13): the rows marked so, crashes that now answer 0/1/2, and bombs measured in
a child process (peak memory, time).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

COMMANDS = ("inspect", "compare", "check", "export-tf", "export-torch", "convert")
OUTPUT_FLAG = {"inspect": "--json", "compare": "--plot", "check": "--junit", "export-tf": "-o", "export-torch": "-o",
               "convert": "-o"}
FAMILY = {".onnx": "onnx", ".pb": "tf", ".keras": "tf", ".h5": "tf", ".pt": "torch"}
MARKS = {"tf": [pytest.mark.tf], "torch": [pytest.mark.torch], "onnx": []}


class Env:
    """Paths of the session's models, built only for the families a case needs."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.request, self.tmp = request, tmp_path
        self.watch: list[Path] = [tmp_path]
        self.markers: list[Path] = []

    def family(self, name: str) -> dict[str, Path]:
        files = self.request.getfixturevalue(f"{name}_files")
        folder = next(iter(p for k, p in files.items() if not k.endswith("marker"))).parent
        if folder not in self.watch:
            self.watch.append(folder)
        self.markers += [p for k, p in files.items() if k.endswith("marker")]
        return files

    def good(self, command: str) -> Path:
        """The source each command is given when the source is not what is being broken."""
        if command == "export-tf" or command == "convert":
            return self.family("tf")["dynamic"]
        if command == "export-torch":
            return self.family("torch")["plain"]
        return self.family("onnx")["good"]

    def out(self, name: str = "out") -> Path:
        return self.tmp / name


def argv(command: str, src: Path | str, env: Env, out: Path | str | None = None) -> list:
    """The command run on ``src``; an output path always given, so a refusal can be seen to write nothing."""
    out = env.out("out.onnx" if command.startswith("export") else "out.pt" if command == "convert" else "out.x") \
        if out is None else out
    flag = OUTPUT_FLAG[command]
    if command == "inspect":
        return ["inspect", src, flag, out]
    if command == "compare":
        return ["compare", src, env.family("onnx")["good"], flag, out]
    if command == "check":
        kind = {".onnx": "--onnx", ".pt": "--torch", ".pt2": "--torch"}.get(Path(src).suffix, "--tf")
        return ["check", kind, src, "--runtimes", "onnxruntime", flag, out]
    if command == "export-tf":
        return ["export", "tf", src, flag, out]
    if command == "export-torch":
        return ["export", "torch", src, flag, out]
    return ["convert", src, flag, out]


@pytest.fixture
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Env:
    return Env(request, tmp_path)


# --- broken files ----------------------------------------------------------------------------------------------
READERS = {  # the file kinds each command reads
    "inspect": (".onnx", ".pb", ".keras", ".h5", ".pt"),
    "compare": (".onnx", ".pt", ".keras"),
    "check": (".onnx", ".pt", ".pb"),
    "export-tf": (".pb", ".keras", ".h5"),
    "export-torch": (".pt",),
    "convert": (".pb", ".keras", ".h5"),
}
GOOD_OF_KIND = {".onnx": ("onnx", "good"), ".pb": ("tf", "dynamic"), ".keras": ("tf", "keras"), ".h5": ("tf", "h5"),
                ".pt": ("torch", "plain")}
BREAKS = {
    "missing": ("does not exist",),
    "empty": ("is empty",),
    "truncated": ("not a readable", "truncated", "corrupt"),
    "random": ("not a readable", "not an onnx model", "corrupt", "not a tensorflow"),
}


def _broken(how: str, suffix: str, env: Env) -> Path:
    path = env.tmp / f"broken{suffix}"
    if how == "missing":
        return path
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        family, name = GOOD_OF_KIND[suffix]
        data = env.family(family)[name].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(np.random.default_rng(len(suffix)).bytes(4096))
    return path


@pytest.mark.parametrize(
    "command,how,suffix",
    [
        pytest.param(c, how, s, marks=MARKS[FAMILY[s]], id=f"{c}-{how}{s}")
        for c in COMMANDS for s in READERS[c] for how in BREAKS
    ],
)
def test_broken_file(command: str, how: str, suffix: str, env: Env, refused) -> None:
    src = _broken(how, suffix, env)
    family = FAMILY[suffix]
    if family != "onnx":
        env.family(family)  # the family's models are watched too: nothing written there either
    refused(argv(command, src, env), BREAKS[how], env.watch, env.markers)


# --- the wrong kind of model ---------------------------------------------------------------------------------------
WRONG_KIND = {  # (family, model, what the sentence names)
    "inspect": [("onnx", "good", ".pt"), ("onnx", "good", ".pb"), ("onnx", "good", ".keras"),
                ("torch", "plain", ".onnx")],
    "compare": [("onnx", "good", ".pt"), ("tf", "keras", ".onnx")],
    "check": [("tf", "keras", "--torch"), ("torch", "plain", "--onnx"), ("onnx", "good", "--tf")],
    "export-tf": [("torch", "plain", ""), ("onnx", "good", "")],
    "export-torch": [("tf", "keras", ""), ("tf", "dynamic", ""), ("onnx", "good", "")],
    "convert": [("onnx", "good", ""), ("torch", "plain", "")],
}


@pytest.mark.parametrize(
    "command,family,name,how",
    [
        pytest.param(c, f, n, how, marks=MARKS[f] + MARKS[FAMILY.get(how, "onnx")], id=f"{c}-{n}{how or ''}")
        for c, cases in WRONG_KIND.items() for f, n, how in cases
    ],
)
def test_wrong_kind(command: str, family: str, name: str, how: str, env: Env, refused) -> None:
    src = env.family(family)[name]
    if how.startswith("."):  # the bytes of one kind under another kind's name
        renamed = env.tmp / f"renamed{how}"
        renamed.write_bytes(src.read_bytes())
        src = renamed
    args = argv(command, src, env)
    if how.startswith("--"):
        args[1] = how  # check: a source given with another framework's flag
    refused(args, ("not a readable", "not an onnx", "source", "not a tensorflow", "no tensorflow graph", "corrupt"),
            env.watch, env.markers)


# --- a model without a GRU -----------------------------------------------------------------------------------------
NO_GRU = {
    "inspect": [("onnx", "no_gru"), ("tf", "no_gru"), ("tf", "dense"), ("torch", "linear")],
    "compare": [("onnx", "no_gru"), ("torch", "linear")],
    "check": [("onnx", "no_gru"), ("torch", "linear"), ("tf", "no_gru")],
    "export-tf": [("tf", "no_gru"), ("tf", "dense")],
    "export-torch": [("torch", "linear")],
    "convert": [("tf", "no_gru"), ("tf", "dense")],
}


@pytest.mark.parametrize(
    "command,family,name",
    [pytest.param(c, f, n, marks=MARKS[f], id=f"{c}-{f}-{n}") for c, cases in NO_GRU.items() for f, n in cases],
)
def test_model_without_a_gru(command: str, family: str, name: str, env: Env, refused) -> None:
    refused(argv(command, env.family(family)[name], env), "contains no GRU", env.watch, env.markers)


# --- hostile files: external data outside the folder, code-running pickles, Keras Lambda layers ------------------
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("which", ["outside", "linked", "absolute"])
def test_external_data_outside_the_folder(command: str, which: str, env: Env, refused) -> None:
    src = env.family("onnx")[which]
    says = ("outside the model's folder",) if command in ("inspect", "compare", "check") else ("ONNX source",
                                                                                                "not a tensorflow")
    refused(argv(command, src, env), says, env.watch, env.markers)


def test_external_data_inside_the_folder_is_read(env: Env, capsys) -> None:
    from onnxgru.cli import main

    assert main(["inspect", str(env.family("onnx")["inside"])]) == 0
    assert "gru" in capsys.readouterr().out


@pytest.mark.torch
@pytest.mark.parametrize("command", COMMANDS)
def test_code_running_pickle(command: str, env: Env, refused) -> None:
    files = env.family("torch")
    says = ("would run code",) if command in ("inspect", "compare", "check", "export-torch") else ("PyTorch source",
                                                                                                  "not a tensorflow")
    refused(argv(command, files["evil"], env), says, env.watch, [files["evil_marker"]])


@pytest.mark.tf
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("which", ["lambda_keras", "lambda_h5"])
def test_keras_lambda_is_refused_in_safe_mode(command: str, which: str, env: Env, refused) -> None:
    files = env.family("tf")
    says = ("Keras source",) if command == "export-torch" else ("Lambda layer",)
    refused(argv(command, files[which], env), says, env.watch, [files["lambda_marker"]])


@pytest.mark.tf
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("which", ["writes_file", "writes_on_load"])
def test_tf_graph_that_writes_files(command: str, which: str, env: Env, refused) -> None:
    """A frozen graph whose output depends on a WriteFile, and a SavedModel whose main op (run by the loader)
    writes a file: refused before TensorFlow runs anything."""
    files = env.family("tf")
    says = ("TensorFlow source",) if command == "export-torch" else ("read or write files",)
    refused(argv(command, files[which], env), says, env.watch, [files["graph_marker"]])


@pytest.mark.torch
@pytest.mark.tf
def test_the_hostile_files_really_run_code_when_loaded_unsafely(env: Env) -> None:
    """The refusals above prove something only if the files are hostile: loading them the unsafe way runs them."""
    import keras

    import torch

    files, tf = env.family("torch"), env.family("tf")
    torch.load(files["evil"], weights_only=False)
    assert files["evil_marker"].exists()
    files["evil_marker"].unlink()
    keras.models.load_model(tf["lambda_keras"], safe_mode=False, compile=False)
    assert tf["lambda_marker"].exists()
    tf["lambda_marker"].unlink()
    import tensorflow

    v1 = tensorflow.compat.v1
    with tensorflow.Graph().as_default(), v1.Session() as sess:
        v1.saved_model.loader.load(sess, ["serve"], str(tf["writes_on_load"]))
    assert tf["graph_marker"].exists()
    tf["graph_marker"].unlink()


# --- inputs a user gives ---------------------------------------------------------------------------------------------
RUNS = ("compare", "check", "export-tf", "export-torch", "convert")
INPUTS = {
    "shape": (dict(x=np.ones((2, 3, 7), np.float32)), "features"),
    "rank": (dict(x=np.ones((2, 3), np.float32)), "rank 3"),
    "int": (dict(x=np.ones((2, 3, 5), np.int32)), "floating point"),
    "complex": (dict(x=np.ones((2, 3, 5), np.complex64)), "floating point"),
    "nan": (dict(x=np.full((2, 3, 5), np.nan, np.float32)), "NaN or Inf"),
    "inf": (dict(x=np.full((2, 3, 5), -np.inf, np.float32)), "NaN or Inf"),
    "h0_nan": (dict(x=np.ones((2, 3, 5), np.float32), h0=np.full((1, 2, 4), np.nan, np.float32)), "NaN or Inf"),
    "h0_int": (dict(x=np.ones((2, 3, 5), np.float32), h0=np.ones((1, 2, 4), np.int64)), "floating point"),
    "no_x": (dict(y=np.ones((2, 3, 5), np.float32)), "named 'x'"),
    "zero_rows": (dict(x=np.ones((0, 3, 5), np.float32)), "at least 1"),
}


def _family_of(command: str) -> str:
    return {"export-tf": "tf", "convert": "tf", "export-torch": "torch"}.get(command, "onnx")


@pytest.mark.parametrize(
    "command,case",
    [pytest.param(c, k, marks=MARKS[_family_of(c)], id=f"{c}-{k}") for c in RUNS for k in INPUTS],
)
def test_bad_inputs_file(command: str, case: str, env: Env, refused) -> None:
    arrays, says = INPUTS[case]
    npz = env.tmp / "inputs.npz"
    np.savez(npz, **arrays)
    refused(argv(command, env.good(command), env) + ["--inputs", npz], says, env.watch, env.markers)


@pytest.mark.parametrize("command", [pytest.param(c, marks=MARKS[_family_of(c)]) for c in RUNS])
@pytest.mark.parametrize("how", ["garbage", "pickled", "missing", "a single array"])
def test_unreadable_inputs_file(command: str, how: str, env: Env, refused) -> None:
    npz = env.tmp / "inputs.npz"
    if how == "garbage":
        npz.write_bytes(b"PK\x03\x04 not a zip")
    elif how == "pickled":  # an object array needs pickle to load: refused, not unpickled
        np.savez(npz, x=np.array([object()], dtype=object))
    elif how == "a single array":
        np.save(env.tmp / "x.npy", np.ones((2, 3, 5), np.float32))
        npz = env.tmp / "x.npy"
    refused(argv(command, env.good(command), env) + ["--inputs", npz],
            ("not a readable .npz", "does not exist", "pickled Python objects"), env.watch, env.markers)


@pytest.mark.parametrize("command", [pytest.param(c, marks=MARKS[_family_of(c)]) for c in COMMANDS])
@pytest.mark.parametrize("value", ["nan", "inf", "-1e999", "1e39", "npy-nan"])
def test_nonfinite_fixed_feed(command: str, value: str, env: Env, refused) -> None:
    if value == "npy-nan":
        np.save(env.tmp / "keep.npy", np.array([1.0, np.nan], np.float32))
        value = str(env.tmp / "keep.npy")
    refused(argv(command, env.good(command), env) + ["--input", f"keep_prob={value}"],
            "NaN, Inf" if value != str(env.tmp / "keep.npy") else "NaN or Inf", env.watch, env.markers)


SIZES = {
    "batch": (["--batch", "1000000000"], "too large"),
    "steps": (["--steps", "99999999999999999999"], "too large"),
    "both within limits, product not": (["--batch", "4096", "--steps", "100000"], "too large"),
    "negative": (["--batch", "-1"], "at least 1"),
    "zero": (["--steps", "0"], "at least 1"),
    "not a number": (["--steps", "1e9"], "not a whole number"),
    "negative seed": (["--seed", "-1"], "--seed"),
    "nan tolerance": (["--atol", "nan"], "--atol"),
    "inf tolerance": (["--rtol", "1e999"], "--rtol"),
}


@pytest.mark.parametrize("command", [pytest.param(c, marks=MARKS[_family_of(c)]) for c in RUNS])
@pytest.mark.parametrize("case", list(SIZES))
def test_absurd_sizes_and_bad_numbers(command: str, case: str, env: Env, refused) -> None:
    flags, says = SIZES[case]
    refused(argv(command, env.good(command), env) + flags, says, env.watch, env.markers)


def test_sizes_count_the_outputs_too() -> None:
    """4096 x 9000 x 5 inputs are within the limits; 4096 x 9000 x 512 outputs (75 GB) are not."""
    from onnxgru.core.model import LoadedModel
    from onnxgru.core.signature import Port, Signature
    from onnxgru.errors import UserError
    from onnxgru.verify.inputs import make_inputs
    from onnxgru.verify.settings import Settings

    from ..conftest import random_layer

    layer = random_layer(np.random.default_rng(0), 5, 512)
    wide = LoadedModel("wide", "wide.onnx", "onnx", (layer,), Signature((Port("x", "float32", (None, None, 5)),)))
    with pytest.raises(UserError, match="too large"):
        make_inputs([wide], Settings(batch=4096, steps=9000))


@pytest.mark.parametrize("command", [pytest.param(c, marks=MARKS[_family_of(c)]) for c in RUNS])
def test_inputs_file_too_large_is_refused_before_loading(command: str, env: Env, refused) -> None:
    """An archive whose header promises 1.6 GB: refused from the header, before anything is decompressed."""
    import zipfile

    npz = env.tmp / "bomb.npz"
    header = np.lib.format.header_data_from_array_1_0(np.empty((0, 0, 0), np.float32))
    header["shape"] = (2, 200_000, 1_000)
    with zipfile.ZipFile(npz, "w") as z, z.open("x.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(bytes(64))  # the data is not even there: only the header may be read
    refused(argv(command, env.good(command), env) + ["--inputs", npz], "more than", env.watch, env.markers)


# --- where the output goes -------------------------------------------------------------------------------------------
def _output(case: str, command: str, env: Env) -> tuple[Path | str, tuple[str, ...], list[str]]:
    """(the output path, what the sentence says, extra flags) for one bad output."""
    tmp = env.tmp
    if case == "exists":
        (tmp / "taken").write_text("keep me")
        return tmp / "taken", ("--force",), []
    if case == "is the input":
        return env.good(command), ("one of the inputs",), ["--force"]
    if case == "a link to the input":
        (tmp / "link").symlink_to(env.good(command))
        return tmp / "link", ("one of the inputs",), ["--force"]
    if case == "missing folder":
        return tmp / "no" / "such" / "out", ("does not exist",), []
    if case == "parent is a file":
        (tmp / "file").write_text("x")
        return tmp / "file" / "out", ("not a folder",), []
    if case == "under /proc":
        return "/proc/onnxgru-out", ("cannot be written", "not writable"), []
    if case == "under /sys":
        return "/sys/onnxgru-out", ("cannot be written", "not writable"), []
    if case == "a folder":
        (tmp / "folder").mkdir()
        return tmp / "folder", ("is a folder",), ["--force"]
    if case == "a pipe":
        os.mkfifo(tmp / "pipe")
        return tmp / "pipe", ("not a regular file",), ["--force"]
    if case == "name too long":
        return tmp / ("o" * 300), ("cannot be written",), []
    raise AssertionError(case)


OUTPUTS = ("exists", "is the input", "a link to the input", "missing folder", "parent is a file", "under /proc",
           "under /sys", "a folder", "a pipe", "name too long")


@pytest.mark.parametrize("command", [pytest.param(c, marks=MARKS[_family_of(c)]) for c in COMMANDS])
@pytest.mark.parametrize("case", OUTPUTS)
def test_bad_output_path(command: str, case: str, env: Env, refused) -> None:
    if case == "under /sys" and not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    out, says, flags = _output(case, command, env)
    before = (env.tmp / "taken").read_text() if case == "exists" else None
    refused(argv(command, env.good(command), env, out) + flags, says, env.watch, env.markers)
    if before is not None:
        assert (env.tmp / "taken").read_text() == before


def test_two_outputs_on_one_path(env: Env, refused) -> None:
    good = env.family("onnx")["good"]
    refused(["compare", good, good, "--json", env.tmp / "r", "--plot", env.tmp / "r"], "same file", env.watch)


@pytest.mark.tf
def test_output_into_an_input_folder_or_checkpoint(env: Env, refused, tmp_path_factory) -> None:
    """A SavedModel folder and a TF1 checkpoint prefix are inputs made of several files: none may be written over."""
    from ..builders import tf1_graph, tf_module

    tf = tf_module()
    v1 = tf.compat.v1
    folder = tmp_path_factory.mktemp("robust_ckpt")

    def build() -> None:
        x = v1.placeholder(tf.float32, [None, None, 5], "x")
        o, s = v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(4), x, dtype=tf.float32)
        tf.identity(o, "output")
        tf.identity(s, "state")

    with warnings.catch_warnings():  # the TF1 API is deprecated; it is what wrote these models
        warnings.simplefilter("ignore")
        tf1_graph(tf, folder, "m", build, np.random.default_rng(0), checkpoint=True, saved_model=True)
    prefix, saved = folder / "m_ckpt" / "model", folder / "m_saved_model"
    env.watch.append(folder)
    refused(["convert", prefix, "-o", Path(f"{prefix}.index"), "--force"], "one of the inputs", env.watch)
    refused(["convert", saved, "-o", saved / "saved_model.pb", "--force"], "one of the inputs", env.watch)
    refused(["inspect", saved, "--json", saved / "variables" / "r.json"], "one of the inputs", env.watch)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root may write into a read-only folder")
def test_read_only_folder_as_a_user(env: Env, refused) -> None:
    ro = env.tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        good = env.family("onnx")["good"]
        refused(["inspect", good, "--json", ro / "r.json"], "not writable", env.watch)
    finally:
        ro.chmod(0o755)
