"""The ``--json`` report: the spec's stable keys (see ``Report.to_dict``)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnxgru.report import Report



def _clean(v: object) -> object:
    """JSON has no NaN/Inf: write them as strings so the file stays valid JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def render(report: Report) -> bytes:
    return (json.dumps(_clean(report.to_dict()), indent=2) + "\n").encode()
