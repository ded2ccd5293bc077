"""Ctrl-C in a terminal: `onnxgru check` ends within seconds whatever it is running (a runtime's child, a Keras run
in this process), exit code 130, the message on a line of its own with no status line left on screen, and nothing
behind: no output file, no runtime child, no job folder.

The command runs in a pseudo-terminal (so its stderr is a terminal and it draws its status line); the test waits
until the line names the stage, then sends SIGINT to its process group, as a terminal does."""

from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ..conftest import random_layer

pytestmark = pytest.mark.slow
pty = pytest.importorskip("pty")  # POSIX terminals
fcntl = pytest.importorskip("fcntl")
termios = pytest.importorskip("termios")

MESSAGE = b"onnxgru: interrupted; nothing was written.\r\n"  # the terminal turns \n into \r\n
CLEAR = b"\r\x1b[K"  # back to the start of the line, erase to its end
COLUMNS = 80


def interrupt(args: list[str], stage: str, cwd: Path, after: float = 1.0) -> tuple[int, float, bytes, int]:
    """Run ``onnxgru ARGS`` in an 80-column pseudo-terminal; ``after`` seconds after its status line shows
    ``stage``, send SIGINT to its process group. Returns the exit code, the seconds from SIGINT to the exit,
    everything it wrote, and its process group."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    (cwd / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(PYTHONPATH=os.pathsep.join(sys.path), TMPDIR=str(cwd / "tmp"))
    proc = subprocess.Popen([sys.executable, "-m", "onnxgru", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=cwd, env=env, start_new_session=True)
    os.close(slave)
    out, seen, sent, deadline = b"", None, None, time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.02)[0]:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # the terminal's other end closed: every process on it is gone
                    data = b""
                if not data:
                    break
                out += data
            if seen is None and stage.encode() in out:
                seen = time.monotonic()
            if seen is not None and sent is None and time.monotonic() - seen >= after:
                os.killpg(proc.pid, signal.SIGINT)
                sent = time.monotonic()
            if sent is not None and proc.poll() is not None and not select.select([master], [], [], 0.05)[0]:
                break
        code = proc.wait(timeout=60)
        ended = time.monotonic()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(master)
    assert sent is not None, f"the stage {stage!r} never showed: {out[-2000:]!r}"
    return code, ended - sent, out, proc.pid


def alive(group: int) -> list[str]:
    """The live processes of a process group (a zombie waiting for init does not count)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(stat.parent.name)
    return found


def assert_clean_ending(code: int, out: bytes, cwd: Path, group: int) -> None:
    assert code == 130, out[-2000:]
    # the last thing on screen: the status line erased, then the message alone on its line
    assert out.endswith(CLEAR + MESSAGE), out[-500:]
    lines = out.split(CLEAR)[1:-1]
    assert lines and all(len(line.decode()) <= COLUMNS - 1 and b"\n" not in line for line in lines), lines
    assert not (cwd / "report.json").exists() and not list(cwd.glob(".report.json.*")), "a report was written"
    assert not list((cwd / "tmp").glob("onnxgru-*")), "a job folder was left behind"
    deadline = time.monotonic() + 2
    while alive(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(group), "a runtime's child outlived the command"


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")


@needs_proc
def test_ctrl_c_while_a_runtime_runs(tmp_path: Path, stack_file) -> None:
    """The reference evaluator on 100,000 steps, in a runtime's child: the parent, waiting on it, stops at once."""
    stack_file([random_layer(np.random.default_rng(3), 5, 4)], "model.onnx")
    args = ["check", "--onnx", "model.onnx", "--runtimes", "reference", "--steps", "100000", "--batch", "64",
            "--json", "report.json"]
    code, seconds, out, group = interrupt(args, "in reference", tmp_path)
    assert_clean_ending(code, out, tmp_path, group)
    assert seconds < 2.0, f"{seconds:.1f} s from Ctrl-C to the exit"


@needs_proc
@pytest.mark.tf
def test_ctrl_c_during_a_native_keras_run(tmp_path: Path) -> None:
    """A Keras run of 100,000 steps in the command's own process. Before, the interpreter's clean-up after the
    KeyboardInterrupt (the run's objects, TensorFlow's) took 6-8 s here on a 2-core machine; now the command ends
    without it, and a thread ends it 1 s after Ctrl-C when the main thread is stuck in native code."""
    pytest.importorskip("tensorflow")
    from onnxgru import example

    args = ["check", "--tf", example.paths()["tagger"], "--runtimes", "onnxruntime", "--steps", "100000",
            "--batch", "32", "--json", "report.json"]
    code, seconds, out, group = interrupt(args, "natively", tmp_path)
    assert_clean_ending(code, out, tmp_path, group)
    assert seconds < 4.0, f"{seconds:.1f} s from Ctrl-C to the exit"
