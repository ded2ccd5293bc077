"""Keras models (``.keras``, ``.h5``, Keras 2 SavedModel folders): loaded safely with the Keras that wrote them,
GRU layers read canonically.

A file written by Keras 3 (``tf.keras`` from TF 2.16 on) is loaded with ``keras``; one written by Keras 2 (TF up to
2.15, or ``tf-keras``) with ``tf_keras``. Every form takes the one path of ``load_model``: before Keras loads
anything, the stored config (``config.json``, the ``model_config`` attribute, ``keras_metadata.pb``) is read with
its size and nesting bounded and searched for ``Lambda`` layers, whose Python code would run on loading; a
SavedModel folder's TensorFlow functions must pass the op allowlist; then Keras loads it in safe mode.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from onnxgru import limits, screens
from onnxgru._lazy import require
from onnxgru.core import gatemaps
from onnxgru.core.spec import GRUAttrs, GRULayer
from onnxgru.errors import UserError
from onnxgru.files import existing
from onnxgru.frameworks.tf import graph
from onnxgru.frameworks.tf.tfimport import keras3, quiet, tf, tf_keras

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


def is_saved_model(path: str | Path) -> bool:
    """A Keras 2 SavedModel folder (``model.save(path, save_format="tf")``): ``keras_metadata.pb`` beside the
    SavedModel."""
    return Path(path).is_dir() and (Path(path) / "keras_metadata.pb").is_file()


def _read_json(z: zipfile.ZipFile, name: str, path: Path) -> Any:
    info = z.getinfo(name)
    with z.open(info) as f:
        data = limits.read_member(f.read, info.file_size, f"{name} in {str(path)!r}")
    return limits.load_json(data, f"{name} in {str(path)!r}")


def _saved_model_config(folder: Path) -> list[Any]:
    """Every object's metadata (layer and model configs) from a Keras 2 SavedModel's ``keras_metadata.pb``."""
    from onnxgru.frameworks.tf.tfimport import tf_keras

    tf_keras()
    from tf_keras.protobuf import saved_metadata_pb2

    pb = existing(folder / "keras_metadata.pb", "Keras metadata")
    size = pb.stat().st_size
    with pb.open("rb") as f:
        data = limits.read_member(f.read, size, str(pb))
    try:
        nodes = saved_metadata_pb2.SavedMetadata.FromString(data).nodes
    except Exception:  # protobuf's DecodeError on bytes that are not the metadata
        raise UserError(
            f"{str(pb)!r} is not readable Keras metadata (truncated or corrupt); save the model again."
        ) from None
    try:
        return [limits.load_json(n.metadata, f"the Keras metadata of {str(folder)!r}") for n in nodes if n.metadata]
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise UserError(
            f"{str(pb)!r} holds Keras metadata that is not readable JSON (the file is corrupt); save the model again."
        ) from None


def stored_config(path: Path) -> tuple[Any, int]:
    """The model config stored in the file and the major Keras version that wrote it, read without Keras."""
    p = existing(path, "Keras")
    if p.is_dir():
        return _saved_model_config(p), 2
    if p.suffix == ".keras":
        try:
            with zipfile.ZipFile(p) as z:
                limits.check_zip_members(z, p)
                config = _read_json(z, "config.json", p)
                meta = _read_json(z, "metadata.json", p) if "metadata.json" in z.namelist() else {}
        except UserError:
            raise
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
                inflated = _inflated_dataset(f)
        except Exception:  # OSError from HDF5 on a corrupt file, or attributes of an odd type
            raise UserError(f"{str(p)!r} is not a readable HDF5 Keras file (truncated or another format).") from None
        if inflated:
            raise UserError(
                f"{str(p)!r} holds a weight array ({inflated}) that inflates absurdly beyond what the file stores; "
                "onnxgru refuses it (a compression bomb, or a corrupt file)."
            )
        if raw is None:
            raise UserError(
                f"{str(p)!r} holds weights but no model architecture; save the whole model (model.save), not "
                "save_weights."
            )
        try:
            config = limits.load_json(raw.decode() if isinstance(raw, bytes) else raw, f"the config of {str(p)!r}")
        except (ValueError, TypeError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise UserError(
                f"{str(p)!r} holds a model architecture that is not readable JSON (the file is corrupt); save the "
                "model again with model.save(...)."
            ) from None
        version = version.decode(errors="replace") if isinstance(version, bytes) else str(version)
    head = version.split(".")[0]
    major = 3 if head.isdigit() and int(head) >= 3 else 2
    return config, major


def _safe_mode(module: Any) -> Any:
    """Keras's safe-mode scope, which its legacy loaders (``.h5``, SavedModel) only honour from the outside."""
    lib = getattr(getattr(module, "src", None), "saving", None)
    lib = getattr(lib, "serialization_lib", None)
    if lib is None or not hasattr(lib, "SafeModeScope") or not screens.on():

        return contextlib.nullcontext()
    return lib.SafeModeScope(True)


def _inflated_dataset(f: Any) -> str | None:
    """The name of an HDF5 dataset that declares far more bytes than it stores (a compressed bomb), or None."""
    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if found or not hasattr(obj, "id") or not hasattr(obj, "dtype") or not hasattr(obj.id, "get_storage_size"):
            return
        declared = int(obj.size or 0) * obj.dtype.itemsize
        if declared > limits.MAX_MEMBER_BYTES and declared > limits.MAX_RATIO * max(obj.id.get_storage_size(), 1):
            found.append(name)

    f.visititems(visit)
    return found[0] if found else None


def _h5py() -> Any:

    return require("h5py", "read Keras .h5 files")


# The layer classes a Keras model may be made of: Keras's own, none of which takes a function or runs code of the
# file's; Keras 3's own ops (``keras.src.ops``) are rebuilt from Keras's classes too. A layer of any other class
# (Lambda, TFOpLambda, SlicingOpLambda, a custom or registered layer) is refused.
LAYERS = frozenset("""
Sequential Functional Model InputLayer
Embedding Dense EinsumDense Conv1D Conv2D Conv3D SeparableConv1D SeparableConv2D DepthwiseConv1D DepthwiseConv2D
Conv1DTranspose Conv2DTranspose
GRU GRUCell GRUV1 GRUV2 LSTM LSTMCell LSTMV1 LSTMV2 SimpleRNN SimpleRNNCell RNN StackedRNNCells Bidirectional
TimeDistributed ConvLSTM1D ConvLSTM2D CuDNNGRU CuDNNLSTM
Dropout SpatialDropout1D SpatialDropout2D GaussianNoise GaussianDropout AlphaDropout ActivityRegularization Masking
Activation ReLU LeakyReLU PReLU ELU Softmax ThresholdedReLU
BatchNormalization LayerNormalization GroupNormalization UnitNormalization Normalization Rescaling
MaxPooling1D MaxPooling2D AveragePooling1D AveragePooling2D GlobalMaxPooling1D GlobalMaxPooling2D
GlobalAveragePooling1D GlobalAveragePooling2D MaxPool1D MaxPool2D AvgPool1D AvgPool2D GlobalMaxPool1D
GlobalAvgPool1D GlobalAveragePooling GlobalMaxPooling
Flatten Reshape Permute RepeatVector Cropping1D Cropping2D ZeroPadding1D ZeroPadding2D UpSampling1D UpSampling2D
Concatenate Add Subtract Multiply Average Maximum Minimum Dot
Attention AdditiveAttention MultiHeadAttention
""".split())
_NOT_LOADED = ("compile_config",)  # a .keras file's losses and metrics: Keras never rebuilds them with compile=False
_LAYER_KEYS = ("layers", "layer", "cell", "cells", "forward_layer", "backward_layer")  # where a config nests layers


def _refused_objects(config: Any) -> list[str]:
    """What in a Keras config could run code of the file's on loading, in words: a layer whose class is not one of
    ``LAYERS`` (Lambda, TFOpLambda, SlicingOpLambda, custom layers), any object that names a function (a
    ``function`` key) or comes from a module that is not Keras's (a custom or registered object). Walked
    iteratively: a config's depth is the file's choice."""
    found: list[str] = []
    todo: list[tuple[Any, bool]] = [(config, True)]  # (part, whether a layer sits there)
    while todo:
        item, is_layer = todo.pop()
        if isinstance(item, list):
            todo += [(x, is_layer) for x in item]
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("class_name")
        inner = item.get("config")
        name = str(inner.get("name", "?")) if isinstance(inner, dict) else str(item.get("name", "?"))
        module = str(item.get("module") or "")
        registered = str(item.get("registered_name") or "")
        keras_op = module.startswith(("keras.src.ops.", "keras.ops"))  # Keras 3's own ops (NotEqual of a mask...)
        if is_layer and isinstance(kind, str) and kind not in LAYERS and not keras_op:
            found.append(f"a {kind} layer ({name!r})")
        elif item.get("function") is not None:
            found.append(f"a function in {kind or 'an object'} ({name!r})")
        elif module and not module.startswith(("keras", "tf_keras", "tensorflow")):
            found.append(f"a {kind or 'custom'} object from the module {module!r} ({name!r})")
        elif ">" in registered:  # keras.saving.register_keras_serializable: "package>Name"
            found.append(f"a registered custom object {registered!r} ({name!r})")
        for key, value in item.items():
            if key in _NOT_LOADED:
                continue
            if key == "config" and isinstance(value, dict):  # a layer's own settings: its nested layers, if any
                todo += [(v, k in _LAYER_KEYS) for k, v in value.items()]
            else:
                todo.append((value, key in _LAYER_KEYS))
    return found


_TRAINING_ONLY = ("kernel_constraint", "recurrent_constraint", "bias_constraint", "embeddings_constraint",
                  "beta_constraint", "gamma_constraint", "depthwise_constraint", "pointwise_constraint",
                  "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
                  "embeddings_regularizer", "beta_regularizer", "gamma_regularizer", "depthwise_regularizer",
                  "pointwise_regularizer")


def _training_only(config: Any) -> list[str]:
    """Weight constraints and regularisers anywhere in a layer config, set to None in place: training uses them,
    inference never does, and a custom one would need its class (its code) to load. Returns what was dropped."""
    dropped, todo = [], [config]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            for key in _TRAINING_ONLY:
                if item.get(key) is not None:
                    said = item[key].get("class_name", "?") if isinstance(item[key], dict) else str(item[key])
                    dropped.append(f"{key} {said}")
                    item[key] = None
            todo += item.values()
        elif isinstance(item, list):
            todo += item
    return dropped


@contextmanager
def _without_training_objects(path: Path, config: Any, dropped: list[str]) -> Iterator[Path]:
    """``path`` itself, or, when training-only objects were dropped from its config, a copy in a temporary folder
    whose config no longer names them (a ``.keras`` zip with a new ``config.json``; an ``.h5`` with a new
    ``model_config`` and no ``training_config``): the loader then reads what onnxgru screened, and no class of theirs
    is looked up. A SavedModel folder is loaded as it is (its objects are traced functions, screened as graphs)."""
    if not dropped or path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="onnxgru-keras-") as folder:
        clean = Path(folder) / path.name
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as src, zipfile.ZipFile(clean, "w") as dst:
                for info in src.infolist():
                    data = json.dumps(config).encode() if info.filename == "config.json" else src.read(info)
                    dst.writestr(info, data)
        else:
            shutil.copyfile(path, clean)
            with _h5py().File(clean, "r+") as f:
                f.attrs["model_config"] = json.dumps(config)
                if "training_config" in f.attrs:
                    del f.attrs["training_config"]
        yield clean


def load_model(path: Path, trust_code: bool = False) -> KerasModel:
    """Load any Keras form in safe mode, after the Lambda scan (and, for a SavedModel folder, the TensorFlow op
    allowlist over its functions); every failure a user can cause is a UserError."""
    config, major = stored_config(path)
    dropped = _training_only(config)  # constraints and regularisers, custom or not: never rebuilt
    refused = _refused_objects(config) if screens.on() else []  # always: safe mode, --trust-code or not
    if refused:
        raise UserError(
            f"{str(path)!r} holds {refused[0]}, which Keras would rebuild by running code from the file (a Lambda "
            "layer's Python, a TensorFlow op a TFOpLambda names, a custom class); onnxgru loads only Keras's own "
            "layers, in safe mode. Replace it with a built-in layer and save again."
        )
    tf()
    module = keras3() if major == 3 else tf_keras()
    try:
        with contextlib.ExitStack() as stack:
            source = Path(path)
            if source.is_dir():  # Keras revives layers it has no class for from their traced TensorFlow functions
                source = stack.enter_context(graph.checked_saved_model(source, trust_code))
            clean = stack.enter_context(_without_training_objects(source, config, dropped))
            stack.enter_context(quiet())
            stack.enter_context(_safe_mode(module))
            model = module.models.load_model(str(clean), compile=False, safe_mode=screens.on())
            model.inputs  # noqa: B018 - a layer Keras failed to rebuild (it warns and goes on) leaves the model none
    except UserError:
        raise
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


def masking_layer(km: KerasModel) -> str:
    """The layer that masks steps for the GRUs after it (an ``Embedding(mask_zero=True)``, a ``Masking``), or ''."""
    found = next((layer for layer in _flat_layers(km.model) if getattr(layer, "mask_zero", False)
                  or type(layer).__name__ == "Masking"), None)
    return "" if found is None else f"{type(found).__name__} {found.name!r}"


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
        backwards = direction == "reverse"  # go_backwards: Keras returns the steps in the order it read them
        layers.append((layer, GRULayer(layer.name, attrs, W, R, B, fused=True, detail=detail,
                                       output_reversed=backwards)))
    return layers


def io_specs(km: KerasModel) -> tuple[list[tuple[str, tuple, np.dtype]], list[str]]:
    """The model's inputs (name, shape, dtype) and output names."""
    model = km.model
    ins = []
    for t in model.inputs:
        shape = tuple(t.shape)
        name = (getattr(t, "name", None) or "input").split(":")[0]  # a ragged or sparse tensor may have no name
        ins.append((name, shape, np.dtype(getattr(t.dtype, "name", t.dtype))))
    outs: list[str] = []
    for i, t in enumerate(model.outputs):
        name = _layer_name(t) or (getattr(t, "name", None) or f"output_{i}").split(":")[0]
        index = _tensor_index(t)
        name = f"{name}:{index}" if index else name  # a GRU's state beside its sequence: "gru:1"
        outs.append(name if name not in outs else f"{name}_{i}")
    return ins, outs


def _tensor_index(tensor: Any) -> int:
    """Which of its layer's outputs a Keras tensor is (0 for the first)."""
    history = getattr(tensor, "_keras_history", None)
    index = getattr(history, "tensor_index", None)
    if index is None and isinstance(history, tuple) and len(history) == 3:
        index = history[2]
    return int(index or 0)


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


def run(km: KerasModel, feeds: list[np.ndarray], model: Any = None, masks: list | None = None) -> list[np.ndarray]:
    """Run the model (or ``model``, a model over the same inputs) eagerly, in inference mode, on positional inputs.
    ``masks``, when given, is filled with each output's Keras mask (None where it has none)."""
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
    if masks is not None:
        masks[:] = [None if (m := getattr(v, "_keras_mask", None)) is None else np.asarray(m, dtype=bool)
                    for v in items]
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
