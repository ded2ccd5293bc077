"""TensorFlow and Keras sources as ``LoadedModel``s: graphs (``graph_source``) and Keras models (``keras_source``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from onnxgru.core.model import LoadedModel
from onnxgru.frameworks.tf import graph_source, keras, keras_source

if TYPE_CHECKING:
    from onnxgru.sources.load import LoadOptions


def load(path: Path, role: str, options: LoadOptions, kind: str = "tf") -> LoadedModel:
    """Read a TensorFlow graph source or a Keras file."""
    if kind == "keras" or (keras.is_saved_model(path) and not options.input_names):
        # A Keras file, or a Keras 2 SavedModel: its layers are known to Keras, which reads them exactly (one loading
        # path for every form: capped reads, the Lambda scan, safe mode).
        km = keras.load_model(Path(path), options.trust_code)
        return keras_source.load(km, path, role, options, kind=kind)
    return graph_source.load(path, role, options)
