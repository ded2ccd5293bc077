"""Confinement by Linux Landlock: a process that has called ``confine`` can no longer write outside the folders it
was given, read outside the paths it was given, or open or accept TCP connections; every thread and child it starts
afterwards inherits the same limits, and nothing can lift them. No privilege is needed (Linux 5.13 and later);
where the kernel lacks Landlock, ``confine`` returns 0 and changes nothing (the screens still stand).

Landlock restricts the calling thread only: call it before the process starts any thread that will touch a user's
file. The rights are checked when a file is opened, so descriptors opened before (standard streams, a pipe to the
parent) keep working.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# filesystem rights, by the ABI that introduced them
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
READ = EXECUTE | READ_FILE | READ_DIR
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE  # the rights a rule on a file (not a folder) may carry
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi() -> int:
    """The kernel's Landlock ABI version; 0 where it has none (not Linux, too old, or switched off)."""
    if not sys.platform.startswith("linux") or os.environ.get("ONNXGRU_NO_LANDLOCK"):
        return 0
    try:
        version = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(
            _CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def _handled_fs(version: int) -> int:
    handled = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
    if version >= 2:
        handled |= REFER
    if version >= 3:
        handled |= TRUNCATE
    return handled


def confine(read: Iterable[str | os.PathLike[str]], write: Iterable[str | os.PathLike[str]]) -> int:
    """Limit this process, from now on, to reading ``read`` and ``write`` (files or folders, with everything below
    a folder) and writing, creating and removing only below ``write``; no TCP bind or connect (ABI 4) and no
    signals or abstract sockets beyond its own domain (ABI 6). Paths that do not exist are skipped. Returns the ABI
    version enforced, 0 when the kernel has no Landlock (nothing changed). An OSError when Landlock is there but
    refuses the rules (then nothing changed either)."""
    version = abi()
    if not version:
        return 0
    libc = _libc()
    handled = _handled_fs(version)
    attr = _RulesetAttr(handled, _NET_BIND_TCP | _NET_CONNECT_TCP if version >= 4 else 0,
                        _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if version >= 6 else 0)
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    fd = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for paths, rights in ((read, READ), (write, handled)):
            for p in paths:
                _allow(libc, fd, Path(p), rights & handled)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(fd)
    return version


def _allow(libc: ctypes.CDLL, ruleset: int, path: Path, rights: int) -> None:
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # not there (or not ours to see): nothing to allow
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(rights, target)
        if libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                        ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(target)


# --- a command in a confined child ------------------------------------------------------------------------------

# What every run reads besides the user's files: the system's libraries and settings, and the kernel's views.
SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/opt", "/proc", "/sys", "/dev")
_HEADER_MAX = 1 << 20  # the child's answer: one JSON line, then the files' bytes


def python_paths() -> list[str]:
    """The Python installation this runs from: its prefixes and every folder on its path (onnxgru's included)."""
    here = str(Path(__file__).resolve().parents[1])
    return list(dict.fromkeys([sys.prefix, sys.base_prefix, sys.exec_prefix, here, *(p for p in sys.path if p)]))


Written = list[tuple[Path, bytes]]


def run_in_child(work: Callable[[Written], int], read: Iterable[str | os.PathLike[str]],
                 memory_limit: int | None = None) -> tuple[int, Written]:
    """``work`` in a forked child that can read only ``read``, the Python installation and the system, write only
    its own temporary folder (also its ``HOME`` and ``TMPDIR``), and open no TCP connection, under ``memory_limit``
    bytes of address space. ``work`` gets a list to put the files it would write in, as (path, bytes), and returns
    an exit code; the child prints what it has to say itself. Returns that code and those files, for the caller to
    check against the outputs it allowed and write. The child's answer is read as data (JSON and bytes), never
    unpickled: a child taken over by a hostile file can lie about its verdict, not run code here."""
    tmp = tempfile.mkdtemp(prefix="onnxgru-")
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(r)
        code, files = 3, cast(Written, [])
        try:
            for key in ("HOME", "TMPDIR", "XDG_CACHE_HOME", "KERAS_HOME"):
                os.environ[key] = tmp
            tempfile.tempdir = tmp
            if memory_limit:
                _, hard = resource.getrlimit(resource.RLIMIT_AS)
                resource.setrlimit(resource.RLIMIT_AS, (memory_limit, hard))
            confine([*SYSTEM, *python_paths(), *map(str, read), tmp], [tmp, "/dev/null"])
            code = work(files)
        except BaseException:  # work reports its own errors; this is the confinement failing
            traceback.print_exc()
        finally:
            try:
                _answer(w, code, files)
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.close(w)
    try:
        data, status = _read_all(r, pid)
    finally:
        os.close(r)
        shutil.rmtree(tmp, ignore_errors=True)
    return _parse(data, status)


def _answer(fd: int, code: int, files: Written) -> None:
    head = json.dumps({"code": code, "files": [[str(p), len(b)] for p, b in files]}).encode() + b"\n"
    for chunk in (head, *(b for _, b in files)):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


def _read_all(fd: int, pid: int) -> tuple[bytes, int]:
    """Everything the child sends, and its wait status. On Ctrl-C, which the child gets too and answers itself
    (one line, exit 130), give it 1.5 s to end, then end it; nothing it sent counts."""
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks), os.waitpid(pid, 0)[1]
    except KeyboardInterrupt:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            with contextlib.suppress(KeyboardInterrupt):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 130:
                        return b"", status  # it said so itself
                    break
                time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise


def _parse(data: bytes, status: int) -> tuple[int, Written]:
    head, sep, body = data.partition(b"\n")
    if not sep or len(head) > _HEADER_MAX:  # ended before it answered (a watchdog, a signal)
        if os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            print(f"onnxgru: error: the run was ended by {sig} (over its memory or CPU limit?); nothing was written.",
                  file=sys.stderr)
            return 3, []
        return os.waitstatus_to_exitcode(status), []
    said = json.loads(head)
    files: Written = []
    offset = 0
    for path, size in said["files"]:
        files.append((Path(path), body[offset:offset + int(size)]))
        offset += int(size)
    return int(said["code"]), files
