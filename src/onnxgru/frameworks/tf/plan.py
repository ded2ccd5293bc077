"""A TensorFlow or Keras model read as a chain of steps (``core.plan``), for ``convert`` to rebuild it in PyTorch.

A TensorFlow graph is a plan only when it is a bare GRU stack: its outputs are, by value, the stack's sequence or
states on the model's own inputs (``rewrite.output_roles``). A Keras model is read layer by layer.

Supported: one input, one output, and layers that each take the previous one's output: Embedding, Dense, Conv1D,
GRU and Bidirectional(GRU), activations, normalisation, global pooling, Flatten and the inference no-ops (dropout,
noise). That the layers do form one chain is measured, not read from the config: the layers called one after the
other must give the model's own output. Anything else is said in one sentence, and ``convert`` converts each GRU
on its own instead.

Arrays keep Keras's layouts: Dense ``kernel`` (in, out); Conv1D ``kernel`` (width, in, out); Embedding ``table``
(vocabulary, features); normalisation ``scale``/``shift`` folded for inference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from onnxgru.core import inputs as inp
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel
from onnxgru.core.plan import ACTIVATIONS, Plan, Step
from onnxgru.core.spec import GRULayer
from onnxgru.frameworks.tf import rewrite
from onnxgru.frameworks.tf.graph_source import TFHandle
from onnxgru.frameworks.tf.keras import KerasModel, _flat_layers, _is_gru, run

_NO_OPS = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization")
_ALIASES = {"swish": "silu"}


class NotAChain(Exception):
    """The model cannot be rebuilt as a chain of steps; the message says which layer and why."""


def plan_for(model: LoadedModel, inputs: Inputs) -> Plan:
    """The model as a chain of steps, measured on ``inputs``; ``NotAChain`` says why it is none."""

    if not isinstance(model.handle, TFHandle):
        km = model.handle.km
        if all(_is_gru(x) or type(x).__name__ in ("Bidirectional", "InputLayer", *_NO_OPS)
               for x in _flat_layers(km.model)):
            return _bare(model)  # only GRUs: their sequence and states are the model's outputs
        plan, keras_layers = read(km, model.layers)
        check_chain(km, keras_layers, next(iter(inp.feeds(model.signature, inputs).values())))
        return plan
    data = model.signature.data
    if len(data) != 1 or data[0].vocab or (data[0].rank or 3) != 3:
        raise NotAChain("its input is not the GRUs' input sequence: the graph computes more than its GRUs")
    roles = rewrite.output_roles(model, rewrite.raw_outputs(model, inputs), inputs)
    if isinstance(roles, str):
        raise NotAChain(f"the graph computes more than its GRUs ({roles.split(' (the model computes')[0]})")
    return _bare(model)


def _bare(model: LoadedModel) -> Plan:
    return Plan(tuple(Step("recurrent", layer.name, family="gru", layers=(k,)) for k, layer in enumerate(model.layers)))


def read(km: KerasModel, layers: tuple[GRULayer, ...]) -> tuple[Plan, list[Any]]:
    """The plan and the Keras layers it was read from, in order; ``NotAChain`` when the model is no chain of
    supported layers."""
    model = km.model
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise NotAChain(f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs (a whole "
                        "conversion rebuilds one chain from one input to one output)")
    index = {layer.name: k for k, layer in enumerate(layers)}
    keras_layers = [layer for layer in _flat_layers(model) if type(layer).__name__ != "InputLayer"]
    return Plan(tuple(_step(layer, index) for layer in keras_layers)), keras_layers


def check_chain(km: KerasModel, keras_layers: list[Any], feed: np.ndarray) -> None:
    """``NotAChain`` unless calling the layers one after the other on ``feed`` gives the model's own output."""
    want = run(km, [feed])[0]
    y: Any = feed
    try:
        for layer in keras_layers:
            y = layer(y, training=False)
    except Exception as exc:  # a layer that does not take the previous one's output: branches, merges
        raise NotAChain(f"its layers are not one chain ({type(exc).__name__} calling them in order)") from None
    got = np.asarray(y)
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-6, rtol=1e-5):
        raise NotAChain("its layers are not one chain (calling them in order does not give the model's output)")


def _activation(fn: Any, where: str) -> str:
    name = _ALIASES.get(getattr(fn, "__name__", str(fn)), getattr(fn, "__name__", str(fn)))
    if name not in ACTIVATIONS or name == "leaky_relu":
        raise NotAChain(f"{where} uses the activation {name!r}, which onnxgru does not rebuild")
    return name


def _array(v: Any) -> np.ndarray:
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v)


def _step(layer: Any, index: dict[str, int]) -> Step:  # noqa: PLR0911, PLR0912 - one branch per layer kind
    kind, name = type(layer).__name__, layer.name
    where = f"layer {name!r} ({kind})"
    if kind in _NO_OPS:
        return Step("identity", name)
    if kind == "Embedding":
        if getattr(layer, "mask_zero", False):
            raise NotAChain(f"{where} has mask_zero=True: its GRUs skip the padded steps, which the exact modules "
                            "do not")
        return Step("embedding", name, {"table": _array(layer.embeddings)})
    if kind == "Dense":
        arrays = {"kernel": _array(layer.kernel)}
        if layer.use_bias:
            arrays["bias"] = _array(layer.bias)
        return Step("dense", name, arrays, {"activation": _activation(layer.activation, where)})
    if kind == "Conv1D":
        if layer.data_format != "channels_last" or getattr(layer, "groups", 1) != 1:
            raise NotAChain(f"{where} is not a plain channels_last convolution")
        padding, stride = layer.padding, int(layer.strides[0])
        if padding == "same" and stride != 1:
            raise NotAChain(f"{where} pads 'same' with stride {stride}, which depends on the sequence length")
        arrays = {"kernel": _array(layer.kernel)}
        if layer.use_bias:
            arrays["bias"] = _array(layer.bias)
        return Step("conv1d", name, arrays, {"activation": _activation(layer.activation, where), "stride": stride,
                                              "padding": padding, "dilation": int(layer.dilation_rate[0])})
    if kind == "Bidirectional" or _is_gru(layer):
        inner = layer.forward_layer if kind == "Bidirectional" else layer
        if kind == "Bidirectional" and (not _is_gru(inner) or layer.merge_mode != "concat"):
            raise NotAChain(f"{where} is not a GRU pair merged by concatenation")
        if getattr(inner, "return_state", False) or getattr(inner, "stateful", False) or getattr(
                inner, "time_major", False):
            raise NotAChain(f"{where} returns its state, keeps state between calls or is time-major")
        return Step("recurrent", name, options={"return_sequences": bool(inner.return_sequences)}, family="gru",
                    layers=(index[name],))
    if kind in ("Activation", "Softmax", "ReLU"):
        if kind == "ReLU" and (layer.max_value is not None or float(getattr(layer, "negative_slope", 0) or 0)
                               or float(getattr(layer, "threshold", 0) or 0)):
            raise NotAChain(f"{where} is a bounded or leaky ReLU")
        if kind == "Softmax" and getattr(layer, "axis", -1) not in (-1, [-1]):
            raise NotAChain(f"{where} is a softmax over another axis than the last")
        act = {"Softmax": "softmax", "ReLU": "relu"}.get(kind) or _activation(layer.activation, where)
        return Step("activation", name, options={"activation": act})
    if kind in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        if layer.data_format != "channels_last" or getattr(layer, "keepdims", False):
            raise NotAChain(f"{where} is not channels_last pooling")
        return Step("pool", name, options={"how": "mean" if "Average" in kind else "max"})
    if kind == "Flatten":
        return Step("flatten", name)
    if kind in ("BatchNormalization", "LayerNormalization"):
        return _norm(layer, kind, where)
    raise NotAChain(f"{where} is a kind of layer onnxgru does not rebuild")


def _norm(layer: Any, kind: str, where: str) -> Step:
    axis = layer.axis if isinstance(layer.axis, int) else (layer.axis[0] if len(layer.axis) == 1 else None)
    rank = len(layer.input.shape) if hasattr(layer, "input") else None
    if axis is None or (axis != -1 and axis != (rank or 0) - 1) or getattr(layer, "rms_scaling", False):
        raise NotAChain(f"{where} normalises another axis than the last")
    width = int(layer.gamma.shape[0] if layer.scale else layer.beta.shape[0])
    gamma = _array(layer.gamma) if layer.scale else np.ones(width, np.float32)
    beta = _array(layer.beta) if layer.center else np.zeros(width, np.float32)
    if kind == "BatchNormalization":  # inference: y = (x - mean) / sqrt(var + eps) * gamma + beta
        scale = gamma / np.sqrt(_array(layer.moving_variance) + layer.epsilon)
        return Step("norm", layer.name, {"scale": scale, "shift": beta - _array(layer.moving_mean) * scale},
                    {"how": "batch"})
    return Step("norm", layer.name, {"scale": gamma, "shift": beta}, {"how": "layer", "epsilon": float(layer.epsilon)})
