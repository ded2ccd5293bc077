"""GRU4Rec, session-based recommendations with an RNN, in its popular PyTorch port (``GRU4REC``).

Rebuilt from the architecture of hungpthanh/GRU4REC-pytorch, ``lib/model.py`` (sizes from ``main.py`` and the README's
RSC15 run): with ``--embedding_dim`` set, ``look_up = Embedding(n_items, embedding_dim)`` feeds a sequence-first
``nn.GRU(embedding_dim, 100, num_layers=1, dropout=0.5)``, and ``h2o = Linear(100, n_items)`` with the ``tanh`` final
activation scores every item. ``forward(input, hidden)`` takes one click per session of a session-parallel
mini-batch (item ids ``(B,)``, state ``(1, B, 100)``), unsqueezes it into one time step and returns
``(logit, hidden)`` -- the state it was given, as the owner's code does (it names the GRU's new state ``hdden``).
Item count: RSC15 (YooChoose) after GRU4Rec's filtering, 37,483 items; ``--embedding_dim 100``. Saved with
``torch.jit.script`` + ``torch.jit.save`` for serving (the repo's own checkpoints pickle the whole module).
"""

from __future__ import annotations

from pathlib import Path

from zoo.case import Run
from zoo.weights import randomize_torch

LEGACY_KERAS = False
N_ITEMS, EMBEDDING_DIM, HIDDEN_SIZE, NUM_LAYERS = 37483, 100, 100, 1


def build(out: Path) -> list[Run]:
    import warnings

    import torch

    class GRU4REC(torch.nn.Module):
        def __init__(self, input_size: int, hidden_size: int, output_size: int, num_layers: int,
                     dropout_hidden: float, embedding_dim: int) -> None:
            super().__init__()
            self.hidden_size = hidden_size
            self.h2o = torch.nn.Linear(hidden_size, output_size)
            self.final_activation = torch.nn.Tanh()
            self.look_up = torch.nn.Embedding(input_size, embedding_dim)
            self.gru = torch.nn.GRU(embedding_dim, hidden_size, num_layers, dropout=dropout_hidden)

        def forward(self, input: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            embedded = self.look_up(input.unsqueeze(0))  # (1, B, E): one time step
            output, hdden = self.gru(embedded, hidden)  # noqa: F841 (the owner returns the state it was given)
            output = output.view(-1, output.size(-1))  # (B, H)
            logit = self.final_activation(self.h2o(output))
            return logit, hidden

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dropout with num_layers=1, as the owner's README shows
        model = GRU4REC(N_ITEMS, HIDDEN_SIZE, N_ITEMS, NUM_LAYERS, 0.5, EMBEDDING_DIM)
    randomize_torch(model, 31)
    model.eval()
    torch.jit.save(torch.jit.script(model), str(out / "gru4rec.pt"))
    return [
        Run(("check", "--torch", "gru4rec.pt"), 0,
            "ids (B,) of one click per session, a sequence-first GRU step, scores over 37,483 items", fast=True),
        Run(("export", "torch", "gru4rec.pt", "-o", "gru4rec.onnx"), 0, "one fused GRU, the state input kept",
            writes="gru4rec.onnx"),
    ]
