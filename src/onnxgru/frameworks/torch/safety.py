"""Reading PyTorch files without running code from them.

``torch.save`` files load with ``torch.load(weights_only=True)``. An ExportedProgram (``torch.export.load``) may
unpickle weights, constants and sample inputs with ``weights_only=False`` and load AOTInductor shared libraries, so
its archive is checked first: only plain tensors may be in it. Anything else needs ``--trust-pickle``.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

from onnxgru import limits
from onnxgru._lazy import require
from onnxgru.errors import UserError

# Archive folders whose loading runs compiled code or formats torch.export.load does not read safely.
_NATIVE_DIRS = ("data/aotinductor/", "data/executorch/", "data/mtia", "xl_model_weights/")


TRUST_HINT = (
    "pass --trust-pickle only if you trust where the file came from, or save a state dict instead "
    "(torch.save(model.state_dict(), PATH)) or a TorchScript file (torch.jit.save(torch.jit.script(model), PATH))"
)


def file_format(path: Path) -> str:
    """``"torchscript"``, ``"exported_program"`` or ``"pickle"`` (``torch.save``), from the archive's contents."""
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a folder, not a PyTorch file; give the .pt/.pt2 file.")
    if not zipfile.is_zipfile(path):
        return "pickle"  # torch.save's legacy (non-zip) format
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            limits.check_zip_members(z, path)  # every torch loader inflates what the archive declares
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{str(path)!r} is not a readable PyTorch file ({exc}); save it again.") from None
    tails = {n.split("/", 1)[-1] for n in names}
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
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            tail = name.split("/", 1)[-1]
            if tail.startswith(_NATIVE_DIRS):
                return f"compiled code ({tail})"
            if tail.endswith(("_weights_config.json", "_constants_config.json")):
                try:
                    config = json.loads(z.read(name)).get("config", {})
                except ValueError:
                    return f"an unreadable {tail}"
                for fqn, meta in config.items():
                    if meta.get("use_pickle") or not str(meta.get("path_name", "")).startswith(("weight_", "tensor_")):
                        return f"a pickled or custom object ({fqn})"
            elif tail.endswith(".pt"):
                # sample inputs (and legacy weight files) fall back to weights_only=False when a safe load fails
                try:
                    torch.load(io.BytesIO(z.read(name)), map_location="cpu", weights_only=True)
                except Exception:
                    return f"pickled Python objects ({tail})"
    return None


def load_exported_program(path: Path, trust: bool) -> Any:
    """``torch.export.load``, after ``exported_program_risk`` found nothing (or the user trusts the file)."""
    torch = require("torch")
    risk = None if trust else exported_program_risk(path)
    if risk:
        raise UserError(
            f"{str(path)!r} is an ExportedProgram holding {risk}, and loading it would run code from the file; "
            f"{TRUST_HINT}."
        )
    try:
        return torch.export.load(str(path))
    except Exception as exc:
        raise UserError(f"{str(path)!r} is not a loadable ExportedProgram ({first_line(exc)}).") from None
