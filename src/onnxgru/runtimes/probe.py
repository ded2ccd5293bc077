"""Run runtimes on models in child processes, so a crash (segfault, abort, a Rust panic) or a hang in one runtime
becomes a ``crashed`` result instead of taking the check down.

A ``ProbePool`` starts its children at once, and each imports its runtimes and runs a tiny GRU in them while the
caller does other work (a check imports TensorFlow and exports meanwhile). ``submit`` hands one model and its feeds
to every runtime; a child works through its jobs in order, model after model and runtime after runtime, so a check
pays each runtime's import once, not once per model. ``results`` yields one model's results, runtime by runtime.
A child that crashes or hangs on a job is that job's ``crashed`` result, and a fresh child takes the jobs after it:
one runtime's crash on one model touches no other result.

All runtimes share one child: measured on a busy 2-core machine, a process per runtime cost about 0.4 s of CPU
each (Python, numpy and onnx imported again) for nothing a restart after a crash does not give. A big model
(``submit(..., start=False)``) gives the ONNX reference evaluator, numpy only and the slowest on big models, a child
of its own, so it runs beside the others on a second core.

A job is a folder with ``model.onnx`` and ``feeds.npz`` (no pickle either way). For each runtime the child first
makes ``<runtime>.log`` (its stdout and stderr during the job, which also says the job started), then writes
``<runtime>.npz`` (outputs in graph order) and last ``<runtime>.json`` (status), so a status file exists only for a
job that finished. An output that repeats an earlier one or a feed up to the order of its axes (a GRU's tapped Y that
the model also returns) is not written again: the status names what it repeats, and the parent rebuilds it as a view.

Each child runs under a memory limit (``RLIMIT_AS``, from ``ONNXGRU_MEMORY_LIMIT`` in its environment, set before it
imports a runtime): a model that asks for more fails in its child, a ``crashed`` result that says so, instead of
taking the machine's memory.

Child: ``python -m onnxgru.runtimes.probe [--warm] ENTRY...`` reads ``FOLDER<TAB>NAME<TAB>ENTRY`` lines on stdin; an
ENTRY is a registry entry (``module`` or ``module:ATTRIBUTE``), so a runtime registered only in the parent (a
test's) still resolves. ``--warm`` loads the listed entries' runtimes before the first job.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from onnxgru import limits, runtimes
from onnxgru.core import numerics
from onnxgru.core.spec import GRUAttrs
from onnxgru.errors import UserError
from onnxgru.graph import sizes
from onnxgru.graph.build import single_node

if TYPE_CHECKING:
    import onnx

STATUSES = ("ok", "refused", "crashed", "unavailable", "stopped")  # stopped: its share of the command's budget ran out
DEFAULT_TIMEOUT_S = 120.0
_MEMORY_ENV = "ONNXGRU_MEMORY_LIMIT"
_POLL_S = 0.002


@dataclass(frozen=True)
class ProbeResult:
    """What one runtime did with one model. True when it ran (``status == "ok"``)."""

    runtime: str
    status: str  # "ok" | "refused" | "crashed" | "unavailable" | "stopped"
    outputs: list[np.ndarray] | None
    detail: str
    version: str | None
    precision: str | None = None  # what the runtime reports it computed in; None when it does not say
    seconds: float = 0.0

    def __post_init__(self) -> None:
        assert self.status in STATUSES, self.status

    def __bool__(self) -> bool:
        return self.status == "ok"


def probe(
    runtime: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray], timeout: float = DEFAULT_TIMEOUT_S,
    memory_limit: int | None = limits.MEMORY_LIMIT_BYTES,
) -> ProbeResult:
    """Run ``model`` on ``feeds`` in ``runtime``, in a child process; never raises for what the runtime does."""
    return probe_all([runtime], model, feeds, timeout, memory_limit)[runtime]


def probe_all(
    names: Sequence[str], model: onnx.ModelProto, feeds: dict[str, np.ndarray], timeout: float = DEFAULT_TIMEOUT_S,
    memory_limit: int | None = limits.MEMORY_LIMIT_BYTES,
) -> dict[str, ProbeResult]:
    """Every runtime of ``names`` on the same model and feeds, in children, each within ``timeout`` seconds and
    ``memory_limit`` bytes of address space. Unknown names raise ``UserError``; runtimes whose package is missing
    are ``unavailable`` (no child)."""
    with ProbePool(names, timeout, warm=False, memory_limit=memory_limit) as pool:
        return dict(pool.results(pool.submit(model, feeds)))


@dataclass
class _Job:
    folder: Path
    name: str
    entry: str
    since: float = 0.0  # when it was sent and at the head of its child's queue
    sent: bool = False
    outcome: tuple[int, float, bool] | None = None  # (returncode, seconds, late) once finished
    allowed: float | None = None  # seconds it may run, fixed when it reaches the head of its child's queue
    budgeted: bool = False  # what is left of the command's budget, not the per-run timeout, set ``allowed``
    feeds: dict[str, np.ndarray] = field(default_factory=dict)  # what an output that repeats a feed is rebuilt from


@dataclass
class _Child:
    entries: list[str]
    log: Path
    proc: subprocess.Popen | None = None
    warm: bool = False
    queue: deque[_Job] = field(default_factory=deque)

    def send(self, job: _Job) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        job.sent = True
        try:
            self.proc.stdin.write(f"{job.folder}\t{job.name}\t{job.entry}\n".encode())
            self.proc.stdin.flush()
        except OSError:  # the child is gone; the next poll restarts it and sends the job again
            pass


class ProbePool:
    """Children that run ONNX models in ``names`` runtimes, started now; use as a context manager.

    ``submit(model, feeds)`` returns a ticket at once; ``results(ticket)`` yields ``(runtime, ProbeResult)`` in the
    order of ``names``, loading each runtime's outputs only when it is yielded. A job submitted with ``start=False``
    waits until ``dispatch`` or ``results`` (so big models do not compete for the cores with the caller's own work).
    ``timeout`` bounds each job from the moment its child is free to start it; ``memory_limit`` bounds each child's
    address space (None: no limit). With a ``budget`` (the whole command's time), a job also stops when what is left
    of it is spent: each job's share is what is left when it starts, halved for a numpy-only runtime (the reference
    evaluator, the slowest and no deployment target); such a job's result is ``stopped``."""

    def __init__(
        self, names: Sequence[str], timeout: float = DEFAULT_TIMEOUT_S, warm: bool = True,
        memory_limit: int | None = limits.MEMORY_LIMIT_BYTES, budget: limits.Budget | None = None,
    ) -> None:
        self.names = list(dict.fromkeys(names))
        self.timeout = timeout
        self.budget = budget
        self.memory_limit = memory_limit
        entries = {name: runtimes.target(name) for name in self.names}  # unknown names: UserError, before any child
        self._tmp = tempfile.TemporaryDirectory(prefix="onnxgru-probe-")
        self._root = Path(self._tmp.name)
        self._jobs = 0
        self._unavailable: dict[str, str] = {}
        self._child_of: dict[str, _Child] = {}
        self._entries = entries
        self._numpy_only: list[str] = []  # runtimes that move to a child of their own for big models
        self._side: _Child | None = None
        shared = _Child([], self._root / "runtimes.log")
        for name, entry in entries.items():
            rt = runtimes.resolve(entry)
            if not rt.available():
                self._unavailable[name] = rt.package
                continue
            shared.entries.append(entry)
            self._child_of[name] = shared
            if rt.package == "onnx":
                self._numpy_only.append(name)
        self._children = [shared] if shared.entries else []
        limits.register_stop(self._abandon)
        for child in self._children:
            self._start(child, warm)

    def __enter__(self) -> ProbePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the children (they hold no state worth a clean exit) and remove the job folders."""
        self._kill()
        for child in self._children:
            if child.proc is not None:
                child.proc.wait()
                if child.proc.stdin is not None:
                    child.proc.stdin.close()
        self._children = []
        self._tmp.cleanup()
        limits.unregister_stop(self._abandon)

    def _kill(self) -> None:
        for child in self._children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.kill()

    def _abandon(self) -> None:
        """What a hard stop (Ctrl-C, a native run's time limit) does before the process ends: no child outlives it,
        no job folder stays behind."""
        self._kill()
        shutil.rmtree(self._root, ignore_errors=True)

    def submit(self, model: onnx.ModelProto, feeds: dict[str, np.ndarray], start: bool = True,
               where: str = "the model") -> list[_Job]:
        """Queue ``model`` on ``feeds`` in every runtime; returns the ticket ``results`` takes. ``start`` sends it
        (and any job held before it) to the children now. A model that would make a tensor over the size limit at
        these feeds, or nests too deep, is a UserError (``where`` names it) before any runtime sees it."""
        sizes.check_fed(model, feeds, where)
        folder = self._root / f"job{self._jobs}"
        self._jobs += 1
        folder.mkdir()
        (folder / "model.onnx").write_bytes(model.SerializeToString())
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in feeds.items()}
        np.savez(folder / "feeds.npz", **arrays)
        if not start:
            self._separate_numpy_only()
        ticket = [_Job(folder, name, self._entries[name], feeds=feeds) for name in self.names]
        for job in ticket:
            if job.name in self._child_of:
                self._child_of[job.name].queue.append(job)
        if start:
            self.dispatch()
        return ticket

    def _separate_numpy_only(self) -> None:
        """From the first big model on, the numpy-only runtimes' jobs go to a child of their own."""
        if not self._numpy_only or self._side is not None:
            return
        self._side = _Child([self._entries[n] for n in self._numpy_only], self._root / "numpy-only.log")
        self._children.append(self._side)
        self._child_of.update(dict.fromkeys(self._numpy_only, self._side))
        self._start(self._side, warm=True)

    def dispatch(self) -> None:
        """Send every held job to its child."""
        now = time.monotonic()
        for child in self._children:
            for job in child.queue:
                if not job.sent:
                    job.since = now
                    child.send(job)

    def results(self, ticket: list[_Job], waiting: Callable[[str], None] | None = None
                ) -> Iterator[tuple[str, ProbeResult]]:
        """Each runtime's result for the model of ``ticket``, in the order of ``names``, as soon as it is in;
        ``waiting(runtime)`` is called when the next result is not in yet (progress)."""
        self.dispatch()
        for job in ticket:
            if job.name in self._unavailable:
                yield job.name, _unavailable(job.name, self._unavailable[job.name])
                continue
            if job.outcome is None and waiting is not None:
                waiting(job.name)
            while job.outcome is None:
                self._poll()
                if job.outcome is None:
                    time.sleep(_POLL_S)
            returncode, seconds, late = job.outcome
            budget = self.budget.seconds if self.budget is not None and job.budgeted else None
            yield job.name, _collect(job.folder, job.name, returncode, seconds, late, self.timeout, self.memory_limit,
                                     job.feeds, budget)
        if ticket:
            _remove(ticket[0].folder)

    # --- the children ------------------------------------------------------------------------------------------
    def _start(self, child: _Child, warm: bool) -> None:
        env = {**os.environ, "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0", "PYTHONFAULTHANDLER": "1"}
        if self.memory_limit:
            # glibc reserves 64 MB of address space per thread arena; capped, a many-core machine stays in bounds
            env.update({_MEMORY_ENV: str(int(self.memory_limit)), "MALLOC_ARENA_MAX": "4"})
        cmd = [sys.executable, "-m", "onnxgru.runtimes.probe", *(["--warm"] if warm else []), *child.entries]
        with open(child.log, "ab") as log:
            child.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=log, env=env)
        child.warm = warm
        if child.queue:
            child.queue[0].since = time.monotonic()
        for job in child.queue:
            if job.sent:
                child.send(job)

    def _poll(self) -> None:
        """Give every child's finished, crashed or overdue head job its outcome; restart children that died."""
        now = time.monotonic()
        for child in self._children:
            assert child.proc is not None
            while child.queue and child.queue[0].sent:
                job = child.queue[0]
                if (job.folder / f"{job.name}.json").is_file():
                    self._finish(child, job, 0, now, late=False)
                    continue
                dead = child.proc.poll() is not None
                if job.allowed is None:
                    job.allowed, job.budgeted = self._allowance(job)
                late = now - job.since > job.allowed
                if not dead and not late:
                    break
                if not dead:
                    child.proc.kill()
                    child.proc.wait()
                log = job.folder / f"{job.name}.log"
                if log.is_file() or not child.warm:  # it died on this job, or a bare child cannot even start one
                    if not log.is_file():
                        log.write_bytes(child.log.read_bytes()[-20_000:])
                    self._finish(child, job, child.proc.returncode, now, late=late and not dead)
                # a child that died while warming up: a bare one takes the queue, the job unharmed
                self._start(child, warm=False)
                break

    def _allowance(self, job: _Job) -> tuple[float, bool]:
        """How long ``job`` may run from its start, and whether the command's budget (not the timeout) says so: what
        is left of the budget, half of it for a numpy-only runtime. (Not split with the jobs behind it: a child's
        first job also waits for the child's imports, and a share that small would stop a model that runs.)"""
        if self.budget is None:
            return self.timeout, False
        share = self.budget.left(job.since) * (0.5 if job.name in self._numpy_only else 1.0)
        return (max(share, 0.0), True) if share < self.timeout else (self.timeout, False)

    @staticmethod
    def _finish(child: _Child, job: _Job, returncode: int, now: float, late: bool) -> None:
        job.outcome = (returncode, now - job.since, late)
        child.queue.popleft()
        if child.queue:
            child.queue[0].since = max(child.queue[0].since, now)


def _remove(folder: Path) -> None:
    for f in folder.iterdir():
        f.unlink(missing_ok=True)
    folder.rmdir()


def _unavailable(name: str, package: str) -> ProbeResult:
    return ProbeResult(name, "unavailable", None, f"{package} is not installed (pip install {package})", None)


def _collect(
    folder: Path, name: str, returncode: int, seconds: float, late: bool, timeout: float,
    memory_limit: int | None = None, feeds: dict[str, np.ndarray] | None = None, budget: float | None = None,
) -> ProbeResult:
    """What a finished, crashed or stopped job gave. ``budget``: the command's budget in seconds, when what was left
    of it (not ``timeout``) bounded this job."""
    status_file = folder / f"{name}.json"
    if returncode == 0 and status_file.is_file():
        info = json.loads(status_file.read_text())
        outputs = None
        if info["status"] == "ok":
            outputs = []
            same = {int(k): v for k, v in info.get("same", {}).items()}
            with np.load(folder / f"{name}.npz", allow_pickle=False) as data:
                for i in range(len(data.files) + len(same)):
                    if i not in same:
                        outputs.append(data[f"out{i}"])
                        continue
                    what, axes, shape = same[i]
                    if what.startswith("#"):
                        base = outputs[int(what[1:])]
                    else:
                        base = (feeds or {}).get(what)
                        if base is None:
                            with np.load(folder / "feeds.npz", allow_pickle=False) as given:
                                base = given[what]
                    outputs.append(numerics.repeated(base, tuple(axes), tuple(shape)))
        return ProbeResult(name, info["status"], outputs, info["detail"], info["version"], info["precision"], seconds)
    log_file = folder / f"{name}.log"
    log = log_file.read_text(errors="replace") if log_file.is_file() else ""
    if late and returncode == -signal.SIGKILL and budget is not None:
        return ProbeResult(name, "stopped", None, f"was stopped after {seconds:.1f} s, when its share of the "
                           f"command's time budget of {budget:g} s was spent (--budget)", None, None, seconds)
    if late and returncode == -signal.SIGKILL:
        how = f"did not finish within {timeout:g} s and was stopped"
    elif returncode < 0:
        how = f"crashed ({_signal_name(-returncode)})"
    else:
        how = f"exited with code {returncode} without a result"
    said = _last_words(log)
    if memory_limit and any(w in log for w in _OUT_OF_MEMORY):
        how += f" after running out of its memory limit of {memory_limit / limits.GIB:.3g} GiB (--memory-limit)"
    return ProbeResult(name, "crashed", None, how + (f": {said}" if said else ""), None, None, seconds)


_OUT_OF_MEMORY = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory", "Failed to allocate",
                  "memory allocation")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_words(log: str) -> str:
    """The line of a crash log that says why: a Rust panic's message, a fatal error, else the last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if " panicked at " in line and i + 1 < len(lines):
            return f"{lines[i + 1]} ({line.split(' panicked at ', 1)[1].rstrip(':')})"[:300]
    for line in lines:
        if line.startswith("Fatal Python error"):
            return line[:300]
    return lines[-1][:300] if lines else ""


# --- child ---------------------------------------------------------------------------------------------------------
def _limit_memory() -> None:
    """Cap this child's address space at ``ONNXGRU_MEMORY_LIMIT`` bytes, before any runtime is imported."""
    value = os.environ.get(_MEMORY_ENV)
    try:
        import resource  # noqa: PLC0415  # not on every platform (Windows)
    except ImportError:  # not on this platform (Windows): the time limit still holds
        return
    if value:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _serve(stdin: IO[str], warm: Sequence[str]) -> int:
    """Run jobs from ``stdin`` until it closes, after loading the ``warm`` entries' runtimes on a tiny GRU."""
    for entry in warm:
        _warm_up(entry)
    while line := stdin.readline():
        folder, name, entry = line.rstrip("\n").split("\t")
        _job(Path(folder), name, entry)
    return 0


def _warm_up(entry: str) -> None:
    """Import a runtime and run a tiny GRU in it (plugins load, kernels register) before the first real job.
    Anything it raises is the real job's to report; a crash here only costs a fresh child."""
    try:

        rt = runtimes.resolve(entry)
        rt.version()
        tiny = single_node(GRUAttrs(hidden_size=2, input_size=2), np.ones((1, 6, 2)), np.ones((1, 6, 2)))
        rt.load(tiny)({"X": np.ones((2, 1, 2), np.float32)})
    except Exception:  # noqa: S110 - a warm-up that fails changes nothing but the first job's time
        pass


def _job(folder: Path, name: str, entry: str) -> None:
    """One runtime on one job folder, its stdout and stderr (and any crash report) in ``<name>.log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(folder / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        _run(folder, name, entry)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _run(folder: Path, name: str, entry: str) -> None:
    import onnx  # noqa: PLC0415  # in the runtime's child, not in every command that probes


    def report(status: str, detail: str, version: str | None = None, precision: str | None = None,
               same: dict | None = None) -> None:
        tmp = folder / f"{name}.json.part"
        tmp.write_text(json.dumps({"status": status, "detail": detail, "version": version, "precision": precision,
                                   "same": same or {}}))
        tmp.replace(folder / f"{name}.json")

    rt = runtimes.resolve(entry)
    version = None
    try:
        version = rt.version()
        model = onnx.load_model_from_string((folder / "model.onnx").read_bytes())
        with np.load(folder / "feeds.npz", allow_pickle=False) as data:
            feeds = {k: data[k] for k in data.files}
        session = rt.load(model)
        outputs = session(feeds)
    except runtimes.RuntimeRefused as exc:
        return report("refused", str(exc), version)
    except UserError as exc:
        return report("unavailable", str(exc))
    # an output that repeats another or a feed (a GRU's tapped Y the model also returns) crosses once
    same = numerics.repeats(outputs, feeds)
    kept: dict[str, Any] = {f"out{i}": v for i, v in enumerate(outputs) if i not in same}
    np.savez(folder / f"{name}.npz", **kept)
    said = {i: [what, list(axes), list(np.shape(outputs[i]))] for i, (what, axes) in same.items()}
    del outputs
    report("ok", "", version, session.precision, said)


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: a child ends at once, even inside a runtime's native code, rather
    # than as a KeyboardInterrupt once that code returns; the parent, interrupted too, kills what is left.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    args = sys.argv[1:]
    warm_up = args[0] == "--warm" if args else False
    _limit_memory()
    sys.exit(_serve(sys.stdin, args[1:] if warm_up else []))
