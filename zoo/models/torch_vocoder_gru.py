"""fatchord's WaveRNN vocoder: a mel-conditioned upsampler feeding two 512-unit GRUs over the audio samples.

Rebuilt from the architecture of fatchord/WaveRNN, ``models/fatchord_version.py`` with the sizes of its ``hparams.py``
(LJSpeech, 9-bit mu-law ``RAW`` mode: 512 classes): ``UpsampleNetwork`` (a ``MelResNet`` of 10 residual 1x1-conv
blocks, 128 wide, over 80 mel bins with ``pad = 2``, and ``Stretch2d`` + ``Conv2d`` stages for the upsample factors
``(5, 5, 11)``, hop 275) gives per-sample mels and four 32-wide aux streams; ``I = Linear(80 + 32 + 1, 512)``,
``rnn1 = nn.GRU(512, 512, batch_first=True)``, ``rnn2 = nn.GRU(512 + 32, 512, batch_first=True)`` with residual adds,
then ``fc1``/``fc2`` (512) and ``fc3`` (512 classes). ``forward(x, mels)``: ``x`` the previous audio samples
``(B, 1375)`` (``voc_seq_len = 5 * hop_length``), ``mels`` ``(B, 80, 9)`` (5 frames plus ``pad`` on each side).
The owner saves state dicts; this is the model as deployed with ``torch.jit.script`` + ``torch.jit.save``
(the ``.cuda()`` state allocations become ``zeros`` on the input's device, the training step counter is left out),
and traced on one window for an ONNX deployment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.case import Run
from zoo.weights import randomize_torch

LEGACY_KERAS = False
RNN_DIMS, FC_DIMS, BITS, PAD = 512, 512, 9, 2
UPSAMPLE, FEAT_DIMS, COMPUTE_DIMS, RES_OUT_DIMS, RES_BLOCKS, HOP = (5, 5, 11), 80, 128, 128, 10, 275
SEQ_LEN = 5 * HOP  # 1,375 samples per training window
BATCH = 2


def build(out: Path) -> list[Run]:
    import torch.nn.functional as F

    import torch
    from torch import nn

    class ResBlock(nn.Module):
        def __init__(self, dims: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv1d(dims, dims, kernel_size=1, bias=False)
            self.conv2 = nn.Conv1d(dims, dims, kernel_size=1, bias=False)
            self.batch_norm1 = nn.BatchNorm1d(dims)
            self.batch_norm2 = nn.BatchNorm1d(dims)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.relu(self.batch_norm1(self.conv1(x)))
            return self.batch_norm2(self.conv2(y)) + x

    class MelResNet(nn.Module):
        def __init__(self, res_blocks: int, in_dims: int, compute_dims: int, res_out_dims: int, pad: int) -> None:
            super().__init__()
            self.conv_in = nn.Conv1d(in_dims, compute_dims, kernel_size=pad * 2 + 1, bias=False)
            self.batch_norm = nn.BatchNorm1d(compute_dims)
            self.layers = nn.ModuleList([ResBlock(compute_dims) for _ in range(res_blocks)])
            self.conv_out = nn.Conv1d(compute_dims, res_out_dims, kernel_size=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(self.batch_norm(self.conv_in(x)))
            for f in self.layers:
                x = f(x)
            return self.conv_out(x)

    class Stretch2d(nn.Module):
        def __init__(self, x_scale: int, y_scale: int) -> None:
            super().__init__()
            self.x_scale = x_scale
            self.y_scale = y_scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, c, h, w = x.size(0), x.size(1), x.size(2), x.size(3)
            x = x.unsqueeze(-1).unsqueeze(3).repeat(1, 1, 1, self.y_scale, 1, self.x_scale)
            return x.view(b, c, h * self.y_scale, w * self.x_scale)

    class UpsampleNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            total_scale = int(np.prod(UPSAMPLE))
            self.indent = PAD * total_scale
            self.resnet = MelResNet(RES_BLOCKS, FEAT_DIMS, COMPUTE_DIMS, RES_OUT_DIMS, PAD)
            self.resnet_stretch = Stretch2d(total_scale, 1)
            layers: list[nn.Module] = []
            for scale in UPSAMPLE:
                layers.append(Stretch2d(scale, 1))
                layers.append(nn.Conv2d(1, 1, kernel_size=(1, scale * 2 + 1), padding=(0, scale), bias=False))
            self.up_layers = nn.ModuleList(layers)

        def forward(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            aux = self.resnet_stretch(self.resnet(m).unsqueeze(1)).squeeze(1)
            m = m.unsqueeze(1)
            for f in self.up_layers:
                m = f(m)
            m = m.squeeze(1)[:, :, self.indent:-self.indent]
            return m.transpose(1, 2), aux.transpose(1, 2)

    class WaveRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn_dims = RNN_DIMS
            self.aux_dims = RES_OUT_DIMS // 4
            self.upsample = UpsampleNetwork()
            self.I = nn.Linear(FEAT_DIMS + self.aux_dims + 1, RNN_DIMS)  # noqa: E741 (the owner's name)
            self.rnn1 = nn.GRU(RNN_DIMS, RNN_DIMS, batch_first=True)
            self.rnn2 = nn.GRU(RNN_DIMS + self.aux_dims, RNN_DIMS, batch_first=True)
            self.fc1 = nn.Linear(RNN_DIMS + self.aux_dims, FC_DIMS)
            self.fc2 = nn.Linear(FC_DIMS + self.aux_dims, FC_DIMS)
            self.fc3 = nn.Linear(FC_DIMS, 2 ** BITS)

        def forward(self, x: torch.Tensor, mels: torch.Tensor) -> torch.Tensor:
            bsize = x.size(0)
            h1 = torch.zeros(1, bsize, self.rnn_dims, dtype=x.dtype, device=x.device)
            h2 = torch.zeros(1, bsize, self.rnn_dims, dtype=x.dtype, device=x.device)
            mels, aux = self.upsample(mels)
            d = self.aux_dims
            a1, a2, a3, a4 = aux[:, :, 0:d], aux[:, :, d:2 * d], aux[:, :, 2 * d:3 * d], aux[:, :, 3 * d:4 * d]
            x = self.I(torch.cat([x.unsqueeze(-1), mels, a1], dim=2))
            res = x
            x, _ = self.rnn1(x, h1)
            x = x + res
            res = x
            x, _ = self.rnn2(torch.cat([x, a2], dim=2), h2)
            x = x + res
            x = F.relu(self.fc1(torch.cat([x, a3], dim=2)))
            x = F.relu(self.fc2(torch.cat([x, a4], dim=2)))
            return self.fc3(x)

    model = WaveRNN()
    randomize_torch(model, 41)
    model.eval()
    torch.jit.save(torch.jit.script(model), str(out / "wavernn.pt"))

    rng = np.random.default_rng(42)
    frames = SEQ_LEN // HOP + 2 * PAD
    x = rng.uniform(-1, 1, (BATCH, SEQ_LEN)).astype(np.float32)
    mels = rng.uniform(0, 1, (BATCH, FEAT_DIMS, frames)).astype(np.float32)
    with torch.no_grad():  # the shapes must fit: (frames - 2 pad) * hop samples
        assert model(torch.from_numpy(x), torch.from_numpy(mels)).shape == (BATCH, SEQ_LEN, 2 ** BITS)
    np.savez(out / "window.npz", x=x, mels=mels)
    with torch.no_grad():  # as deployed for ONNX: traced on one window (the export path torch.onnx handles)
        torch.jit.save(torch.jit.trace(model, (torch.from_numpy(x), torch.from_numpy(mels))),
                       str(out / "wavernn_traced.pt"))
    return [
        Run(("check", "--torch", "wavernn.pt"), 2,
            "x (B, T) and mels (B, 80, T / 275 + 4) must agree, which no signature says: one sentence with the "
            "shapes tried and --inputs"),
        Run(("check", "--torch", "wavernn.pt", "--inputs", "window.npz"), 0,
            "one training window (1,375 samples, 9 mel frames): torch.onnx cannot leave its squeezes' axes free, so "
            "it is exported at the window's shapes (a GRU011 says so) and checked in every runtime"),
        Run(("check", "--torch", "wavernn_traced.pt", "--inputs", "window.npz"), 0,
            "traced: exported, two GRU nodes over 1,375 steps in every runtime, a verdict within the command's "
            "budget"),
    ]
