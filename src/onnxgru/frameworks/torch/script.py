"""A TorchScript module (scripted or traced) read from its ``forward`` graph: its GRU calls, its interface, taps.

- GRU calls: every ``aten::gru`` of the inlined graph (an ``nn.GRU``; its weights are the module attributes the call
  reads, its sizes the call's constants), and every top-level call of onnxgru's exact ``GRUStack``. Only what
  ``forward`` calls is a layer, in the order it is called.
- The interface: ``forward``'s arguments; each argument's dtype and dims come from what reads it (an
  ``aten::embedding`` reads ids: its table gives the vocabulary; a GRU reads its input sequence or initial state;
  a linear layer reads its ``in_features``).
- Taps: the graph's return becomes ``(its own output, X, h0, Y, h_n of every GRU call...)`` and is turned back into a
  callable (``torch._C._create_function_from_graph``): the model runs once, whole, and its GRUs' values come back
  beside its output (measured on torch 2.13; the output is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru._lazy import require
from onnxgru.core.signature import Port
from onnxgru.core.spec import GRULayer
from onnxgru.errors import UserError
from onnxgru.frameworks.torch import build
from onnxgru.frameworks.torch.discover import _tensor_forward, gru_param_names

if TYPE_CHECKING:
    from torch import nn

_THROUGH = {"aten::dropout", "aten::contiguous", "aten::to", "aten::float", "aten::detach", "aten::clone",
            "aten::feature_dropout", "aten::alpha_dropout"}


@dataclass
class Call:
    """One GRU call of the graph."""

    kind: str  # "aten::gru" | "aten::gru_cell" (an nn.GRUCell: one step) | "GRUStack"
    path: str  # the module path of the GRU ("encoder.gru")
    layers: list[GRULayer]
    batch_first: bool
    values: dict[str, Any] = field(default_factory=dict)  # "X", "hx", "Y", "h_n" -> torch._C.Value (inlined graph)
    # nn.GRU's parameter names (weight_ih_l0, ...; an nn.GRUCell's as its layer 0) -> the tensors the call reads, which
    # share their storage with the module's parameters (empty for a GRUStack, which holds the canonical form)
    weights: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScriptInfo:
    calls: list[Call]
    ports: list[Port]
    graph: Any  # the inlined graph with the taps appended to its return
    tap_values: list[tuple[int, str]]  # (call index, "X" | "hx" | "Y" | "h_n") for each appended value
    untapped: list[str] = field(default_factory=list)


def forward_of(module: Any) -> Any:
    """The module's ``forward`` on tensors: a scripted ``nn.GRU`` has only its overloads (``forward__0`` takes a
    Tensor, ``forward__1`` a PackedSequence)."""

    return _tensor_forward(module) if "forward" not in module._c._method_names() else module.forward


def _resolve(value: Any, root: nn.Module) -> Any:
    """The Python object a graph value stands for when it is a chain of ``prim::GetAttr`` from ``self`` (or a list of
    them, or a constant); None otherwise."""
    node = value.node()
    kind = node.kind()
    if kind == "prim::Param":
        return root if value.offset() == 0 else None
    if kind == "prim::GetAttr":
        owner = _resolve(node.input(), root)
        return None if owner is None else getattr(owner, node.s("name"), None)
    if kind == "prim::ListConstruct":
        items = [_resolve(v, root) for v in node.inputs()]
        return None if any(i is None for i in items) else items
    if kind == "prim::Constant":
        return value.toIValue()
    return None


def _path(value: Any) -> str:
    """The attribute path of a module value from ``self`` (``encoder.gru``), '' when it is not one."""
    parts = []
    node = value.node()
    while node.kind() == "prim::GetAttr":
        parts.append(node.s("name"))
        node = node.input().node()
    return ".".join(reversed(parts)) if node.kind() == "prim::Param" else ""


def _module_path(params: Any) -> str:
    """The GRU module an ``aten::gru`` params list belongs to: the owner of ``_flat_weights`` or of its first weight."""
    node = params.node()
    if node.kind() == "prim::GetAttr":
        return _path(node.input())
    if node.kind() == "prim::ListConstruct":
        first = next(iter(node.inputs()), None)
        if first is not None and first.node().kind() == "prim::GetAttr":
            return _path(first.node().input())
    return ""


def _constant(value: Any) -> Any:
    return value.toIValue() if value.node().kind() == "prim::Constant" else None


def analyse(module: nn.Module) -> ScriptInfo:
    """The GRU calls, interface and tapped graph of a loaded TorchScript module."""
    torch = require("torch")
    graph = forward_of(module).graph.copy()
    calls: list[Call] = []
    # onnxgru's exact GRUStack, called from forward itself: its call site survives until inlining
    for node in list(graph.nodes()):
        if node.kind() != "prim::CallMethod" or node.s("name") not in (
                "forward", "forward_cells", "forward_lengths", "forward_cells_lengths"):
            continue
        target = node.inputsAt(0)
        if "GRUStack" not in str(target.type()):
            continue
        path = _path(target)
        stack = _resolve(target, module)
        if stack is None:
            continue
        unpack = next((u.user for u in node.output().uses() if u.user.kind() == "prim::TupleUnpack"), None)
        values = {"X": node.inputsAt(1)}
        if node.inputsSize() > 2 and not _is_none(node.inputsAt(2)):
            values["hx"] = node.inputsAt(2)
        if unpack is not None:
            values["Y"], values["h_n"] = list(unpack.outputs())[:2]
        calls.append(Call("GRUStack", path, build.layers_from_stack(stack, path or "gru"),
                          bool(getattr(stack, "batch_first", False)), values))
    stack_args = {}  # forward's argument index -> (call index, "X" | "hx"), for arguments a GRUStack takes as they are
    for k, c in enumerate(calls):
        for what in ("X", "hx"):
            v = c.values.get(what)
            if v is not None and v.node().kind() == "prim::Param":
                stack_args[v.offset()] = (k, what)
    pending = [(c, list(c.values.items())) for c in calls]
    tap_values: list[tuple[int, str]] = []
    appended = []
    for k, (_, items) in enumerate(pending):
        for what, v in items:
            tap_values.append((k, what))
            appended.append(v)
    ret = graph.return_node()
    original = ret.inputsAt(0)
    if appended:
        _append_to_return(torch, graph, original, appended)
        original = ret.inputsAt(0)
    torch._C._jit_pass_inline(graph)
    # nn.GRU calls, wherever they sit in the module tree
    extra, untapped = [], []
    for node in graph.findAllNodes("aten::gru"):
        inputs = list(node.inputs())
        if len(inputs) != 9 or inputs[2].type().kind() != "ListType":
            untapped.append("an aten::gru call on a PackedSequence (variable lengths): not read")
            continue
        has_biases, num_layers, _, _, bidirectional, batch_first = (_constant(v) for v in inputs[3:9])
        weights = _resolve(inputs[2], module)
        path = _module_path(inputs[2]) or f"gru{len(calls)}"
        if weights is None or None in (has_biases, num_layers, bidirectional, batch_first):
            raise UserError(f"the GRU call {path!r} in this TorchScript takes weights or sizes that are computed, "
                            "not stored in the module; onnxgru reads GRUs whose weights are module parameters.")
        names = gru_param_names(int(num_layers), bool(bidirectional), bool(has_biases))
        params = {n: w.detach().cpu().numpy() for n, w in zip(names, weights)}
        layers = build.layers_from_gru_params(params, path)
        outs = list(node.outputs())
        call = Call("aten::gru", path, layers, bool(batch_first),
                    {"X": inputs[0], "hx": inputs[1], "Y": outs[0], "h_n": outs[1]}, dict(zip(names, weights)))
        calls.append(call)
        for what in ("X", "hx", "Y", "h_n"):
            tap_values.append((len(calls) - 1, what))
            extra.append(call.values[what])
    for node in graph.findAllNodes("aten::gru_cell"):  # an nn.GRUCell: a one-step GRU layer
        call = _cell_call(node, module, len(calls))
        calls.append(call)
        if node.owningBlock().owningNode() is not None:  # stepped in a loop: no value of one step can be returned
            untapped.append(f"nn.GRUCell {call.path!r} steps inside a loop of forward: compared on the outputs only")
            continue
        for what in ("X", "hx", "Y", "h_n"):
            tap_values.append((len(calls) - 1, what))
            extra.append(call.values[what])
    if extra:
        wrapped = ret.inputsAt(0)
        _append_to_return(torch, graph, wrapped, extra, flatten_first=bool(appended))
    for k, c in enumerate(calls):  # arguments a GRU reads through reshapes and branches (nn.GRU's unbatched case)
        if c.kind in ("aten::gru", "aten::gru_cell") and c.values:
            for what in ("X", "hx"):
                offset = _param_behind(c.values[what])
                if offset is not None:
                    stack_args.setdefault(offset, (k, what))
    ports = _ports(graph, module, calls, stack_args)
    return ScriptInfo(calls, ports, graph, tap_values, untapped)


def _cell_call(node: Any, module: nn.Module, index: int) -> Call:
    """An ``aten::gru_cell`` (``nn.GRUCell``): one reset-after step, its weights the module's parameters."""
    inputs = list(node.inputs())
    weights = [_resolve(v, module) for v in inputs[2:6]]
    path = _path(inputs[2]).rpartition(".")[0] or f"gru_cell{index}"
    if weights[0] is None or weights[1] is None:
        raise UserError(f"the GRU cell {path!r} in this TorchScript takes weights that are computed, not stored in the "
                        "module; onnxgru reads GRUs whose weights are module parameters.")
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    params = {n: w.detach().cpu().numpy() for n, w in zip(names, weights) if w is not None}
    out = node.output()
    return Call("aten::gru_cell", path, build.layers_from_gru_params(params, path), True,
                {"X": inputs[0], "hx": inputs[1], "Y": out, "h_n": out},
                {n: w for n, w in zip(names, weights) if w is not None})


_BACK_THROUGH = {"aten::unsqueeze", "aten::transpose", "aten::contiguous", "aten::to", "aten::dropout",
                 "prim::unchecked_cast", "aten::detach", "aten::clone", "aten::squeeze"}


def _param_behind(value: Any, depth: int = 0) -> int | None:
    """The offset of the ``forward`` argument a value comes from (through reshapes, casts and the branches of an
    If), or None."""
    if depth > 12:
        return None
    node = value.node()
    kind = node.kind()
    if kind == "prim::Param":
        return value.offset()
    if kind in _BACK_THROUGH:
        return _param_behind(node.inputsAt(0), depth + 1)
    if kind == "prim::If":
        index = list(node.outputs()).index(value) if value in list(node.outputs()) else next(
            (i for i, o in enumerate(node.outputs()) if o.debugName() == value.debugName()), None)
        if index is None:
            return None
        for block in node.blocks():
            found = _param_behind(list(block.returnNode().inputs())[index], depth + 1)
            if found is not None:
                return found
    return None


def _is_none(value: Any) -> bool:
    return value.node().kind() == "prim::Constant" and "NoneType" in str(value.type())


def _append_to_return(torch: Any, graph: Any, original: Any, values: list, flatten_first: bool = False) -> None:
    """Make the graph return ``(original, *values)`` (or extend the tuple an earlier call made)."""
    ret = graph.return_node()
    if flatten_first:
        node = original.node()
        base = list(node.inputs())
        tup = graph.create("prim::TupleConstruct", [*base, *values])
        tup.insertBefore(ret)
        tup.output().setType(torch._C.TupleType([v.type() for v in [*base, *values]]))
    else:
        tup = graph.create("prim::TupleConstruct", [original, *values])
        tup.insertBefore(ret)
        tup.output().setType(torch._C.TupleType([original.type()] + [v.type() for v in values]))
    ret.replaceInput(0, tup.output())


# --- the interface ------------------------------------------------------------------------------------------------
def _ports(graph: Any, module: nn.Module, calls: list[Call], stack_args: dict[int, tuple[int, str]]) -> list[Port]:
    rows_before = np.cumsum([0] + [sum(la.attrs.num_directions for la in c.layers) for c in calls]).tolist()
    schema = forward_of(module).schema
    args = list(schema.arguments)[1:]
    params = list(graph.inputs())[1:]
    ports = []
    for index, (arg, value) in enumerate(zip(args, params), start=1):
        optional = "Optional" in str(arg.type) or arg.has_default_value()
        port = Port(arg.name, "float32", None, optional=optional)
        use = _reached(value)
        if index in stack_args:
            k, what = stack_args[index]
            ports.append(_gru_port(port, calls[k], 0 if what == "X" else 1, rows_before[k]))
            continue
        if use is None:
            ports.append(port.with_(role="feed", note="not used by forward"))
            continue
        node, slot, swapped = use
        kind = node.kind()
        if kind == "aten::embedding" and slot == 1:
            weight = _resolve(node.inputsAt(0), module)
            vocab = int(weight.shape[0]) if weight is not None else None
            batch_first = _batch_first_after(node, calls)
            if _unsqueezed(value):  # ids (batch,) lifted to a one-step sequence inside: no time axis to draw
                port = port.with_(dtype="int64", shape=(None,), vocab=vocab, batch_axis=0, time_axis=None)
            else:
                port = port.with_(dtype="int64", shape=(None, None), vocab=vocab,
                                  batch_axis=0 if batch_first else 1, time_axis=1 if batch_first else 0)
        elif (c := _call_of(node, calls)) is not None:
            port = _gru_port(port, c[1], slot, rows_before[c[0]])
        elif kind in ("aten::linear",) and slot == 0:
            weight = _resolve(node.inputsAt(1), module)
            port = port.with_(shape=(None, int(weight.shape[1])) if weight is not None else None, time_axis=None)
        elif kind == "aten::conv1d" and slot == 0:
            weight = _resolve(node.inputsAt(1), module)
            channels = int(weight.shape[1]) if weight is not None else None
            if swapped:  # (N, T, C) read channels-first
                port = port.with_(shape=(None, None, channels), batch_axis=0, time_axis=1)
            else:
                port = port.with_(shape=(None, channels, None), batch_axis=0, time_axis=2)
        ports.append(port)
    return ports


def _gru_port(port: Port, call: Call, slot: int, first_row: int) -> Port:
    """An argument a GRU call reads directly: its input sequence (slot 0) or its initial state."""
    if call.kind == "aten::gru_cell":  # one step: (N, I) and (N, H)
        if slot == 0:
            return port.with_(shape=(None, call.layers[0].attrs.input_size), batch_axis=0, time_axis=None)
        return port.with_(role="state", rows=(first_row, 1), shape=(None, call.layers[0].attrs.hidden_size),
                          state_form="NH", batch_axis=None, time_axis=None)
    if slot == 0:
        return port.with_(shape=(None, None, call.layers[0].attrs.input_size), batch_axis=0 if call.batch_first else 1,
                          time_axis=1 if call.batch_first else 0)
    rows = sum(la.attrs.num_directions for la in call.layers)
    return port.with_(role="state", rows=(first_row, rows), shape=(rows, None, call.layers[-1].attrs.hidden_size),
                      batch_axis=None, time_axis=None)


_INSPECT = {"aten::dim", "aten::size", "prim::dtype", "prim::device", "aten::__is__", "aten::__isnot__",
            "prim::unchecked_cast", "aten::len", "prim::shape", "prim::is_cuda"}


def _first_use(value: Any) -> tuple[Any, int] | None:
    """The first node that computes on ``value`` (through dropout, contiguous, casts; past the ops that only look at
    its shape or type), and the input slot."""
    found = _reached(value)
    return None if found is None else found[:2]


def _reached(value: Any) -> tuple[Any, int, bool] | None:
    """``_first_use``, also through a swap of the last two axes of a sequence and padding (a channels-last input
    read by a convolution); the flag says whether the axes were swapped on the way."""
    swapped = False
    for _ in range(8):
        uses = [u for u in value.uses()
                if u.user.kind() not in ("prim::TupleConstruct", "prim::Return") and u.user.kind() not in _INSPECT]
        if not uses:
            return None
        node = uses[0].user
        if node.kind() in _THROUGH or (node.kind() in _PADS and uses[0].offset == 0):
            value = node.output()
            continue
        if node.kind() == "aten::transpose" and {_constant(node.inputsAt(1)), _constant(node.inputsAt(2))} in (
                {1, 2}, {-1, -2}, {1, -1}, {-2, 2}):
            swapped = not swapped
            value = node.output()
            continue
        if node.kind() == "prim::CallMethod":
            return node, uses[0].offset - 1, swapped
        if node.kind() == "aten::unsqueeze" and (beyond := _reached(node.output())) is not None:
            return beyond[0], beyond[1], swapped != beyond[2]  # ids (batch,) lifted before an embedding
        return node, uses[0].offset, swapped
    return None


_PADS = {"aten::pad", "aten::constant_pad_nd"}


def _unsqueezed(value: Any) -> bool:
    """The argument reaches its first use through an ``unsqueeze`` (GRU4Rec's item ids of shape (batch,))."""
    for _ in range(8):
        uses = [u for u in value.uses() if u.user.kind() not in ("prim::TupleConstruct", "prim::Return", *_INSPECT)]
        if not uses or uses[0].user.kind() not in (*_THROUGH, "aten::unsqueeze"):
            return False
        if uses[0].user.kind() == "aten::unsqueeze":
            return True
        value = uses[0].user.output()
    return False


def _call_of(node: Any, calls: list[Call]) -> tuple[int, Call] | None:
    for k, call in enumerate(calls):
        if call.kind == node.kind() and call.kind in ("aten::gru", "aten::gru_cell") and call.values and (
            call.values["Y"].debugName() == node.outputsAt(0).debugName()
        ):
            return k, call
    return None


def _batch_first_after(node: Any, calls: list[Call]) -> bool:
    """The layout of the GRU an embedding feeds (batch first when it cannot be told)."""
    out = node.output()
    use = _first_use(out)
    if use is not None and (c := _call_of(use[0], calls)) is not None:
        return c[1].batch_first
    return calls[0].batch_first if calls else True
