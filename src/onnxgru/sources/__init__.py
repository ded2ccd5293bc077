"""Reading sources: every kind of model file becomes a ``LoadedModel`` (see ``onnxgru.core.model``)."""
