"""PyTorch sources as ``LoadedModel``s that run whole: TorchScript (scripted or traced), ExportedProgram ``.pt2``,
state dicts, pickled modules.

- TorchScript runs its own ``forward``; its GRU calls are tapped in the graph (``script``).
- An ExportedProgram runs ``ep.module()`` through a ``torch.fx.Interpreter`` that keeps every ``aten.gru`` call's
  values.
- A state dict holds weights, not code: onnxgru rebuilds its ``nn.GRU``s and runs them chained, and says so when the
  file holds other parameters it cannot run (GRU011).
- A pickled module (``--trust-pickle``) runs its ``forward`` with forward hooks on its GRU modules.

Nothing from a file runs code by default (``safety``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru import limits, screens
from onnxgru._lazy import require
from onnxgru.core import findings as F
from onnxgru.core import inputs as inp
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel, Run, batch_major
from onnxgru.core.signature import Port, Signature
from onnxgru.core.spec import GRULayer
from onnxgru.core.taps import Tap
from onnxgru.errors import UserError
from onnxgru.files import existing
from onnxgru.frameworks.torch import discover, screen, script
from onnxgru.frameworks.torch.build import is_gru_param
from onnxgru.frameworks.torch.safety import file_format, first_line, load_exported_program, load_pickle

if TYPE_CHECKING:
    from onnxgru.frameworks.torch.discover import Site
    from onnxgru.sources.load import LoadOptions
    from torch import nn


@dataclass(eq=False)
class TorchHandle:
    """What running and exporting the source need: the callable module and how its GRUs are found."""

    form: str  # "torchscript" | "exported_program" | "state_dict" | "module"
    module: Any  # the module to call (ep.module() for an ExportedProgram, a chain of sites for a state dict)
    sites: list[Site] = field(default_factory=list)
    program: Any = None
    script: Any = None  # script.ScriptInfo for TorchScript


def _flatten(obj: Mapping, prefix: str = "") -> dict:
    """Nested dicts of tensors (``{"model": {"gru.weight_ih_l0": ...}}``) as one dotted-name dict; iterative, as a
    file may nest its dicts as deep as it likes."""
    torch = require("torch")
    out: dict = {}
    stack = [(prefix, iter(obj.items()))]  # depth first, in the file's order
    while stack:
        head, items = stack[-1]
        for k, v in items:
            name = f"{head}{k}"
            if isinstance(v, torch.Tensor):
                out[name] = v
            elif isinstance(v, Mapping):
                stack.append((name + ".", iter(v.items())))
                break
        else:
            stack.pop()
    return out


def load(path: Path, role: str, options: LoadOptions, kind: str = "torch") -> LoadedModel:
    """Read a PyTorch source. Only the suffixes of ``onnxgru.sources.load.TORCH_SUFFIXES`` reach here."""
    torch = require("torch", "read PyTorch models")
    p = existing(path, "PyTorch")
    fmt = file_format(p)
    ran = ""
    if fmt == "torchscript":
        if not options.trust_code and screens.on():
            screen.screen_archive(p)  # before torch.jit.load, which runs the archive's __setstate__
        ran = (
            "this TorchScript file's code runs when it loads (__setstate__) and when it runs (forward), "
            + ("unscreened (--trust-code)" if options.trust_code else "after onnxgru screened it: allowlisted tensor "
               "ops only")
        )
        try:
            module = torch.jit.load(str(p), map_location="cpu")
        except Exception as exc:
            raise UserError(f"{str(p)!r} is not a loadable TorchScript file ({first_line(exc)}).") from None
        model = from_script(module, str(p), role)
    elif fmt == "exported_program":
        model = _from_program(load_exported_program(p, options.trust_pickle), str(p), role)
    else:
        obj = load_pickle(p, options.trust_pickle)
        if isinstance(obj, torch.nn.Module):
            ran = "the pickled module was unpickled with --trust-pickle, which runs code from the file"
            model = from_eager(obj, str(p), role)
        elif isinstance(obj, Mapping):
            model = _from_state_dict(_flatten(obj), str(p), role, bool(options.batch_first))
        else:
            raise UserError(
                f"{str(p)!r} holds a {type(obj).__name__}, not a state dict or a module; save model.state_dict()."
            )
    assert model.runner is not None
    model.runner = limits.timed(model.runner, options.time_limit, f"the PyTorch model {str(p)!r}")
    model.code_ran = ran
    return model


def _no_gru(path: str, cells: list[str], others: list[str]) -> UserError:
    hint = (
        f"; it has nn.GRUCell {', '.join(cells)}, which Python code steps by hand: put its weights in an nn.GRU "
        "(same names with _l0) to check it" if cells else ""
    )
    other = f"; it has {', '.join(others)}: onnxgru checks GRUs" if others else ""
    return UserError(f"{path!r} contains no GRU (no nn.GRU and no onnxgru exact GRU){hint}{other}; give a model with "
                     "a GRU.")


def _other_rnns(module: Any) -> list[str]:
    out = []
    for name, m in module.named_modules():
        cls = getattr(m, "original_name", None) or type(m).__name__
        if cls in ("LSTM", "RNN", "LSTMCell", "RNNCell"):
            out.append(f"{cls} {name or 'module'!r}")
    return out


# --- TorchScript --------------------------------------------------------------------------------------------------
def from_script(module: Any, path: str, role: str) -> LoadedModel:

    info = script.analyse(module)
    forward = script.forward_of(module)
    if not info.calls:
        raise _no_gru(path, discover.gru_cells(module), _other_rnns(module))
    layers, firsts = _layers(info.calls)
    ports = info.ports
    if discover.is_converted(module):  # onnxgru's own converted module: its interface is documented
        ports = _converted_ports(module, layers)
    signature = Signature(tuple(ports), ())
    torch = require("torch")
    fn = torch._C._create_function_from_graph("onnxgru_tapped", info.graph) if info.tap_values else None
    handle = TorchHandle("torchscript", module, script=info)
    time_major = bool(signature.data) and signature.data[0].time_axis == 0

    def call(args: list[Any], tapped: bool) -> tuple[Any, list[Tap]]:
        if not tapped or fn is None:
            return forward(*args), []
        count = len(forward.schema.arguments) - 1
        out = fn(module._c, *args, *[None] * (count - len(args)))  # the tapped graph has no defaults
        values: dict[int, dict[str, Any]] = {}
        for (k, what), v in zip(info.tap_values, out[1:]):
            values.setdefault(k, {})[what] = v
        return out[0], [_tap(info.calls[k], firsts[k], got) for k, got in sorted(values.items())]

    model = LoadedModel(role=role, path=path, kind="torch", layers=tuple(layers), signature=signature,
                        dtype=_dtype(layers), time_major=time_major, handle=handle, form="TorchScript",
                        untapped=tuple(info.untapped))
    model.runner = _runner(call, signature, time_major)
    return model


def _converted_ports(module: Any, layers: list[GRULayer]) -> list[Port]:
    rows = sum(la.attrs.num_directions for la in layers)
    tm = bool(module.time_major)
    x = Port("x", _dtype(layers), (None, None, layers[0].attrs.input_size), batch_axis=1 if tm else 0,
             time_axis=0 if tm else 1)
    # lengths: a module written around the exact GRU for a source that reads sequence lengths (not an nn.GRU's)
    args = [a.name for a in module.forward.schema.arguments]
    exact_inside = "GRUStack" in str(module.gru._c._type()) if hasattr(module, "gru") else False
    lengths = [Port("lengths", "int64", (None,), role="lengths", batch_axis=0, time_axis=None, optional=True)] if (
        "lengths" in args and exact_inside) else []
    if not hasattr(module, "squeeze_state"):  # ConvertedGRUCells: a list of states, one per layer
        return [x, Port("h0", _dtype(layers), None, role="feed", optional=True,
                        note="a list of per-layer states, (N, H_k) each; not fed by onnxgru"), *lengths]
    squeeze = bool(module.squeeze_state)
    h0 = Port("h0", _dtype(layers), (None, layers[-1].attrs.hidden_size) if squeeze else
              (rows, None, layers[-1].attrs.hidden_size), role="state", rows=(0, rows),
              state_form="NH" if squeeze else "DNH", batch_axis=None, time_axis=None, optional=True)
    return [x, h0, *lengths]


def _layers(calls: list) -> tuple[list[GRULayer], list[int]]:
    layers: list[GRULayer] = []
    firsts: list[int] = []
    for c in calls:
        firsts.append(len(layers))
        layers += c.layers
    return layers, firsts


def _tap(call: Any, first: int, got: dict[str, Any]) -> Tap:
    """A GRU call's values (torch's layout) as a canonical tap."""
    def arr(v: Any) -> np.ndarray | None:
        return None if v is None else v.detach().cpu().numpy()

    X, Y = arr(got.get("X")), arr(got.get("Y"))
    if call.kind == "aten::gru_cell":  # one step: (N, I) -> (N, H), as a sequence of one
        hx, h = arr(got.get("hx")), arr(got.get("h_n"))
        assert X is not None  # the tapper records every call's input
        return Tap(first, 1, np.ascontiguousarray(X[:, None]), (None if hx is None else hx[None],),
                   None if Y is None else np.ascontiguousarray(Y[:, None]), (None if h is None else h[None],), None,
                   f"nn.GRUCell {call.path or 'cell'!r}")
    if not call.batch_first:
        X = None if X is None else X.transpose(1, 0, 2)
        Y = None if Y is None else Y.transpose(1, 0, 2)
    if Y is not None and call.layers[-1].output_reversed:
        Y = Y[:, ::-1]  # the stack gave its last layer's steps as read (Keras go_backwards): in input order again
    bounds = np.cumsum([0] + [la.attrs.num_directions for la in call.layers])

    def per_layer(v: Any) -> tuple:
        if isinstance(v, list | tuple):  # forward_cells: one state per layer already
            return tuple(arr(x) for x in v) if len(v) == len(call.layers) else (None,) * len(call.layers)
        a = arr(v)
        return tuple(None if a is None else a[s:e] for s, e in zip(bounds, bounds[1:]))

    return Tap(first, len(call.layers), np.ascontiguousarray(X), per_layer(got.get("hx")), None if Y is None else
               np.ascontiguousarray(Y), per_layer(got.get("h_n")), None, f"{call.kind} {call.path or 'gru'!r}")


def _dtype(layers: list[GRULayer]) -> str:
    return str(layers[0].W.dtype) if layers else "float32"


# --- running --------------------------------------------------------------------------------------------------------
def _runner(call: Callable, signature: Signature, time_major: bool):  # noqa: ANN202
    torch = require("torch")

    def run(inputs: Inputs, tapped: bool = True) -> Run:
        feeds = inp.feeds(signature, inputs)
        args = [torch.from_numpy(np.ascontiguousarray(feeds[p.name])) if p.name in feeds else None
                for p in signature.inputs]
        while args and args[-1] is None:
            args.pop()
        with torch.no_grad():
            out, taps = call(args, tapped)
        own = {name: value for name, value in _named(out)}
        return Run(batch_major(own, inputs) if time_major else own, tuple(taps))

    return run


def _named(out: Any) -> list[tuple[str, np.ndarray]]:
    """A module's output (a tensor, or tuples/lists/dicts of them) as named arrays."""
    torch = require("torch")
    flat: list[tuple[str, Any]] = []

    def walk(v: Any, name: str) -> None:
        if isinstance(v, torch.Tensor):
            flat.append((name, v.detach().cpu().numpy()))
        elif isinstance(v, tuple | list):
            for k, item in enumerate(v):
                walk(item, f"{name}{k}" if name == "output" else f"{name}.{k}")
        elif isinstance(v, Mapping):
            for k, item in v.items():
                walk(item, str(k))

    walk(out, "output")
    return flat


# --- ExportedProgram ------------------------------------------------------------------------------------------------
def _from_program(ep: Any, path: str, role: str) -> LoadedModel:
    torch = require("torch")
    from onnxgru.frameworks.torch import discover

    sites, nodes = discover.sites_of_exported_program(ep, with_nodes=True)
    if not sites:
        raise _no_gru(path, [], [])
    layers = [la for s in sites for la in s.layers]
    firsts = np.cumsum([0] + [len(s.layers) for s in sites]).tolist()
    signature = Signature(tuple(_program_ports(ep, sites, nodes)), ())
    gm = ep.module()
    time_major = bool(signature.data) and signature.data[0].time_axis == 0

    class Tapper(torch.fx.Interpreter):  # type: ignore[name-defined]  # torch comes from require()
        def __init__(self) -> None:
            super().__init__(gm)
            self.taps: dict[str, Any] = {}

        def run_node(self, n: Any) -> Any:
            result = super().run_node(n)
            if n.op == "call_function" and "aten.gru" in str(n.target):
                args = self.fetch_args_kwargs_from_env(n)[0]
                self.taps[n.name] = (args[0], args[1], result[0], result[1])
            return result

    by_name = {n: k for k, n in enumerate(nodes)}

    def call(args: list[Any], tapped: bool) -> tuple[Any, list[Tap]]:
        if not tapped:
            return gm(*args), []
        t = Tapper()
        out = t.run(*args)
        found = []
        for name, (x, hx, y, h_n) in t.taps.items():
            k = by_name.get(name)
            if k is not None:
                site = sites[k]
                call_info = _Call(site.layers, site.batch_first, "aten.gru", site.name)
                found.append(_tap(call_info, firsts[k], {"X": x, "hx": hx, "Y": y, "h_n": h_n}))
        return out, found

    handle = TorchHandle("exported_program", gm, sites, program=ep)
    model = LoadedModel(role=role, path=path, kind="torch", layers=tuple(layers), signature=signature,
                        dtype=_dtype(layers), time_major=time_major, handle=handle, form="ExportedProgram")
    model.runner = _runner(call, signature, time_major)
    return model


@dataclass
class _Call:
    layers: list[GRULayer]
    batch_first: bool
    kind: str
    path: str


def _program_ports(ep: Any, sites: list, nodes: list[str]) -> list[Port]:
    """The user inputs of the program with their fake tensors' dtypes and dims; roles from their consumers."""
    sig = ep.graph_signature
    user = [s.arg.name for s in sig.input_specs if str(s.kind).endswith("USER_INPUT")]
    params = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    state = {**ep.state_dict, **getattr(ep, "constants", {})}
    graph_nodes = {n.name: n for n in ep.graph.nodes}
    rows_before = np.cumsum([0] + [sum(la.attrs.num_directions for la in s.layers) for s in sites]).tolist()
    ports = []
    for name in user:
        node = graph_nodes[name]
        val = node.meta.get("val")
        shape = tuple(int(d) if str(d).isdigit() else None for d in val.shape) if val is not None else None
        dtype = str(val.dtype).replace("torch.", "") if val is not None else "float32"
        port = Port(name, dtype, shape)
        use = next(iter(node.users), None)
        while use is not None and "dropout" in str(use.target):
            use = next(iter(use.users), None)
        if use is not None and "aten.embedding" in str(use.target):
            table = state.get(params.get(use.args[0].name, ""), None)
            port = port.with_(vocab=int(table.shape[0]) if table is not None else None)
        elif use is not None and "aten.gru" in str(use.target) and use.name in nodes:
            k = nodes.index(use.name)
            if use.args[1] is node or (isinstance(use.args[1], list) and node in use.args[1]):
                rows = sum(la.attrs.num_directions for la in sites[k].layers)
                port = port.with_(role="state", rows=(rows_before[k], rows), batch_axis=None, time_axis=None)
            elif not sites[k].batch_first:
                port = port.with_(batch_axis=1, time_axis=0)
        if port.role == "data" and (port.rank or 0) < 2 + (0 if port.vocab else 1):
            port = port.with_(time_axis=None)
        ports.append(port)
    return ports


# --- state dicts ----------------------------------------------------------------------------------------------------
def _from_state_dict(flat: dict, path: str, role: str, batch_first: bool) -> LoadedModel:
    from onnxgru.frameworks.torch import discover

    sites = discover.sites_of_state_dict(flat, batch_first)
    if not sites:
        raise _no_gru(path, discover.gru_cells(flat), [])

    torch = require("torch")
    half = sorted({str(v.dtype).replace("torch.", "") for v in flat.values() if v.dtype in (torch.float16,
                                                                                              torch.bfloat16)})
    form = "state dict" + (" (batch_first)" if batch_first else "")
    form += f"; its {'/'.join(half)} weights are read and run in float32" if half else ""
    model = _from_sites(sites, path, role, form)
    rest = sorted(k for k in flat if not is_gru_param(k))
    if rest:
        model.findings.append(_partial_state_dict(model.place, rest, [s.name for s in sites]))
    return model


def _partial_state_dict(role: str, rest: list[str], grus: list[str]) -> Any:

    shown = ", ".join(rest[:4]) + (f" and {len(rest) - 4} more" if len(rest) > 4 else "")
    return F.partial(role, f"{role} is a state dict: it holds weights but not the model's code, so onnxgru ran its "
                     f"GRUs ({', '.join(grus)}) chained, not the whole model; its other parameters ({shown}) were not "
                     "run. Save the model as TorchScript (torch.jit.script or torch.jit.trace) or an ExportedProgram "
                     "to check it whole.")


def _from_sites(sites: list[Site], path: str, role: str, form: str) -> LoadedModel:
    """GRU modules chained as one model: ``(x, h0=None) -> (output, h_n)``, as a bare GRU stack is used."""
    layers = [la for s in sites for la in s.layers]
    rows = sum(la.attrs.num_directions for la in layers)
    hidden = {la.attrs.hidden_size for la in layers}
    tm = not sites[0].batch_first
    dtype = _dtype(layers)
    ports = [Port("input", dtype, (None, None, layers[0].attrs.input_size), batch_axis=1 if tm else 0,
                  time_axis=0 if tm else 1)]
    if len(hidden) == 1:
        ports.append(Port("h0", dtype, (rows, None, hidden.pop()), role="state", rows=(0, rows), batch_axis=None,
                          time_axis=None, optional=True))
    firsts = np.cumsum([0] + [len(s.layers) for s in sites]).tolist()

    def call(args: list[Any], tapped: bool) -> tuple[Any, list[Tap]]:
        x, h0 = args[0], (args[1] if len(args) > 1 else None)
        states, found, row = [], [], 0
        for k, site in enumerate(sites):
            d = sum(la.attrs.num_directions for la in site.layers)
            h = None if h0 is None else h0[row : row + d]
            row += d
            xin = x if site.batch_first == sites[0].batch_first else x.transpose(0, 1)
            y, h_n = site(xin.to(next(site.module.parameters()).dtype), h)
            if tapped:
                found.append(_tap(_Call(site.layers, site.batch_first, "nn.GRU", site.name), firsts[k],
                                  {"X": xin, "hx": h, "Y": y, "h_n": h_n}))
            x = y if site.batch_first == sites[0].batch_first else y.transpose(0, 1)
            states.append(h_n)
        torch = require("torch")
        same = len({s.shape[-1] for s in states}) == 1
        return (x, torch.cat(states, 0) if same else states[-1]), found

    handle = TorchHandle("state_dict", None, sites)
    model = LoadedModel(role=role, path=path, kind="torch", layers=tuple(layers), signature=Signature(tuple(ports)),
                        dtype=dtype, time_major=tm, handle=handle, form=form)
    model.runner = _runner(call, model.signature, tm)
    return model


# --- eager modules ----------------------------------------------------------------------------------------------------
def from_eager(module: nn.Module, path: str, role: str, form: str = "pickled module") -> LoadedModel:
    """An eager module (a trusted pickle, or one in memory): its ``forward`` whole, GRUs tapped with forward hooks."""
    from onnxgru.frameworks.torch import discover

    sites = discover.sites_of_module(module)
    if not sites:
        raise _no_gru(path, discover.gru_cells(module), _other_rnns(module))
    if len(sites) == 1 and sites[0].module is module:
        return _from_sites(sites, path, role, form)
    layers = [la for s in sites for la in s.layers]
    firsts = np.cumsum([0] + [len(s.layers) for s in sites]).tolist()
    params = [p for p in inspect.signature(module.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    first_child: Any = next(iter(module.children()), None)
    ports = []
    for k, p in enumerate(params):
        optional = p.default is not inspect.Parameter.empty
        if k == 0 and type(first_child).__name__ == "Embedding":
            bf = sites[0].batch_first
            ports.append(Port(p.name, "int64", (None, None), vocab=int(first_child.num_embeddings),
                              batch_axis=0 if bf else 1, time_axis=1 if bf else 0))
        elif k == 0:
            bf = sites[0].batch_first
            ports.append(Port(p.name, "float32", (None, None, layers[0].attrs.input_size),
                              batch_axis=0 if bf else 1, time_axis=1 if bf else 0))
        else:
            ports.append(Port(p.name, "float32", None, role="feed", optional=optional, note="not read by onnxgru"))
    signature = Signature(tuple(ports))
    by_module = {id(s.module): (k, s) for k, s in enumerate(sites)}

    def call(args: list[Any], tapped: bool) -> tuple[Any, list[Tap]]:
        found: list[Tap] = []

        def hook(m: Any, a: tuple, out: Any) -> None:
            k, site = by_module[id(m)]
            hx = a[1] if len(a) > 1 else None
            found.append(_tap(_Call(site.layers, site.batch_first, "nn.GRU", site.name), firsts[k],
                              {"X": a[0], "hx": hx, "Y": out[0], "h_n": out[1]}))

        handles = [s.module.register_forward_hook(hook) for s in sites] if tapped else []
        try:
            return module(*args), found
        finally:
            for h in handles:
                h.remove()

    handle = TorchHandle("module", module, sites)
    tm = bool(signature.data) and signature.data[0].time_axis == 0
    model = LoadedModel(role=role, path=path, kind="torch", layers=tuple(layers), signature=signature,
                        dtype=_dtype(layers), time_major=tm, handle=handle, form=form)
    model.runner = _runner(call, signature, tm)
    return model
