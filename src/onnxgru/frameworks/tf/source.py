"""TensorFlow and Keras sources as ``LoadedModel``s: GRU layers in canonical form and a native TensorFlow run.

Graph sources (frozen ``.pb``, TF1 checkpoint, SavedModel) run in a ``tf.compat.v1.Session`` on their frozen
GraphDef; Keras files run eagerly through ``model(x)``. Either way ``run`` takes canonical ``Inputs`` and returns
``{"output": (N, T, D*H), "state": (L*D, N, H)}`` (plus any other output under its own name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru import limits
from onnxgru.core.findings import Finding, code_ran
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel, Outputs
from onnxgru.core.spec import GRULayer
from onnxgru.errors import UserError
from onnxgru.frameworks.tf import cells, graph, keras

if TYPE_CHECKING:
    from onnxgru.sources.load import LoadOptions


@dataclass
class Roles:
    """Which graph input is what: the sequence, initial states (canonical row order), lengths, fixed feeds."""

    sequence: graph.Feed
    states: list[graph.Feed] = field(default_factory=list)
    lens: graph.Feed | None = None
    fixed: dict[str, np.ndarray] = field(default_factory=dict)
    missing: list[graph.Feed] = field(default_factory=list)


def load(path: Path, role: str, options: LoadOptions, kind: str = "tf") -> LoadedModel:
    """Read a TensorFlow graph source or a Keras file."""
    if kind == "keras" or (keras.is_saved_model(path) and not options.input_names):
        # A Keras file, or a Keras 2 SavedModel: its layers are known to Keras, which reads them exactly.
        km = keras.load_model(Path(path), options.trust_code)
        return _from_keras(km, path, role, options, kind=kind)
    return _load_graph(path, role, options)


# --- graphs -----------------------------------------------------------------------------------------------------
def _load_graph(path: Path, role: str, options: LoadOptions) -> LoadedModel:
    tfg = graph.load(
        path, options.input_names, options.output_names, trust_code=options.trust_code, time_limit=options.time_limit
    )
    layers, unused = _live_cells(tfg)
    layers = layers or _layers_via_onnx(tfg, options)
    if not layers:
        raise UserError(
            f"{str(path)!r} contains no GRU (no TF1 GRUCell and no GRU-like loop); give a model with a GRU."
        )
    roles = _roles(tfg, layers, options)
    time_major = options.time_major if options.time_major is not None else _time_major(tfg, roles.sequence)
    dtype = roles.sequence.dtype
    rows = sum(layer.attrs.num_directions for layer in layers)
    model = LoadedModel(
        role=role, path=str(path), kind="tf", layers=tuple(layers), input_size=_input_size(roles.sequence, layers),
        accepts_h0=len(roles.states) == rows, dtype=str(dtype), time_major=time_major,
        extra={"graph": tfg, "roles": roles, "origin": tfg.origin},
    )
    if unused:
        model.findings.append(Finding(
            "GRU011", "warning",
            f"{len(unused)} GRUCell(s) ({', '.join(map(repr, unused[:5]))}) compute nothing the graph's outputs "
            "depend on: they are not layers of the model, so onnxgru neither describes nor compares them.",
            str(path),
        ))
    if options.trust_code:
        model.findings.append(code_ran(str(path), "--trust-code: the graph's ops were not checked against onnxgru's "
                                       "allowlist of inference ops, and it ran as the file says"))
    session = None

    def raw(inputs: Inputs) -> list[np.ndarray]:
        nonlocal session
        if roles.missing:
            g = roles.missing[0]
            raise UserError(
                f"the graph input {graph.op_name(g.name)!r} (shape {g.shape}, {g.dtype}) is neither the sequence nor "
                f"a state; give its value with --input {graph.op_name(g.name)}=VALUE (for example keep_prob=1.0)."
            )
        session = session or tfg.session()
        return session(_graph_feeds(roles, inputs, time_major, model.hidden_size or 1))

    model.run = lambda inputs: canonical(raw(inputs), tfg.outputs, inputs, layers, time_major)
    model.extra["raw_run"] = raw
    return model


def _live_cells(tfg: graph.TFGraph) -> tuple[list[GRULayer], list[str]]:
    """The GRUCells the outputs depend on (the graph holds nothing else once loaded), and the scopes of those the
    loader left out because nothing the outputs need reaches them."""
    layers = cells.find(tfg.graph_def)
    names = {layer.name for layer in layers}
    return layers, [s for s in tfg.unused if s not in names]


def _layers_via_onnx(tfg: graph.TFGraph, options: LoadOptions) -> list[GRULayer]:
    """GRUs that are not TF1 GRUCell variables (Keras layers in a SavedModel): tf2onnx's conversion, recognised."""
    from onnxgru.frameworks.tf import convert
    from onnxgru.sources import onnx_source

    try:
        proto = convert.without_grappler(tfg, opset=None)
    except Exception:  # tf2onnx cannot convert it: then onnxgru cannot describe it either
        return []
    return onnx_source.find_grus(proto).layers


def _roles(tfg: graph.TFGraph, layers: list[GRULayer], options: LoadOptions) -> Roles:
    fixed = {graph.tensor_name(k): v for k, v in options.fixed.items()}
    names = {f.name for f in tfg.inputs}
    unknown = sorted(graph.op_name(k) for k in fixed if k not in names)
    if unknown:
        raise UserError(
            f"--input names {unknown} are not inputs of the graph; its inputs are "
            f"{', '.join(repr(graph.op_name(f.name)) for f in tfg.inputs)}."
        )
    free = [f for f in tfg.inputs if f.name not in fixed]
    seq = free[0] if options.input_names else next(
        (f for f in free if np.issubdtype(f.dtype, np.floating) and f.rank in (3, None)), None
    )
    if seq is None:
        raise UserError(
            "the graph has no free rank-3 floating-point input for the sequence; name it with --input-names."
        )
    roles = Roles(seq, fixed={k: v for k, v in fixed.items()})
    hidden = {layer.attrs.hidden_size for layer in layers}
    for f in free:
        if f is seq:
            continue
        if np.issubdtype(f.dtype, np.integer) and f.rank == 1 and roles.lens is None:
            roles.lens = f
        elif np.issubdtype(f.dtype, np.floating) and f.rank == 2 and (f.shape[-1] in hidden or f.shape[-1] is None):
            roles.states.append(f)
        else:
            roles.missing.append(f)
    rows = sum(layer.attrs.num_directions for layer in layers)
    if roles.states and len(roles.states) != rows:
        # States that do not line up with the layers cannot take canonical h0 rows: the user must fix them.
        roles.missing += roles.states
        roles.states = []
    return roles


def _time_major(tfg: graph.TFGraph, seq: graph.Feed) -> bool:
    """dynamic_rnn and Keras transpose a batch-major input to time-major first; a time-major graph does not."""
    consumers: dict[str, list[Any]] = {}
    nodes = {n.name: n for n in tfg.graph_def.node}
    for n in tfg.graph_def.node:
        for i in n.input:
            consumers.setdefault(graph.op_name(i), []).append(n)
    from tensorflow.python.framework import tensor_util

    todo, seen = [graph.op_name(seq.name)], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for c in consumers.get(name, []):
            if c.op == "Identity":
                todo.append(c.name)
            elif c.op == "Transpose":
                perm = nodes.get(graph.op_name(c.input[1]))
                if perm is not None and perm.op == "Const":
                    if list(tensor_util.MakeNdarray(perm.attr["value"].tensor))[:2] == [1, 0]:
                        return False
            elif c.op == "Unpack":
                return int(c.attr["axis"].i) == 0
            elif c.op in ("TensorArrayScatterV3", "TensorListFromTensor"):
                return True
    return False


def _input_size(seq: graph.Feed, layers: list[GRULayer]) -> int:
    last = seq.shape[-1] if seq.shape else None
    return int(last) if isinstance(last, int) and last > 0 else layers[0].attrs.input_size


def _graph_feeds(roles: Roles, inputs: Inputs, time_major: bool, hidden: int) -> dict[str, np.ndarray]:
    x = inputs.x.astype(roles.sequence.dtype, copy=False)
    feeds = {roles.sequence.name: np.ascontiguousarray(x.transpose(1, 0, 2)) if time_major else x}
    for row, f in enumerate(roles.states):
        h = inputs.h0[row] if inputs.h0 is not None else np.zeros((inputs.batch, hidden), f.dtype)
        feeds[f.name] = h.astype(f.dtype, copy=False)
    if roles.lens is not None:
        feeds[roles.lens.name] = np.full(inputs.batch, inputs.steps, roles.lens.dtype)
    for name, value in roles.fixed.items():
        feeds[name] = value
    return feeds


# --- outputs ----------------------------------------------------------------------------------------------------
def canonical(
    values: list[np.ndarray], names: list[str], inputs: Inputs, layers: list[GRULayer] | tuple, time_major: bool
) -> Outputs:
    """Name outputs by shape, as the ONNX binding does: a sequence (N, T, X) is ``output``, states (N, H) or
    (rows, N, H) stack into ``state``; anything else keeps its own name."""
    n, t = inputs.batch, inputs.steps
    hidden = layers[-1].attrs.hidden_size if layers else None
    rows = sum(layer.attrs.num_directions for layer in layers)
    out: Outputs = {}
    states: list[np.ndarray] = []
    for name, v in zip(names, values):
        v = np.asarray(v)
        if v.ndim == 3 and t != 1 and "output" not in out:
            if time_major and v.shape[:2] == (t, n):
                out["output"] = v.transpose(1, 0, 2)
                continue
            if v.shape[:2] == (n, t):
                out["output"] = v
                continue
        if hidden is not None and v.ndim and v.shape[-1] == hidden:
            if v.ndim == 2 and v.shape[0] == n:
                states.append(v[None])
                continue
            if v.ndim == 3 and v.shape[1] == n:
                states.append(v)
                continue
        out[name] = v
    if states:
        total = sum(s.shape[0] for s in states)
        out["state"] = np.concatenate(states, axis=0) if total in (rows, states[-1].shape[0]) else states[-1]
    return out


# --- Keras ------------------------------------------------------------------------------------------------------
def _from_keras(km: keras.KerasModel, path: Path, role: str, options: LoadOptions, kind: str) -> LoadedModel:
    layers = keras.gru_layers(km)
    if not layers:
        raise UserError(f"{str(path)!r} contains no GRU layer; give a model with a keras.layers.GRU.")
    ins, outs = keras.io_specs(km)
    seq = ins[0]
    rows = sum(layer.attrs.num_directions for layer in layers)
    extra_ins = ins[1:]
    accepts_h0 = len(extra_ins) == rows and all(len(s) == 2 for _, s, _ in extra_ins)
    if extra_ins and not accepts_h0:
        raise UserError(
            f"{str(path)!r} takes {len(ins)} inputs; onnxgru runs Keras models whose only inputs are the sequence "
            "and, optionally, one initial state per GRU direction."
        )
    time_major = bool(options.time_major)
    last = seq[1][-1] if seq[1] else None
    model = LoadedModel(
        role=role, path=str(path), kind=kind, layers=tuple(layers),
        input_size=int(last) if isinstance(last, int) else layers[0].attrs.input_size,
        accepts_h0=accepts_h0, dtype=str(seq[2]), time_major=time_major,
        extra={"keras": km, "output_names": outs},
    )

    def raw(inputs: Inputs) -> list[np.ndarray]:
        x = inputs.x.astype(seq[2], copy=False)
        feeds = [np.ascontiguousarray(x.transpose(1, 0, 2)) if time_major else x]
        if accepts_h0:
            h0 = inputs.h0 if inputs.h0 is not None else np.zeros((rows, inputs.batch, model.hidden_size), seq[2])
            feeds += [h0[r].astype(seq[2], copy=False) for r in range(rows)]
        return keras.run(km, feeds)

    model.run = limits.timed(lambda inputs: canonical(raw(inputs), outs, inputs, layers, time_major),
                             options.time_limit, f"Keras running {str(path)!r}")
    model.extra["raw_run"] = raw
    return model
