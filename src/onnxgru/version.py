"""onnxgru's version (pyproject.toml's ``version``), on the ground floor: reports and renderers stamp it."""

__version__ = "0.1.0"
SCHEMA_VERSION = "1.0"  # of the JSON report: report.schema.json describes it
