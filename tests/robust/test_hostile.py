"""Hostile model files, round two (issue 13): no code from a file runs, no file is touched, no bomb goes off, exit 3
never happens.

Each class, what it did before, what it does now:
- a TF graph reaching DebugIdentity(V2) or DatasetToTFRecord through a control input of an output, or a TF2
  SavedModel's serving function doing so: wrote attacker-chosen files and passed; now refused by the op allowlist,
  in every command;
- TorchScript whose __setstate__ or forward calls torch.from_file + fill_, or an op of a custom namespace: wrote
  files when loaded or run; now screened before torch.jit.load, in every command;
- a Keras 2 SavedModel folder with a Lambda: ran it on load; now the Lambda scan and safe mode refuse it;
- --trust-code runs them all, and the report says model code ran (the model's ``code_ran``);
- an ExportedProgram with its GRU weights as inputs, an .h5 config 990 levels deep, an unused ONNX GRU, scalar
  outputs, an int32 state dict: exit 3; now exit 2 with one sentence (or a report);
- float16 / bfloat16 state dicts: exit 3 or "max rel 3.8e+303"; now run in float32 and agree;
- a dead GRU listed as layer 0 ("compared nothing"), 1000 chained GRUs ("not the same architecture"): now the dead
  GRU is unused (GRU011) and the chain passes;
- a 10^9-step while loop, a 2 GB Fill or ConstantOfShape, a 1 GiB void dtype in --inputs, a .keras zip bomb,
  external data declaring 4 GiB for a 1.2 MB tensor: a hang or gigabytes; now exit 2 within 60 s and under 2 GiB
  of peak memory, measured in a child process;
- --json over --inputs or --input FILE.npy (even with --force): overwrote the input; now refused.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from . import hostile
from .test_matrix import COMMANDS, Env, argv

GIB = 1 << 30
PEAK, SECONDS = 2 * GIB, 60.0  # every bomb stays under these


@pytest.fixture
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Env:
    return Env(request, tmp_path)


def _watched(env: Env, files: dict[str, Path]) -> tuple[list[Path], list[Path]]:
    """The folders to keep unchanged and the markers that must not appear."""
    folder = next(p for k, p in files.items() if not k.endswith("marker")).parent
    return [*env.watch, folder], [p for k, p in files.items() if k.endswith("marker")]


def _one_sentence(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}: {err[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("onnxgru: error: ") and lines[0].endswith("."), err[-2000:]
    return lines[0]


def _report(capsys: pytest.CaptureFixture, argv_: list, codes: tuple[int, ...] = (0, 1)) -> tuple[int, str]:
    from onnxgru.cli import main

    code = main([str(a) for a in argv_])
    out, err = capsys.readouterr()
    assert code in codes, f"exit {code}: {err or out[-2000:]}"
    assert "Traceback" not in err and "internal error" not in err, err
    return code, err


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# --- code runs, files are written -------------------------------------------------------------------------------
@pytest.mark.tf
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("which", ["debug_identity", "debug_identity_v2", "tfrecord", "tf2_debug"])
def test_tf_file_writers_behind_a_control_input_are_refused(command: str, which: str, env: Env, refused,
                                                            tf_hostile) -> None:
    """DebugIdentity(V2) with a file:// URL and DatasetToTFRecord, reached only through a control input of an
    output (or inside a TF2 SavedModel's serving function): not inference ops, refused by name before anything
    runs, in every command."""
    watch, markers = _watched(env, tf_hostile)
    says = ("TensorFlow source",) if command == "export-torch" else ("not an inference op",)
    sentence = refused(argv(command, tf_hostile[which], env), says, watch, markers)
    if command != "export-torch":
        assert ("DatasetToTFRecord" if which == "tfrecord" else "DebugIdentity") in sentence


@pytest.mark.tf
@pytest.mark.parametrize("command", ["check", "export-tf", "convert"])
def test_a_file_writer_no_output_needs_never_runs(command: str, env: Env, tf_hostile, capsys) -> None:
    """A DebugIdentity on a constant, outside what the outputs need: the allowlist does not look at it, and nothing
    runs it: onnxgru hands TensorFlow and tf2onnx (whose constant folding runs any op with constant inputs) only
    the part of the graph the outputs need."""
    args = argv(command, tf_hostile["unreached_dump"], env) + ["--steps", "3"]
    _report(capsys, args, codes=(0,))
    assert not tf_hostile["side_marker"].exists()


@pytest.mark.torch
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("which", ["setstate", "forward", "custom_op"])
def test_torchscript_code_is_screened_before_loading(command: str, which: str, env: Env, refused,
                                                     torch_hostile) -> None:
    watch, markers = _watched(env, torch_hostile)
    torch_reader = command in ("inspect", "compare", "check", "export-torch")
    says = {"setstate": "torch.from_file", "forward": "torch.from_file", "custom_op": "custom op namespace"}[which]
    refused(argv(command, torch_hostile[which], env), (says,) if torch_reader else ("PyTorch source",
                                                                                   "not a tensorflow"),
            watch, markers)


@pytest.mark.tf
@pytest.mark.parametrize("command", COMMANDS)
def test_keras_savedmodel_folder_with_a_lambda_is_refused(command: str, env: Env, refused, tf_hostile) -> None:
    watch, markers = _watched(env, tf_hostile)
    says = ("TensorFlow source", "Keras source") if command == "export-torch" else ("Lambda layer",)
    refused(argv(command, tf_hostile["keras_lambda_savedmodel"], env), says, watch, markers)


@pytest.mark.tf
@pytest.mark.torch
def test_the_hostile_files_really_write_when_trusted(tf_hostile, torch_hostile, tmp_path: Path, capsys) -> None:
    """The refusals above prove something only if the files are hostile: trusted (or loaded the unsafe way) they
    write their markers. --trust-code runs them, and the report says that model code ran."""
    import tf_keras

    import torch

    marker = tf_hostile["debug_marker"]
    report = tmp_path / "trusted.json"
    _report(capsys, ["check", "--tf", tf_hostile["debug_identity_v2"], "--runtimes", "onnxruntime", "--trust-code",
                     "--steps", "3", "--json", report])
    assert marker.exists()
    _remove(marker)
    assert "--trust-code" in json.loads(report.read_text())["models"][0]["code_ran"]

    _report(capsys, ["check", "--tf", tf_hostile["tfrecord"], "--runtimes", "onnxruntime", "--trust-code",
                     "--steps", "3"])
    assert tf_hostile["tfrecord_marker"].exists()
    _remove(tf_hostile["tfrecord_marker"])

    marker = torch_hostile["from_file_marker"]
    torch.jit.load(str(torch_hostile["setstate"]))  # __setstate__ runs inside torch.jit.load
    assert marker.read_bytes() == b"AAAA"
    marker.unlink()
    module = torch.jit.load(str(torch_hostile["forward"]))
    assert not marker.exists()
    module(torch.zeros(3, 2, hostile.I))
    assert marker.read_bytes() == b"BBBB"
    marker.unlink()
    report = tmp_path / "trusted_torch.json"
    _report(capsys, ["inspect", torch_hostile["setstate"], "--trust-code", "--json", report], codes=(0,))
    assert marker.exists()
    marker.unlink()
    assert "unscreened" in json.loads(report.read_text())["models"][0]["code_ran"]

    tf_keras.models.load_model(str(tf_hostile["keras_lambda_savedmodel"]), compile=False)
    assert tf_hostile["lambda_marker"].exists()
    tf_hostile["lambda_marker"].unlink()


@pytest.mark.torch
def test_torchscript_that_passes_the_screen_says_its_code_ran(torch_hostile, tmp_path: Path, capsys) -> None:
    report = tmp_path / "r.json"
    _report(capsys, ["inspect", torch_hostile["setstate"].parent / "clean.pt", "--json", report], codes=(0,))
    ran = json.loads(report.read_text())["models"][0]["code_ran"]
    assert "screened" in ran and "__setstate__" in ran


# --- crashes and wrong answers: 0, 1 or 2 with one sentence -------------------------------------------------------
@pytest.mark.torch
def test_exported_program_with_weights_as_inputs(torch_hostile, refused, env: Env) -> None:
    watch, markers = _watched(env, torch_hostile)
    refused(["inspect", torch_hostile["weights_as_inputs"]], "program's inputs", watch, markers)


@pytest.mark.torch
def test_integer_state_dict_is_refused(torch_hostile, refused, env: Env) -> None:
    watch, markers = _watched(env, torch_hostile)
    refused(["check", "--torch", torch_hostile["int32"], "--runtimes", "onnxruntime"], "not floating point", watch,
            markers)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_state_dicts_run_in_float32(dtype: str, torch_hostile, tmp_path: Path, capsys) -> None:
    report = tmp_path / "r.json"
    _report(capsys, ["check", "--torch", torch_hostile[dtype], "--runtimes", "onnxruntime", "--json", report],
            codes=(0,))
    data = json.loads(report.read_text())
    assert data["pairs"] and all(p["max_rel"] < 1e-3 for p in data["pairs"])


@pytest.mark.tf
def test_deeply_nested_keras_config(tf_hostile, refused, env: Env) -> None:
    watch, markers = _watched(env, tf_hostile)
    refused(["inspect", tf_hostile["deep_h5"]], "nests more than", watch, markers)


@pytest.mark.parametrize("command", ["inspect", "check", "compare"])
def test_gru_whose_output_nothing_uses(command: str, onnx_hostile, refused, env: Env) -> None:
    watch, _ = _watched(env, onnx_hostile)
    src = onnx_hostile["unused_gru"]
    args = {"inspect": ["inspect", src], "check": ["check", "--onnx", src, "--runtimes", "onnxruntime"],
            "compare": ["compare", src, src]}[command]
    refused(args, "no GRU that an output of the model depends on", watch)


@pytest.mark.slow
def test_a_dead_gru_is_no_layer(onnx_hostile, tmp_path: Path, capsys) -> None:
    """A GRU no output depends on was layer 0 of a two-layer stack and the check compared nothing; now it is named
    as unused and the live GRU is checked."""
    report = tmp_path / "r.json"
    _report(capsys, ["check", "--onnx", onnx_hostile["dead_first"], "--runtimes", "onnxruntime", "--json", report],
            codes=(0,))
    data = json.loads(report.read_text())
    assert [layer["name"] for m in data["models"] for layer in m["gru_layers"]] == ["gru_1"]
    assert any(f["code"] == "GRU011" and "gru_0" in f["message"] for f in data["findings"])
    assert [c["layers"] for c in data["gru_checks"]] == ["gru_1"] and data["gru_checks"][0]["passed"]


@pytest.mark.tf
def test_a_dead_tf_cell_is_no_layer(tf_hostile, tmp_path: Path, capsys) -> None:
    report = tmp_path / "r.json"
    _report(capsys, ["inspect", tf_hostile["dead_cell"], "--output-names", "output,state", "--json", report],
            codes=(0,))
    data = json.loads(report.read_text())
    assert [layer["name"] for layer in data["models"][0]["gru_layers"]] == ["live/rnn/gru_cell"]
    assert any(f["code"] == "GRU011" and "dead/rnn/gru_cell" in f["message"] for f in data["findings"])


@pytest.mark.slow
@pytest.mark.parametrize("which", ["scalar_beside", "scalar_only"])
def test_scalar_graph_outputs(which: str, onnx_hostile, capsys) -> None:
    from onnxgru.cli import main

    code = main(["check", "--onnx", str(onnx_hostile[which]), "--runtimes", "onnxruntime"])
    err = capsys.readouterr().err
    assert code in (0, 1, 2) and "Traceback" not in err and "internal error" not in err, err
    if which == "scalar_beside":
        assert code == 0  # the GRU's outputs are still compared; the scalar beside them is kept as it is
    if code == 2:
        _one_sentence(code, err)


# --- outputs ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--inputs", "--input"])
def test_outputs_never_over_an_input_file(flag: str, onnx_hostile, refused, env: Env) -> None:
    watch, _ = _watched(env, onnx_hostile)
    good = onnx_hostile["good"]
    given = onnx_hostile["inputs"] if flag == "--inputs" else onnx_hostile["keep_npy"]
    value = str(given) if flag == "--inputs" else f"keep={given}"
    refused(["compare", good, good, flag, value, "--json", given, "--force"], "one of the inputs", watch)


# --- bombs and hangs, measured in a child process ---------------------------------------------------------------
def _bomb(argv_: list, folder: Path, says: str | tuple[str, ...], codes: tuple[int, ...] = (2,)) -> str:
    code, out, err, seconds, peak = hostile.measured(argv_, folder, timeout=SECONDS + 60)
    print(f"{' '.join(map(str, argv_))}: exit {code} in {seconds:.1f} s, peak {peak / GIB:.2f} GiB")  # pytest -s
    assert code in codes, f"exit {code} after {seconds:.0f} s: {err[-2000:] or out[-2000:]}"
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    assert seconds < SECONDS, f"took {seconds:.0f} s"
    assert peak < PEAK, f"peak memory {peak / GIB:.2f} GiB"
    if code == 2:
        sentence = _one_sentence(code, err)
        words = (says,) if isinstance(says, str) else says
        assert any(w in sentence for w in words), sentence
        return sentence
    return out


@pytest.mark.slow
def test_void_dtype_npz_bomb(onnx_hostile, tmp_path: Path) -> None:
    good = onnx_hostile["good"]
    _bomb(["check", "--onnx", good, "--runtimes", "onnxruntime", "--inputs", onnx_hostile["void_npz"]], tmp_path,
          "bytes")


@pytest.mark.slow
def test_external_data_longer_than_its_tensor(onnx_hostile, tmp_path: Path) -> None:
    _bomb(["inspect", onnx_hostile["sparse_external"]], tmp_path, "bytes of external data")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["check", "compare"])
def test_constant_of_shape_bomb(command: str, onnx_hostile, tmp_path: Path) -> None:
    src = onnx_hostile["constant_of_shape"]
    args = ["check", "--onnx", src, "--runtimes", "onnxruntime"] if command == "check" else ["compare", src, src]
    _bomb(args, tmp_path, "ConstantOfShape")


@pytest.mark.slow
def test_a_thousand_chained_grus(onnx_hostile, tmp_path: Path) -> None:
    out = _bomb(["check", "--onnx", onnx_hostile["chain_1000"], "--runtimes", "onnxruntime", "--steps", "4"],
                tmp_path, "", codes=(0,))
    assert out.startswith("onnxgru check: PASS")


@pytest.mark.slow
@pytest.mark.tf
def test_keras_zip_bomb(tf_hostile, tmp_path: Path) -> None:
    _bomb(["inspect", tf_hostile["zip_bomb"]], tmp_path, "zip bomb")


@pytest.mark.slow
@pytest.mark.tf
def test_h5_compression_bomb(tf_hostile, tmp_path: Path) -> None:
    _bomb(["inspect", tf_hostile["h5_bomb"]], tmp_path, "compression bomb")


@pytest.mark.slow
@pytest.mark.tf
def test_fill_bomb(tf_hostile, tmp_path: Path) -> None:
    _bomb(["check", "--tf", tf_hostile["fill"], "--runtimes", "onnxruntime"], tmp_path, "Fill")


@pytest.mark.slow
@pytest.mark.tf
def test_endless_loop_behind_a_control_input_stops_at_the_time_limit(tf_hostile, tmp_path: Path) -> None:
    sentence = _bomb(["check", "--tf", tf_hostile["forever"], "--runtimes", "onnxruntime", "--time-limit", "5"],
                     tmp_path, "time limit")
    assert "--time-limit" in sentence


@pytest.mark.slow
@pytest.mark.torch
def test_endless_torchscript_forward_stops_at_the_time_limit(torch_hostile, tmp_path: Path) -> None:
    """PyTorch cannot be interrupted from Python inside a TorchScript loop: the command's watchdog ends it."""
    sentence = _bomb(["check", "--torch", torch_hostile["endless"], "--runtimes", "onnxruntime", "--time-limit", "5",
                      "--json", tmp_path / "r.json"], tmp_path, "time limit")
    assert "PyTorch model" in sentence and not (tmp_path / "r.json").exists()


@pytest.mark.slow  # spawns onnxgru and its runtime children: seconds each (make test-fast skips it)
def test_memory_limit_of_a_runtime_child() -> None:
    """A runtime's child runs under RLIMIT_AS: a model that needs more (900 MB, under the 1 GiB a graph may make
    from constants) fails in its child and is reported, instead of taking the machine's memory."""
    pytest.importorskip("onnxruntime")
    if os.name != "posix":
        pytest.skip("RLIMIT_AS is POSIX")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from onnxgru.graph import build as onnx_build
    from onnxgru.runtimes.probe import probe

    from ..conftest import random_layer

    model = onnx_build.stack_model([random_layer(np.random.default_rng(0), hostile.I, hostile.H)])
    model.graph.initializer.append(numpy_helper.from_array(np.array([900 << 18], np.int64), "big_shape"))
    model.graph.node.extend([
        helper.make_node("ConstantOfShape", ["big_shape"], ["big"],
                         value=numpy_helper.from_array(np.ones(1, np.float32))),
        helper.make_node("ReduceSum", ["big"], ["big_sum"], keepdims=0),
    ])
    model.graph.output.append(helper.make_tensor_value_info("big_sum", TensorProto.FLOAT, []))
    feeds = {"x": np.ones((3, 7, hostile.I), np.float32), "h0": np.ones((1, 3, hostile.H), np.float32)}
    limited = probe("onnxruntime", model, feeds, memory_limit=800 << 20)
    assert limited.status in ("refused", "crashed") and "allocat" in limited.detail.lower(), limited
    assert probe("onnxruntime", model, feeds).status == "ok"  # the default limit leaves room for it


# --- round three (issue 19): screens that read what the loaders read ------------------------------------------
# A TorchScript archive whose code sits under CODE/ (torch's reader finds records whatever their case; the screen read
# code/ with Python's zipfile, so __setstate__ ran unscreened and wrote a file), and a .pt2 with a member stored twice
# (zipfile reads the last copy, torch's reader the first). The screen now reads torch's own records, and an archive
# whose names repeat or differ only by case is refused.

@pytest.mark.torch
@pytest.mark.parametrize("command", ["inspect", "check", "export-torch"])
def test_torchscript_code_in_upper_case_is_screened(command: str, env: Env, refused, torch_hostile) -> None:
    names = zipfile.ZipFile(torch_hostile["upper_code"]).namelist()
    assert any("/CODE/" in n for n in names) and not any("/code/" in n for n in names)
    watch, markers = _watched(env, torch_hostile)
    refused(argv(command, torch_hostile["upper_code"], env), ("torch.from_file",), watch, markers)


@pytest.mark.torch
@pytest.mark.parametrize("command", ["inspect", "check", "export-torch"])
def test_an_archive_with_a_member_stored_twice_is_refused(command: str, env: Env, refused, torch_hostile) -> None:
    names = zipfile.ZipFile(torch_hostile["twice"]).namelist()
    assert len(names) == len(set(names)) + 1
    watch, markers = _watched(env, torch_hostile)
    refused(argv(command, torch_hostile["twice"], env), ("stores a member twice",), watch, markers)


@pytest.mark.torch
def test_the_same_program_stored_once_loads(torch_hostile, tmp_path: Path, capsys) -> None:
    from onnxgru.cli import main

    assert main(["inspect", str(torch_hostile["program"]), "-q"]) == 0, capsys.readouterr().err


# ONNX sizes from an input's shape (ConstantOfShape(Shape(x) * 4096): over 4 GiB resident), inside an If branch or a
# local function (never looked at), and 30 nested Ifs (OpenVINO hung; check took 4 minutes): each refused before any
# runtime sees the model, by the reader (free axes at 1) or, for a size only the feeds decide, just before a runtime.

@pytest.mark.parametrize("command", ["inspect", "check"])
@pytest.mark.parametrize(("which", "says"), [
    ("shape_bomb", "even with every free axis of its inputs at 1"),
    ("if_bomb", "in the then_branch of If node 'if_bomb'"),
    ("function_bomb", "in function 'Bomb'"),
    ("nested_ifs", "more than 8 levels deep"),
])
def test_onnx_bombs_in_shapes_subgraphs_and_functions(command: str, which: str, says: str, onnx_bombs, env: Env,
                                                       refused) -> None:
    watch, _ = _watched(env, onnx_bombs)
    refused(argv(command, onnx_bombs[which], env), says, watch)


@pytest.mark.parametrize("command", ["check", "compare"])
def test_a_size_only_the_feeds_decide_is_refused_before_a_runtime_runs(command: str, onnx_bombs, env: Env,
                                                                       refused, capsys) -> None:
    from onnxgru.cli import main

    src = onnx_bombs["fed_bomb"]
    code, said = main(["inspect", str(src), "-q"]), capsys.readouterr()
    assert code == 0, said.err  # 1 GiB at N = T = 1: not over
    watch, _ = _watched(env, onnx_bombs)
    refused(argv(command, src, env), "when fed what onnxgru feeds it (x ", watch)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["inspect", "check"])
def test_a_small_if_and_loop_pass(command: str, onnx_bombs, capsys) -> None:
    from onnxgru.cli import main

    src = str(onnx_bombs["small_if_loop"])
    args = ["inspect", src] if command == "inspect" else ["check", "--onnx", src, "--runtimes", "onnxruntime"]
    code, said = main(args), capsys.readouterr()
    assert code == 0, said.err


def _nested(depth: int, functions: int = 0, calls: int = 1) -> object:
    """A model of ``depth`` If nodes one inside the other, then ``functions`` local functions each calling the next
    ``calls`` times."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    one = [helper.make_node("Constant", [], ["v"], value=numpy_helper.from_array(np.array(1, np.float32)))]
    funcs = [helper.make_function("local", "f0", [], ["v"], one, [helper.make_opsetid("", 17)])]
    for k in range(1, functions + 1):
        nodes = [helper.make_node(f"f{k - 1}", [], [f"c{j}"], domain="local") for j in range(calls)]
        nodes.append(helper.make_node("Identity", ["c0"], ["v"]))
        funcs.append(helper.make_function("local", f"f{k}", [], ["v"], nodes,
                                          [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]))
    inner = [helper.make_node(f"f{functions}", [], ["v"], domain="local")] if functions else one
    for _ in range(depth):
        branch = helper.make_graph(inner, "b", [], [helper.make_tensor_value_info("v", TensorProto.FLOAT, [])])
        inner = [helper.make_node("If", ["yes"], ["v"], then_branch=branch, else_branch=branch)]
    graph = helper.make_graph(inner, "g", [], [helper.make_tensor_value_info("v", TensorProto.FLOAT, [])],
                              [numpy_helper.from_array(np.array(True), "yes")])
    return helper.make_model(graph, functions=funcs if functions else [],
                             opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])


@pytest.mark.parametrize(("depth", "functions", "calls", "says"), [
    (8, 0, 1, None), (9, 0, 1, "levels deep"),  # Ifs alone
    (4, 3, 1, None), (4, 4, 1, "levels deep"),  # Ifs, then functions calling functions (f3 > f2 > f1 > f0)
    (0, 6, 20, "expand to more than"),  # 20**6 nodes once inlined
])
def test_nesting_and_function_expansion_bounds(depth: int, functions: int, calls: int, says: str | None) -> None:
    from onnxgru import limits
    from onnxgru.errors import UserError
    from onnxgru.graph import nesting, sizes

    assert limits.MAX_GRAPH_DEPTH == 8
    model = _nested(depth, functions, calls)
    if says is None:
        sizes.check_declared_sizes(model, "m.onnx")
    else:
        with pytest.raises(UserError, match=says):
            nesting.check(model, "m.onnx")


def test_a_function_that_calls_itself_is_refused() -> None:
    from onnx import helper

    from onnxgru.errors import UserError
    from onnxgru.graph import nesting

    model = _nested(0, 2)
    model.functions[0].node[0].CopyFrom(helper.make_node("f2", [], ["v"], domain="local"))  # f0 -> f2 -> f1 -> f0
    with pytest.raises(UserError, match="levels deep"):
        nesting.check(model, "m.onnx")


# A TF1 checkpoint or SavedModel whose restore op waits for StatefulPartitionedCall(f=Relay[g=Evil]), Relay calling
# whatever its attribute g names: the walk followed node attributes one level deep, never entered Relay's g, and Evil
# (a WriteFile) ran on restore. Every AttrValue is now followed through NameAttrList attributes, a reference bound by
# a caller (a placeholder) is refused, and the loader is given only the functions that were checked. A RestoreV2
# whose prefix is a constant read another checkpoint than the one named; a restore op now reads only the file name
# the loader feeds.

RESTORE_REFUSALS = {  # file: what the sentence says, then the names it holds
    "relay_ckpt": ("bound by its caller", "'Relay/call'", "'f'"),
    "relay_saved_model": ("bound by its caller", "'Relay/call'", "'f'"),
    "elsewhere_ckpt": ("a file you did not name", "RestoreV2'", "'elsewhere:0'"),
    "elsewhere_saved_model": ("a file you did not name", "RestoreV2'", "'elsewhere:0'"),
}


@pytest.mark.tf
@pytest.mark.parametrize("which", sorted(RESTORE_REFUSALS))
def test_a_restore_that_relays_or_reads_another_checkpoint_is_refused(which: str, env: Env, refused, tf_relay) -> None:
    watch, markers = _watched(env, tf_relay)
    says = RESTORE_REFUSALS[which]
    sentence = refused(["inspect", tf_relay[which]], says[:1], watch, markers)
    assert all(s in sentence for s in says[1:]), sentence


@pytest.mark.tf
@pytest.mark.parametrize("which", ["relay_ckpt", "relay_saved_model"])
def test_the_relay_really_writes_when_trusted(which: str, tf_relay, capsys) -> None:
    """The refusal proves something only if the file is hostile: trusted, its restore runs Evil, which writes."""
    marker = tf_relay["relay_marker"]
    marker.unlink(missing_ok=True)
    _report(capsys, ["inspect", tf_relay[which], "--trust-code"], codes=(0,))
    assert marker.read_text() == "ran"
    marker.unlink()


@pytest.mark.tf
def test_the_other_checkpoint_is_read_when_trusted(tf_relay, tmp_path: Path, capsys) -> None:
    """Trusted, the constant prefix wins over the checkpoint named: the weights are the other checkpoint's."""
    reports = {}
    for which in ("elsewhere_ckpt", "other_ckpt", "clean_ckpt"):
        reports[which] = tmp_path / f"{which}.json"
        _report(capsys, ["inspect", tf_relay[which], "--trust-code", "--json", reports[which]], codes=(0,))
    weights = {k: json.loads(v.read_text())["models"][0]["gru_layers"] for k, v in reports.items()}
    assert weights["elsewhere_ckpt"] == weights["other_ckpt"] != weights["clean_ckpt"]


@pytest.mark.tf
@pytest.mark.parametrize("part", ["", ".meta", ".index", ".data-00000-of-00001"])
def test_a_checkpoint_named_by_a_dotted_prefix(part: str, tf_relay, capsys) -> None:
    """model.ckpt (files model.ckpt.meta, .index, .data-*) is a checkpoint prefix, not a frozen .pb."""
    from onnxgru.sources.load import kind_of, parts_of

    prefix = tf_relay["dotted_ckpt"]
    given = Path(f"{prefix}{part}")
    assert kind_of(given) == "tf"
    assert sorted(parts_of(given)) == sorted(Path(f"{prefix}{s}") for s in
                                             (".meta", ".index", ".data-00000-of-00001"))
    _report(capsys, ["inspect", given], codes=(0,))
