"""One set of inputs for every model of a check, made to fit all their signatures.

Data inputs are matched by position: their fixed dims are honoured (steps, features, batch), integer ids that feed
an embedding are drawn inside its vocabulary, and models that disagree on what they take are refused with one
sentence. Feeds with no natural value (``keep_prob``, a training flag) must be given with ``--input`` unless the
graph defaults them; all that are missing are named in one message. ``--inputs FILE.npz`` takes arrays by the
models' own input names (``x`` and ``h0`` also work: the sequence batch-major, the initial state as
``(layers*directions, batch, hidden)`` or, for one layer, TensorFlow's ``(batch, hidden)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from onnxgru.core import inputs as inp
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel
from onnxgru.core.signature import Port, port_to_canonical, state_from_port
from onnxgru.errors import UserError
from onnxgru.files import existing
from onnxgru.verify.settings import Settings


@dataclass(frozen=True, eq=False)
class Given:
    """Arrays given by the models' input names, and where from: ``--inputs FILE.npz``, or the inputs a golden file
    was made with (``check --against``)."""

    arrays: dict[str, np.ndarray]
    flag: str  # how a message names them: "--inputs 'in.npz'"
    how: str  # how the report says where the inputs came from


def make_inputs(
    models: Sequence[LoadedModel], settings: Settings, fixed: dict[str, np.ndarray] | None = None,
    given_arrays: Given | None = None,
) -> Inputs:
    """The same inputs for every model: the user's ``--inputs`` file (or ``given_arrays``) and ``--input`` values,
    the rest generated."""
    named = {k: np.asarray(v) for m in models for k, v in m.fixed.items()}
    named.update({k: np.asarray(v) for k, v in (fixed or {}).items()})
    given: dict[int, np.ndarray] = {}
    h0 = lens = None
    source = ""
    if given_arrays is None and settings.inputs_file:
        given_arrays = Given(read_npz(settings.inputs_file), f"--inputs {settings.inputs_file!r}",
                             f"from {settings.inputs_file}")
    flag = given_arrays.flag if given_arrays else "--input"
    if given_arrays:
        source = given_arrays.how
        given, h0, lens, extra = _by_name(given_arrays.arrays, models, given_arrays.flag)
        named.update(extra)
    _refuse_missing_feeds(models, named)
    ports = _data_ports(models)
    for k, column in enumerate(ports):  # a data input given with --input NAME=FILE.npy is not drawn
        by_name = next(((v, p) for _, p in column if (v := inp.given_for(p.name, named)) is not None), None)
        if k not in given and by_name is not None:
            given[k] = port_to_canonical(np.asarray(by_name[0]), by_name[1])
    rng = np.random.default_rng(settings.seed)
    batch = _batch(ports, given, settings, models)
    data, said, steps = [], [], 0
    for k, column in enumerate(ports):
        port = _unified(column)
        shape = _shape(column, batch, settings, k) if k not in given else []
        if k in given:
            value = np.asarray(given[k])
            _check_given(value, column, port, flag)
        else:
            outputs = max([(m.hidden_size or 0) * m.state_rows for m in models], default=0)  # the GRUs' outputs
            inp.check_sizes(batch, shape[1] if len(shape) > 1 else 1,
                            max(int(np.prod(shape[2:], dtype=np.int64)), outputs))
            value = inp.draw(rng, tuple(shape), np.dtype(port.dtype), port.vocab, port.low)
            said.append(inp.describe_draw(port, tuple(shape)))
        if k == 0 and port.time_axis is not None and value.ndim > 1:
            steps = int(value.shape[1])
        data.append(value)
    h0, state_said = _state(models, batch, h0, rng, flag)
    said += state_said
    generated = f"generated: numpy default_rng({settings.seed}): " + "; ".join(said) if said else ""
    how = ", ".join(filter(None, [source, generated]))
    defaults = [f"{p.name} = {np.asarray(p.default).tolist()} (the graph's default)" for m in models
                for p in m.signature.inputs
                if p.role == "feed" and inp.given_for(p.name, named) is None and p.default is not None]
    fixed_said = [f"{k} = {v.tolist() if v.size <= 4 else f'array {v.shape}'} (given)" for k, v in named.items()]
    takes_lengths = [p.name for m in models for p in m.signature.by_role("lengths") if p.name not in named]
    if takes_lengths and lens is None:  # what core.inputs.feeds gives a lengths input nobody set: every step
        fixed_said.append(f"{takes_lengths[0]} = {max(steps, 1)} for every row (every step valid)")
    how = "; ".join(filter(None, [how, *fixed_said, *dict.fromkeys(defaults)]))
    seed = None if not said else settings.seed
    return Inputs(tuple(data), h0, seed, how or "no inputs", steps, lens, named)


# --- data inputs ----------------------------------------------------------------------------------------------
def _data_ports(models: Sequence[LoadedModel]) -> list[list[tuple[LoadedModel, Port]]]:
    """The data inputs, position by position across the models; a UserError when they do not line up."""
    lists = [(m, m.signature.data) for m in models]
    counts = {len(d) for _, d in lists}
    if len(counts) > 1:
        said = "; ".join(f"{m.role} takes {', '.join(_said(p) for p in d) or 'nothing'}" for m, d in lists)
        raise UserError(f"the models take different inputs ({said}); they cannot run on the same inputs.")
    columns = [[(m, d[k]) for m, d in lists] for k in range(counts.pop() if counts else 0)]
    for column in columns:
        kinds = {bool(p.vocab) or np.dtype(p.dtype).kind in "iub" for _, p in column}
        ranks = {len(_canonical_dims(p)) for _, p in column if p.shape is not None}
        if len(kinds) > 1 or len(ranks) > 1:
            said = "; ".join(f"{m.role} takes {_said(p)}" for m, p in column)
            raise UserError(f"the models take different inputs ({said}); they cannot run on the same inputs.")
    return columns


def _said(p: Port) -> str:
    shape = "?" if p.shape is None else "(" + ", ".join("None" if d is None else str(d) for d in p.shape) + ")"
    return f"{p.name} {p.dtype} {shape}"


def _canonical_dims(p: Port) -> list[int | None]:
    """The port's dims in canonical order: batch, time, then the rest."""
    shape = list(p.shape or ())
    lead = [a for a in (p.batch_axis, p.time_axis) if a is not None and a < len(shape)]
    return [shape[a] for a in lead] + [d for a, d in enumerate(shape) if a not in lead]


def _unified(column: list[tuple[LoadedModel, Port]]) -> Port:
    """One port standing for all: the first one's dtype and axes, the smallest vocabulary, the largest padding id."""
    first = column[0][1]
    vocabs = [p.vocab for _, p in column if p.vocab]
    return first.with_(vocab=min(vocabs) if vocabs else None, low=max(p.low for _, p in column))


def _fixed(column: list[tuple[LoadedModel, Port]], axis: int) -> int | None:
    sizes: dict[str, int] = {}
    for m, p in column:
        dims = _canonical_dims(p)
        if axis < len(dims) and isinstance(size := dims[axis], int) and size > 0:
            sizes[m.role] = size
    if len(set(sizes.values())) > 1:
        said = ", ".join(f"{r}: {s}" for r, s in sizes.items())
        raise UserError(f"the models fix different sizes for the same input axis ({said}); they cannot run on the "
                        "same inputs.")
    return next(iter(sizes.values()), None)


def _batch(ports: list, given: dict[int, np.ndarray], settings: Settings,
           models: Sequence[LoadedModel] = ()) -> int:
    """The batch: a given input's, else the one the models fix (on a data input, or on a state: a graph fixing its
    batch at 50 gets 50 rows everywhere), else ``--shape``'s, else ``--batch``."""
    fixed = {f for column in ports if (f := _fixed(column, 0)) is not None}
    fixed |= {rows for m in models for p in m.signature.by_role("state")
              if p.shape and len(p.shape) >= 2 and isinstance(rows := p.shape[1 if p.state_form == "DNH" else 0], int)
              and rows > 0}
    if not fixed:
        fixed = {settings.shapes[p.name][0] for column in ports for _, p in column if p.name in settings.shapes}
    if given:
        return int(np.asarray(next(iter(given.values()))).shape[0]) if np.ndim(next(iter(given.values()))) else 1
    if len(fixed) > 1:
        raise UserError(f"the model's inputs fix different batch sizes {sorted(fixed)}; give inputs with --inputs.")
    return fixed.pop() if fixed else settings.batch


def _shape(column: list[tuple[LoadedModel, Port]], batch: int, settings: Settings, k: int) -> list[int]:
    port = column[0][1]
    named = next((settings.shapes[p.name] for _, p in column if p.name in settings.shapes), None)
    if named is not None:  # --shape NAME=DIMS, in the model's own axis order
        fixed = [_fixed(column, a) for a in range(len(named))] if port.shape and len(port.shape) == len(named) else []
        if port.shape is not None and len(port.shape) != len(named):
            raise UserError(f"--shape {port.name}={'x'.join(map(str, named))} has rank {len(named)} but the model "
                            f"input is {_said(port)}; give {len(port.shape)} sizes.")
        canon = list(named) if port.shape is None else _canonical_dims(port.with_(shape=named))
        clash = [(a, d, f) for a, (d, f) in enumerate(zip(canon, fixed)) if f is not None and d != f]
        if clash:
            raise UserError(f"--shape {port.name} asks {clash[0][1]} on an axis the model fixes at {clash[0][2]}.")
        return [batch, *canon[1:]]
    if port.shape is None:
        return [batch, settings.steps, column[0][0].input_size] if column[0][0].input_size else [batch, settings.steps]
    rank = len(port.shape)
    has_time = port.time_axis is not None and port.time_axis < rank
    out = [batch] if rank else []
    for axis in range(1, rank):
        size = _fixed(column, axis)
        if size is None and axis == 1 and has_time:
            size = settings.steps
        if size is None:
            raise UserError(
                f"axis {axis} of the model input {port.name!r} ({_said(port)}) has no fixed size and onnxgru cannot "
                "tell what it should be; give the inputs with --inputs FILE.npz."
            )
        out.append(size)
    return out


def _check_given(value: np.ndarray, column: list[tuple[LoadedModel, Port]], port: Port, flag: str) -> None:
    rank = len(_canonical_dims(port)) if port.shape is not None else value.ndim
    dims = [None if a == 0 else _fixed(column, a) for a in range(rank)]
    words = ["batch", "steps" if port.time_axis is not None else "features"] + ["features"] * max(rank - 2, 0)
    wanted = [w if d is None else (f"{d} {w}" if w != "batch" else str(d)) for d, w in zip(dims, words)]
    if value.ndim != rank or any(d is not None and value.shape[a] != d for a, d in enumerate(dims)):
        said = "(" + ", ".join(wanted) + ")"
        raise UserError(f"{flag} gives {port.name!r} of shape {value.shape} but the model takes rank "
                        f"{rank}: {said}, batch first; reshape it.")
    if np.dtype(port.dtype).kind == "f" and not port.vocab and not np.issubdtype(value.dtype, np.floating):
        raise UserError(f"{flag} gives {port.name!r} as {value.dtype}, but the model takes floating point values.")
    if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
        raise UserError(f"the given {port.name} contains NaN or Inf; give finite inputs.")
    if port.vocab and value.size and (value.min() < 0 or value.max() >= port.vocab):
        raise UserError(f"{flag} gives ids for {port.name!r} outside the embedding's vocabulary "
                        f"0..{port.vocab - 1}.")
    inp.check_sizes(value.shape[0] if value.ndim else 1, value.shape[1] if value.ndim > 1 else 1,
                    int(np.prod(value.shape[2:], dtype=np.int64)))


# --- the initial state -----------------------------------------------------------------------------------------
def _state(models: Sequence[LoadedModel], batch: int, given: np.ndarray | None, rng: np.random.Generator,
           flag: str) -> tuple[np.ndarray | None, list[str]]:
    with_layers = [m for m in models if m.layers]
    rows = {m.state_rows for m in with_layers}
    hidden = {m.hidden_size for m in with_layers}
    uniform = all(len({la.attrs.hidden_size for la in m.layers}) == 1 for m in with_layers)
    feed = bool(with_layers) and all(m.accepts_h0 for m in with_layers) and len(rows) == len(hidden) == 1 and uniform
    if given is not None:
        if not np.issubdtype(given.dtype, np.floating):
            raise UserError(f"the given h0 must be floating point, got dtype {given.dtype}.")
        if not np.all(np.isfinite(given)):
            raise UserError("the given h0 contains NaN or Inf; give finite inputs.")
        if not feed:
            takes = [m.role for m in with_layers if not m.accepts_h0]
            raise UserError(f"{flag} gives h0, but {', '.join(takes) or 'the models'} take(s) no initial state "
                            "(or not the same one); remove h0 from the file.")
        expected = (rows.pop(), batch, hidden.pop())
        if given.ndim == 2 and expected[0] == 1:
            given = given[None]
        if given.shape != expected:
            raise UserError(
                f"{flag} gives h0 of shape {given.shape} but the model's initial state is {expected} "
                "(layers*directions, batch, hidden); for one layer (batch, hidden) works too."
            )
        return given, []
    if not feed:
        return None, []
    dtype = np.float64 if all(m.dtype == "float64" for m in with_layers) else np.float32
    size = hidden.pop()
    assert size is not None  # models with layers have a hidden size
    h0 = inp.draw_state(rng, rows.pop(), batch, size, np.dtype(dtype))
    return h0, [f"initial state ~ U(-0.9, 0.9) of shape {h0.shape}"]


# --- feeds with no natural value --------------------------------------------------------------------------------
def _refuse_missing_feeds(models: Sequence[LoadedModel], named: dict[str, np.ndarray]) -> None:
    missing: dict[str, Port] = {}
    for m in models:
        for p in m.signature.inputs:
            if p.role == "feed" and inp.given_for(p.name, named) is None and p.default is None and not p.optional:
                missing.setdefault(p.name, p)
    if missing:
        said = ", ".join(_said(p) + (f" [{p.note}]" if p.note else "") for p in missing.values())
        example = " ".join(f"--input {n}=VALUE" for n in missing)
        raise UserError(
            f"the model input(s) {said} have no natural value; give them with {example} (for example "
            "keep_prob=1.0, training=0), or in --inputs FILE.npz by name."
        )


# --- --inputs FILE.npz -------------------------------------------------------------------------------------------
def _by_name(arrays: dict[str, np.ndarray], models: Sequence[LoadedModel], flag: str) -> tuple:
    """Arrays of an ``--inputs`` file by what they are: data by position (canonical), the initial state, lengths,
    and fixed feeds by name (a TensorFlow input named with or without its ``:0``)."""
    data: dict[int, np.ndarray] = {}
    h0 = lens = None
    named: dict[str, np.ndarray] = {}
    known = []
    for key, value in arrays.items():
        if key == "x":
            data[0] = value
            continue
        if key == "h0":
            h0 = np.asarray(value)
            continue
        hit = next(((m, p) for m in models for p in m.signature.inputs
                    if p.name in (key, f"{key}:0", key.removesuffix(":0"))), None)
        if hit is None:
            known = sorted({p.name for m in models for p in m.signature.inputs})
            raise UserError(f"{flag} holds {key!r}, which is not an input of the model(s); their inputs "
                            f"are {', '.join(repr(n) for n in known)}: name each array after the input it feeds (the "
                            "sequence may be named 'x', the initial state 'h0').")
        m, p = hit
        if p.role == "data":
            data[m.signature.data.index(p)] = port_to_canonical(np.asarray(value), p)
        elif p.role == "state":
            part = state_from_port(np.asarray(value), p)
            h0 = part if h0 is None else np.concatenate([h0, part])
        elif p.role == "lengths":
            lens = np.asarray(value).astype(np.int64)
        else:
            named[p.name] = np.asarray(value)
    if not data:
        raise UserError(f"{flag} holds no data input; name the arrays after the model's inputs (the "
                        "sequence may be named 'x').")
    return data, h0, lens, named


def by_name(model: LoadedModel, inputs: Inputs) -> dict[str, np.ndarray]:
    """The inputs as ``model`` was fed them, by its input names: what ``--inputs`` reads back to the same inputs
    (``--save-inputs``). The names ``x`` and ``h0`` hold the canonical form there (batch-major; every row of the
    stack's state), so a model input of that name is saved in that form; a value given for another model's input
    (``--input NAME=VALUE``) is kept by its name."""
    out = inp.feeds(model.signature, inputs)
    data, states = model.signature.data, model.signature.by_role("state")
    if "x" in out and data and data[0].name == "x":
        out["x"] = np.asarray(inputs.data[0]).astype(data[0].dtype, copy=False)
    if "h0" in out and inputs.h0 is not None and [p.name for p in states] == ["h0"] and model.accepts_h0:
        out["h0"] = inputs.h0.astype(states[0].dtype, copy=False)
    taken = {k for p in model.signature.inputs for k in (p.name, f"{p.name}:0", p.name.split(":")[0])}
    out.update({k: np.asarray(v) for k, v in inputs.named.items() if k not in taken})
    return out


def read_npz(path: str, flag: str = "--inputs") -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` file (``flag`` names it in a message), bounded before any is decompressed; no
    pickles."""
    p = existing(path, flag)
    try:
        with np.load(p, allow_pickle=False) as data:
            _check_stored_sizes(p, data, flag)
            return {k: data[k] for k in data.files}
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"{flag} {str(p)!r} is not a readable .npz file ({type(exc).__name__}); save it with numpy.savez."
        ) from None


def _check_stored_sizes(path: Path, data: np.lib.npyio.NpzFile, flag: str) -> None:
    """Refuse an archive whose arrays would be absurdly large, from their headers (values and bytes: a void dtype
    ``|V1073741824`` makes one value a gigabyte) and the zip's declared sizes, before decompressing any; and one that
    holds pickled Python objects, which would run code to load."""
    archive = data.zip
    assert archive is not None  # np.load of a .npz keeps its zip open
    members = set(archive.namelist())
    for name in data.files:
        member = archive.getinfo(f"{name}.npy" if f"{name}.npy" in members else name)
        with archive.open(member) as f:
            shape, dtype = inp.npy_header(f)  # type: ignore[arg-type]  # a zip member reads as a binary file
        if dtype.hasobject:
            raise UserError(f"{flag} {str(path)!r} holds {name!r} as pickled Python objects, which onnxgru does not "
                            "load; save plain numeric arrays.")
        values = int(np.prod(shape, dtype=object))
        size = max(values * dtype.itemsize, member.file_size)
        if values > inp.MAX_ELEMENTS or size > inp.MAX_BYTES:
            raise UserError(
                f"{flag} {str(path)!r} holds {name!r} of shape {shape} and dtype {dtype.str}, more than "
                f"{inp.MAX_ELEMENTS:,} values or {inp.MAX_BYTES:,} bytes; give smaller inputs."
            )
