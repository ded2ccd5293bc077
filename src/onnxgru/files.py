"""The file policy, in one place: what onnxgru reads (it exists, is readable, is not empty: ``existing``) and what
it writes (checked before any work, written atomically, never onto or into an input: ``Output``)."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class Output:
    """A file a command writes: checked before any work (``Output.checked``), written atomically (``write``), and
    replacing an existing file only when the user said so (``overwrite``: ``--force``)."""

    path: Path
    overwrite: bool = False
    sink: list[tuple[Path, bytes]] | None = field(default=None, compare=False, repr=False)  # see ``deferred``

    @classmethod
    def checked(
        cls, path: str | os.PathLike[str] | None, force: bool, sources: Sequence[str | Path] = ()
    ) -> Output | None:
        """Refuse, before any work, an output that would overwrite an existing file without ``--force``, write over
        or into an input (even with ``--force``), replace something that is not a regular file, or cannot be
        created (tried, not guessed: as root every permission check passes, yet /proc, /sys or a read-only mount
        still refuse the file). ``sources`` are every file and folder the command reads: each model's parts
        (``sources.load.parts_of``), ``--inputs``, ``--input NAME=FILE.npy``. None stays None (nothing to write)."""
        if path is None:
            return None
        p = Path(path)
        try:
            _check_output_path(p, force, sources)
        except OSError as exc:
            raise UserError(
                f"the output {str(p)!r} cannot be written ({exc.strerror or type(exc).__name__}); choose another path."
            ) from None
        return cls(p, force)

    def write(self, data: bytes) -> None:
        if self.sink is not None:
            self.sink.append((self.path, bytes(data)))
        else:
            write_atomic(self.path, data, self.overwrite)

    def deferred(self, sink: list[tuple[Path, bytes]]) -> Output:
        """This output, written into ``sink`` instead of the disk: a confined child hands its files to the process
        that checked them, which writes them."""
        return replace(self, sink=sink)

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)


def _check_output_path(p: Path, force: bool, sources: Sequence[str | Path]) -> None:
    if _is_input(p, sources):
        raise UserError(f"the output {str(p)!r} is one of the inputs or part of one; write the result elsewhere.")
    if p.exists() and p.is_dir():
        raise UserError(f"{str(p)!r} is a folder; give a file path for the output.")
    if p.exists() and not p.is_file():
        raise UserError(f"{str(p)!r} is not a regular file (a device, pipe or socket); give a file path instead.")
    if p.exists() and not force:
        raise UserError(f"{str(p)!r} already exists; pass --force to overwrite it or choose another path.")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{str(parent)!r} is a file, not a folder, so {str(p)!r} cannot be created there.")
    if not parent.is_dir():
        raise UserError(f"the folder {str(parent)!r} for {str(p)!r} does not exist; create it first.")
    if not os.access(parent, os.W_OK):
        raise UserError(f"the folder {str(parent)!r} is not writable; choose another output path.")
    fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{p.name}.", suffix=".tmp")  # what write_atomic will do
    os.close(fd)
    os.unlink(probe)


def _is_input(p: Path, sources: Sequence[str | Path]) -> bool:
    """Whether ``p`` is one of ``sources`` or inside one that is a folder: by the path with every link followed,
    and by the file itself (device and inode), so a hard link or another mount of an input counts too."""
    target = Path(os.path.realpath(p))
    mine, parent = _identity(target), _identity(target.parent)
    for s in sources:
        src = Path(os.path.realpath(s))
        folder = src.is_dir()
        if target == src or (folder and src in target.parents):
            return True
        found = _identity(src)
        if found is not None and (found == mine or (folder and found == parent)):
            return True
    return False


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def write_atomic(path: Path, data: bytes, overwrite: bool = False) -> None:
    """Write to a temporary file next to ``path``, then put it in place: an interrupted run leaves no half file.

    With ``overwrite`` (``--force``) an existing file is replaced (a rename). Otherwise the output is created with a
    hard link of the finished file, which fails if a file of that name appeared while the command ran (a concurrent
    run writing the same report): that file is kept and this write refused."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UserError(
            f"the output {str(path)!r} cannot be written ({exc.strerror or type(exc).__name__}); nothing was written."
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an output file gets the usual permissions
        if overwrite:
            os.replace(tmp, path)
        else:
            _create(Path(tmp), Path(path))
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            raise UserError(
                f"{str(path)!r} appeared while onnxgru ran (another run writing the same file?); it was kept and "
                "nothing was written. Pass --force to overwrite it, or choose another path."
            ) from None
        if isinstance(exc, OSError):
            raise UserError(
                f"the output {str(path)!r} could not be written ({exc.strerror or type(exc).__name__}); "
                "nothing was written."
            ) from None
        raise


def _create(tmp: Path, path: Path) -> None:
    """Put the finished ``tmp`` at ``path`` only if nothing is there: a hard link (atomic, fails on an existing
    name), then the temporary name goes. A file system without hard links gets an exclusive placeholder, which the
    rename then replaces."""
    try:
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            raise  # FileExistsError above all
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # no hard links (FAT, some NFS)
        try:
            os.replace(tmp, path)
        except BaseException:
            path.unlink(missing_ok=True)  # our own placeholder
            raise
        return
    tmp.unlink()


DATA_SHARD = re.compile(r"\.data-\d+-of-\d+$")  # a TF1 checkpoint's data shard: model.data-00000-of-00001


def checkpoint_prefix(path: str | Path) -> Path | None:
    """The prefix of the TF1 checkpoint ``path`` names (its ``.meta``, ``.index`` or a ``.data-*`` shard, or the
    prefix itself, dots and all: ``model.ckpt``), or None when it names no checkpoint."""
    p = Path(path)
    if p.suffix in (".meta", ".index"):
        return p.with_suffix("")
    if DATA_SHARD.search(p.name):
        return p.with_name(DATA_SHARD.sub("", p.name))
    if not p.is_file() and not p.is_dir() and (
        not p.suffix or Path(f"{p}.meta").exists() or Path(f"{p}.index").exists()
    ):
        return p
    return None
