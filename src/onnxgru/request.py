"""What a user asks for, checked before any work and before any framework import: the source paths and their
kinds, fixed feeds, tolerances, finding codes, runtime names. Each refusal is a UserError with one plain sentence
that names the near miss where there is one. The command line and the Python API share these."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from onnxgru.core.catalog import CATALOG
from onnxgru.core.inputs import check_npy
from onnxgru.errors import UserError
from onnxgru.files import existing
from onnxgru.runtimes import NAMES
from onnxgru.sources.load import KIND_NAMES, kind_of
from onnxgru.verify.settings import DEFAULT_TOLERANCE

CODES = tuple(CATALOG)


def fixed_inputs(items: Sequence[str]) -> dict[str, np.ndarray]:
    """``["keep_prob=1.0", "mask=m.npy"]`` -> the arrays, checked: finite, readable, within float32."""
    fixed = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"--input {item!r} must be NAME=VALUE or NAME=FILE.npy, e.g. keep_prob=1.0.")
        if value.endswith(".npy"):

            try:
                check_npy(existing(value, "--input"), f"--input {name}={value}")
                fixed[name] = np.load(value, allow_pickle=False)
            except UserError:
                raise
            except Exception as exc:
                raise UserError(
                    f"--input {name}: {value!r} is not a readable .npy file ({type(exc).__name__})."
                ) from None
        else:
            try:
                number: float = int(value)
            except ValueError:
                try:
                    number = float(value)
                except ValueError:
                    raise UserError(f"--input {name}: {value!r} is neither a number nor a .npy file.") from None
            if isinstance(number, float) and not abs(number) <= float(np.finfo(np.float32).max):  # nan, inf, 1e39
                raise UserError(f"--input {name}={value} is NaN, Inf or beyond float32; give a finite value.")
            fixed[name] = np.array(number) if isinstance(number, int) else np.array(number, dtype=np.float32)
        given = fixed[name]
        if given.dtype.kind in "fc" and not np.all(np.isfinite(given)):
            raise UserError(f"--input {name} contains NaN or Inf; give a finite value.")
    return fixed


def tolerances(given: Sequence[tuple[str | None, float]], flag: str) -> tuple[float, dict[str, float]]:
    """``[(None, 1e-5), ("state", 1e-4)]`` -> the default and the per-output tolerances (the last one given wins)."""
    default, per_output = DEFAULT_TOLERANCE, {}
    for name, value in given:
        if not np.isfinite(value) or value < 0:
            raise UserError(f"--{flag} must be a finite number >= 0, got {value!r}.")
        if name is None:
            default = value
        else:
            per_output[name] = value
    return default, per_output


def ignored_codes(items: Sequence[str]) -> frozenset[str]:
    """``["GRU009", "gru8,GRU006"]`` -> the codes, checked: an unknown code is a UserError with the near miss."""
    codes = set()
    for item in items:
        for code in (c.strip().upper() for c in item.split(",")):
            if not code:
                continue
            if code not in CODES:
                close = close_matches(code, CODES, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]}?" if close else f"; codes are {CODES[0]}-{CODES[-1]}."
                raise UserError(f"--ignore {code!r} is not a finding code{hint}")
            codes.add(code)
    return frozenset(codes)


WRONG_KIND = {
    "convert": "convert reads TensorFlow and Keras sources, but {path!r} is {kind} source; give a .pb, checkpoint, "
    "SavedModel, .keras or .h5 file (`onnxgru export torch` exports PyTorch models to ONNX).",
    "export tf": "{path!r} is {kind} source; `onnxgru export tf` exports TensorFlow and Keras models"
    " (`onnxgru export torch` exports PyTorch ones).",
    "export torch": "{path!r} is {kind} source; `onnxgru export torch` exports PyTorch models"
    " (`onnxgru export tf` exports TensorFlow and Keras ones).",
    "fix": "fix rewrites a PyTorch port's GRU weights, but {path!r} is {kind} source; give the port's .pt file "
    "(TorchScript or a state dict) and its source with --like.",
}


def check_sources(sources: Sequence[tuple[str, str, Sequence[str] | None]]) -> None:
    """Every source path, before any framework import: it exists (or is a TF1 checkpoint prefix), can be read, and
    is of a kind onnxgru reads, and of the kind its flag asks for. ``(flag, path, kinds)``: ``flag`` is the option
    (``--torch``) or the command (``convert``) that took the path; ``kinds`` None: any kind."""

    for flag, path, kinds in sources:
        p = Path(path)
        prefix = not p.exists() and (Path(f"{p}.meta").exists() or Path(f"{p}.index").exists())
        if not prefix:
            existing(p, f"{flag} model" if flag.startswith("--") else "model")
            if not os.access(p, os.R_OK):
                raise UserError(f"{str(p)!r} cannot be read (permission denied); check its permissions.")
        kind = kind_of(p)
        if kinds is not None and kind not in kinds:
            if flag in WRONG_KIND:
                raise UserError(WRONG_KIND[flag].format(path=path, kind=KIND_NAMES[kind]))
            raise UserError(f"{flag} {path!r} is {KIND_NAMES[kind]} source; pass it with the matching flag.")


def check_runtimes(text: str | None) -> None:

    for name in (t.strip() for t in (text or "").split(",") if t.strip()):
        if name not in NAMES:
            close = close_matches(name, NAMES, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UserError(f"unknown runtime {name!r} in --runtimes; {hint}choose from {', '.join(NAMES)}.")


def close_matches(word: str, choices: Sequence[str], n: int, cutoff: float) -> list[str]:
    """difflib's near misses (imported only when a request is wrong: it costs every command 2 ms)."""

    return difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)
