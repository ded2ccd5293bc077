"""Keras models as ``LoadedModel``s that run whole, every GRU layer tapped through a second ``Model``.

The interface is the model's own inputs and outputs. An input an ``Embedding`` reads is ids, drawn inside its
vocabulary (and from 1 up when id 0 is its mask); an input a GRU takes as ``initial_state`` is that layer's state.
Taps: a ``keras.Model`` over the same inputs whose outputs add each GRU layer's input, initial states and outputs.
Keras' ``go_backwards`` returns the sequence in the order it was read (last step first): the tap puts it back in
input order, as the ONNX GRU aligns its outputs, so the reference can hold it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru import limits
from onnxgru.core import inputs as inp
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel, Run
from onnxgru.core.signature import Port, Signature
from onnxgru.core.spec import GRULayer
from onnxgru.core.taps import Tap
from onnxgru.errors import UserError
from onnxgru.frameworks.tf import keras
from onnxgru.frameworks.tf.tfimport import quiet

if TYPE_CHECKING:
    from onnxgru.sources.load import LoadOptions


@dataclass
class _LayerTap:
    first: int
    layer: Any
    gru: GRULayer
    x: Any  # KerasTensor
    states: list[Any]
    outputs: list[Any]
    reverse_y: bool


@dataclass(eq=False)
class KerasHandle:
    km: keras.KerasModel
    taps: list[_LayerTap]
    _tap_model: Any = None

    def tap_model(self) -> Any:
        if self._tap_model is None:
            module = keras.keras_module(self.km)
            model = self.km.model
            extra = [t for lt in self.taps for t in [lt.x, *lt.states, *lt.outputs]]
            with quiet():
                self._tap_model = module.Model(model.inputs, [*_as_list(model.outputs), *extra])
        return self._tap_model


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, list | tuple) else [v]


def load(km: keras.KerasModel, path: Path, role: str, options: LoadOptions, kind: str = "keras") -> LoadedModel:
    pairs = keras.gru_layers_with_objects(km)
    if not pairs:
        raise UserError(f"{str(path)!r} contains no GRU layer; give a model with a keras.layers.GRU."
                        + _others(km))
    layers = [g for _, g in pairs]
    taps, untapped = _taps(km, pairs)
    signature = _signature(km, layers, taps, options)
    handle = KerasHandle(km, taps)
    dtype = next((p.dtype for p in signature.data if np.dtype(p.dtype).kind == "f" and not p.vocab),
                 str(layers[0].W.dtype))
    model = LoadedModel(
        role=role, path=str(path), kind=kind, layers=tuple(layers), signature=signature, dtype=dtype,
        time_major=bool(options.time_major), handle=handle, form=f"Keras {km.major} model", untapped=tuple(untapped),
    )
    model.runner = limits.timed(_runner(handle, signature), options.time_limit, f"Keras running {str(path)!r}")
    return model


def _others(km: keras.KerasModel) -> str:
    found = [f"{type(layer).__name__} {layer.name!r}" for layer in keras._flat_layers(km.model)
             if type(layer).__name__ in ("LSTM", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D")]
    return f" It has {', '.join(found)}: onnxgru checks GRUs." if found else ""


# --- the layers' calls ----------------------------------------------------------------------------------------------
def _call(layer: Any, used: set[int] | None = None) -> tuple[Any, list[Any], list[Any]] | None:
    """The tensors a layer was called on in the model: its input, its initial states (no masks) and its outputs.
    ``used`` holds the model graph's nodes: a Keras 3 ``Sequential`` builds its graph again on load, so its layers
    carry a node per build and only the graph's own one is the model's."""
    nodes = [n for n in getattr(layer, "_inbound_nodes", []) if used is None or id(n) in used]
    if len(nodes) != 1:
        return None
    node = nodes[0]
    arguments = getattr(node, "arguments", None)
    if arguments is not None:  # Keras 3
        x = arguments.args[0] if arguments.args else None
        states = arguments.kwargs.get("initial_state") or []
        return x, _as_list(states), _as_list(node.outputs)
    tensors = _as_list(layer.input)  # Keras 2 folds initial_state into the inputs
    return tensors[0], tensors[1:], _as_list(layer.output)


def _graph_nodes(model: Any) -> set[int] | None:
    """The nodes of a Keras 3 model's graph (a ``Sequential``'s inner functional graph), None for Keras 2."""
    graph = getattr(model, "_functional", None) or model
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if not by_depth or not hasattr(next(iter(by_depth.values()))[0], "arguments"):
        return None
    return {id(n) for nodes in by_depth.values() for n in nodes}


def _taps(km: keras.KerasModel, pairs: list[tuple[Any, GRULayer]]) -> tuple[list[_LayerTap], list[str]]:
    model_layers = set(map(id, km.model.layers))
    used = _graph_nodes(km.model)
    taps, untapped = [], []
    for k, (layer, gru) in enumerate(pairs):
        call = _call(layer, used) if id(layer) in model_layers else None
        if call is None or call[0] is None:
            untapped.append(f"{gru.name}: inside a nested model or called more than once, so its tensors are not "
                            "the model's")
            continue
        x, states, outputs = call
        reverse = gru.attrs.direction == "reverse"  # go_backwards: Keras returns the steps as read
        taps.append(_LayerTap(k, layer, gru, x, states, outputs, reverse))
    return taps, untapped


def _split(lt: _LayerTap, values: list[np.ndarray], mask: np.ndarray | None) -> Tap:
    """A layer's fetched values as a canonical tap; ``mask`` is the Keras mask its input carried (an Embedding's
    ``mask_zero``, a ``Masking`` layer): the steps it rules out, the layer skipped."""
    x, rest = np.asarray(values[0]), values[1:]
    states, outs = rest[: len(lt.states)], rest[len(lt.states) :]
    d, h = lt.gru.attrs.num_directions, lt.gru.attrs.hidden_size
    layer = lt.layer
    seq = bool(getattr(layer, "return_sequences", False))
    returns_state = bool(getattr(layer, "return_state", False))
    Y = Y_h = None
    main = np.asarray(outs[0]) if outs else None
    if seq and main is not None and main.shape[-1] == d * h:
        Y = main[:, ::-1] if lt.reverse_y else main
    if returns_state and len(outs) >= 1 + d:
        Y_h = np.stack([np.asarray(s) for s in outs[1 : 1 + d]])
    elif not seq and main is not None and main.shape[-1] == d * h:
        Y_h = main.reshape(main.shape[0], d, h).transpose(1, 0, 2)
    h0 = np.stack([np.asarray(s) for s in states]) if len(states) == d else None
    if mask is not None and (mask.shape != x.shape[:2] or mask.all()):
        mask = None  # nothing skipped
    inner = getattr(layer, "forward_layer", layer)  # Bidirectional: its two layers mask alike
    carry = not getattr(inner, "zero_output_for_mask", False)
    return Tap(lt.first, 1, x, (h0,), None if Y is None else np.ascontiguousarray(Y),
               (None if Y_h is None else np.ascontiguousarray(Y_h),), None, f"Keras layer {lt.gru.name!r}",
               mask, carry)


# --- the interface ------------------------------------------------------------------------------------------------
def _signature(km: keras.KerasModel, layers: list[GRULayer], taps: list[_LayerTap], options: LoadOptions) -> Signature:
    model = km.model
    rows_before = np.cumsum([0] + [layer.attrs.num_directions for layer in layers]).tolist()
    states: dict[int, tuple[int, int]] = {}
    for lt in taps:
        for d, s in enumerate(lt.states):
            states[id(s)] = (rows_before[lt.first] + d, 1)
    vocab = _embeddings(km)
    ports = []
    names, outs = keras.io_specs(km)
    for t, (name, shape, dtype) in zip(model.inputs, names):
        shape = tuple(None if d is None else int(d) for d in shape)
        port = Port(name, np.dtype(dtype).name, shape)
        if id(t) in states:
            port = port.with_(role="state", rows=states[id(t)], state_form="NH", batch_axis=0, time_axis=None)
        elif len(shape) == 0 or np.dtype(dtype).kind == "b":
            port = port.with_(role="feed")
        else:
            v, low = vocab.get(id(t), (None, 0))
            has_time = len(shape) >= 3 or (v is not None and len(shape) >= 2)
            tm = bool(options.time_major) and has_time
            port = port.with_(role="data", vocab=v, low=low, batch_axis=1 if tm else 0,
                              time_axis=(0 if tm else 1) if has_time else None)
        ports.append(port)
    outputs = tuple(Port(n, np.dtype(getattr(t.dtype, "name", t.dtype)).name,
                         tuple(None if d is None else int(d) for d in t.shape))
                    for n, t in zip(outs, _as_list(model.outputs)))
    return Signature(tuple(ports), outputs)


def _embeddings(km: keras.KerasModel) -> dict[int, tuple[int, int]]:
    """Model inputs an Embedding reads: id -> (vocabulary size, lowest id to draw: 1 when 0 is the mask)."""
    out = {}
    used = _graph_nodes(km.model)
    top = set(map(id, km.model.layers))
    for layer in keras._flat_layers(km.model):
        if type(layer).__name__ != "Embedding":
            continue
        call = _call(layer, used if id(layer) in top else None)
        if call is None:
            continue
        low = 1 if getattr(layer, "mask_zero", False) else 0
        out[id(call[0])] = (int(layer.input_dim), low)
    return out


# --- running ------------------------------------------------------------------------------------------------------
def _runner(handle: KerasHandle, signature: Signature):  # noqa: ANN202
    count = len(_as_list(handle.km.model.outputs))
    names = [p.name for p in signature.outputs]

    def run(inputs: Inputs, tapped: bool = True) -> Run:
        feeds = inp.feeds(signature, inputs)
        args = [feeds[p.name] for p in signature.inputs if p.name in feeds]
        if not tapped or not handle.taps:
            values = keras.run(handle.km, args)
            return Run(dict(zip(names, values)))
        masks: list = []
        values = keras.run(handle.km, args, model=handle.tap_model(), masks=masks)
        own = dict(zip(names, values[:count]))
        found, at = [], count
        for lt in handle.taps:
            size = 1 + len(lt.states) + len(lt.outputs)
            found.append(_split(lt, values[at : at + size], masks[at]))
            at += size
        return Run(own, tuple(found))

    return run
