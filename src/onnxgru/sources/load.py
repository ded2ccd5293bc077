"""One entry point for every source kind: ``load(path, role, options) -> LoadedModel``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from onnxgru import limits
from onnxgru.core.model import LoadedModel
from onnxgru.errors import UserError
from onnxgru.files import existing

ONNX_SUFFIXES = {".onnx"}
TF_SUFFIXES = {".pb", ".meta", ".index"}
KERAS_SUFFIXES = {".keras", ".h5", ".hdf5"}
TORCH_SUFFIXES = {".pt", ".pth", ".pt2", ".ts", ".torchscript", ".jit"}


@dataclass(frozen=True)
class LoadOptions:
    """What a user may tell a reader: fixed feeds, names, layout, trust, and the limits a run stays within."""

    fixed: dict[str, np.ndarray] = field(default_factory=dict)  # values to run with (--input, --freeze)
    freeze: dict[str, np.ndarray] = field(default_factory=dict)  # feeds folded into an export (--freeze)
    named: dict[str, np.ndarray] = field(default_factory=dict)  # --inputs FILE.npz by name: weights given as inputs
    time_major: bool | None = None
    batch_first: bool | None = None
    trust_pickle: bool = False
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    trust_code: bool = False  # run TensorFlow ops off the allowlist and unscreened TorchScript (--trust-code)
    time_limit: float = limits.TIME_LIMIT_S  # seconds for one native run, or one runtime on one model
    memory_limit: int = limits.MEMORY_LIMIT_BYTES  # bytes of address space for a runtime's child process
    budget: limits.Budget | None = None  # the whole command's time, which runtimes share (None: no bound but each's)

    def without_fixed(self) -> LoadOptions:
        """The options for reading an export of the source: its own names and layout, nothing to fix by name."""
        return LoadOptions(trust_pickle=self.trust_pickle)


KIND_NAMES = {"onnx": "an ONNX", "tf": "a TensorFlow", "keras": "a Keras", "torch": "a PyTorch"}


def kind_of(path: str | Path) -> str:
    """``"onnx"``, ``"tf"``, ``"keras"`` or ``"torch"`` from the path; a UserError for anything else."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return "onnx"
    if suffix in KERAS_SUFFIXES:
        return "keras"
    if suffix in TORCH_SUFFIXES:
        return "torch"
    if suffix in TF_SUFFIXES:
        return "tf"
    if p.is_dir():
        if (p / "saved_model.pb").exists() or (p / "saved_model.pbtxt").exists():
            return "tf"
        raise UserError(
            f"{str(p)!r} is a folder but not a TensorFlow SavedModel (no saved_model.pb in it); give a model file."
        )
    if Path(str(p) + ".meta").exists() or Path(str(p) + ".index").exists():
        return "tf"  # a TF1 checkpoint prefix
    existing(p)
    raise UserError(
        f"{str(p)!r} is not a source onnxgru reads; give an .onnx file, a TensorFlow .pb / checkpoint prefix / "
        "SavedModel folder, a Keras .keras/.h5 file, or a PyTorch .pt/.pt2 file."
    )


_READERS = {
    "onnx": "onnxgru.sources.onnx_model",
    "tf": "onnxgru.frameworks.tf.source",
    "keras": "onnxgru.frameworks.tf.source",
    "torch": "onnxgru.frameworks.torch.source",
}


def load(
    path: str | Path, role: str = "model", options: LoadOptions | None = None, kind: str | None = None
) -> LoadedModel:
    """Read any source into a ``LoadedModel``. Frameworks are imported only for their own kinds."""
    options = options or LoadOptions()
    kind = kind or kind_of(path)
    try:
        module = importlib.import_module(_READERS[kind])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("onnxgru"):
            raise UserError(f"{kind} sources are not supported by this build of onnxgru yet.") from None
        raise
    model = module.load(Path(path), role, options, kind)
    model.fixed = dict(options.fixed)
    return model
