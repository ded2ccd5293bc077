"""onnxgru's exact ``GRUStack`` inside a whole TorchScript model, exported as GRU nodes.

torch.onnx writes the stack's Python loops as nested ONNX ``Loop``s (no GRU node; tract and the ONNX reference
evaluator refuse them). Its nodes are named by module scope (``/gru/...``), so the stack's part of the graph is
known: what it reads from outside is its input, what it gives to the rest is its output and/or final state, which
one is which is told by value (the exported graph run once in ONNX Runtime beside the TorchScript module's own tap).
That part is replaced by one GRU node per layer (``linear_before_reset`` as the layer computes) writing the same
names. The export is then verified like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core import inputs as inp
from onnxgru.graph import edit as onnx_edit
from onnxgru.graph import sizes, splice
from onnxgru.runtimes import RuntimeRefused, get

if TYPE_CHECKING:
    import onnx

    from onnxgru.core.inputs import Inputs
    from onnxgru.core.model import LoadedModel


def fuse_stacks(proto: onnx.ModelProto, model: LoadedModel, inputs: Inputs) -> list[str]:
    """Splice every top-level ``GRUStack`` call of a TorchScript ``model``; returns the stacks it could not splice."""
    info = model.handle.script if model.handle is not None else None
    if info is None:
        return []
    stacks = [(k, c) for k, c in enumerate(info.calls) if c.kind == "GRUStack"]
    if not stacks:
        return []
    run = model.run(inputs, True)
    first = np.cumsum([0] + [len(c.layers) for c in info.calls]).tolist()
    left = []
    for k, call in stacks:
        tap = next((t for t in run.taps if t.first == first[k]), None)
        if tap is None or not _splice(proto, model, inputs, call, tap):
            left.append(call.path or "gru")
    return left


def _splice(proto: onnx.ModelProto, model: LoadedModel, inputs: Inputs, call: object, tap: object) -> bool:

    # torch.onnx names a module's nodes by the path of calls (``/encoder/gru/...``); a module reached through a
    # ModuleDict or ModuleList that forward iterates is named by its key alone (``/gru_a/...``)
    path = call.path  # type: ignore[attr-defined]
    for prefix in dict.fromkeys(("/" + path.replace(".", "/") + "/", "/" + path.rsplit(".", 1)[-1] + "/")):
        inside, reads, gives = splice.scope_boundary(proto.graph, prefix)
        if inside:
            break
    if not inside or len(reads) != 1 or not gives:
        return False  # an initial state from outside, or nothing to go by: left as it is
    probe = _with_outputs(proto, gives)
    feeds = inp.feeds(model.signature, inputs)
    sizes.check_fed(probe, feeds, f"the ONNX export of {model.path}")
    try:
        values = get("onnxruntime").load(probe)(feeds)
    except RuntimeRefused:
        return False
    extra = dict(zip([o.name for o in probe.graph.output][len(proto.graph.output):],
                     values[len(proto.graph.output):]))
    batch_first = bool(call.batch_first)  # type: ignore[attr-defined]
    Y = tap.Y if batch_first else (None if tap.Y is None else tap.Y.transpose(1, 0, 2))  # type: ignore[attr-defined]
    states = [h for h in tap.Y_h if h is not None]  # type: ignore[attr-defined]
    state = np.concatenate(states) if len(states) == len(tap.Y_h) else None  # type: ignore[attr-defined]
    output_name = state_name = other_layout = None
    other = None if Y is None else Y.transpose(1, 0, 2)  # the exporter may hand the next GRU the other layout
    for name in gives:
        v = np.asarray(extra[name])
        if Y is not None and v.shape == Y.shape and np.allclose(v, Y, atol=1e-4):
            output_name = name
        elif other is not None and v.shape == other.shape and np.allclose(v, other, atol=1e-4):
            other_layout = name
        elif state is not None and v.shape == state.shape and np.allclose(v, state, atol=1e-4):
            state_name = name
        else:
            return False  # something else leaves the scope: not a plain stack call
    names = onnx_edit.Names(proto.graph, prefix.strip("/") + "/fused")
    dtype = np.dtype(model.dtype)
    if other_layout and not output_name:
        output_name = names("output")
    new = splice.stack_nodes(proto.graph, names, call.layers, reads[0], batch_first, dtype,  # type: ignore[attr-defined]
                                output_name, state_name)
    if other_layout and output_name:  # named above whenever the other layout is read
        from onnx import helper

        new.append(helper.make_node("Transpose", [output_name], [other_layout], perm=[1, 0, 2],
                                    name=names("other_layout")))
    splice.replace_scope(proto, inside, new)
    return True


def _with_outputs(proto: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    import onnx as onnx_mod
    from onnx import helper

    out = onnx_mod.ModelProto()
    out.CopyFrom(proto)
    for name in names:
        out.graph.output.append(helper.make_empty_tensor_value_info(name))
    return out
