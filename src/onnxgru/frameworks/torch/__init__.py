"""PyTorch: reading sources (``source``), ``export torch`` (``export``), ``convert``, and the exact GRU (``exact``).

Entry points (``source.load``, ``export.export``, ``convert.convert``) import torch through ``onnxgru._lazy.require``
inside their functions; the helper modules import torch at module level and are imported only after that.
"""
