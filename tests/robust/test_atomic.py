"""Outputs are written atomically: a temporary file next to the target, then a rename. An interrupted or failed
write leaves neither a half file nor a temporary one, and an existing file (with --force) keeps its old bytes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from onnxgru import files
from onnxgru.cli import main
from onnxgru.errors import UserError


class _Interrupted:
    """A file object that writes part of the data, then is interrupted (Ctrl-C in the middle of a write)."""

    def __init__(self, f, exc: BaseException) -> None:
        self.f, self.exc = f, exc

    def __enter__(self) -> _Interrupted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()

    def write(self, data: bytes) -> int:
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise self.exc


def interrupt_writes(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    real = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda fd, *a, **k: _Interrupted(real(fd, *a, **k), exc))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_write_is_a_link_or_a_rename(overwrite: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new file is a hard link of the finished temporary file (no-clobber); a forced overwrite is a rename."""
    moves = []
    for name in ("replace", "link"):
        real = getattr(os, name)
        monkeypatch.setattr(files.os, name, lambda a, b, _n=name, _r=real: (moves.append((_n, Path(a), Path(b))),
                                                                             _r(a, b))[1])
    target = tmp_path / "r.json"
    if overwrite:
        target.write_bytes(b"old")
    files.write_atomic(target, b"{}", overwrite=overwrite)
    assert target.read_bytes() == b"{}" and not leftovers(tmp_path)
    [(how, tmp, dest)] = moves
    assert how == ("replace" if overwrite else "link")
    assert dest == target and tmp.parent == tmp_path and tmp.name.endswith(".tmp")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_a_file_that_appeared_meanwhile_is_kept(tmp_path: Path) -> None:
    """Two runs writing the same report without --force: the second finds the first's file and keeps it."""
    target = tmp_path / "r.json"
    output = files.Output.checked(str(target), False)
    target.write_bytes(b"the other run's report")
    with pytest.raises(UserError, match="appeared while onnxgru ran"):
        output.write(b"{}")
    assert target.read_bytes() == b"the other run's report" and not leftovers(tmp_path)
    with pytest.raises(UserError, match="already exists; pass --force"):
        files.Output.checked(str(target), False)
    files.Output.checked(str(target), True).write(b"{}")  # with --force it is replaced
    assert target.read_bytes() == b"{}"


def test_no_hard_links_still_never_clobbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(a: str, b: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(files.os, "link", no_links)
    target = tmp_path / "r.json"
    files.write_atomic(target, b"{}")
    assert target.read_bytes() == b"{}" and not leftovers(tmp_path)
    with pytest.raises(UserError, match="appeared while onnxgru ran"):
        files.write_atomic(target, b"[]")
    assert target.read_bytes() == b"{}" and not leftovers(tmp_path)


@pytest.mark.slow  # spawns onnxgru and its runtime children: seconds each (make test-fast skips it)
def test_concurrent_runs_never_replace_each_other(stack_file, rng, tmp_path: Path) -> None:
    """Two real processes write the same --json at once: exactly one wins, the other says so (exit 2)."""
    import subprocess
    import sys

    from ..conftest import random_layer

    good = stack_file([random_layer(rng, 5, 4)], "good.onnx")
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "onnxgru", "inspect", good, "--json", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes.count(0) == 1 and all(c == 2 for c in codes[1:]), results
    for code, err in results:
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and ("appeared while" in err or "already exists" in err), err
    assert out.read_text().startswith("{") and not leftovers(tmp_path)


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_rename_leaves_nothing(existing: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.onnx"
    if existing:
        target.write_bytes(b"old")

    def full(a: str, b: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    monkeypatch.setattr(files.os, "link", full)
    with pytest.raises(UserError, match="No space left"):
        files.write_atomic(target, b"new" * 1000, overwrite=existing)
    assert not leftovers(tmp_path)
    assert (target.read_bytes() == b"old") if existing else not target.exists()


@pytest.mark.parametrize("existing", [False, True])
def test_ctrl_c_while_writing_a_report(existing: bool, stack_file, rng, tmp_path: Path, monkeypatch, capsys) -> None:
    from ..conftest import random_layer

    good = stack_file([random_layer(rng, 5, 4)], "good.onnx")
    out = tmp_path / "report.json"
    if existing:
        out.write_text("old report")
    interrupt_writes(monkeypatch, KeyboardInterrupt())
    code = main(["compare", good, good, "--json", str(out), "--force"])
    err = capsys.readouterr().err
    assert code == 130 and "interrupted; nothing was written" in err and "Traceback" not in err
    assert not leftovers(tmp_path)
    assert (out.read_text() == "old report") if existing else not out.exists()


def test_disk_full_while_writing_is_one_sentence(stack_file, rng, tmp_path: Path, monkeypatch, capsys) -> None:
    from ..conftest import random_layer

    good = stack_file([random_layer(rng, 5, 4)], "good.onnx")
    out = tmp_path / "report.json"
    interrupt_writes(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    assert main(["inspect", good, "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left" in err and "Traceback" not in err
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.torch
def test_ctrl_c_while_writing_an_export(torch_files, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "gru.onnx"
    interrupt_writes(monkeypatch, KeyboardInterrupt())
    assert main(["export", "torch", str(torch_files["plain"]), "-o", str(out), "--steps", "4"]) == 130
    assert "nothing was written" in capsys.readouterr().err
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.tf
@pytest.mark.torch
def test_failed_rename_of_a_conversion(tf_files, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "exact.pt"
    out.write_bytes(b"previous conversion")

    def fail(a: str, b: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(files.os, "replace", fail)
    assert main(["convert", str(tf_files["dynamic"]), "-o", str(out), "--force", "--steps", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("onnxgru: error: ") and "Permission denied" in err and len(err.splitlines()) == 1
    assert out.read_bytes() == b"previous conversion" and not leftovers(tmp_path)
