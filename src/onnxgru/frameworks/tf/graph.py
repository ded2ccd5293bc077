"""TensorFlow graphs: each graph source frozen into one GraphDef, its inputs and outputs found, a session to run it.

Frozen GraphDef ``.pb``, TF1 checkpoint (prefix + ``.meta``) and SavedModel folders all end here as a frozen
``GraphDef`` (variables folded into constants) with tensor names for its inputs and outputs; the exporter and the
native runner both start from it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnxgru import limits
from onnxgru.core.walk import closure
from onnxgru.errors import UserError
from onnxgru.files import checkpoint_prefix, existing
from onnxgru.frameworks.tf import allowlist
from onnxgru.frameworks.tf.tfimport import quiet, tf, tf2onnx

_VARIABLE_OPS = {"VariableV2", "Variable", "VarHandleOp"}
# Sinks that are bookkeeping, not results: saving, initialising, training.
_NOT_RESULTS = {"NoOp", "Assert", "SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints", "ShardedFilename", "Print",
                "PrintV2", "Assign", "AssignVariableOp", "AssignAdd", "AssignSub", "VariableV2", "VarHandleOp",
                "Fill", "ZerosLike", "OnesLike", "Shape", "ShapeN", "Size", "Rank"}


@dataclass
class Feed:
    """One graph input: its tensor name, numpy dtype and static shape (None where unknown, () if rank unknown)."""

    name: str
    dtype: np.dtype
    shape: tuple | None
    default: np.ndarray | None = None  # a PlaceholderWithDefault's value

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)


@dataclass
class TFGraph:
    """A frozen graph with its inputs and outputs named as tensors (``"x:0"``)."""

    graph_def: Any
    inputs: list[Feed]
    outputs: list[str]
    origin: str
    rename: dict[str, str] = field(default_factory=dict)  # tensor name -> the signature's name for it
    time_limit: float = limits.TIME_LIMIT_S  # seconds one run may take
    unused: list[str] = field(default_factory=list)  # GRUCells (scopes) no output depends on, left out
    output_specs: list[Feed] = field(default_factory=list)  # the outputs' dtypes and static shapes
    _session: Any = None

    def session(self) -> Callable[..., list[np.ndarray]]:
        """A function of feeds (and extra tensors to fetch after the outputs), made once: the graph imported into its
        own ``tf.Graph`` and ``Session``. A run that takes longer than ``time_limit`` is stopped (a UserError)."""
        if self._session is None:
            t = tf()
            graph = t.Graph()
            with graph.as_default(), quiet():
                t.import_graph_def(self.graph_def, name="")
            self._session = new_session(graph, self.time_limit)
        sess = self._session
        options = tf().compat.v1.RunOptions(timeout_in_ms=_milliseconds(self.time_limit))

        def run(feeds: dict[str, np.ndarray], extra: list[str] | tuple[str, ...] = ()) -> list[np.ndarray]:
            try:
                with quiet():
                    return [np.asarray(v) for v in sess.run([*self.outputs, *extra], feeds, options=options)]
            except Exception as exc:  # a graph that cannot run (corrupt, or inputs it cannot take): not onnxgru's bug
                over_limit(exc, self.origin, self.time_limit)
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                raise UserError(
                    f"TensorFlow cannot run the graph of this {self.origin} ({type(exc).__name__}: "
                    f"{lines[-1][:200] if lines else ''}); check that the model runs in TensorFlow on inputs of the "
                    "shapes its signature gives (onnxgru inspect lists them), or give the inputs with --inputs."
                ) from None

        return run


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def new_session(graph: Any, time_limit: float) -> Any:
    """A ``Session`` whose every run (a loader's restore and init ops included) stops after ``time_limit``."""
    v1 = tf().compat.v1
    return v1.Session(graph=graph, config=v1.ConfigProto(operation_timeout_in_ms=_milliseconds(time_limit)))


def over_limit(exc: BaseException, what: str, time_limit: float) -> None:
    """A UserError for a run TensorFlow stopped at the time limit or for lack of memory; nothing otherwise."""
    errors = tf().errors
    if isinstance(exc, errors.DeadlineExceededError):
        raise UserError(
            f"TensorFlow did not finish running the {what} within the time limit of {time_limit:g} s and was "
            "stopped; raise --time-limit if the model is really that slow."
        ) from None
    if isinstance(exc, errors.ResourceExhaustedError | MemoryError):
        raise UserError(
            f"TensorFlow ran out of memory running the {what} (it asks for more than this machine gives); check "
            "the model's shapes, or use smaller --batch/--steps."
        ) from None


@contextmanager
def checked_saved_model(folder: Path, trust: bool = False) -> Iterator[Path]:
    """The SavedModel ``folder`` as a loader is to read it (Keras's, here): a copy whose ``saved_model.pb`` holds
    the meta graphs ``allowlist.check_meta_graph`` checked and pruned, beside links to the rest. ``folder`` itself
    when its ``saved_model.pb`` is unreadable (the loader that comes next says so in its own words)."""
    from tensorflow.core.protobuf import saved_model_pb2

    try:
        proto = saved_model_pb2.SavedModel.FromString((Path(folder) / "saved_model.pb").read_bytes())
    except Exception:  # noqa: BLE001 - see above
        yield Path(folder)
        return
    checked = [allowlist.check_meta_graph(m, str(folder), trust) for m in proto.meta_graphs]  # init ops, restores
    del proto.meta_graphs[:]
    proto.meta_graphs.extend(checked)
    with _checked_copy(Path(folder), proto) as copy:
        yield copy


def tensor_name(name: str) -> str:
    """``"x"`` -> ``"x:0"``; names with an output index stay as they are."""
    return name if ":" in name else f"{name}:0"


def op_name(name: str) -> str:
    return name.lstrip("^").split(":")[0]


# --- Reading each source kind ------------------------------------------------------------------------------------
def load(
    path: Path, input_names: tuple[str, ...] = (), output_names: tuple[str, ...] = (), *, trust_code: bool = False,
    time_limit: float = limits.TIME_LIMIT_S,
) -> TFGraph:
    """Any TensorFlow graph source -> a frozen ``TFGraph``; every user error is a ``UserError``. Nothing runs
    unless every op it reaches is on the allowlist (``trust_code`` skips the check)."""
    path = Path(path)
    prefix = checkpoint_prefix(path)
    if path.is_dir() or path.name == "saved_model.pb":
        folder = path if path.is_dir() else path.parent
        tfg = _saved_model(folder, input_names, output_names, trust_code, time_limit)
    elif prefix is not None:
        tfg = _checkpoint(prefix, input_names, output_names, trust_code, time_limit)
    else:
        tfg = _frozen(path, input_names, output_names, trust_code)
    tfg.time_limit = time_limit
    # only what the outputs (and the inputs onnxgru feeds) need, which the allowlist checked, goes any further
    tfg.graph_def, dropped = allowlist.prune(tfg.graph_def, [*tfg.outputs, *(f.name for f in tfg.inputs)])
    tfg.unused = [n[: -len("/gates/kernel")] for n in dropped if n.endswith("/gates/kernel")]
    return tfg


def _frozen(path: Path, input_names: tuple[str, ...], output_names: tuple[str, ...], trust: bool) -> TFGraph:
    t = tf()
    data = existing(path, "TensorFlow graph").read_bytes()
    graph_def = t.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception:  # protobuf raises DecodeError (and others) on bytes that are not a GraphDef
        raise UserError(
            f"{str(path)!r} is not a readable TensorFlow GraphDef (it is truncated, corrupt or another format); "
            "give a frozen .pb written with tf.io.write_graph(..., as_text=False)."
        ) from None
    if not graph_def.node:
        raise UserError(f"{str(path)!r} holds no TensorFlow graph (no nodes); give a frozen GraphDef .pb.")
    if any(n.op in _VARIABLE_OPS for n in graph_def.node):
        raise UserError(
            f"{str(path)!r} is a GraphDef with variables but not their values; freeze it "
            "(tf.compat.v1.graph_util.convert_variables_to_constants) or give the checkpoint prefix with its .meta."
        )
    graph_def = allowlist.library_of_nodes(graph_def, str(path), trust)  # TensorFlow sees no other function
    graph = _import(graph_def, path)  # importing runs nothing: shape functions only
    inputs, outputs = discover(graph, input_names, output_names, str(path))
    allowlist.check_graph(graph_def, outputs, str(path), trust)
    return TFGraph(graph_def, inputs, outputs, "frozen GraphDef", output_specs=specs_of(graph, outputs))


def _checkpoint(
    prefix: Path, input_names: tuple[str, ...], output_names: tuple[str, ...], trust: bool, time_limit: float
) -> TFGraph:
    t = tf()
    meta = Path(str(prefix) + ".meta")
    if not meta.exists():
        raise UserError(
            f"the TF1 checkpoint {str(prefix)!r} has no {meta.name!r} next to it; onnxgru needs the meta graph "
            "(saver.save writes it) to know the graph."
        )
    existing(meta, "checkpoint meta graph")
    if not Path(str(prefix) + ".index").exists():
        raise UserError(f"the TF1 checkpoint {str(prefix)!r} has no .index file; give the prefix saver.save wrote.")
    from tensorflow.python.framework.meta_graph import read_meta_graph_file

    try:  # as import_meta_graph reads it: binary, or else text
        meta_graph = read_meta_graph_file(str(meta))
    except Exception as exc:
        raise UserError(f"{str(meta)!r} is not a readable TensorFlow meta graph ({type(exc).__name__}).") from None
    # before TensorFlow runs any of it (restoring runs the saver's ops); TensorFlow is given the checked copy
    meta_graph = allowlist.check_meta_graph(meta_graph, str(meta), trust)
    graph = t.Graph()
    with graph.as_default(), quiet():
        try:
            saver = t.compat.v1.train.import_meta_graph(meta_graph, clear_devices=True)
        except Exception as exc:
            raise UserError(f"{str(meta)!r} is not a readable TensorFlow meta graph ({type(exc).__name__}).") from None
        if saver is None:
            raise UserError(f"{str(meta)!r} has no variables to restore; give a frozen .pb instead.")
        sess = new_session(graph, time_limit)
        try:
            saver.restore(sess, str(prefix))
        except Exception as exc:
            over_limit(exc, "checkpoint's restore op", time_limit)
            raise UserError(
                f"the variables of checkpoint {str(prefix)!r} cannot be restored ({type(exc).__name__}); check that "
                "its .index and .data files are complete and belong to this .meta."
            ) from None
        inputs, outputs = discover(graph, input_names, output_names, str(prefix))
        output_specs = specs_of(graph, outputs)
        frozen = t.compat.v1.graph_util.convert_variables_to_constants(
            sess, graph.as_graph_def(), sorted({op_name(o) for o in outputs})
        )
        sess.close()
    allowlist.check_graph(frozen, outputs, str(prefix), trust)
    return TFGraph(frozen, inputs, outputs, "TF1 checkpoint", output_specs=output_specs)


def _saved_model(
    folder: Path, input_names: tuple[str, ...], output_names: tuple[str, ...], trust: bool, time_limit: float
) -> TFGraph:
    """TF1 SavedModels are read with the v1 loader and frozen; TF2 ones through their serving signature."""
    tf()
    pb = folder / "saved_model.pb"
    if not pb.is_file():
        raise UserError(f"{str(folder)!r} is not a TensorFlow SavedModel (no saved_model.pb in it).")
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(pb.read_bytes())
    except Exception:
        raise UserError(
            f"{str(pb)!r} is not a readable SavedModel (truncated or corrupt); save the model again."
        ) from None
    if not proto.meta_graphs:
        raise UserError(f"{str(pb)!r} holds no meta graph; save the model again.")
    checked = [allowlist.check_meta_graph(m, str(folder), trust) for m in proto.meta_graphs]  # init ops, restores
    del proto.meta_graphs[:]
    proto.meta_graphs.extend(checked)
    with _checked_copy(folder, proto) as copy:  # the loaders read the checked meta graphs, the same variables
        if proto.meta_graphs[0].object_graph_def.nodes:
            return _saved_model_v2(copy, folder, input_names, output_names, trust)
        return _saved_model_v1(copy, folder, proto, input_names, output_names, trust, time_limit)


@contextmanager
def _checked_copy(folder: Path, proto: Any) -> Iterator[Path]:
    """A temporary SavedModel folder holding ``proto`` as its ``saved_model.pb`` and links to everything else of
    ``folder`` (variables, assets): what a loader reads from it is the checked graph and the user's weights."""
    with tempfile.TemporaryDirectory(prefix="onnxgru-savedmodel-") as tmp:
        copy = Path(tmp)
        (copy / "saved_model.pb").write_bytes(proto.SerializeToString())
        for entry in folder.iterdir():
            if entry.name not in ("saved_model.pb", "saved_model.pbtxt"):
                (copy / entry.name).symlink_to(entry.resolve())
        yield copy


def _saved_model_v1(
    copy: Path, folder: Path, proto: Any, input_names: tuple[str, ...], output_names: tuple[str, ...], trust: bool,
    time_limit: float,
) -> TFGraph:
    t = tf()
    tags = list(proto.meta_graphs[0].meta_info_def.tags) or ["serve"]
    graph = t.Graph()
    with graph.as_default(), quiet():
        sess = new_session(graph, time_limit)
        try:
            meta = t.compat.v1.saved_model.loader.load(sess, tags, str(copy))
        except Exception as exc:
            over_limit(exc, "SavedModel's init ops", time_limit)
            lines = str(exc).replace(str(copy), str(folder)).strip().splitlines()
            message = lines[0][:200].rstrip(".") if lines else ""
            raise UserError(f"the SavedModel {str(folder)!r} cannot be loaded ({type(exc).__name__}: {message}).") \
                from None
        sig = _signature(meta.signature_def, folder)
        rename = {}
        if sig is not None and not input_names:
            input_names = tuple(v.name for v in sig.inputs.values())
            rename.update({v.name: k for k, v in sig.inputs.items()})
        if sig is not None and not output_names:
            output_names = tuple(v.name for v in sig.outputs.values())
            rename.update({v.name: k for k, v in sig.outputs.items()})
        inputs, outputs = discover(graph, input_names, output_names, str(folder))
        output_specs = specs_of(graph, outputs)
        frozen = t.compat.v1.graph_util.convert_variables_to_constants(
            sess, graph.as_graph_def(), sorted({op_name(o) for o in outputs})
        )
        sess.close()
    allowlist.check_graph(frozen, outputs, str(folder), trust)
    return TFGraph(frozen, inputs, outputs, "TF1 SavedModel", rename, output_specs=output_specs)


def _signature(signatures: Any, folder: Path) -> Any:
    names = [k for k in signatures if not k.startswith("_")]
    if not names:
        return None
    return signatures["serving_default"] if "serving_default" in names else signatures[names[0]]


def _saved_model_v2(
    copy: Path, folder: Path, input_names: tuple[str, ...], output_names: tuple[str, ...], trust: bool
) -> TFGraph:
    loader = tf2onnx().tf_loader
    try:
        with quiet():
            frozen, ins, outs, rename = loader.from_saved_model(
                str(copy), list(input_names) or None, list(output_names) or None, return_tensors_to_rename=True
            )
    except Exception as exc:
        raise UserError(
            f"the SavedModel {str(folder)!r} cannot be loaded and frozen ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); check that it has a serving signature."
        ) from None
    graph = _import(frozen, folder)
    inputs, outputs = discover(graph, tuple(ins), tuple(outs), str(folder))
    allowlist.check_graph(frozen, outputs, str(folder), trust)
    return TFGraph(frozen, inputs, outputs, "TF2 SavedModel", dict(rename), output_specs=specs_of(graph, outputs))


def _import(graph_def: Any, where: Path) -> Any:
    t = tf()
    graph = t.Graph()
    with graph.as_default(), quiet():
        try:
            t.import_graph_def(graph_def, name="")
        except Exception as exc:
            raise UserError(
                f"the graph in {str(where)!r} cannot be imported into TensorFlow {t.__version__} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})."
            ) from None
    return graph


# --- Inputs and outputs --------------------------------------------------------------------------------------------
_PLACEHOLDERS = ("Placeholder", "PlaceholderWithDefault")


def _feed(tensor: Any) -> Feed:
    shape = None if tensor.shape.rank is None else tuple(tensor.shape.as_list())
    default = None
    if tensor.op.type == "PlaceholderWithDefault":
        from tensorflow.python.framework import tensor_util

        source = tensor.op.inputs[0].op
        if source.type == "Const":
            default = tensor_util.MakeNdarray(source.get_attr("value"))
    return Feed(tensor.name, np.dtype(tensor.dtype.as_numpy_dtype), shape, default)


def discover(
    graph: Any, input_names: tuple[str, ...], output_names: tuple[str, ...], where: str
) -> tuple[list[Feed], list[str]]:
    """The graph's inputs (placeholders the outputs need, the named ones first) and outputs (given, or the float
    sinks that depend on a placeholder)."""
    placeholders = [op for op in graph.get_operations() if op.type in _PLACEHOLDERS]
    named = [_op(graph, n, where, "--input-names") for n in input_names]
    if output_names:
        outputs = [tensor_name(n) for n in output_names]
        for n in outputs:
            _op(graph, n, where, "--output-names")
    else:
        outputs = _sinks(graph, [op for op in placeholders if op.type == "Placeholder"] or placeholders)
        if not outputs:
            said = ", ".join(op.name for op in placeholders) or "no placeholders"
            raise UserError(
                f"{where!r} has no output that depends on its inputs ({said}); name the outputs with --output-names."
            )
    needed = _ancestors(graph, [op_name(o) for o in outputs])
    feeds = [_feed(op.outputs[0]) for op in named]
    feeds += [_feed(op.outputs[0]) for op in placeholders if op.name in needed and op not in named]
    if not feeds:
        raise UserError(f"{where!r} has no input (placeholder) its outputs depend on; name one with --input-names.")
    return feeds, outputs


def specs_of(graph: Any, tensors: list[str]) -> list[Feed]:
    """Name, dtype and static shape of each tensor."""
    return [_feed(graph.get_tensor_by_name(t)) for t in tensors]


def _op(graph: Any, name: str, where: str, flag: str) -> Any:
    try:
        return graph.get_operation_by_name(op_name(name))
    except KeyError:
        raise UserError(f"{where!r} has no node named {op_name(name)!r} (given with {flag}); check the name.") from None


def _ancestors(graph: Any, names: list[str]) -> set[str]:
    return set(closure(names, lambda name: [i.op.name for i in graph.get_operation_by_name(name).inputs]))


def _sinks(graph: Any, inputs: list[Any]) -> list[str]:
    """Float tensors nothing consumes, that depend on an input: the graph's results."""
    consumed = {i.op.name for op in graph.get_operations() for i in op.inputs}
    consumed |= {c.name for op in graph.get_operations() for c in op.control_inputs}
    out = []
    for op in graph.get_operations():
        if op.name in consumed or op.type in _NOT_RESULTS or op.type.startswith(("Apply", "ResourceApply")):
            continue
        if op.name.startswith(("gradients/", "save/")):
            continue
        floats = [t for t in op.outputs if t.dtype.is_floating and t.shape.rank != 0]
        if floats and any(i.name in _ancestors(graph, [op.name]) for i in inputs):
            out += [t.name for t in floats]
    return out


def fold_fixed(graph_def: Any, fixed: dict[str, np.ndarray], shapes: dict[str, tuple] | None = None) -> Any:
    """A copy of ``graph_def`` where each frozen placeholder (``keep_prob``) is a constant, as a deployment wants, and
    each placeholder in ``shapes`` (one the graph left without a shape) declares the shape it is run with (free dims
    stay free), so a converter does not take it for a scalar."""
    t = tf()
    out = t.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    by_name = {op_name(k): v for k, v in fixed.items()}
    for node in out.node:
        if node.name in (shapes or {}) and node.op == "Placeholder":
            shape = t.TensorShape([None if d is None or d < 0 else d for d in shapes[node.name]])  # type: ignore[index]
            node.attr["shape"].shape.CopyFrom(shape.as_proto())
        if node.name in by_name and node.op in ("Placeholder", "PlaceholderWithDefault"):
            dtype = t.dtypes.as_dtype(node.attr["dtype"].type)
            value = np.asarray(by_name[node.name]).astype(dtype.as_numpy_dtype)
            node.op = "Const"
            del node.input[:]
            for key in list(node.attr):
                del node.attr[key]
            node.attr["dtype"].type = dtype.as_datatype_enum
            node.attr["value"].tensor.CopyFrom(t.make_tensor_proto(value, dtype=dtype))
    return out
