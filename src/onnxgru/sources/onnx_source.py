"""ONNX sources: read a model safely, find its GRUs (fused nodes and Loop/Scan fallbacks), bind canonical inputs.

Only onnx and numpy are imported here; a runtime runs the model (``onnxgru.runtimes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from onnxgru import limits
from onnxgru._lazy import require
from onnxgru.core import findings as F
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import Outputs
from onnxgru.core.spec import DIRECTIONS, GRUAttrs, GRULayer
from onnxgru.errors import UserError
from onnxgru.sources import onnx_sizes
from onnxgru.sources.files import existing

if TYPE_CHECKING:
    import onnx

_PASS_THROUGH = {"Identity", "Cast", "Transpose", "Squeeze", "Unsqueeze", "Reshape"}


def read_model(path: str | Path) -> onnx.ModelProto:
    """Load an ONNX file, with external data only from inside the model's folder. User errors raise UserError."""
    onnx = require("onnx", "read ONNX models")
    p = existing(path, "ONNX")
    if p.is_dir():
        raise UserError(f"{str(p)!r} is a folder, not an ONNX file; give the .onnx file inside it.")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning, ValueError... on corrupt bytes
        raise UserError(
            f"{str(p)!r} is not a readable ONNX model (it is truncated, corrupt or another format: "
            f"{type(exc).__name__}); re-export it."
        ) from None
    if not model.graph.node and not model.graph.input:
        raise UserError(f"{str(p)!r} is not an ONNX model (no graph in it); check the file.")
    _load_external_data(model, p)
    onnx_sizes.check_declared_sizes(model, str(p))
    return model


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    from onnx import external_data_helper as ext

    base = path.parent.resolve()
    tensors = [t for t in ext._get_all_tensors(model) if ext.uses_external_data(t)]
    total = 0
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        target = (base / location).resolve()
        if Path(location).is_absolute() or not target.is_relative_to(base):
            raise UserError(
                f"tensor {t.name!r} of {str(path)!r} points to external data {location!r} outside the model's folder; "
                "onnxgru refuses it for safety. Move the data next to the model."
            )
        if not target.is_file():
            raise UserError(f"tensor {t.name!r} of {str(path)!r} needs external data {location!r}, which is missing.")
        total += onnx_sizes.external_data_size(t, target, path)  # before a byte is read
    if total > limits.MEMORY_LIMIT_BYTES:
        raise UserError(
            f"{str(path)!r} declares {total:,} bytes of external data, more than onnxgru's memory limit; the model is "
            "too large to check here."
        )
    if tensors:
        try:
            ext.load_external_data_for_model(model, str(base))
        except Exception as exc:
            raise UserError(
                f"the external data of {str(path)!r} cannot be read ({exc}); re-export the model."
            ) from None


# --- GRU description ------------------------------------------------------------------------------------------
def constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Every initializer and Constant-node value of ``graph`` by name, and the values of shape-only nodes over them.

    Exporters that skip constant folding (torch.onnx without ``do_constant_folding``) feed a GRU its W and R through
    Unsqueeze/Concat/Slice of initializers; folding those few operators here lets such a model be read.
    """
    from onnx import helper

    out = {t.name: _array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            out[node.output[0]] = _array(node.attribute[0].t)
        elif node.op_type in _FOLDABLE and node.input and all(i in out for i in node.input if i):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            try:
                out[node.output[0]] = _FOLDABLE[node.op_type]([out[i] if i else None for i in node.input], attrs)
            except Exception:  # noqa: BLE001 - an odd node is simply not folded; the GRU reader then says so
                continue
    return out


def _unsqueeze(x: list, a: dict) -> np.ndarray:
    axes = a["axes"] if "axes" in a else x[1].tolist()
    out = x[0]
    for axis in sorted(int(v) % (out.ndim + len(axes)) for v in axes):
        out = np.expand_dims(out, axis)
    return out


def _slice(x: list, a: dict) -> np.ndarray:
    starts, ends = x[1], x[2]
    axes = x[3] if len(x) > 3 and x[3] is not None else np.arange(len(starts))
    steps = x[4] if len(x) > 4 and x[4] is not None else np.ones(len(starts), np.int64)
    index = [slice(None)] * x[0].ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[int(ax)] = slice(int(s), int(min(e, np.iinfo(np.int64).max)), int(st))
    return x[0][tuple(index)]


_FOLDABLE = {
    "Identity": lambda x, a: x[0],
    "Unsqueeze": _unsqueeze,
    "Squeeze": lambda x, a: np.squeeze(x[0], axis=tuple(a.get("axes", x[1].tolist() if len(x) > 1 else ())) or None),
    "Concat": lambda x, a: np.concatenate(x, axis=a["axis"]),
    "Transpose": lambda x, a: np.transpose(x[0], a.get("perm")),
    "Reshape": lambda x, a: np.reshape(x[0], [d if d != 0 else x[0].shape[i] for i, d in enumerate(x[1].tolist())]),
    "Slice": _slice,
    "Gather": lambda x, a: np.take(x[0], x[1], axis=a.get("axis", 0)),
}


def _array(tensor: onnx.TensorProto) -> np.ndarray:
    from onnx import numpy_helper

    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:  # data that does not fit its declared shape or type
        raise UserError(
            f"tensor {tensor.name!r} in the model is corrupt ({type(exc).__name__}: {str(exc)[:80]}); re-export it."
        ) from None


def gru_attrs(node: onnx.NodeProto, input_size: int) -> GRUAttrs:
    """The node's attributes with the schema's defaults filled in."""
    from onnx import helper

    a = {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}

    def text(v: object) -> str:
        if not isinstance(v, bytes):
            return str(v)
        try:
            return v.decode()
        except UnicodeDecodeError:
            raise UserError(
                f"GRU node {node.name!r} has an attribute that is not text ({v!r}); the model is corrupt."
            ) from None

    direction = text(a.get("direction", "forward"))
    if direction not in DIRECTIONS:
        raise UserError(f"GRU node {node.name!r} has direction {direction!r}; ONNX allows {list(DIRECTIONS)}.")
    if "hidden_size" not in a:
        raise UserError(f"GRU node {node.name!r} has no hidden_size attribute; it is not a valid ONNX GRU.")
    try:
        return GRUAttrs(
            hidden_size=int(a["hidden_size"]),
            input_size=input_size,
            direction=direction,
            linear_before_reset=int(a.get("linear_before_reset", 0)),
            layout=int(a.get("layout", 0)),
            activations=tuple(text(v) for v in a.get("activations", ())),
            activation_alpha=tuple(float(v) for v in a.get("activation_alpha", ())),
            activation_beta=tuple(float(v) for v in a.get("activation_beta", ())),
            clip=float(a["clip"]) if "clip" in a else None,
        )
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"GRU node {node.name!r} has an attribute of the wrong type ({exc}); the model is invalid."
        ) from None


def node_name(node: onnx.NodeProto) -> str:
    """The node's name (or its first output's) as text: protobuf hands back bytes when a corrupt file's name is not
    UTF-8."""
    name = node.name or (node.output[0] if node.output else "")
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)


def gru_layer(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> GRULayer:
    """One fused GRU node as a canonical layer. Its W, R (and B) must be constants."""
    name = node_name(node)
    inputs = list(node.input) + [""] * 6
    missing = [n for n, i in (("W", 1), ("R", 2)) if inputs[i] not in consts]
    if missing:
        raise UserError(
            f"GRU node {name!r} takes {' and '.join(missing)} from a computation, not a constant; onnxgru can only "
            "read GRUs whose weights are stored in the model (fold constants first, e.g. with onnxsim)."
        )
    W, R = consts[inputs[1]], consts[inputs[2]]
    if W.ndim != 3 or R.ndim != 3:
        raise UserError(f"GRU node {name!r} has W of shape {W.shape} and R of shape {R.shape}; both must have rank 3.")
    attrs = gru_attrs(node, int(W.shape[2]))
    d, h = attrs.num_directions, attrs.hidden_size
    B = consts.get(inputs[3]) if inputs[3] else None
    B = np.zeros((d, 6 * h), W.dtype) if B is None else B
    if W.shape != (d, 3 * h, W.shape[2]) or R.shape != (d, 3 * h, h) or B.shape != (d, 6 * h):
        raise UserError(
            f"GRU node {name!r} has W {W.shape}, R {R.shape}, B {B.shape}, which do not fit hidden_size={h} and "
            f"direction={attrs.direction!r}; the model is invalid."
        )
    detail = "fused ONNX GRU node"
    if inputs[4] and inputs[4] not in consts:
        detail += " with sequence_lens"
    written = sorted(str(a.name) for a in node.attribute)
    return GRULayer(name=name, attrs=attrs, W=W, R=R, B=B, fused=True, detail=detail, extra={"written": written})


def _looks_recurrent(graph: onnx.GraphProto) -> bool:
    ops = {n.op_type for n in graph.node}
    # Sigmoid gates and a matrix product; the candidate activation may be any (tf2onnx writes Relu6 as Clip).
    return "Sigmoid" in ops and bool(ops & {"MatMul", "Gemm"})


@dataclass
class GRUScan:
    """What a walk over the graph found."""

    layers: list[GRULayer] = field(default_factory=list)
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    findings: list[F.Finding] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)  # GRU nodes no graph output depends on: not layers


def _subgraph_names(node: onnx.NodeProto) -> list[str]:
    """Every name the subgraphs of ``node`` (a Loop, Scan or If body) read, at any depth: a body may read values
    of the graph around it without naming them as inputs."""
    out, todo = [], [a.g for a in node.attribute if a.g.node] + [g for a in node.attribute for g in a.graphs]
    while todo:
        g = todo.pop()
        for n in g.node:
            out += list(n.input)
            todo += [a.g for a in n.attribute if a.g.node] + [sub for a in n.attribute for sub in a.graphs]
    return out


def live_nodes(graph: onnx.GraphProto) -> set[int]:
    """The index of every node some graph output depends on; iterative, so a chain of any length is no recursion."""
    nodes = list(graph.node)
    producer = {out: k for k, node in enumerate(nodes) for out in node.output if out}
    todo = [o.name for o in graph.output]
    seen_names: set[str] = set()
    live: set[int] = set()
    while todo:
        name = todo.pop()
        if name in seen_names:
            continue
        seen_names.add(name)
        k = producer.get(name)
        if k is None or k in live:
            continue
        live.add(k)
        node = nodes[k]
        todo += [i for i in node.input if i]
        if node.op_type in ("Loop", "Scan", "If"):
            todo += _subgraph_names(node)
    return live


def find_grus(model: onnx.ModelProto) -> GRUScan:
    """Every fused GRU node an output depends on, in order, and every Loop/Scan that computes a GRU-like recurrence
    (GRU005). A GRU node no output depends on is not a layer: it is named as unused (GRU011)."""
    from onnxgru.sources import onnx_loops

    graph = model.graph
    consts = constants(graph)
    scan = GRUScan()
    live = live_nodes(graph)
    for k, node in enumerate(graph.node):
        if node.op_type == "GRU" and node.domain in ("", "ai.onnx") and k not in live:
            scan.unused.append(node_name(node))
            continue
        if node.op_type == "GRU" and node.domain in ("", "ai.onnx"):
            scan.layers.append(gru_layer(node, consts))
            scan.nodes.append(node)
        elif node.op_type in ("Loop", "Scan"):
            body = next((a.g for a in node.attribute if a.name == "body"), None)
            if body is None or not _looks_recurrent(body):
                continue
            where = node_name(node)
            found = onnx_loops.recognise_all(node, body, consts)
            for layer in found:  # a MultiRNNCell loop holds several cells
                scan.layers.append(layer)
                scan.nodes.append(node)
            how = f"a {node.op_type} over the time steps ({found[0].detail if found else 'weights not recognised'})"
            scan.findings.append(F.no_fused_node(where, how))
    if not scan.layers and not scan.findings and _looks_recurrent(graph):
        scan.findings.append(F.no_fused_node("graph", "unrolled cells (MatMul/Sigmoid/Tanh per step)"))
    if scan.unused:
        names = ", ".join(repr(n) for n in scan.unused[:5]) + (", ..." if len(scan.unused) > 5 else "")
        scan.findings.append(F.Finding(
            "GRU011", "warning",
            f"{len(scan.unused)} GRU node(s) ({names}) compute nothing any output of the model depends on: they are "
            "not layers of the model, so onnxgru neither describes nor compares them. Remove them, or make the "
            "output that should use them depend on them.",
            "graph",
        ))
    return scan


# --- Binding canonical inputs and outputs -------------------------------------------------------------------------
@dataclass
class GraphInput:
    name: str
    dtype: np.dtype
    shape: tuple  # ints or None / symbolic names


def graph_inputs(model: onnx.ModelProto) -> list[GraphInput]:
    from onnx import helper

    inits = {t.name for t in model.graph.initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)) if tt.elem_type else np.dtype(np.float32)
        except (KeyError, TypeError, ValueError):
            raise UserError(
                f"model input {vi.name!r} has an unknown element type {tt.elem_type}; the model is corrupt."
            ) from None
        shape = (
            tuple((d.dim_value if d.HasField("dim_value") else (d.dim_param or None)) for d in tt.shape.dim)
            if tt.HasField("shape")
            else ()
        )
        out.append(GraphInput(vi.name, dtype, shape))
    return out


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """The nodes that read each name, among those an output depends on (a dead branch is no path for the data)."""
    out: dict[str, list] = {}
    live = live_nodes(graph)
    for k, node in enumerate(graph.node):
        if k not in live:
            continue
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def _trace(graph: onnx.GraphProto, start: str) -> tuple[onnx.NodeProto | None, int, list[int]]:
    """Follow ``start`` through shape-only nodes to the first node that computes; return it, the input slot it
    arrives at, and the composed axis permutation of Transposes on the way (rank-3 only)."""
    consumers = _consumers(graph)
    perm = [0, 1, 2]
    name = start
    for _ in range(32):
        nxt = consumers.get(name, [])
        if not nxt:
            return None, -1, perm
        node = nxt[0]
        if node.op_type in _PASS_THROUGH:
            if node.op_type == "Transpose":
                p = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
                if p and sorted(p) == [0, 1, 2]:
                    perm = [perm[i] for i in p]
            name = node.output[0]
            continue
        return node, list(node.input).index(name), perm
    return None, -1, perm


@dataclass
class OnnxBinding:
    """How canonical ``Inputs`` become this graph's feeds and its outputs become canonical ``Outputs``."""

    sequence: GraphInput
    time_major: bool
    state_inputs: list[tuple[GraphInput, int, int]]  # (input, first canonical state row, rows)
    lens_input: GraphInput | None
    fixed: dict[str, np.ndarray]
    output_names: list[str]
    state_rows: int
    hidden_size: int | None
    layer_dirs: list[int]
    layer_layouts: list[int]

    @property
    def dtype(self) -> np.dtype:
        return self.sequence.dtype

    def feeds(self, inputs: Inputs) -> dict[str, np.ndarray]:
        x = inputs.x.astype(self.dtype, copy=False)
        feeds = {self.sequence.name: np.ascontiguousarray(x.transpose(1, 0, 2)) if self.time_major else x}
        for gi, row, rows in self.state_inputs:
            h0 = _state_slice(inputs, row, rows, len(gi.shape), self.hidden_size)
            feeds[gi.name] = h0.astype(gi.dtype, copy=False)
        if self.lens_input is not None:
            feeds[self.lens_input.name] = np.full(inputs.batch, inputs.steps, dtype=self.lens_input.dtype)
        for k, v in self.fixed.items():
            feeds[k] = v
        return feeds

    def canonical(self, values: list[np.ndarray], inputs: Inputs) -> Outputs:
        """Name the outputs: the sequence output as (N, T, D*H), final states stacked as (L*D, N, H)."""
        n, t = inputs.batch, inputs.steps
        out: Outputs = {}
        states: list[np.ndarray] = []
        for name, v in zip(self.output_names, values):
            v = np.asarray(v)
            seq = self._as_sequence(v, n, t)
            if seq is not None and "output" not in out:
                out["output"] = seq
                continue
            st = self._as_state(v, n)
            if st is not None:
                states.append(st)
                continue
            out[name] = v
        if states and sum(s.shape[0] for s in states) in (self.state_rows, states[-1].shape[0]):
            out["state"] = np.concatenate(states, axis=0)
        elif states:
            out["state"] = states[-1]
        return out

    def _as_sequence(self, v: np.ndarray, n: int, t: int) -> np.ndarray | None:
        if v.ndim == 4:
            if v.shape[0] == t and v.shape[2] == n and self._last_layout() == 0:  # GRU Y, layout 0: (T, D, N, H)
                return v.transpose(2, 0, 1, 3).reshape(n, t, -1)
            if v.shape[:2] == (n, t):  # layout 1: (N, T, D, H)
                return v.reshape(n, t, -1)
            if v.shape[0] == t and v.shape[2] == n:
                return v.transpose(2, 0, 1, 3).reshape(n, t, -1)
            return None
        if v.ndim == 3 and t != 1:
            if self.time_major and v.shape[:2] == (t, n):
                return v.transpose(1, 0, 2)
            if v.shape[:2] == (n, t):
                return v
            if v.shape[:2] == (t, n):
                return v.transpose(1, 0, 2)
        return None

    def _as_state(self, v: np.ndarray, n: int) -> np.ndarray | None:
        if self.hidden_size is None or v.ndim == 0 or v.shape[-1] != self.hidden_size:
            return None
        if v.ndim == 2 and v.shape[0] == n:
            return v[None]
        if v.ndim == 3 and v.shape[1] == n:
            return v
        if v.ndim == 3 and v.shape[0] == n:  # layout 1 Y_h: (N, D, H)
            return v.transpose(1, 0, 2)
        return None

    def _last_layout(self) -> int:
        return self.layer_layouts[-1] if self.layer_layouts else 0


def _state_slice(inputs: Inputs, row: int, rows: int, rank: int, hidden: int | None) -> np.ndarray:
    """Rows ``row:row+rows`` of the canonical h0 (zeros when the inputs carry none), as (N, H) for rank 2."""
    if inputs.h0 is None:
        h0 = np.zeros((rows, inputs.batch, hidden or 1), dtype=inputs.x.dtype)
    else:
        h0 = inputs.h0[row : row + rows]
    return h0[0] if rank == 2 else h0


def bind(
    model: onnx.ModelProto, scan: GRUScan, fixed: dict[str, np.ndarray] | None = None, time_major: bool | None = None
) -> OnnxBinding:
    """Work out which graph input is the sequence, which carry initial states, and which need a fixed value."""
    fixed = dict(fixed or {})
    gis = graph_inputs(model)
    unknown = sorted(set(fixed) - {g.name for g in gis})
    if unknown:
        names = ", ".join(repr(g.name) for g in gis)
        raise UserError(f"--input names {unknown} are not inputs of the model; its inputs are {names}.")
    free = [g for g in gis if g.name not in fixed]
    floats = [g for g in free if np.issubdtype(g.dtype, np.floating)]
    seq_candidates = [g for g in floats if len(g.shape) == 3]
    gru_nodes = {id(n): i for i, n in enumerate(scan.nodes)}
    sequence = None
    tm = False
    for g in seq_candidates:
        node, slot, perm = _trace(model.graph, g.name)
        if node is not None and id(node) in gru_nodes and slot == 0:
            sequence = g
            layout = scan.layers[gru_nodes[id(node)]].attrs.layout
            tm = (perm == [0, 1, 2]) == (layout == 0)
            break
        if node is not None and node.op_type in ("Scan", "Loop") or perm == [1, 0, 2]:
            sequence = g
            tm = node is not None and node.op_type == "Scan" and perm == [0, 1, 2]
            break
    if sequence is None:
        if not seq_candidates:
            names = ", ".join(f"{g.name!r} {g.shape}" for g in free) or "none"
            raise UserError(
                f"the model has no rank-3 floating-point input to feed a sequence to (free inputs: {names}); "
                "fix other inputs with --input NAME=VALUE."
            )
        sequence = seq_candidates[0]
    if time_major is not None:
        tm = time_major
    hidden = scan.layers[-1].attrs.hidden_size if scan.layers else None
    states: list[tuple[GraphInput, int, int]] = []
    next_row = 0
    lens = None
    rows_before = np.cumsum([0] + [layer.attrs.num_directions for layer in scan.layers]).tolist()
    for g in free:
        if g is sequence:
            continue
        if np.issubdtype(g.dtype, np.integer) and len(g.shape) == 1:
            lens = g
            continue
        if np.issubdtype(g.dtype, np.floating) and len(g.shape) in (2, 3):
            node, slot, _ = _trace(model.graph, g.name)
            layer_index = gru_nodes.get(id(node)) if node is not None and slot == 5 else None
            row = rows_before[layer_index] if layer_index is not None else next_row
            rows = 1 if len(g.shape) == 2 else (g.shape[0] if isinstance(g.shape[0], int) and g.shape[0] > 0 else 1)
            states.append((g, row, rows))
            next_row = max(next_row, row + rows)
            continue
        raise UserError(
            f"the model input {g.name!r} (shape {g.shape}, {g.dtype}) is neither the sequence nor a state; "
            f"give its value with --input {g.name}=VALUE (for example keep_prob=1.0)."
        )
    return OnnxBinding(
        sequence=sequence,
        time_major=tm,
        state_inputs=states,
        lens_input=lens,
        fixed=fixed,
        output_names=[o.name for o in model.graph.output],
        state_rows=sum(layer.attrs.num_directions for layer in scan.layers),
        hidden_size=hidden,
        layer_dirs=[layer.attrs.num_directions for layer in scan.layers],
        layer_layouts=[layer.attrs.layout for layer in scan.layers],
    )


def input_size_of(binding: OnnxBinding, scan: GRUScan) -> int:
    last = binding.sequence.shape[-1] if binding.sequence.shape else None
    if isinstance(last, int) and last > 0:
        return last
    if scan.layers:
        return scan.layers[0].attrs.input_size
    raise UserError(
        f"the feature size of input {binding.sequence.name!r} is not fixed in the model and no GRU node gives it; "
        "give the inputs with --inputs FILE.npz."
    )
