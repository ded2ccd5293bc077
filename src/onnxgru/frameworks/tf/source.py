"""TensorFlow and Keras sources as ``LoadedModel``s: graphs (``graph_source``) and Keras models (``keras_source``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnxgru.core.model import LoadedModel
from onnxgru.errors import UserError
from onnxgru.frameworks.tf import graph, graph_source, keras, keras_source

if TYPE_CHECKING:
    from onnxgru.sources.load import LoadOptions


def load(path: Path, role: str, options: LoadOptions, kind: str = "tf") -> LoadedModel:
    """Read a TensorFlow graph source or a Keras file."""
    if kind == "keras":
        return keras_source.load(keras.load_model(Path(path)), path, role, options, kind="keras")
    if Path(path).is_dir() and (Path(path) / "keras_metadata.pb").exists() and not options.input_names:
        # A Keras 2 SavedModel: its layers are known to Keras, which reads them exactly.
        graph.refuse_saved_model_file_ops(Path(path))
        km = keras.KerasModel(_load_keras_saved_model(path), 2, Path(path))
        return keras_source.load(km, path, role, options, kind="tf")
    return graph_source.load(path, role, options)


def _load_keras_saved_model(path: Path) -> Any:
    from onnxgru.frameworks.tf.tfimport import quiet, tf_keras

    try:
        with quiet():
            return tf_keras().models.load_model(str(path), compile=False)
    except Exception as exc:
        raise UserError(f"the Keras SavedModel {str(path)!r} cannot be loaded ({type(exc).__name__}).") from None
