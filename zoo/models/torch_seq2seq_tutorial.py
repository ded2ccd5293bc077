"""PyTorch's "NLP From Scratch: Translation with a Sequence to Sequence Network and Attention" tutorial.

Rebuilt from the architecture of pytorch/tutorials, ``intermediate_source/seq2seq_translation_tutorial.py`` (the
batched rewrite): ``EncoderRNN`` is ``Embedding(input_lang.n_words, 128)`` and ``Dropout(0.1)`` into
``nn.GRU(128, 128, batch_first=True)``, returning ``(output, hidden)``; ``DecoderRNN`` decodes one step at a time in
``forward_step(input, hidden)``: ``Embedding(output_lang.n_words, 128)``, ``relu``, the same kind of GRU and
``Linear(128, output_lang.n_words)``. Sizes are the tutorial's French -> English data (``fra`` 4,345 words, ``eng``
2,803 words, ``hidden_size = 128``, ``batch_size = 32``). The owner deploys the encoder with ``torch.jit.script`` and
traces the decoder step with ``torch.jit.trace`` on a batch of 2 (token ids ``(2, 1)`` and a state ``(1, 2, 128)``),
both saved with ``torch.jit.save``.
"""

from __future__ import annotations

from pathlib import Path

from zoo.case import Run
from zoo.weights import randomize_torch

LEGACY_KERAS = False
FRA_WORDS, ENG_WORDS, HIDDEN = 4345, 2803, 128
TRACE_BATCH = 2


def build(out: Path) -> list[Run]:
    import torch.nn.functional as F

    import torch

    class EncoderRNN(torch.nn.Module):
        def __init__(self, input_size: int, hidden_size: int, dropout_p: float = 0.1) -> None:
            super().__init__()
            self.hidden_size = hidden_size
            self.embedding = torch.nn.Embedding(input_size, hidden_size)
            self.gru = torch.nn.GRU(hidden_size, hidden_size, batch_first=True)
            self.dropout = torch.nn.Dropout(dropout_p)

        def forward(self, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            embedded = self.dropout(self.embedding(input))
            output, hidden = self.gru(embedded)
            return output, hidden

    class DecoderStep(torch.nn.Module):
        """The tutorial's DecoderRNN with ``forward_step`` as the traced entry point."""

        def __init__(self, hidden_size: int, output_size: int) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(output_size, hidden_size)
            self.gru = torch.nn.GRU(hidden_size, hidden_size, batch_first=True)
            self.out = torch.nn.Linear(hidden_size, output_size)

        def forward(self, input: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            output = F.relu(self.embedding(input))
            output, hidden = self.gru(output, hidden)
            return self.out(output), hidden

    torch.manual_seed(0)
    encoder = EncoderRNN(FRA_WORDS, HIDDEN).eval()
    randomize_torch(encoder, 11)
    torch.jit.save(torch.jit.script(encoder), str(out / "encoder.pt"))

    decoder = DecoderStep(HIDDEN, ENG_WORDS).eval()
    randomize_torch(decoder, 12)
    sos = torch.zeros(TRACE_BATCH, 1, dtype=torch.long)  # SOS_token = 0
    hidden = torch.zeros(1, TRACE_BATCH, HIDDEN)
    with torch.no_grad():
        traced = torch.jit.trace(decoder, (sos, hidden))
    torch.jit.save(traced, str(out / "decoder.pt"))
    return [
        Run(("check", "--torch", "encoder.pt"), 0, "a scripted Embedding -> batch_first nn.GRU encoder", fast=True),
        Run(("check", "--torch", "decoder.pt"), 0,
            "a decoder step traced at batch 2: ids (2, 1) and a state (1, 2, 128) the batch must follow"),
        Run(("export", "torch", "encoder.pt", "-o", "encoder.onnx"), 0, "one fused GRU, ids' axes kept",
            writes="encoder.onnx"),
    ]
