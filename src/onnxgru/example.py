"""The bundled example in ``models/`` (made by ``models/make_models.py``): the blog's port, told in one check.

Group ``blog``: the TF1 ``dynamic_rnn`` GRUCell (5 features, 5 units, realistic weights), the naive ``nn.GRU``
port the blog made, and the exact port written by ``onnxgru convert``. Group ``zero-weights``: the same two
frameworks with every weight zero, the blog's test, which cannot tell any GRU from another. Group ``tagger``: the
same mistake inside a model people ship (token ids -> Embedding -> reset-before GRU -> Dense per step, in Keras),
with its hand-written naive and exact PyTorch ports; the check localises the difference to the GRU layer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from onnxgru.commands.check_cmd import Group, check
from onnxgru.entries import Example
from onnxgru.errors import UserError

FILES = {
    "tf": "blog_gru_cell.pb",
    "naive": "blog_naive_port.pt",
    "exact": "blog_exact_port.pt",
    "tf_zero": "blog_zero_gru_cell.pb",
    "naive_zero": "blog_zero_naive_port.pt",
    "tagger": "tagger.keras",
    "tagger_naive": "tagger_naive_port.pt",
    "tagger_exact": "tagger_exact_port.pt",
}


def folder() -> Path:
    """``$ONNXGRU_MODELS``, else ``models/`` of the source tree this package runs from."""
    env = os.environ.get("ONNXGRU_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def paths() -> dict[str, str]:
    base = folder()
    missing = [name for name in FILES.values() if not (base / name).exists()]
    if missing:
        raise UserError(
            f"the bundled example is not in {str(base)!r} (missing {', '.join(missing)}); run "
            "`python models/make_models.py` in the onnxgru source tree, or give sources with --tf/--torch/--onnx."
        )
    return {k: str(base / v) for k, v in FILES.items()}


def groups() -> list[Group]:
    p = paths()
    return [
        Group("blog", tf=[p["tf"]], torch=[p["naive"], p["exact"]]),
        Group("zero-weights", tf=[p["tf_zero"]], torch=[p["naive_zero"]]),
        Group("tagger", tf=[p["tagger"]], torch=[p["tagger_naive"], p["tagger_exact"]]),
    ]


def shown(path: Path) -> str:
    """A path as a user at the current directory would type it: relative when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):  # not below it, or the current directory is gone
        return str(path)


def describe() -> Example:
    return Example(
        folder=shown(folder()),
        story=(
            "A TF1 dynamic_rnn GRUCell (reset before the recurrent matmul) ported to torch.nn.GRU (reset after): "
            "with real weights the naive port disagrees (GRU001, GRU010) and the exact port from `onnxgru convert` "
            "agrees; with all-zero weights, as the blog tested, every GRU returns 0.5*h0 and the test proves "
            "nothing (GRU006). The same port inside a real model (a Keras tagger: ids -> Embedding -> GRU -> Dense, "
            "ported by hand to PyTorch) fails the same way, and the check says where: the embedding agrees, the "
            "GRU layer differs (GRU001); the exact port agrees."
        ),
    )


def run(**kw: Any) -> Any:
    """``onnxgru check`` on the bundled example: its groups, and its story in the report."""
    return check(groups=groups(), example=describe(), **kw)
