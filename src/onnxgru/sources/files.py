"""File checks shared by every reader: the path exists, is readable, is not empty."""

from __future__ import annotations

from pathlib import Path

from onnxgru.errors import UserError


def existing(path: str | Path, what: str = "model") -> Path:
    """The path, checked: it exists and (for a file) is not empty. Raises a UserError saying which."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} file {str(p)!r} does not exist; check the path.")
    if p.is_file():
        try:
            size = p.stat().st_size
            with p.open("rb"):
                pass
        except OSError as exc:
            raise UserError(f"{what} file {str(p)!r} cannot be read ({exc.strerror}); check its permissions.") from exc
        if size == 0:
            raise UserError(f"{what} file {str(p)!r} is empty; it was probably not written completely.")
    return p
