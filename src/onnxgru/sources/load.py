"""One entry point for every source kind: ``load(path, role, options) -> LoadedModel``."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from onnxgru import limits
from onnxgru.core.model import LoadedModel
from onnxgru.errors import UserError
from onnxgru.files import DATA_SHARD, checkpoint_prefix, existing
from onnxgru.graph.read import external_files

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
    if not p.exists() and (Path(f"{p}.meta").exists() or Path(f"{p}.index").exists()):
        return "tf"  # a TF1 checkpoint prefix, whatever its dots say (model.ckpt, model.v2)
    if DATA_SHARD.search(p.name):
        return "tf"  # a shard of a TF1 checkpoint's data
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


def parts_of(path: str | Path) -> list[Path]:
    """Every file a source is made of, found without importing a framework, for an output to stay off: the file;
    an ONNX model's external data; a TF1 checkpoint's ``.meta``, ``.index`` and ``.data-*`` and the ``checkpoint``
    file beside them, whichever of them (or the prefix) names it; a SavedModel folder with every file and folder in
    it. Keras and PyTorch files are one file each."""
    p = Path(path)
    try:
        kind = kind_of(p)
    except UserError:
        return [p]  # no source (check_sources refuses it): nothing more to find
    if kind == "onnx":
        return [p, *external_files(p)]
    if kind != "tf":
        return [p]
    if p.is_dir() or p.name == "saved_model.pb":
        return _tree(p if p.is_dir() else p.parent)
    prefix = checkpoint_prefix(p)
    if prefix is not None:  # a checkpoint, as frameworks/tf/graph.py reads one
        try:
            data = [f for f in prefix.parent.iterdir() if f.name.startswith(f"{prefix.name}.data-")]
        except OSError:  # a folder one may write in but not list: the one shard Saver writes by default
            data = [Path(f"{prefix}.data-00000-of-00001")]
        state = [prefix.parent / "checkpoint"] if (prefix.parent / "checkpoint").is_file() else []
        return [Path(f"{prefix}.meta"), Path(f"{prefix}.index"), *data, *state]
    return [p]  # a frozen GraphDef


def _tree(folder: Path) -> list[Path]:
    """The folder and everything in it. A link is listed, not followed (a link to ``/`` would have the walk read the
    whole disk): the output check follows each listed link to the folder or file it names."""
    out = [folder]
    for root, folders, files in os.walk(folder):
        out += [Path(root, name) for name in (*folders, *files)]
    return out


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
