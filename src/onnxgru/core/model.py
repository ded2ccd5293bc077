"""A loaded source: its GRU layers in canonical form and a way to run it on canonical inputs.

Every source kind (ONNX, TensorFlow, Keras, PyTorch) becomes a ``LoadedModel``. ``run`` takes ``Inputs``
(batch-major x, h0 in torch's (layers*dirs, N, H) order) and returns canonical outputs:
``"output"`` (N, T, D*H) from the last layer and ``"state"`` (layers*dirs, N, H), so any two sources compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onnxgru.core.findings import Finding
from onnxgru.core.inputs import Inputs
from onnxgru.core.spec import GRULayer

Outputs = dict[str, np.ndarray]


@dataclass(eq=False)
class LoadedModel:
    role: str
    path: str
    kind: str  # "onnx" | "tf" | "keras" | "torch"
    layers: tuple[GRULayer, ...]
    input_size: int
    accepts_h0: bool
    dtype: str = "float32"
    run: Callable[[Inputs], Outputs] | None = None
    findings: list[Finding] = field(default_factory=list)
    time_major: bool = False
    onnx_model: Any = None  # onnx.ModelProto, for ONNX sources and exports
    extra: dict = field(default_factory=dict)

    @property
    def hidden_size(self) -> int | None:
        return self.layers[-1].attrs.hidden_size if self.layers else None

    @property
    def state_rows(self) -> int:
        return sum(layer.attrs.num_directions for layer in self.layers)

    def describe(self) -> dict:
        """The report's ``models`` entry."""
        return {
            "role": self.role,
            "path": self.path,
            "kind": self.kind,
            "dtype": self.dtype,
            "time_major": self.time_major,
            "gru_layers": [layer.describe() for layer in self.layers],
        }
