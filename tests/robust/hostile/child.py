"""Running the CLI in a child process, measured (exit code, output, seconds, peak memory), and the sizes every
hostile model here has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

I, H = 5, 4  # noqa: E741 - input size and hidden size of every model here


# A small launcher runs the CLI and reports what ``wait4`` says of it. It must be small: a child's peak resident
# size starts from what its parent held when it was spawned (the kernel counts the parent's pages until ``exec``),
# and the test process holds TensorFlow and torch.
_LAUNCHER = """
import json, os, subprocess, sys, time
argv, report, out, err, timeout = json.loads(sys.argv[1])
with open(out, "wb") as o, open(err, "wb") as e:
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "onnxgru", *argv], stdout=o, stderr=e)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > timeout:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    seconds = time.monotonic() - start
proc.returncode = os.waitstatus_to_exitcode(status)
with open(report, "w") as f:
    json.dump([proc.returncode, seconds, usage.ru_maxrss * 1024], f)
"""


def measured(argv: list, folder: Path, timeout: float = 120.0) -> tuple[int, str, str, float, int]:
    """``onnxgru ARGV`` in a child process: (exit code, stdout, stderr, seconds, peak resident bytes of the child
    and of every process it waited for, from ``wait4``)."""
    import json

    out, err, report = folder / "child.stdout", folder / "child.stderr", folder / "child.json"
    spec = json.dumps([[str(a) for a in argv], str(report), str(out), str(err), timeout])
    subprocess.run([sys.executable, "-c", _LAUNCHER, spec], check=True, timeout=timeout + 60)
    code, seconds, peak = json.loads(report.read_text())
    return code, out.read_text(errors="replace"), err.read_text(errors="replace"), seconds, peak
