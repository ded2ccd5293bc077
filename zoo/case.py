"""What a zoo builder returns: the onnxgru commands an owner would run, and what the truth says they must give."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    """One onnxgru command on a zoo model. ``argv`` is relative to the model's folder (where ``build`` wrote the
    files); ``expect`` is the exit code the truth calls for; ``why`` says it in a few words (shown in ZOO.md);
    ``fast`` puts the command in the subset ``make test`` runs; ``writes`` names the file the command must write
    (``export``/``convert``), checked to exist after an exit 0 or 1."""

    argv: tuple[str, ...]
    expect: int
    why: str
    fast: bool = False
    writes: str | None = None

    @property
    def command(self) -> str:
        return " ".join(self.argv)
