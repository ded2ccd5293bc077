"""Pieces every command shares: making the inputs, running executions, pairing their outputs, GRU006/GRU010."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from onnxgru.core import inputs as inp
from onnxgru.core import reference
from onnxgru.core.findings import Finding
from onnxgru.core.model import LoadedModel, Outputs
from onnxgru.core.numerics import PairResult, compare_arrays, growth_summary
from onnxgru.errors import UserError
from onnxgru.sources.files import existing

DEFAULT_BATCH = 3
DEFAULT_STEPS = 12


@dataclass(frozen=True)
class Settings:
    """The options shared by the commands that run models."""

    atol: float = 1e-5
    rtol: float = 1e-5
    seed: int = 0
    batch: int = DEFAULT_BATCH
    steps: int = DEFAULT_STEPS
    inputs_file: str | None = None

    def __post_init__(self) -> None:
        for name in ("atol", "rtol"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise UserError(f"--{name} must be a finite number >= 0, got {v!r}.")
        if self.seed < 0:
            raise UserError(f"--seed must be a whole number >= 0, got {self.seed}.")
        inp.check_sizes(self.batch, self.steps)


def make_inputs(models: Sequence[LoadedModel], settings: Settings) -> inp.Inputs:
    """The same inputs for every model: the user's ``--inputs`` file, or seeded generated ones."""
    sizes = {m.input_size for m in models}
    if len(sizes) > 1:
        detail = ", ".join(f"{m.role} takes {m.input_size}" for m in models)
        raise UserError(
            f"the models take different input feature sizes ({detail}); they cannot run on the same inputs."
        )
    input_size = sizes.pop()
    rows = {m.state_rows for m in models if m.layers}
    hidden = {m.hidden_size for m in models if m.layers}
    feed_h0 = all(m.accepts_h0 for m in models) and len(rows) == 1 and len(hidden) == 1
    widest = max([input_size, *((m.hidden_size or 0) * m.state_rows for m in models)])  # the outputs count too
    if settings.inputs_file:
        x, h0 = _read_inputs_file(settings.inputs_file)
        given = inp.from_arrays(x, h0, f"from {settings.inputs_file}")  # rank, dtype, finiteness, sizes
        inp.check_sizes(given.batch, given.steps, widest)
        if given.x.shape[2] != input_size:
            raise UserError(
                f"--inputs gives x with {given.x.shape[2]} features per step but the model takes {input_size}; "
                f"x must have shape (batch, steps, {input_size})."
            )
        if given.h0 is None or not feed_h0:
            return inp.Inputs(given.x, None, None, given.how, {})
        expected = (next(iter(rows)), given.batch, next(iter(hidden)))
        if given.h0.shape != expected:
            raise UserError(
                f"--inputs gives h0 of shape {given.h0.shape} but the model's initial state is {expected} "
                "(layers*directions, batch, hidden)."
            )
        return given
    dtype = np.float64 if all(m.dtype == "float64" for m in models) else np.float32
    inp.check_sizes(settings.batch, settings.steps, widest)
    return inp.generate(
        settings.seed,
        settings.batch,
        settings.steps,
        input_size,
        hidden.pop() if feed_h0 else None,
        rows.pop() if feed_h0 else 0,
        dtype,
    )


def _read_inputs_file(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    p = existing(path, "inputs")
    try:
        with np.load(p, allow_pickle=False) as data:
            _check_stored_sizes(p, data)
            arrays = {k: data[k] for k in data.files}
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"--inputs {str(p)!r} is not a readable .npz file ({type(exc).__name__}); save it with numpy.savez."
        ) from None
    if "x" not in arrays:
        raise UserError(
            f"--inputs {str(p)!r} must hold an array named 'x' (batch, steps, features); it has {sorted(arrays)}."
        )
    return arrays["x"], arrays.get("h0")


def _check_stored_sizes(path: Path, data: np.lib.npyio.NpzFile) -> None:
    """Refuse an archive whose arrays would be absurdly large, from their headers (values and bytes: a void dtype
    ``|V1073741824`` makes one value a gigabyte) and the zip's declared sizes, before decompressing any."""
    members = set(data.zip.namelist())
    for name in data.files:
        member = data.zip.getinfo(f"{name}.npy" if f"{name}.npy" in members else name)
        with data.zip.open(member) as f:
            shape, dtype = inp.npy_header(f)
        values = int(np.prod(shape, dtype=object))
        size = max(values * dtype.itemsize, member.file_size)
        if values > inp.MAX_ELEMENTS or size > inp.MAX_BYTES:
            raise UserError(
                f"--inputs {str(path)!r} holds {name!r} of shape {shape} and dtype {dtype.str}, more than "
                f"{inp.MAX_ELEMENTS:,} values or {inp.MAX_BYTES:,} bytes; give smaller inputs."
            )


def execute(model: LoadedModel, inputs: inp.Inputs) -> Outputs:
    """Run one model; NaN/Inf in its outputs are kept for the comparison to report."""
    assert model.run is not None, f"{model.role} cannot be run"
    return model.run(inputs)


def pair(a_label: str, a: Outputs, b_label: str, b: Outputs, atol: float, rtol: float) -> list[PairResult]:
    """Compare the outputs two executions have in common (``output`` over time, ``state``)."""
    results = []
    for key in ("output", "state"):
        if key in a and key in b:
            va, vb = a[key], b[key]
            if va.shape != vb.shape and key == "state":
                va, vb = _last_rows(va, vb)  # a model that outputs only its last layer's final state
            if va.shape != vb.shape:
                raise UserError(
                    f"{a_label} and {b_label} give {key} of different shapes {a[key].shape} and {b[key].shape}; "
                    "they are not the same architecture."
                )
            results.append(compare_arrays(a_label, b_label, key, va, vb, atol, rtol, 1 if key == "output" else None))
    if not results:
        raise UserError(
            f"{a_label} and {b_label} have no output onnxgru can match (a GRU sequence output or final state)."
        )
    return results


def _last_rows(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two stacked final states (rows, N, H) where one holds only the last rows of the other (a model whose only
    state output is its last layer's): the rows both hold. Anything else is returned as it is."""
    if a.ndim == b.ndim == 3 and a.shape[1:] == b.shape[1:]:
        rows = min(a.shape[0], b.shape[0])
        return a[a.shape[0] - rows :], b[b.shape[0] - rows :]
    return a, b


def disagreement(p: PairResult, where: str = "") -> Finding:
    """GRU010 for a failed pair, saying where the error starts and how it grows."""
    if p.nonfinite:
        msg = (
            f"{p.nonfinite} ({p.output}); a GRU fed finite inputs must stay finite: check the weights and the runtime."
        )
    else:
        growth = growth_summary(p.per_step_max_abs, p.atol) if p.output == "output" else ""
        msg = (
            f"{p.a} and {p.b} disagree on {p.output}: max abs error {p.max_abs:.3g} (max rel {p.max_rel:.3g}), "
            f"beyond atol={p.atol:g}, rtol={p.rtol:g}; atol={p.required_atol:.3g} would be needed"
            + (f"; {growth}" if growth else "")
            + "."
        )
    return Finding("GRU010", "error", msg, where or f"{p.a} vs {p.b}: {p.output}")


def refused(runtime: str, model: str, detail: str) -> Finding:
    """GRU007: the runtime's own words, and what usually causes them."""
    hint = ""
    if "layout" in detail.lower() or "batch_first" in detail.lower():
        hint = (
            " ONNX Runtime's CPU GRU does not load layout=1 (batch-major) GRUs: re-export with layout=0 (time-major)."
        )
    elif "double" in detail.lower() or "float64" in detail.lower() or "tensor(double)" in detail:
        hint = " ONNX Runtime's CPU GRU has no float64 kernel: export in float32 (`onnxgru export tf --dtype float32`)."
    return Finding(
        "GRU007", "error", f"{runtime} refuses to load or run {model}: {detail}.{hint}", f"{runtime}: {model}"
    )


def discrimination(
    models: Sequence[LoadedModel],
    inputs: inp.Inputs,
    atol: float,
    rtol: float,
    known: Sequence[Outputs | None] = (),
) -> list[Finding]:
    """GRU006 when these weights and inputs could not tell a reset-before GRU from a reset-after one. ``known`` holds,
    model by model, ``reference.run_stack(m.layers, inputs.x, inputs.h0)`` where the caller has computed it already
    (a check has: its reference GRU), so the reference runs once less."""
    out: list[Finding] = []
    for i, m in enumerate(models):
        if not m.layers:
            continue
        reasons = [f"{layer.name}: {why}" for layer in m.layers if (why := layer.degenerate())]
        if reasons:
            out.append(
                Finding(
                    "GRU006",
                    "warning",
                    f"{m.role} has degenerate weights ({'; '.join(reasons)}), so every GRU formula gives the same "
                    "outputs and agreement proves nothing; test with trained or random weights.",
                    m.role,
                )
            )
            continue
        try:
            same = known[i] if i < len(known) else None
            if same is None:
                same = reference.run_stack(m.layers, inputs.x, inputs.h0)
            flipped = reference.run_stack(m.layers, inputs.x, inputs.h0, flip_linear_before_reset=True)
        except (ValueError, IndexError):
            continue  # a stack the reference cannot chain (e.g. a graph with extra layers): nothing to say
        gap, close = _flip_gap(same["output"], flipped["output"], atol, rtol)
        if close:
            out.append(
                Finding(
                    "GRU006",
                    "warning",
                    f"on these inputs, flipping linear_before_reset in {m.role} changes the outputs by only {gap:.3g}, "
                    f"within the tolerance: this test cannot tell the two GRU families apart. Use more steps "
                    "(--steps), inputs and states away from zero, or a tighter --atol.",
                    m.role,
                )
            )
    return out


def _flip_gap(a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> tuple[float, bool]:
    """``max |a - b|`` and ``np.allclose(a, b)`` for two (N, T, X) outputs, a block of steps at a time so the work
    memory is a block, not the size of the outputs."""
    if a.size == 0 or a.ndim < 2:
        return float(np.abs(a - b).max()), bool(np.allclose(a, b, atol=atol, rtol=rtol))
    block = max(1, (1 << 16) // max(a.size // a.shape[1], 1))
    gaps, close = [], True
    for t in range(0, a.shape[1], block):
        pa, pb = a[:, t : t + block], b[:, t : t + block]
        gaps.append(np.abs(pa - pb).max())
        close = close and bool(np.allclose(pa, pb, atol=atol, rtol=rtol))
    return float(np.max(gaps)), close  # np.max keeps a NaN, as the whole array's max would


# Outputs ``check_output_path`` cleared for replacing (``--force``); ``write_atomic`` replaces no other file.
_FORCED: set[str] = set()


def check_output_path(path: str | None, force: bool, sources: Sequence[str] = ()) -> Path | None:
    """Refuse, before any work, an output that would overwrite an existing file without ``--force``, write over or
    into an input (even with ``--force``), replace something that is not a regular file, or cannot be created
    (tried, not guessed: as root every permission check passes, yet /proc, /sys or a read-only mount still refuse
    the file). ``sources`` are every file the command reads: models, ``--inputs``, ``--input NAME=FILE.npy``."""
    if path is None:
        return None
    p = Path(path)
    try:
        _check_output_path(p, force, sources)
    except OSError as exc:
        raise UserError(
            f"the output {str(p)!r} cannot be written ({exc.strerror or type(exc).__name__}); choose another path."
        ) from None
    (_FORCED.add if force else _FORCED.discard)(str(p.resolve()))
    return p


def _check_output_path(p: Path, force: bool, sources: Sequence[str]) -> None:
    target = p.resolve()
    for s in sources:
        src = Path(s).resolve()
        if src.exists():  # the input itself, or a file inside an input folder (a SavedModel)
            inside = target == src or (src.is_dir() and src in target.parents)
        else:  # a TF1 checkpoint prefix: its .index, .meta and .data-* files
            inside = target.parent == src.parent and (
                target.name in (f"{src.name}.index", f"{src.name}.meta") or target.name.startswith(f"{src.name}.data-")
            )
        if inside:
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


def write_atomic(path: Path, data: bytes, overwrite: bool | None = None) -> None:
    """Write to a temporary file next to ``path``, then put it in place: an interrupted run leaves no half file.

    Only a file ``check_output_path`` cleared with ``--force`` (or ``overwrite=True``) is replaced (a rename). Any
    other output is created with a hard link of the finished file, which fails if a file of that name appeared
    while the command ran (a concurrent run writing the same report): that file is kept and this write refused."""
    if overwrite is None:
        overwrite = str(Path(path).resolve()) in _FORCED
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
