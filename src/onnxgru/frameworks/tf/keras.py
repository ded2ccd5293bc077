"""Keras models (``.keras``, ``.h5``): loaded safely with the Keras that wrote them, GRU layers read canonically.

A file written by Keras 3 (``tf.keras`` from TF 2.16 on) is loaded with ``keras``; one written by Keras 2 (TF up to
2.15, or ``tf-keras``) with ``tf_keras``. Before either loads anything, the stored config is searched for ``Lambda``
layers, whose Python code would run on loading: onnxgru refuses them (safe mode) instead of trusting the file.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from onnxgru.core import gatemaps
from onnxgru.core.spec import GRUAttrs, GRULayer
from onnxgru.errors import UserError
from onnxgru.frameworks.tf.tfimport import keras3, quiet, tf, tf_keras
from onnxgru.sources.files import existing

# Keras activation names -> ONNX GRU activations (alpha, beta). hard_sigmoid changed between Keras 2 and 3.
_ACTIVATIONS = {
    "tanh": ("Tanh", None, None), "sigmoid": ("Sigmoid", None, None), "relu": ("Relu", None, None),
    "softsign": ("Softsign", None, None), "softplus": ("Softplus", None, None), "elu": ("Elu", 1.0, None),
    "linear": ("Affine", 1.0, 0.0),
}
_HARD_SIGMOID = {2: ("HardSigmoid", 0.2, 0.5), 3: ("HardSigmoid", 1.0 / 6.0, 0.5)}


@dataclass
class KerasModel:
    model: Any
    major: int  # 2 (tf_keras) or 3 (keras)
    path: Path


def stored_config(path: Path) -> tuple[dict, int]:
    """The model config stored in the file and the major Keras version that wrote it, read without Keras."""
    p = existing(path, "Keras")
    if p.suffix == ".keras":
        try:
            with zipfile.ZipFile(p) as z:
                config = json.loads(z.read("config.json"))
                meta = json.loads(z.read("metadata.json")) if "metadata.json" in z.namelist() else {}
        except Exception:  # BadZipFile, a missing member, bad JSON, zlib.error, an encrypted or odd archive
            raise UserError(
                f"{str(p)!r} is not a readable .keras file (it should be a zip with config.json); save the model "
                "again with model.save(...)."
            ) from None
        version = str(meta.get("keras_version", "3") if isinstance(meta, dict) else "3")
    else:
        h5py = _h5py()
        try:
            with h5py.File(p, "r") as f:
                raw = f.attrs.get("model_config")
                version = f.attrs.get("keras_version", "2")
        except Exception:  # OSError from HDF5 on a corrupt file, or attributes of an odd type
            raise UserError(f"{str(p)!r} is not a readable HDF5 Keras file (truncated or another format).") from None
        if raw is None:
            raise UserError(
                f"{str(p)!r} holds weights but no model architecture; save the whole model (model.save), not "
                "save_weights."
            )
        try:
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        except (ValueError, TypeError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise UserError(
                f"{str(p)!r} holds a model architecture that is not readable JSON (the file is corrupt); save the "
                "model again with model.save(...)."
            ) from None
        version = version.decode(errors="replace") if isinstance(version, bytes) else str(version)
    head = version.split(".")[0]
    major = 3 if head.isdigit() and int(head) >= 3 else 2
    return config, major


def _h5py() -> Any:
    from onnxgru._lazy import require

    return require("h5py", "read Keras .h5 files")


def _lambda_layers(config: Any) -> list[str]:
    found = []
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            found.append(str(config.get("config", {}).get("name", "?")))
        for v in config.values():
            found += _lambda_layers(v)
    elif isinstance(config, list):
        for v in config:
            found += _lambda_layers(v)
    return found


def load_model(path: Path) -> KerasModel:
    """Load a Keras model in safe mode; every failure a user can cause is a UserError."""
    config, major = stored_config(path)
    lambdas = _lambda_layers(config)
    if lambdas:
        raise UserError(
            f"{str(path)!r} contains a Lambda layer ({lambdas[0]!r}) whose Python code would run on loading; onnxgru "
            "loads Keras models in safe mode and refuses it. Replace the Lambda with a built-in layer and save again."
        )
    tf()
    module = keras3() if major == 3 else tf_keras()
    try:
        with quiet():
            model = module.models.load_model(str(path), compile=False, safe_mode=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{str(path)!r} cannot be loaded by Keras {module.__version__} in safe mode ({first}); custom layers need "
            "their code, which onnxgru does not run."
        ) from None
    return KerasModel(model, major, Path(path))


def _activation(fn: Any, major: int) -> tuple[str, float | None, float | None]:
    name = getattr(fn, "__name__", str(fn))
    if name == "hard_sigmoid":
        return _HARD_SIGMOID[major]
    return _ACTIVATIONS.get(name, (name, None, None))


def _cell_layer(cell: Any, name: str, major: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple, int]:
    """One GRU cell's canonical W, R, B (one direction), activations and linear_before_reset."""
    kernel = np.asarray(cell.kernel.numpy())
    recurrent = np.asarray(cell.recurrent_kernel.numpy())
    bias = np.asarray(cell.bias.numpy()) if getattr(cell, "use_bias", True) and cell.bias is not None else None
    lbr = 1 if getattr(cell, "reset_after", False) else 0
    if bias is None and lbr:
        bias = np.zeros((2, kernel.shape[1]), kernel.dtype)
    W, R, B = gatemaps.keras_to_onnx(kernel, recurrent, bias)
    acts = (_activation(cell.recurrent_activation, major), _activation(cell.activation, major))
    return W, R, B, acts, lbr


def _is_gru(layer: Any) -> bool:
    cell = getattr(layer, "cell", None)
    return cell is not None and type(cell).__name__ == "GRUCell" and hasattr(cell, "recurrent_kernel")


def _flat_layers(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers") and not _is_gru(layer) and type(layer).__name__ != "Bidirectional":
            out += _flat_layers(layer)
        else:
            out.append(layer)
    return out


def gru_layers(km: KerasModel) -> list[GRULayer]:
    """Every GRU (or ``RNN(GRUCell)``) in the model, a ``Bidirectional`` pair as one bidirectional layer."""
    return [layer for _, layer in gru_layers_with_objects(km)]


def gru_layers_with_objects(km: KerasModel) -> list[tuple[Any, GRULayer]]:
    """``gru_layers``, each with the Keras layer it was read from."""
    layers = []
    for layer in _flat_layers(km.model):
        kind = type(layer).__name__
        if kind == "Bidirectional" and _is_gru(layer.forward_layer):
            parts = [_cell_layer(layer.forward_layer.cell, layer.name, km.major),
                     _cell_layer(layer.backward_layer.cell, layer.name, km.major)]
            direction = "bidirectional"
            detail = f"Keras Bidirectional(GRU), merge_mode={layer.merge_mode!r}"
        elif _is_gru(layer):
            parts = [_cell_layer(layer.cell, layer.name, km.major)]
            direction = "reverse" if getattr(layer, "go_backwards", False) else "forward"
            detail = f"Keras {kind}"
        else:
            continue
        if parts[0][4] != parts[-1][4]:
            raise UserError(
                f"the Bidirectional layer {layer.name!r} mixes reset_after settings; onnxgru cannot describe it."
            )
        acts = tuple(a for p in parts for a in p[3])
        attrs = GRUAttrs(
            hidden_size=parts[0][1].shape[1], input_size=parts[0][0].shape[1], direction=direction,
            linear_before_reset=parts[0][4], activations=tuple(a[0] for a in acts),
            activation_alpha=tuple(a[1] for a in acts if a[1] is not None),
            activation_beta=tuple(a[2] for a in acts if a[2] is not None),
        )
        W = np.stack([p[0] for p in parts])
        R = np.stack([p[1] for p in parts])
        B = np.stack([p[2] for p in parts])
        layers.append((layer, GRULayer(layer.name, attrs, W, R, B, fused=True, detail=detail)))
    return layers


def io_specs(km: KerasModel) -> tuple[list[tuple[str, tuple, np.dtype]], list[str]]:
    """The model's inputs (name, shape, dtype) and output names."""
    model = km.model
    ins = []
    for t in model.inputs:
        shape = tuple(t.shape)
        name = (getattr(t, "name", None) or "input").split(":")[0]  # a ragged or sparse tensor may have no name
        ins.append((name, shape, np.dtype(getattr(t.dtype, "name", t.dtype))))
    outs = [_layer_name(t) or (getattr(t, "name", None) or f"output_{i}").split(":")[0]
            for i, t in enumerate(model.outputs)]
    return ins, outs


def _layer_name(tensor: Any) -> str:
    """The name of the layer that makes a Keras tensor (stable across loads, unlike Keras 3's tensor names)."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return ""
    layer = getattr(history, "layer", None) or getattr(history, "operation", None) or (
        history[0] if isinstance(history, tuple) else None)
    return str(getattr(layer, "name", "") or "")


def keras_module(km: KerasModel) -> Any:
    """The Keras that loaded the model (``tf_keras`` or ``keras``)."""
    return keras3() if km.major == 3 else tf_keras()


def run(km: KerasModel, feeds: list[np.ndarray], model: Any = None) -> list[np.ndarray]:
    """Run the model (or ``model``, a model over the same inputs) eagerly, in inference mode, on positional inputs."""
    try:
        with quiet():
            result = (model or km.model)(feeds[0] if len(feeds) == 1 else feeds, training=False)
    except Exception as exc:  # a model Keras loaded but cannot run (a corrupt config): not onnxgru's bug
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise UserError(
            f"Keras cannot run {str(km.path)!r} ({type(exc).__name__}: {lines[-1][:200] if lines else ''}); check "
            "that the model runs in Keras on inputs of the shapes its signature gives (onnxgru inspect lists them)."
        ) from None
    items = result if isinstance(result, list | tuple) else [result]
    return [np.asarray(v) for v in items]


def concrete_function(km: KerasModel) -> Any:
    """A traced ``tf.function`` of the model, for tf2onnx and for freezing."""
    t = tf()
    ins, _ = io_specs(km)
    specs = [t.TensorSpec([None, *s[1:]], t.as_dtype(d), name=n) for n, s, d in ins]
    model = km.model

    @t.function(input_signature=specs)
    def call(*args: Any) -> Any:
        return model(args[0] if len(args) == 1 else list(args), training=False)

    return call, specs
