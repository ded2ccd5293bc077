"""The exact GRU in PyTorch: ``GRUStack``, a scriptable stack of GRU layers of either family.

``torch.nn.GRU`` computes only the reset-after GRU (ONNX ``linear_before_reset=1``). A TF1 ``GRUCell`` or a Keras
``GRU(reset_after=False)`` resets *before* the recurrent matmul (``linear_before_reset=0``), which no ``nn.GRU``
reproduces. ``GRUStack`` computes both, exactly as the ONNX ``GRU`` operator specifies.

Parameter layout (documented, stable): layer ``k`` is ``layers.{k}`` with

    W (D, 3H, I), R (D, 3H, H), B (D, 6H) = [Wb | Rb]      gate rows [z | r | h]

i.e. the canonical form of ``onnxgru.core.spec`` (the ONNX GRU node's own W/R/B inputs), so mapping a layer to or
from ``GRULayer`` is the identity and the ONNX export passes the parameters through unchanged. ``D`` is 2 for a
bidirectional layer (direction 0 forward, 1 backward). Each layer also records ``direction``, ``hidden_size`` and
``linear_before_reset``.

A scripted ``GRUStack`` (``torch.jit.script``) carries its code with it and loads with plain torch, without
onnxgru. The torch code is defined on first use (``classes()``), so importing this module does not import torch.
"""

import functools
from types import SimpleNamespace

from onnxgru._lazy import require

FORMAT = "onnxgru.GRUStack/1"
CONVERTED_FORMAT = "onnxgru.ConvertedGRU/1"
CONVERTED_CELLS_FORMAT = "onnxgru.ConvertedGRUCells/1"


@functools.cache
def classes() -> SimpleNamespace:
    """``gru_layer``, ``GRULayerParams``, ``GRUStack`` and ``ConvertedGRU``, defined once torch is imported."""
    torch = require("torch", "build PyTorch GRU modules")
    from torch import Tensor, nn

    def gru_step(
        x_zr: Tensor, x_h: Tensor, h: Tensor, r_zr: Tensor, r_h: Tensor, rb_h: Tensor, hidden_size: int,
        linear_before_reset: int,
    ) -> Tensor:
        """One step of one direction: the new state from this step's input projections and the state."""
        zr = torch.sigmoid(torch.addmm(x_zr, h, r_zr))
        z = zr[:, :hidden_size]
        r = zr[:, hidden_size:]
        if linear_before_reset == 1:
            # reset after: h~ = tanh(Wh x + Wbh + r * (Rh h + Rbh))
            c = torch.tanh(torch.addcmul(x_h, r, torch.addmm(rb_h, h, r_h)))
        else:
            # reset before: h~ = tanh(Wh x + Wbh + Rbh + Rh (r * h))   (Rbh is already in x_h)
            c = torch.tanh(torch.addmm(x_h, r * h, r_h))
        return torch.lerp(c, h, z)  # (1 - z) * h~ + z * h

    def gru_direction(
        xw: Tensor, h: Tensor, r_zr: Tensor, r_h: Tensor, rb_h: Tensor, hidden_size: int, linear_before_reset: int,
        reverse: bool,
    ) -> tuple[Tensor, Tensor]:
        """The recurrence of one direction. ``xw`` (T, N, 3H) holds every step's input projection with the biases
        that can be added before the loop; ``r_zr`` (H, 2H) and ``r_h`` (H, H) are transposed recurrent weights."""
        steps = xw.shape[0]
        x_zr = xw[:, :, : 2 * hidden_size]
        x_h = xw[:, :, 2 * hidden_size :]
        out: list[Tensor] = []
        for i in range(steps):
            t = steps - 1 - i if reverse else i
            h = gru_step(x_zr[t], x_h[t], h, r_zr, r_h, rb_h, hidden_size, linear_before_reset)
            out.append(h)
        if reverse:
            out.reverse()
        return torch.stack(out), h

    def gru_direction_lengths(
        xw: Tensor, h: Tensor, r_zr: Tensor, r_h: Tensor, rb_h: Tensor, hidden_size: int, linear_before_reset: int,
        reverse: bool, lengths: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """``gru_direction`` where ``lengths`` (N,) may stop rows early: a row's steps from its length on are skipped
        (output 0, state held), as ONNX ``sequence_lens`` and TensorFlow's ``sequence_length`` do; the reverse
        direction then starts at the row's own last step. A separate function so that the plain one, which a whole
        model's export goes through, holds no optional value torch.onnx would write out."""
        if lengths is None:
            return gru_direction(xw, h, r_zr, r_h, rb_h, hidden_size, linear_before_reset, reverse)
        steps = xw.shape[0]
        x_zr = xw[:, :, : 2 * hidden_size]
        x_h = xw[:, :, 2 * hidden_size :]
        out: list[Tensor] = []
        for i in range(steps):
            t = steps - 1 - i if reverse else i
            new = gru_step(x_zr[t], x_h[t], h, r_zr, r_h, rb_h, hidden_size, linear_before_reset)
            valid = (lengths > t).unsqueeze(1)
            h = torch.where(valid, new, h)
            out.append(torch.where(valid, new, torch.zeros_like(new)))
        if reverse:
            out.reverse()
        return torch.stack(out), h

    def direction_inputs(
        x: Tensor, W: Tensor, R: Tensor, B: Tensor, d: int, linear_before_reset: int
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Direction ``d``'s input projections for every step (T, N, 3H), in one matmul with the biases that can be
        added before the loop, its transposed recurrent weights, and the candidate's recurrent bias."""
        hidden = R.shape[2]
        steps, batch, features = x.shape[0], x.shape[1], x.shape[2]
        wb = B[d, : 3 * hidden]
        rb = B[d, 3 * hidden :]
        if linear_before_reset == 1:
            # Rbh is multiplied by r inside the loop; the z and r recurrent biases add to the input side.
            bias = torch.cat([wb[: 2 * hidden] + rb[: 2 * hidden], wb[2 * hidden :]])
        else:
            bias = wb + rb
        xw = torch.addmm(bias, x.reshape(steps * batch, features), W[d].t()).view(steps, batch, 3 * hidden)
        return xw, R[d, : 2 * hidden].t().contiguous(), R[d, 2 * hidden :].t().contiguous(), rb[2 * hidden :]

    def gru_layer(
        x: Tensor, W: Tensor, R: Tensor, B: Tensor, h0: Tensor, linear_before_reset: int, reverse_first: bool
    ) -> tuple[Tensor, Tensor]:
        """One ONNX GRU layer on time-major ``x`` (T, N, I) and ``h0`` (D, N, H): ``(Y (T, N, D*H), Y_h (D, N, H))``.

        ``reverse_first`` runs direction 0 backwards (ONNX ``direction="reverse"``)."""
        ys: list[Tensor] = []
        hs: list[Tensor] = []
        for d in range(W.shape[0]):
            xw, r_zr, r_h, rb_h = direction_inputs(x, W, R, B, d, linear_before_reset)
            y, h = gru_direction(xw, h0[d], r_zr, r_h, rb_h, R.shape[2], linear_before_reset, (d == 1) or reverse_first)
            ys.append(y)
            hs.append(h)
        return torch.cat(ys, 2), torch.stack(hs)

    def gru_layer_lengths(
        x: Tensor, W: Tensor, R: Tensor, B: Tensor, h0: Tensor, linear_before_reset: int, reverse_first: bool,
        lengths: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """``gru_layer`` with ``lengths`` (N,), ONNX's ``sequence_lens`` (None: every step of every row)."""
        ys: list[Tensor] = []
        hs: list[Tensor] = []
        for d in range(W.shape[0]):
            xw, r_zr, r_h, rb_h = direction_inputs(x, W, R, B, d, linear_before_reset)
            y, h = gru_direction_lengths(xw, h0[d], r_zr, r_h, rb_h, R.shape[2], linear_before_reset,
                                         (d == 1) or reverse_first, lengths)
            ys.append(y)
            hs.append(h)
        return torch.cat(ys, 2), torch.stack(hs)

    class GRULayerParams(nn.Module):
        """One layer's parameters in canonical layout and its attributes."""

        hidden_size: int
        input_size: int
        num_directions: int
        linear_before_reset: int
        direction: str

        reverse_output: bool

        def __init__(
            self, W: Tensor, R: Tensor, B: Tensor, linear_before_reset: int, direction: str,
            reverse_output: bool = False,
        ) -> None:
            super().__init__()
            d, h3, i = W.shape
            assert R.shape == (d, h3, h3 // 3) and B.shape == (d, 2 * h3), (W.shape, R.shape, B.shape)
            assert (direction == "bidirectional") == (d == 2), (direction, d)
            self.W = nn.Parameter(W)
            self.R = nn.Parameter(R)
            self.B = nn.Parameter(B)
            self.hidden_size = h3 // 3
            self.input_size = i
            self.num_directions = d
            self.linear_before_reset = int(linear_before_reset)
            self.direction = direction
            self.reverse_output = bool(reverse_output)  # Keras go_backwards: the steps come out in the order read

        def forward(self, x: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
            y, h = gru_layer(x, self.W, self.R, self.B, h0, self.linear_before_reset, self.direction == "reverse")
            if self.reverse_output:
                y = torch.flip(y, [0])
            return y, h

        def forward_lengths(self, x: Tensor, h0: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
            y, h = gru_layer_lengths(x, self.W, self.R, self.B, h0, self.linear_before_reset,
                                     self.direction == "reverse", lengths)
            if self.reverse_output:
                y = torch.flip(y, [0])
            return y, h

    class GRUStack(nn.Module):
        """A stack of exact GRU layers with ``nn.GRU``'s interface: ``forward(input, hx=None) -> (output, h_n)``.

        ``input`` is (T, N, I), or (N, T, I) with ``batch_first``; ``hx`` and ``h_n`` are (layers*dirs, N, H) in
        ``nn.GRU``'s order; ``output`` is the last layer's (T, N, D*H) (batch first: (N, T, D*H)). Layers of different
        hidden sizes (a Keras stack 8 -> 4, a MultiRNNCell) take and give one state per layer instead:
        ``forward_cells(input, states=None) -> (output, [(D, N, H_k), ...])``. ``forward_lengths(input, hx, lengths)``
        and ``forward_cells_lengths(input, states, lengths)`` also take ``lengths`` (N,), the steps of each row (ONNX
        ``sequence_lens``, TensorFlow's ``sequence_length``): later steps output 0."""

        batch_first: bool
        hidden_size: int
        state_rows: int
        onnxgru_module: str

        def __init__(self, layers: list[GRULayerParams], batch_first: bool = False) -> None:
            super().__init__()
            assert layers, "a stack has layers"
            self.layers = nn.ModuleList(layers)
            self.batch_first = batch_first
            self.hidden_size = layers[-1].hidden_size
            self.state_rows = sum(layer.num_directions for layer in layers)
            self.onnxgru_module = FORMAT

        def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
            out, finals = self.forward_cells(input, self.split(hx))
            return out, torch.cat(finals, 0)

        @torch.jit.export  # compiled with forward, so a scripted stack takes lengths too
        def forward_lengths(self, input: Tensor, hx: Tensor | None, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
            out, finals = self.forward_cells_lengths(input, self.split(hx), lengths)
            return out, torch.cat(finals, 0)

        def split(self, hx: Tensor | None) -> list[Tensor]:
            """``nn.GRU``'s (layers*dirs, N, H) state as one (D, N, H) state per layer."""
            states: list[Tensor] = []
            if hx is not None:
                row = 0
                for layer in self.layers:
                    states.append(hx[row : row + layer.num_directions])
                    row += layer.num_directions
            return states

        def forward_cells(self, input: Tensor, states: list[Tensor] | None = None) -> tuple[Tensor, list[Tensor]]:
            """``forward`` with one state per layer, (D, N, H_k): for layers of different hidden sizes."""
            x = input.transpose(0, 1) if self.batch_first else input
            finals: list[Tensor] = []
            k = 0
            for layer in self.layers:
                x, h = layer(x, self.initial(layer.num_directions, layer.hidden_size, x, states, k))
                finals.append(h)
                k += 1
            out = x.transpose(0, 1) if self.batch_first else x
            return out, finals

        @torch.jit.export  # compiled with forward, so a scripted stack takes lengths too
        def forward_cells_lengths(self, input: Tensor, states: list[Tensor] | None, lengths: Tensor | None
                                  ) -> tuple[Tensor, list[Tensor]]:
            """``forward_cells`` with ``lengths`` (N,); kept apart so that the plain path, which a whole model's
            export goes through, holds no optional value torch.onnx would write out."""
            x = input.transpose(0, 1) if self.batch_first else input
            finals: list[Tensor] = []
            k = 0
            for layer in self.layers:
                x, h = layer.forward_lengths(x, self.initial(layer.num_directions, layer.hidden_size, x, states, k),
                                             lengths)
                finals.append(h)
                k += 1
            out = x.transpose(0, 1) if self.batch_first else x
            return out, finals

        def initial(self, directions: int, hidden: int, x: Tensor, states: list[Tensor] | None, k: int) -> Tensor:
            if states is None or len(states) == 0:
                return torch.zeros(directions, x.shape[1], hidden, dtype=x.dtype, device=x.device)
            return states[k]

    class ConvertedGRU(nn.Module):
        """What ``onnxgru convert`` writes: ``forward(x, h0=None, lengths=None) -> (outputs, final_state)`` in the
        source's layout; ``lengths`` (N,) only where the exact GRU is inside (a source that reads sequence lengths).

        ``x`` is batch-major (N, T, I) unless the source was time-major (T, N, I). The state is (N, H) when the source
        has one GRU layer of one direction (as TensorFlow and Keras return it), else (layers*dirs, N, H)."""

        time_major: bool
        squeeze_state: bool
        source: str
        onnxgru_module: str

        def __init__(self, gru: nn.Module, time_major: bool, squeeze_state: bool, source: str = "") -> None:
            super().__init__()
            self.gru = gru
            self.time_major = time_major
            self.squeeze_state = squeeze_state
            self.source = source
            self.onnxgru_module = CONVERTED_FORMAT

        def forward(self, x: Tensor, h0: Tensor | None = None, lengths: Tensor | None = None
                    ) -> tuple[Tensor, Tensor]:
            if h0 is not None and self.squeeze_state:
                h0 = h0.unsqueeze(0)
            if hasattr(self.gru, "state_rows"):  # the exact GRUStack (decided when scripted): lengths as TF reads them
                out, h = self.gru.forward_lengths(x, h0, lengths)
            else:
                if lengths is not None:
                    raise RuntimeError("this module wraps an nn.GRU, which takes no lengths; convert again with the "
                                       "lengths input, which writes the exact GRU")
                out, h = self.gru(x, h0)
            if self.squeeze_state:
                h = h.squeeze(0)
            return out, h

    class ConvertedGRUCells(nn.Module):
        """What ``onnxgru convert`` writes for layers of different hidden sizes (a MultiRNNCell, a Keras stack 8 -> 4):
        ``forward(x, h0=None) -> (outputs, [state, ...])``, one final state per layer as TensorFlow's MultiRNNCell
        gives its state tuple: (N, H_k) for a layer of one direction, else (D, N, H_k). ``h0`` is such a list."""

        time_major: bool
        source: str
        onnxgru_module: str

        def __init__(self, gru: nn.Module, time_major: bool, source: str = "") -> None:
            super().__init__()
            self.gru = gru
            self.time_major = time_major
            self.source = source
            self.onnxgru_module = CONVERTED_CELLS_FORMAT

        def forward(self, x: Tensor, h0: list[Tensor] | None = None, lengths: Tensor | None = None
                    ) -> tuple[Tensor, list[Tensor]]:
            states: list[Tensor] = []
            if h0 is not None:
                for h in h0:
                    states.append(h.unsqueeze(0) if h.dim() == 2 else h)
            out, finals = self.gru.forward_cells_lengths(x, states, lengths)
            squeezed: list[Tensor] = []
            for h in finals:
                squeezed.append(h.squeeze(0) if h.shape[0] == 1 else h)
            return out, squeezed

    return SimpleNamespace(
        gru_direction=gru_direction, gru_layer=gru_layer, GRULayerParams=GRULayerParams, GRUStack=GRUStack,
        ConvertedGRU=ConvertedGRU, ConvertedGRUCells=ConvertedGRUCells,
    )
