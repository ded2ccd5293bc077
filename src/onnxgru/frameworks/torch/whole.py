"""A whole model rebuilt in PyTorch from a ``core.plan.Plan``: one module per step, each GRU its exact module.

``ConvertedModel`` is what ``onnxgru convert`` writes for a model with layers around its GRUs (a Keras text
classifier, a sensor model): ``forward(x) -> y`` with the source's input (token ids as any integer tensor) and its
one output. It is plain ``torch.nn`` plus onnxgru's exact GRU modules, scripted, so ``torch.jit.load`` reads it
without onnxgru.
"""


import functools
import re
from types import SimpleNamespace
from typing import Any

import numpy as np

from onnxgru._lazy import require
from onnxgru.core.plan import Plan, Step
from onnxgru.core.spec import GRULayer
from onnxgru.frameworks.torch import build as builders

WHOLE_FORMAT = "onnxgru.ConvertedModel/1"
EACH_FORMAT = "onnxgru.ConvertedGRUs/1"


@functools.cache
def classes() -> SimpleNamespace:
    torch = require("torch", "build PyTorch modules")
    from torch import Tensor, nn

    class Activation(nn.Module):
        """An elementwise activation by name (softmax over the last axis), as Keras computes it."""

        how: str

        def __init__(self, how: str) -> None:
            super().__init__()
            self.how = how

        def forward(self, x: Tensor) -> Tensor:  # noqa: PLR0911 - one branch per activation
            if self.how == "relu":
                return torch.relu(x)
            if self.how == "sigmoid":
                return torch.sigmoid(x)
            if self.how == "tanh":
                return torch.tanh(x)
            if self.how == "softmax":
                return torch.softmax(x, -1)
            if self.how == "elu":
                return torch.nn.functional.elu(x)
            if self.how == "selu":
                return torch.selu(x)
            if self.how == "softplus":
                return torch.nn.functional.softplus(x)
            if self.how == "softsign":
                return torch.nn.functional.softsign(x)
            if self.how == "silu":
                return torch.nn.functional.silu(x)
            if self.how == "gelu":
                return torch.nn.functional.gelu(x)
            return x

    class Embedding(nn.Module):
        def __init__(self, table: np.ndarray) -> None:
            super().__init__()
            self.embedding = nn.Embedding.from_pretrained(torch.from_numpy(table.copy()), freeze=True)

        def forward(self, x: Tensor) -> Tensor:
            return self.embedding(x.long())

    class Dense(nn.Module):
        def __init__(self, kernel: np.ndarray, bias: np.ndarray | None, how: str) -> None:
            super().__init__()
            self.linear = nn.Linear(kernel.shape[0], kernel.shape[1], bias=bias is not None)
            with torch.no_grad():
                self.linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
                if bias is not None:
                    self.linear.bias.copy_(torch.from_numpy(bias))
            self.activation = Activation(how)

        def forward(self, x: Tensor) -> Tensor:
            return self.activation(self.linear(x))

    class Conv1d(nn.Module):
        """Keras's channels-last Conv1D: (N, T, C) in and out, TensorFlow's padding."""

        left: int
        right: int

        def __init__(self, kernel: np.ndarray, bias: np.ndarray | None, how: str, stride: int, padding: str,
                     dilation: int) -> None:
            super().__init__()
            width, cin, cout = kernel.shape
            self.conv = nn.Conv1d(cin, cout, width, stride=stride, dilation=dilation, bias=bias is not None)
            with torch.no_grad():
                self.conv.weight.copy_(torch.from_numpy(kernel.transpose(2, 1, 0).copy()))
                if bias is not None and self.conv.bias is not None:
                    self.conv.bias.copy_(torch.from_numpy(bias))
            total = (width - 1) * dilation if padding in ("same", "causal") else 0
            self.left = total if padding == "causal" else total // 2  # TensorFlow pads the extra step on the right
            self.right = total - self.left
            self.activation = Activation(how)

        def forward(self, x: Tensor) -> Tensor:
            x = torch.nn.functional.pad(x.transpose(1, 2), [self.left, self.right])
            return self.activation(self.conv(x).transpose(1, 2))

    class Tail(nn.Module):
        """What follows a GRU layer up to the next: its output as Keras gives it (the sequence, or with
        ``return_sequences`` False the last output, which for a bidirectional layer is both directions' final states
        side by side), then the layers after it."""

        return_sequences: bool

        def __init__(self, return_sequences: bool, after: list[nn.Module]) -> None:
            super().__init__()
            self.return_sequences = return_sequences
            self.after = nn.Sequential(*after)

        def forward(self, y: Tensor, h: Tensor) -> Tensor:
            if not self.return_sequences:
                y = h.transpose(0, 1).reshape(h.shape[1], -1)  # (D, N, H) -> (N, D*H)
            return self.after(y)

    class Pool(nn.Module):
        how: str

        def __init__(self, how: str) -> None:
            super().__init__()
            self.how = how

        def forward(self, x: Tensor) -> Tensor:
            if self.how == "max":
                return x.amax(1)
            return x.mean(1)

    class Flatten(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x.reshape(x.shape[0], -1)

    class Norm(nn.Module):
        """Inference-time normalisation over the last axis: batch norm folded to a scale and shift; layer norm."""

        how: str
        epsilon: float

        def __init__(self, scale: np.ndarray, shift: np.ndarray, how: str, epsilon: float) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.from_numpy(scale.astype(np.float32)), requires_grad=False)
            self.shift = nn.Parameter(torch.from_numpy(shift.astype(np.float32)), requires_grad=False)
            self.how = how
            self.epsilon = epsilon

        def forward(self, x: Tensor) -> Tensor:
            if self.how == "layer":
                return torch.nn.functional.layer_norm(x, [x.shape[-1]], self.scale, self.shift, self.epsilon)
            return x * self.scale + self.shift

    class ConvertedModel(nn.Module):
        """What ``onnxgru convert`` writes for a model with layers around its GRUs: ``forward(x) -> y``. The layers
        before the first GRU (``head``), then each GRU (``grus``, batch-major ``nn.GRU`` or exact ``GRUStack``, by the
        source layer's name) and what follows it (``tails``)."""

        source: str
        onnxgru_module: str

        def __init__(self, head: list[nn.Module], grus: dict[str, nn.Module], tails: dict[str, nn.Module],
                     source: str = "") -> None:
            super().__init__()
            self.head = nn.Sequential(*head)
            self.grus = nn.ModuleDict(grus)
            self.tails = nn.ModuleDict(tails)
            self.source = source
            self.onnxgru_module = WHOLE_FORMAT

        def forward(self, x: Tensor) -> Tensor:
            x = self.head(x)
            for gru, tail in zip(self.grus.values(), self.tails.values()):
                y, h = gru(x)  # called from forward itself: each GRU of the written file can be tapped and fused
                x = tail(y, h)
            return x

    class ConvertedGRUs(nn.Module):
        """What ``onnxgru convert`` writes when the model around its GRUs cannot be rebuilt: each GRU layer on its own,
        ``forward(name, x, h0=None, lengths=None) -> (outputs, final_state)`` in the source's layout (``name`` the
        source's layer name or its key in ``grus``); ``grus`` holds the modules by key."""

        keys: dict[str, str]
        source: str
        onnxgru_module: str

        def __init__(self, grus: dict[str, nn.Module], keys: dict[str, str], source: str = "") -> None:
            super().__init__()
            self.grus = nn.ModuleDict(grus)
            self.keys = keys
            self.source = source
            self.onnxgru_module = EACH_FORMAT

        def forward(self, name: str, x: Tensor, h0: Tensor | None = None, lengths: Tensor | None = None
                    ) -> tuple[Tensor, Tensor]:
            key = self.keys.get(name, name)
            for k, gru in self.grus.items():
                if k == key:
                    return gru(x, h0, lengths)
            raise RuntimeError("no GRU named " + name + "; the names are the keys of .grus")

    return SimpleNamespace(ConvertedGRUs=ConvertedGRUs, Activation=Activation, Embedding=Embedding, Dense=Dense,
                           Conv1d=Conv1d, Tail=Tail, Pool=Pool, Flatten=Flatten, Norm=Norm,
                           ConvertedModel=ConvertedModel)


def build(plan: Plan, layers: tuple[GRULayer, ...], dtype: str, target: str, source: str = "") -> Any:
    """The ``ConvertedModel`` of ``plan``; each GRU is ``build.inner`` of ``target``, batch-major."""

    c = classes()
    head: list[Any] = []
    grus: dict[str, Any] = {}
    tails: dict[str, tuple[bool, list[Any]]] = {}
    segment = head
    for step in plan.steps:
        if step.kind == "recurrent":
            key = _key(step.name, len(grus), grus)
            grus[key] = builders.inner([layers[k] for k in step.layers], True, dtype, target)
            segment = []
            tails[f"after_{key}"] = (step.options["return_sequences"], segment)
        elif (module := _module(c, step)) is not None:
            segment.append(module)
    return c.ConvertedModel(head, grus, {k: c.Tail(*v) for k, v in tails.items()}, source=source).eval()


def _key(name: str, k: int, taken: dict[str, Any]) -> str:
    """A module attribute name for a layer name (``rnn/gru_cell`` -> ``rnn_gru_cell``), unique among ``taken``."""
    key = re.sub(r"\W", "_", name)
    return key if key and not key[0].isdigit() and key not in taken and not key.startswith("after_") else f"gru_{k}"


def build_each(layers: tuple[GRULayer, ...], indices: list[int], time_major: bool, dtype: str, target: str,
               source: str = "", lengths: bool = False) -> tuple[Any, dict[str, str]]:
    """A ``ConvertedGRUs`` of the layers ``indices``, each its own ``build.converted`` module (the exact GRU where
    the source reads ``lengths``); and the key of each layer name (a name with characters a module attribute cannot
    hold gets them replaced by ``_``)."""

    keys: dict[str, str] = {}
    for k in indices:
        keys[layers[k].name] = _key(layers[k].name, k, dict.fromkeys(keys.values()))
    modules = {keys[layers[k].name]: builders.converted([layers[k]], time_major, dtype, target, source=layers[k].name,
                                                        lengths=lengths) for k in indices}
    return classes().ConvertedGRUs(modules, keys, source=source).eval(), keys


def _module(c: SimpleNamespace, step: Step) -> Any:
    a, o = step.arrays, step.options
    if step.kind == "identity":
        return None
    if step.kind == "embedding":
        return c.Embedding(a["table"])
    if step.kind == "dense":
        return c.Dense(a["kernel"], a.get("bias"), o["activation"])
    if step.kind == "conv1d":
        return c.Conv1d(a["kernel"], a.get("bias"), o["activation"], o["stride"], o["padding"], o["dilation"])
    if step.kind == "activation":
        return c.Activation(o["activation"])
    if step.kind == "pool":
        return c.Pool(o["how"])
    if step.kind == "flatten":
        return c.Flatten()
    return c.Norm(a["scale"], a["shift"], o["how"], o.get("epsilon", 0.0))
