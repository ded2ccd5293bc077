"""Reading an ONNX file safely: external data only from inside the model's folder. Only onnx is imported."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from onnxgru import limits, screens
from onnxgru._lazy import require
from onnxgru.errors import UserError
from onnxgru.files import existing
from onnxgru.graph import nesting
from onnxgru.graph import sizes as onnx_sizes

if TYPE_CHECKING:
    import onnx


def read_model(path: str | Path) -> onnx.ModelProto:
    """Load an ONNX file, with external data only from inside the model's folder. User errors raise UserError."""
    onnx = require("onnx", "read ONNX models")
    p = existing(path, "ONNX")
    if p.is_dir():
        raise UserError(f"{str(p)!r} is a folder, not an ONNX file; give the .onnx file inside it.")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning, ValueError... on corrupt bytes
        raise UserError(
            f"{str(p)!r} is not a readable ONNX model (it is truncated, corrupt or another format: "
            f"{type(exc).__name__}); re-export it."
        ) from None
    if not model.graph.node and not model.graph.input:
        raise UserError(f"{str(p)!r} is not an ONNX model (no graph in it); check the file.")
    nesting.check(model, str(p))  # before anything walks its subgraphs
    _load_external_data(model, p)
    onnx_sizes.check_declared_sizes(model, str(p))
    return model


def external_data(model: onnx.ModelProto, path: Path) -> list[tuple[onnx.TensorProto, str, Path]]:
    """Each tensor of ``model`` (read from ``path``) whose values are in another file: the tensor, the ``location``
    it names, and the file that location is, from the model's folder with links and ``..`` followed as opening it
    follows them. Nothing is read."""
    from onnx import external_data_helper as ext

    base = path.parent.resolve()
    out = []
    for t in ext._get_all_tensors(model):
        if ext.uses_external_data(t):
            location = {e.key: e.value for e in t.external_data}.get("location", "")
            try:
                target = (base / location).resolve()
            except ValueError:  # a NUL in the name: no file has it, so the reader finds it missing
                target = base / location
            out.append((t, location, target))
    return out


def external_files(path: str | Path) -> list[Path]:
    """The files the ONNX model at ``path`` keeps its external data in, read from the model alone; none when the
    file is no readable model (its reader says so when it reads it)."""
    onnx = require("onnx", "read ONNX models")
    p = Path(path)
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception:  # noqa: BLE001 - not a model: read_model refuses it with the reason
        return []
    return [target for target in dict.fromkeys(t for _, _, t in external_data(model, p)) if not target.is_dir()]


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    from onnx import external_data_helper as ext

    base = path.parent.resolve()
    tensors = external_data(model, path)
    total = 0
    for t, location, target in tensors:
        if screens.on() and (Path(location).is_absolute() or not target.is_relative_to(base)):
            raise UserError(
                f"tensor {t.name!r} of {str(path)!r} points to external data {location!r} outside the model's folder; "
                "onnxgru refuses it for safety. Move the data next to the model."
            )
        if not target.is_file():
            raise UserError(f"tensor {t.name!r} of {str(path)!r} needs external data {location!r}, which is missing.")
        total += onnx_sizes.external_data_size(t, target, path)  # before a byte is read
    if total > limits.MEMORY_LIMIT_BYTES:
        raise UserError(
            f"{str(path)!r} declares {total:,} bytes of external data, more than onnxgru's memory limit; the model is "
            "too large to check here."
        )
    if tensors:
        try:
            ext.load_external_data_for_model(model, str(base))
        except Exception as exc:
            raise UserError(
                f"the external data of {str(path)!r} cannot be read ({exc}); re-export the model."
            ) from None
