"""onnxgru's version (pyproject.toml's ``version``), on the ground floor: reports and renderers stamp it."""

__version__ = "0.1.0"
