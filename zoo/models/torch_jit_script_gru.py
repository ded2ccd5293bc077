"""A two-layer ``batch_first`` nn.GRU torque model, scripted for deployment: ``ForceResidualGRU``.

Rebuilt from the architecture of es-rl/IsaacLab-Newton, ``scripts/sysid/train_model/enriched_model.py`` (the model)
and ``scripts/sysid/train_model/train_gru_enriched_h1.py`` (its H1 right-arm trainer): ``nn.GRU(24, 128,
num_layers=2, batch_first=True, dropout=0.1)`` over 24 joint features (6 x 4 joints), ``Linear(128, 4)`` and
``tanh(.) * force_bound`` with ``force_bound = 25`` N m; ``forward(x, h=None)`` returns ``(forces, h_new)``. After
training the owner reloads the best checkpoint, calls ``eval()``, and writes ``torch.jit.script(gru).save(...)``
to ``<out>_script.pt`` for the simulator to load.
"""

from __future__ import annotations

from pathlib import Path

from zoo.case import Run
from zoo.weights import randomize_torch

LEGACY_KERAS = False
INPUT_SIZE, HIDDEN_SIZE, NUM_LAYERS, N_JOINTS, FORCE_BOUND = 24, 128, 2, 4, 25.0
SCRIPT = "h1_arm_tier1_enriched_v4_script.pt"


def build(out: Path) -> list[Run]:

    import torch

    class ForceResidualGRU(torch.nn.Module):
        def __init__(self, input_size: int, hidden_size: int, num_layers: int, num_joints: int,
                     force_bound: float, dropout: float) -> None:
            super().__init__()
            self.hidden_size = hidden_size
            self.num_layers = num_layers
            self.force_bound = force_bound
            self.gru = torch.nn.GRU(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                                    batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
            self.force_head = torch.nn.Linear(hidden_size, num_joints)

        def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
            out, h_new = self.gru(x, h)
            forces = torch.tanh(self.force_head(out)) * self.force_bound
            return forces, h_new

    gru = ForceResidualGRU(INPUT_SIZE, HIDDEN_SIZE, NUM_LAYERS, N_JOINTS, FORCE_BOUND, 0.1)
    randomize_torch(gru, 21)
    gru.eval()
    torch.jit.script(gru).save(str(out / SCRIPT))
    return [
        Run(("export", "torch", SCRIPT, "-o", "gru.onnx"), 0, "two fused GRU layers, the optional state kept",
            writes="gru.onnx"),
        Run(("check", "--torch", SCRIPT), 0, "scripted 2-layer batch_first nn.GRU with an Optional state input",
            fast=True),
    ]
