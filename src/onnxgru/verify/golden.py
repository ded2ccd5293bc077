"""Golden outputs: a verification's inputs and every execution's outputs and GRU taps in one ``.npz`` file
(``--save-outputs``), read back so that a later check holds its executions against them (``check --against``).

The file is a plain numpy archive that ``np.load(path, allow_pickle=False)`` reads; no pickles. Its entries:

    meta                                 a 0-d string array: JSON (the format, onnxgru's version, the command, the
                                         settings, each execution's label, outputs and taps, each entry's shape)
    input/{name}                         the inputs fed, by the first model's input names (as ``--save-inputs``)
    {label}/out/{output}                 an execution's outputs, by the model's own names, in its order
    {label}/tap/{i}/X, Y, lengths, mask  the execution's i-th GRU tap (its GRU call; ``meta`` says which layers)
    {label}/tap/{i}/initial_h/{k}, Y_h/{k}   the initial and final state of the tap's k-th layer

A label is the execution's as the report names it: ``onnxruntime(onnx:model.onnx)``, ``tf:model.pb``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel, Run
from onnxgru.core.taps import Tap
from onnxgru.errors import UserError
from onnxgru.verify.inputs import Given, by_name, read_npz
from onnxgru.verify.settings import Settings
from onnxgru.version import __version__

FORMAT = "onnxgru golden outputs"
VERSION = 1
META = "meta"
_STORED = "biuf"  # the kinds of array a golden file holds: bool, integers, floats


@dataclass(frozen=True)
class Golden:
    """A golden file read back: its inputs by input name, its executions' runs (outputs and GRU taps) by label in
    the order saved, its metadata."""

    path: str
    meta: dict
    inputs: dict[str, np.ndarray]
    executions: dict[str, Run]

    @property
    def given(self) -> Given:
        """The saved inputs, as ``make_inputs`` takes them."""
        seed = self.meta["settings"]["seed"]
        said = f", seed {seed}" if seed is not None else ""
        return Given(self.inputs, f"--against {self.path!r}",
                     f"from {self.path} (saved by onnxgru {self.meta.get('onnxgru_version', '?')}{said})")


# --- writing ----------------------------------------------------------------------------------------------------
def inputs_file(model: LoadedModel, inputs: Inputs) -> bytes:
    """``--save-inputs``: the inputs fed, by ``model``'s input names, as ``--inputs`` reads them back."""
    return _npz(by_name(model, inputs))


Made = tuple[str, Run, LoadedModel, str | None]  # an execution: its label, its run, its model, its runtime


def outputs_file(command: str, model: LoadedModel, inputs: Inputs, executions: Sequence[Made],
                 settings: Settings) -> bytes:
    """``--save-outputs``: ``inputs`` (by ``model``'s input names) and each execution's outputs and taps, with the
    metadata that reads them back."""
    fed = by_name(model, inputs)
    arrays: dict[str, np.ndarray] = {f"input/{k}": v for k, v in fed.items()}
    saved = []
    for label, (_, run, made_by, runtime) in zip(unique_labels([e[0] for e in executions]), executions):
        outputs = [k for k, v in run.outputs.items() if _storable(v)]
        arrays.update({f"{label}/out/{k}": np.asarray(run.outputs[k]) for k in outputs})
        taps = []
        for i, tap in enumerate(run.taps):
            entries = _tap_arrays(tap)
            arrays.update({f"{label}/tap/{i}/{k}": v for k, v in entries.items()})
            taps.append({"first": tap.first, "count": tap.count, "where": tap.where, "carry": tap.carry,
                         "layers": [la.name for la in tap.layers_of(made_by.layers)], "arrays": list(entries),
                         "states": [len(tap.initial_h), len(tap.Y_h)]})
        saved.append({"label": label, "model": made_by.path, "runtime": runtime, "outputs": outputs, "taps": taps})
    meta = {
        "format": FORMAT, "version": VERSION, "onnxgru_version": __version__, "command": command,
        "settings": {"seed": inputs.seed, "batch": inputs.batch, "steps": inputs.steps, "atol": settings.atol,
                     "rtol": settings.rtol},
        "inputs": {"how": inputs.how, "names": list(fed)},
        "labels": [s["label"] for s in saved],
        "executions": saved,
        "arrays": {k: {"shape": list(np.shape(v)), "dtype": np.asarray(v).dtype.str} for k, v in arrays.items()},
    }
    return _npz({META: np.array(json.dumps(meta)), **arrays})


def unique_labels(labels: Sequence[str]) -> list[str]:
    """The labels, a repeated one numbered (``label [2]``): two files of one name in two folders."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} [{seen[label]}]")
    return out


def _storable(value: Any) -> bool:
    return np.asarray(value).dtype.kind in _STORED


def _tap_arrays(tap: Tap) -> dict[str, np.ndarray]:
    out = {"X": tap.X, "Y": tap.Y, "lengths": tap.lengths, "mask": tap.mask}
    out.update({f"initial_h/{k}": h for k, h in enumerate(tap.initial_h)})
    out.update({f"Y_h/{k}": h for k, h in enumerate(tap.Y_h)})
    return {k: np.asarray(v) for k, v in out.items() if v is not None}


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as an ``.npz`` archive (what ``numpy.savez`` writes), pickles refused."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
    return buffer.getvalue()


# --- reading ----------------------------------------------------------------------------------------------------
def read(path: str) -> Golden:
    """A golden file, checked whole before anything runs: a file that is not one (no metadata, pickles, entries
    missing or of other shapes than its metadata says) is one sentence."""
    flag = f"--against {path!r}"
    arrays = read_npz(path, "--against")
    redo = "write it with `onnxgru check ... --save-outputs FILE.npz`"
    if META not in arrays:
        raise UserError(f"{flag} is not a golden file of onnxgru (it has no {META!r} entry); {redo}.")
    try:
        meta = json.loads(str(arrays[META].item())) if arrays[META].ndim == 0 else None
    except (ValueError, TypeError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{flag} is not a golden file of onnxgru (its {META!r} entry is not onnxgru's); {redo}.")
    if meta.get("version") != VERSION:
        raise UserError(f"{flag} is a golden file of format version {meta.get('version')!r}, which this onnxgru "
                        f"({__version__}) does not read (it reads version {VERSION}); {redo} again.")
    try:
        _check_shapes(meta["arrays"], arrays)
        executions = {s["label"]: _saved(s, arrays) for s in meta["executions"]}
        inputs = {name: arrays[f"input/{name}"] for name in meta["inputs"]["names"]}
        if not isinstance(meta["settings"], dict) or "seed" not in meta["settings"]:
            raise KeyError("settings")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"{exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)
        raise UserError(f"{flag} does not hold what its metadata lists ({what}); {redo} again.") from None
    return Golden(path, meta, inputs, executions)


def _check_shapes(listed: dict, arrays: dict[str, np.ndarray]) -> None:
    for key, said in listed.items():
        value = arrays[key]
        if list(value.shape) != list(said["shape"]) or value.dtype.str != said["dtype"]:
            raise ValueError(f"{key!r} has shape {value.shape} and dtype {value.dtype.str} where its metadata says "
                             f"{tuple(said['shape'])} and {said['dtype']}")
        if value.dtype.kind not in _STORED:
            raise ValueError(f"{key!r} holds {value.dtype} values, not numbers")


def _saved(said: dict, arrays: dict[str, np.ndarray]) -> Run:
    label = said["label"]
    outputs = {k: arrays[f"{label}/out/{k}"] for k in said["outputs"]}
    return Run(outputs, tuple(_tap(f"{label}/tap/{i}", t, arrays) for i, t in enumerate(said["taps"])))


def _tap(base: str, said: dict, arrays: dict[str, np.ndarray]) -> Tap:
    names = set(said["arrays"])
    get = {k: arrays[f"{base}/{k}"] for k in names}
    count, (initial, final) = int(said["count"]), (int(n) for n in said["states"])
    ranks = {"X": 3, "Y": 3, "lengths": 1, "mask": 2}
    ranks |= {f"initial_h/{k}": 3 for k in range(initial)} | {f"Y_h/{k}": 3 for k in range(final)}
    wrong = [k for k, v in get.items() if k not in ranks or v.ndim != ranks[k]]
    if wrong or "X" not in get or count < 1 or int(said["first"]) < 0:
        raise ValueError(f"{base}/{(wrong or ['X'])[0]} is not a GRU tap's array")
    return Tap(int(said["first"]), count, get["X"], tuple(get.get(f"initial_h/{k}") for k in range(initial)),
               get.get("Y"), tuple(get.get(f"Y_h/{k}") for k in range(final)), get.get("lengths"),
               str(said.get("where", "")), get.get("mask"), bool(said.get("carry", False)))
