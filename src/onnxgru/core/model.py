"""A loaded source: its interface, its GRU layers in canonical form, and a way to run it whole.

Every source kind (ONNX, TensorFlow, Keras, PyTorch) becomes a ``LoadedModel``. ``run(inputs, taps)`` feeds the
canonical ``Inputs`` to the model's own inputs and returns a ``Run``: every output of the model by its own name
(batch-major where the model is time-major, so frameworks compare), and, with ``taps``, what each GRU received and
produced. ``handle`` is what the framework needs to export or re-run the model (a typed object per kind).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnxgru.core.findings import Finding
from onnxgru.core.inputs import Inputs, feeds
from onnxgru.core.signature import Signature
from onnxgru.core.spec import GRULayer
from onnxgru.core.taps import Tap
from onnxgru.errors import UserError


@dataclass(frozen=True, eq=False)
class Run:
    """One execution: the model's outputs by name, in order, and its GRU taps (empty when not asked for)."""

    outputs: dict[str, np.ndarray]
    taps: tuple[Tap, ...] = ()
    precision: str | None = None  # what a runtime reported it computed in


Runner = Callable[[Inputs, bool], Run]


@dataclass(eq=False)
class LoadedModel:
    """A source read once: its GRU layers in canonical form, its signature, and how to run it."""

    role: str
    path: str
    kind: str  # "onnx" | "tf" | "keras" | "torch"
    layers: tuple[GRULayer, ...]
    signature: Signature
    dtype: str = "float32"
    time_major: bool = False
    runner: Runner | None = None
    findings: list[Finding] = field(default_factory=list)
    onnx_model: Any = None  # onnx.ModelProto, for ONNX sources and exports
    handle: Any = None  # the framework's own handle (TFHandle, KerasHandle, TorchHandle, OnnxHandle)
    form: str = ""  # what the file holds, in words ("frozen GraphDef", "TorchScript", ...)
    untapped: tuple[str, ...] = ()  # GRUs no execution of this model can tap, and why
    fixed: dict[str, np.ndarray] = field(default_factory=dict)  # values given for its inputs (--input NAME=VALUE)
    code_ran: str = ""  # when code from the file runs (TorchScript, a trusted pickle, --trust-code), what and how
    ours: bool = False  # onnxgru wrote it (a conversion): outputs beyond its source's are its own, not unchecked

    @property
    def place(self) -> str:
        """Where a finding about the whole model points: its role when that names its file (a check's labels), else
        the file (a single-model command's role is only ``model``, ``source`` or the framework)."""
        name = Path(self.path).name
        return self.role if name and name in self.role else self.path

    def run(self, inputs: Inputs, taps: bool = True) -> Run:
        """The model run whole on ``inputs``. A model that raises on them (a shape it fixes inside, a traced batch)
        is the user's to settle, never an internal error: a ``UserError`` naming the model, the shapes it was given,
        what it said, and the flags that give it other inputs."""
        assert self.runner is not None, f"{self.role} cannot be run"
        try:
            return self.runner(inputs, taps)
        except (UserError, KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            if type(exc).__name__ == "RuntimeRefused":  # an ONNX model in ONNX Runtime: a finding (GRU007)
                raise
            raise UserError(model_raised(self, inputs, exc)) from None

    @property
    def input_size(self) -> int:
        return self.layers[0].attrs.input_size if self.layers else 0

    @property
    def hidden_size(self) -> int | None:
        return self.layers[-1].attrs.hidden_size if self.layers else None

    @property
    def state_rows(self) -> int:
        return sum(layer.attrs.num_directions for layer in self.layers)

    @property
    def accepts_h0(self) -> bool:
        """Its state inputs cover every row of the stack's initial state."""
        covered: set[int] = set()
        for p in self.signature.by_role("state"):
            first, count = p.rows or (0, 0)
            covered.update(range(first, first + count))
        return bool(self.layers) and covered == set(range(self.state_rows))



def model_raised(model: LoadedModel, inputs: Inputs, exc: BaseException) -> str:
    """One sentence for a model that raised on the inputs it was given: which model, each input's shape, what the
    model said (the last line of a framework's message names the failing op and shapes), and what to give instead."""

    try:
        given = feeds(model.signature, inputs)
        shapes = ", ".join(f"{k} {v.dtype} {tuple(v.shape)}" for k, v in given.items()) or "no inputs"
    except UserError:
        shapes = f"batch {inputs.batch}, {inputs.steps} steps"
    lines = [x.strip() for x in str(exc).splitlines() if x.strip() and not x.strip().startswith(("File ", "~", "^"))]
    said = (lines[-1] if lines else type(exc).__name__)[:300]
    takes = "; ".join(f"{p.name} {_dims(p.shape)}" for p in model.signature.inputs if p.shape is not None)
    return (f"{model.role} ({model.path}) raised {type(exc).__name__} on the inputs onnxgru gave it ({shapes}): "
            f"{said.rstrip('.')}. " + (f"Its signature says {takes}. " if takes else "")
            + "Give inputs it accepts: --batch N, --steps N, --shape NAME=DIMS for a free or unknown axis, or "
            "--inputs FILE.npz with arrays named after its inputs.")


def _dims(shape: tuple) -> str:
    return "(" + ", ".join("?" if not isinstance(d, int) or d <= 0 else str(d) for d in shape) + ")"


def batch_major(values: dict[str, np.ndarray], inputs: Inputs) -> dict[str, np.ndarray]:
    """A time-major model's outputs with the batch first: any output whose first two axes are (steps, batch)."""
    n, t = inputs.batch, inputs.steps
    if t in (0, 1) or t == n:
        return values
    return {k: (np.ascontiguousarray(np.swapaxes(v, 0, 1)) if np.ndim(v) >= 2 and np.shape(v)[:2] == (t, n) else v)
            for k, v in values.items()}
