"""One fused ONNX ``GRU`` node per layer from torch.onnx, for reset-before layers too.

``onnxgru::gru`` is a torch custom op with exactly the ONNX ``GRU`` operator's signature and semantics (its eager
kernel is ``exact.gru_layer``). Both torch.onnx exporters translate it to one ``GRU`` node carrying
``linear_before_reset`` as given: the TorchScript exporter through ``register_custom_op_symbolic``, the dynamo
exporter through ``CUSTOM_TRANSLATIONS`` (an onnxscript function).

``ExportGRU`` is the module onnxgru exports. With the TorchScript exporter it is a plain ``nn.GRU`` where that is
exact, so torch.onnx's own GRU export is what gets written and checked. The dynamo exporter gets the chain of
``onnxgru::gru`` calls for every layer: ``torch.export`` of ``nn.GRU`` fixes the number of time steps (aten.gru's
fake kernel unrolls the sequence, measured on torch 2.13), which would write a model for one sequence length only.

Everything torch is defined (and the op registered) on first use, in ``ops()``.
"""

import functools
from collections.abc import Sequence
from types import SimpleNamespace

from onnxgru._lazy import require
from onnxgru.core.spec import GRULayer
from onnxgru.frameworks.torch import build, exact

OP_NAME = "onnxgru::gru"


@functools.cache
def ops() -> SimpleNamespace:
    """The ``onnxgru::gru`` op (registered with both exporters), ``CUSTOM_TRANSLATIONS`` and ``ExportGRU``."""
    torch = require("torch", "export PyTorch models")
    require("onnxscript", "export PyTorch models with the dynamo exporter")
    from onnxscript import opset18 as op

    from torch import Tensor, nn

    cls = exact.classes()

    @torch.library.custom_op(OP_NAME, mutates_args=())
    def gru(
        X: Tensor, W: Tensor, R: Tensor, B: Tensor, initial_h: Tensor | None, hidden_size: int, direction: str,
        linear_before_reset: int,
    ) -> tuple[Tensor, Tensor]:
        """ONNX ``GRU`` with layout 0: X (T, N, I), W (D, 3H, I), R (D, 3H, H), B (D, 6H), initial_h (D, N, H) or
        None (zeros, as the ONNX operator's optional input) -> Y (T, D, N, H), Y_h (D, N, H)."""
        if initial_h is None:
            initial_h = X.new_zeros(W.shape[0], X.shape[1], hidden_size)
        y, y_h = cls.gru_layer(X, W, R, B, initial_h, linear_before_reset, direction == "reverse")
        steps, batch = X.shape[0], X.shape[1]
        return y.view(steps, batch, W.shape[0], hidden_size).transpose(1, 2).contiguous(), y_h

    @gru.register_fake
    def _gru_fake(X, W, R, B, initial_h, hidden_size, direction, linear_before_reset):
        return (X.new_empty(X.shape[0], W.shape[0], X.shape[1], hidden_size),
                X.new_empty(W.shape[0], X.shape[1], hidden_size))

    def _symbolic(g, X, W, R, B, initial_h, hidden_size, direction, linear_before_reset):
        """TorchScript exporter: the custom op as one ONNX GRU node."""
        from torch.onnx import symbolic_helper
        from torch.onnx.symbolic_opset9 import unused

        initial = unused(g) if symbolic_helper._is_none(initial_h) else initial_h
        return g.op(
            "GRU", X, W, R, B, unused(g), initial,
            hidden_size_i=symbolic_helper._maybe_get_const(hidden_size, "i"),
            direction_s=symbolic_helper._maybe_get_const(direction, "s"),
            linear_before_reset_i=symbolic_helper._maybe_get_const(linear_before_reset, "i"),
            outputs=2,
        )

    torch.onnx.register_custom_op_symbolic(OP_NAME, _symbolic, 9)

    def _translation(X, W, R, B, initial_h, hidden_size: int, direction: str, linear_before_reset: int):
        """Dynamo exporter: the custom op as one ONNX GRU node (an onnxscript translation)."""
        return op.GRU(
            X, W, R, B, None, initial_h, hidden_size=hidden_size, direction=direction,
            linear_before_reset=linear_before_reset,
        )

    CUSTOM_TRANSLATIONS = {torch.ops.onnxgru.gru.default: _translation}

    class ExportGRU(nn.Module):
        """``forward(x, h0) -> (output, state)`` in the source's layout, built to export one GRU node per layer."""

        def __init__(
            self, layers: Sequence[GRULayer], batch_first: bool, dtype: str = "float32", allow_nn_gru: bool = True
        ) -> None:
            super().__init__()
            build.check_torch_buildable(layers, "export torch")
            self.batch_first = batch_first
            after = all(layer.attrs.linear_before_reset for layer in layers)
            self.plain = allow_nn_gru and after and build.plain_directions(layers)
            if self.plain:
                self.gru = build.nn_gru(layers, batch_first=batch_first, dtype=dtype)
                return
            tdtype = build.torch_dtype(dtype)
            self.attrs = [(la.attrs.hidden_size, la.attrs.direction, la.attrs.linear_before_reset) for la in layers]
            for k, layer in enumerate(layers):
                for name, value in (("W", layer.W), ("R", layer.R), ("B", layer.B)):
                    self.register_buffer(f"{name}{k}", torch.tensor(value, dtype=tdtype))

        def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
            if self.plain:
                return self.gru(x, h0)
            seq = x.transpose(0, 1) if self.batch_first else x
            states, row = [], 0
            for k, (hidden, direction, lbr) in enumerate(self.attrs):
                W, R, B = getattr(self, f"W{k}"), getattr(self, f"R{k}"), getattr(self, f"B{k}")
                d = W.shape[0]
                initial = None if h0 is None else h0[row : row + d]  # None: the GRU node's own zeros
                y, y_h = torch.ops.onnxgru.gru(seq, W, R, B, initial, hidden, direction, lbr)
                seq = y.transpose(1, 2).flatten(2)  # (T, D, N, H) -> (T, N, D*H)
                states.append(y_h)
                row += d
            out = seq.transpose(0, 1) if self.batch_first else seq
            return out, torch.cat(states, 0)

    return SimpleNamespace(gru=gru, CUSTOM_TRANSLATIONS=CUSTOM_TRANSLATIONS, ExportGRU=ExportGRU)
