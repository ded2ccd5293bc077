"""The confined loader alone contains what the screens refuse (issue 19): every hostile file whose payload writes a
marker is run with the screens switched off, through the command line as a user runs it (confined by Landlock), and
no marker appears, no watched folder changes, no run ends in an internal error.

The switch (``onnxgru.screens.off``) is reachable only from Python: a launcher process calls it, then ``cli.main``
with confinement on, the way the console script runs. The launcher imports no framework itself; each command forks
its confined child, which loads the file with the screens off: TensorFlow's op allowlist, the TorchScript, pickle and
ExportedProgram screens, the Keras layer allowlist and safe mode, and the ONNX external-data check all stand aside.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onnxgru import cli, confine

from .conftest import snapshot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not confine.abi(), reason="this kernel has no Landlock: nothing confines the loader"),
]

_LAUNCHER = """
import json, sys
from onnxgru import cli, screens
screens.off()
codes = []
for argv in json.loads(sys.argv[1]):
    codes.append(cli.main(argv, confined=True))
    sys.stdout.flush(); sys.stderr.flush()
    print("\\n@@ exit", codes[-1], file=sys.stderr, flush=True)
print(json.dumps(codes))
"""


def _run_unscreened(runs: list[list[str]], timeout: float = 900, landlock: bool = True) -> tuple[list[int], list[str]]:
    """Each command line in one launcher with the screens off; the exit codes and each command's stderr.
    ``landlock`` False: unconfined too (the control that shows the payloads do write)."""
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    env.pop("ONNXGRU_NO_LANDLOCK", None)
    if not landlock:
        env["ONNXGRU_NO_LANDLOCK"] = "1"
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, json.dumps(runs)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    errs = done.stderr.split("\n@@ exit")
    return codes, errs


def _check(cases: list[tuple[str, list, list[Path]]], watch: list[Path], tmp_path: Path) -> dict[str, tuple]:
    for _, _, markers in cases:
        for m in markers:
            m.unlink(missing_ok=True)
    before = snapshot(watch)
    codes, errs = _run_unscreened([[str(a) for a in argv] for _, argv, _ in cases])
    seen = {}
    for (name, _, markers), code, err in zip(cases, codes, errs, strict=False):
        seen[name] = (code, err.strip().splitlines()[-1:] if err.strip() else [])
        assert not [m for m in markers if m.exists()], f"{name}: a payload wrote its marker (exit {code}): {err}"
        assert code != 3 and "internal error" not in err and "Traceback" not in err, f"{name}: {err[-3000:]}"
    assert snapshot(watch) == before
    assert not list(tmp_path.iterdir()), "a confined run wrote an output it had no verdict for"
    return seen


@pytest.mark.tf
@pytest.mark.torch
def test_code_running_files_are_contained_with_the_screens_off(tf_hostile, torch_hostile, tf_files, torch_files,
                                                                tmp_path: Path) -> None:
    """TensorFlow file writers (DebugIdentity, DatasetToTFRecord, WriteFile, a SavedModel's main op), a TF2
    SavedModel's serving function, Keras Lambda layers in every form, TorchScript that writes through
    ``torch.from_file`` on load and in ``forward`` (code/ and CODE/), and a pickle that runs ``os.system``: each runs
    its payload in the confined child, which can write nowhere but its own temporary folder."""
    tf_markers = [tf_hostile["debug_marker"], tf_hostile["tfrecord_marker"], tf_hostile["side_marker"]]
    check = ["check", "--runtimes", "onnxruntime", "--steps", "3"]
    cases = [
        *((f"tf {n}", [*check, "--tf", tf_hostile[n]], tf_markers)
          for n in ("debug_identity", "debug_identity_v2", "tfrecord", "tf2_debug")),
        *((f"tf {n}", [*check, "--tf", tf_files[n]], [tf_files["graph_marker"]])
          for n in ("writes_file", "writes_on_load")),
        *((f"keras {n}", ["inspect", f[n]], [f["lambda_marker"]])
          for f, n in ((tf_files, "lambda_keras"), (tf_files, "lambda_h5"), (tf_hostile, "keras_lambda_savedmodel"))),
        *((f"torch {n}", [*check, "--torch", torch_hostile[n]], [torch_hostile["from_file_marker"]])
          for n in ("setstate", "forward", "upper_code")),
        ("torch pickle", ["inspect", torch_files["evil"]], [torch_files["evil_marker"]]),
    ]
    watch = [p.parent for p in (tf_hostile["tfrecord"], tf_files["writes_file"], torch_hostile["setstate"],
                                torch_files["evil"])]
    seen = _check(cases, watch, tmp_path)
    print("\n".join(f"{name}: exit {code} {last}" for name, (code, last) in seen.items()))

    # the control: the same files, unconfined with the screens off, do write (a pickle and a Lambda, the quickest)
    control = [c for c in cases if c[0] in ("torch pickle", "keras lambda_h5")]
    _run_unscreened([[str(a) for a in argv] for _, argv, _ in control], landlock=False)
    for _, _, markers in control:
        assert markers[0].exists()
        markers[0].unlink()


def test_external_data_outside_the_folder_is_unreadable_with_the_screens_off(onnx_files, tmp_path: Path) -> None:
    """ONNX external data outside the model's folder (a relative path out, a link out, an absolute path): with the
    check off, the loader tries to read it and the confinement refuses, so the command ends in a plain refusal."""
    cases = [(n, ["inspect", onnx_files[n], "--json", tmp_path / "r.json"], []) for n in ("outside", "linked",
                                                                                            "absolute")]
    seen = _check(cases, [onnx_files["outside"].parent], tmp_path)
    assert all(code == 2 for code, _ in seen.values()), seen


@pytest.mark.tf
def test_a_relayed_writer_and_a_foreign_checkpoint_are_contained_with_the_screens_off(tf_relay, tmp_path: Path) -> None:
    """A restore op waiting for StatefulPartitionedCall(f=Relay[g=Evil]), Evil a WriteFile, runs Evil in the confined
    child, which cannot write the marker; a RestoreV2 whose prefix is a constant naming a checkpoint in another folder
    cannot read it there."""
    cases = [(n, ["inspect", tf_relay[n]], [tf_relay["relay_marker"]])
             for n in ("relay_ckpt", "relay_saved_model", "elsewhere_ckpt", "elsewhere_saved_model")]
    seen = _check(cases, [tf_relay["clean_saved_model"].parent], tmp_path)
    print("\n".join(f"{name}: exit {code} {last}" for name, (code, last) in seen.items()))
    assert seen["elsewhere_ckpt"][0] == seen["elsewhere_saved_model"][0] == 2, seen
