"""Reading PyTorch files without running code from them.

``torch.save`` files load with ``torch.load(weights_only=True)``. An ExportedProgram (``torch.export.load``) may
unpickle weights, constants and sample inputs with ``weights_only=False`` and load AOTInductor shared libraries, so
its archive is checked first: only plain tensors may be in it. Anything else needs ``--trust-pickle``.

Every check reads the archive as torch does: its records through torch's own reader (``PyTorchFileReader``, which
``torch.jit.load`` and ``torch.export.load`` use, and which finds a record whatever the case of its name), after an
archive whose member names repeat or differ only by case is refused (a reader could take either copy).
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onnxgru import limits, screens
from onnxgru._lazy import require
from onnxgru.errors import UserError

# Archive folders whose loading runs compiled code or formats torch.export.load does not read safely.
_NATIVE_DIRS = ("data/aotinductor/", "data/executorch/", "data/mtia", "xl_model_weights/")


TRUST_HINT = (
    "pass --trust-pickle only if you trust where the file came from, or save a state dict instead "
    "(torch.save(model.state_dict(), PATH)) or a TorchScript file (torch.jit.save(torch.jit.script(model), PATH))"
)


def members(path: Path) -> list[str]:
    """The archive's member names, from its central directory, once each: a UserError for a zip bomb, or for a
    name stored twice or two names that differ only by case (torch's reader takes the first match whatever the
    case, Python's zipfile the last exact one: a screen could read another copy than the loader)."""
    try:
        with zipfile.ZipFile(path) as z:
            limits.check_zip_members(z, path)  # every torch loader inflates what the archive declares
            names = [info.filename for info in z.infolist()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{str(path)!r} is not a readable PyTorch file ({exc}); save it again.") from None
    seen: dict[str, str] = {}
    for name in names if screens.on() else []:
        other = seen.setdefault(name.lower(), name)
        if other is not name:
            again = "twice" if other == name else f"twice, as {other!r} and {name!r}"
            raise UserError(f"{str(path)!r} stores a member {again}; torch would load one copy and a check could "
                            "read the other, so onnxgru refuses the archive (save the model again).")
    return names


def records(path: Path) -> tuple[list[str], Callable[[str], bytes]]:
    """The archive's records as torch's own reader lists them (relative to its top folder), and a function that
    reads one as torch will: what ``torch.jit.load`` and ``torch.export.load`` are going to use."""
    members(path)
    torch = require("torch")
    try:
        reader = torch._C.PyTorchFileReader(str(path))
        return list(reader.get_all_records()), reader.get_record
    except Exception as exc:
        raise UserError(f"{str(path)!r} is not a readable PyTorch file ({first_line(exc)}); save it again.") from None


def file_format(path: Path) -> str:
    """``"torchscript"``, ``"exported_program"`` or ``"pickle"`` (``torch.save``), from the archive's contents."""
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a folder, not a PyTorch file; give the .pt/.pt2 file.")
    if not zipfile.is_zipfile(path):
        return "pickle"  # torch.save's legacy (non-zip) format
    tails = {n.split("/", 1)[-1].lower() for n in members(path)}  # torch finds records whatever their case
    if "archive_format" in tails or any(t.startswith("models/") and t.endswith(".json") for t in tails):
        return "exported_program"
    if "constants.pkl" in tails and any(t.startswith("code/") for t in tails):
        return "torchscript"
    if "data.pkl" in tails:
        return "pickle"
    raise UserError(
        f"{str(path)!r} is a zip archive but not one PyTorch writes (no data.pkl, TorchScript code or "
        "ExportedProgram in it); give a file saved with torch.save, torch.jit.save or torch.export.save."
    )


def load_pickle(path: Path, trust: bool) -> Any:
    torch = require("torch")
    trust = trust or not screens.on()
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust and "Unsupported global" not in str(exc):  # no objects named: bytes it cannot parse at all
            stop = next((line.strip() for line in str(exc).splitlines() if "Unsupported" in line), "")
            raise UserError(
                f"{str(path)!r} is not a readable PyTorch file (corrupt, truncated or another format"
                + (f": {stop[:80]}" if stop else "")
                + "); save it again with torch.save."
            ) from None
        if not trust:
            raise UserError(
                f"{str(path)!r} holds pickled Python objects (a whole module or custom classes), and loading it "
                f"would run code from the file; {TRUST_HINT}."
            ) from None
    except Exception as exc:
        raise UserError(
            f"{str(path)!r} is not a readable PyTorch file ({first_line(exc)}); save it again with torch.save."
        ) from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise UserError(
            f"{str(path)!r} could not be unpickled even with --trust-pickle ({first_line(exc)}); the classes it "
            "needs must be importable."
        ) from None


def first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:160]}" if lines else type(exc).__name__


def exported_program_risk(path: Path) -> str | None:
    """Why loading this ``.pt2`` would run code from it, or None when it holds only tensors and JSON."""
    torch = require("torch")
    names, read = records(path)
    for name in names:
        tail = name.lower()
        if tail.startswith(_NATIVE_DIRS):
            return f"compiled code ({name})"
        if tail.endswith(("_weights_config.json", "_constants_config.json")):
            try:
                config = json.loads(read(name)).get("config", {})
            except (ValueError, AttributeError):
                return f"an unreadable {name}"
            for fqn, meta in config.items():
                if meta.get("use_pickle") or not str(meta.get("path_name", "")).startswith(("weight_", "tensor_")):
                    return f"a pickled or custom object ({fqn})"
        elif tail.endswith(".pt"):
            # sample inputs (and legacy weight files) fall back to weights_only=False when a safe load fails
            try:
                torch.load(io.BytesIO(read(name)), map_location="cpu", weights_only=True)
            except Exception:
                return f"pickled Python objects ({name})"
    return None


def load_exported_program(path: Path, trust: bool) -> Any:
    """``torch.export.load``, after ``exported_program_risk`` found nothing (or the user trusts the file)."""
    torch = require("torch")
    risk = None if trust or not screens.on() else exported_program_risk(path)
    if risk:
        raise UserError(
            f"{str(path)!r} is an ExportedProgram holding {risk}, and loading it would run code from the file; "
            f"{TRUST_HINT}."
        )
    try:
        return torch.export.load(str(path))
    except Exception as exc:
        raise UserError(f"{str(path)!r} is not a loadable ExportedProgram ({first_line(exc)}).") from None
