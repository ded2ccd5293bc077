"""Which TensorFlow ops onnxgru lets a model file run: an allowlist over every node a run reaches.

A TensorFlow graph is code: ``WriteFile``, ``DebugIdentityV2`` with a ``file://`` URL, ``DatasetToTFRecord``, a
``PyFunc`` or a summary writer all touch the file system or call back into Python as soon as they run, and a
control input is enough to make a run reach them. So before TensorFlow runs anything from a model file, every node
the run reaches (data and control inputs, and the body of every function those nodes call, transitively) must be
an inference op of ``INFERENCE_OPS``; anything else is refused by name. ``--trust-code`` turns the check off.

What "a run" is depends on the source:
- a frozen graph runs the ancestors of its outputs (``check_graph``);
- loading a TF1 checkpoint or SavedModel runs the saver's restore op and the model's init ops, which may also
  read variables and restore them from the checkpoint (``check_meta_graph``, with ``LOADING_OPS``);
- a TF2 SavedModel's functions can be called by the loader (initialisers, Keras layers revived from their traced
  functions): every function its object graph names is checked, and every function those call.

A function is called wherever an attribute names it: every ``AttrValue`` of every node, in the graph and in each
function, is followed through the attributes of the ``NameAttrList`` it holds (``f=Relay[g=Evil]`` calls ``Evil`` too),
and a function Grappler may swap in (the same ``api_implements``) counts as called. What cannot be followed before the
run (a placeholder its caller binds, a name that is no function of the file) is refused. Each loader is then given a
library pruned to what was followed, so nothing it may reach was left unread; a restore op reads only the file name
the loader feeds the saver (``check_meta_graph``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxgru import limits, screens
from onnxgru.core.walk import closure
from onnxgru.errors import UserError

# Ops an inference graph of a recurrent model is made of: arithmetic, shapes, control flow (v1 frames and v2
# functional ops), TensorArray/TensorList, the usual layers around a GRU, and random ops (dropout). None of them
# reads or writes files, logs, or calls Python.
INFERENCE_OPS = frozenset({
    # structure and control flow
    "Const", "Placeholder", "PlaceholderWithDefault", "Identity", "IdentityN", "NoOp", "StopGradient",
    "PreventGradient", "Snapshot", "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "RefEnter",
    "RefExit", "RefMerge", "RefSwitch", "RefNextIteration", "RefIdentity", "ControlTrigger", "While",
    "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase", "PartitionedCall", "StatefulPartitionedCall",
    "Assert", "CheckNumerics", "CheckNumericsV2", "EnsureShape",
    # shapes, slicing, reshaping
    "Shape", "ShapeN", "Size", "Rank", "Reshape", "Squeeze", "ExpandDims", "Transpose", "ConjugateTranspose",
    "Concat", "ConcatV2", "ConcatOffset", "Pack", "Unpack", "Split", "SplitV", "Slice", "StridedSlice", "Tile",
    "Pad", "PadV2", "MirrorPad", "Fill", "ZerosLike", "OnesLike", "Range", "LinSpace", "Gather", "GatherV2",
    "GatherNd", "ScatterNd", "TensorScatterUpdate", "TensorScatterAdd", "Where", "Select", "SelectV2", "ReverseV2",
    "ReverseSequence", "OneHot", "Cast", "Bitcast", "BroadcastTo", "BroadcastArgs", "BroadcastGradientArgs",
    "InvertPermutation", "Unique", "Diag", "DiagPart", "MatrixDiag", "MatrixDiagV2", "MatrixDiagV3",
    "MatrixDiagPart", "MatrixDiagPartV2", "MatrixDiagPartV3", "MatrixBandPart", "MatrixSetDiag",
    "MatrixSetDiagV2", "MatrixSetDiagV3", "Cumsum", "Cumprod", "TopKV2", "ArgMax", "ArgMin", "SpaceToBatchND",
    "BatchToSpaceND", "SpaceToDepth", "DepthToSpace", "DataFormatVecPermute", "DataFormatDimMap", "Empty",
    "ListDiff", "SegmentSum", "UnsortedSegmentSum", "SequenceMask",
    # TensorList (v2 control flow) and TensorArray (v1 dynamic_rnn)
    "TensorListFromTensor", "TensorListGetItem", "TensorListSetItem", "TensorListStack", "TensorListReserve",
    "TensorListElementShape", "TensorListLength", "TensorListPushBack", "TensorListPopBack", "TensorListGather",
    "TensorListScatter", "TensorListScatterV2", "TensorListScatterIntoExistingList", "TensorListConcat",
    "TensorListConcatV2", "TensorListSplit", "EmptyTensorList", "TensorListResize",
    "TensorArrayV3", "TensorArrayReadV3", "TensorArrayWriteV3", "TensorArrayGatherV3", "TensorArrayScatterV3",
    "TensorArraySizeV3", "TensorArrayConcatV3", "TensorArraySplitV3", "TensorArrayCloseV3",
    # elementwise math
    "Abs", "Neg", "Sign", "Reciprocal", "Inv", "Square", "Sqrt", "Rsqrt", "Exp", "Expm1", "Log", "Log1p", "Sin",
    "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Tanh", "Asinh", "Acosh", "Atanh", "Sigmoid", "Erf",
    "Erfc", "Floor", "Ceil", "Round", "Rint", "IsNan", "IsInf", "IsFinite", "LogicalNot", "Add", "AddV2", "AddN",
    "Sub", "Mul", "MulNoNan", "Div", "DivNoNan", "RealDiv", "FloorDiv", "FloorMod", "Mod", "TruncateDiv",
    "TruncateMod", "Pow", "Maximum", "Minimum", "SquaredDifference", "Atan2", "Equal", "NotEqual", "Less",
    "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    "LeftShift", "RightShift", "ApproximateEqual", "ClipByValue", "Sum", "Mean", "Max", "Min", "Prod", "All",
    "Any", "EuclideanNorm",
    # linear algebra and layers
    "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "BiasAdd", "BiasAddV1", "Relu", "Relu6",
    "Elu", "Selu", "LeakyRelu", "Gelu", "Softplus", "Softsign", "Softmax", "LogSoftmax", "Conv2D", "Conv3D",
    "DepthwiseConv2dNative", "Conv2DBackpropInput", "MaxPool", "MaxPoolV2", "AvgPool", "MaxPool3D", "AvgPool3D",
    "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "BatchNormWithGlobalNormalization", "LRN",
    "L2Loss", "InTopKV2", "ResizeBilinear", "ResizeNearestNeighbor", "FakeQuantWithMinMaxVars",
    "FakeQuantWithMinMaxArgs", "CudnnRNN", "CudnnRNNV2", "CudnnRNNV3", "_FusedMatMul", "_FusedConv2D",
    # random numbers (dropout)
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "StatelessRandomUniform",
    "StatelessRandomUniformV2", "StatelessRandomUniformInt", "StatelessRandomUniformIntV2", "StatelessRandomNormal",
    "StatelessRandomNormalV2", "StatelessTruncatedNormal", "StatelessTruncatedNormalV2",
    "StatelessRandomGetKeyCounter", "StatelessRandomGetKeyCounterAlg", "StatelessRandomGetAlg",
})

# Reading variables: a graph before freezing (a checkpoint's, a SavedModel's functions) reads its weights this way.
VARIABLE_OPS = frozenset({
    "VariableV2", "Variable", "VarHandleOp", "ReadVariableOp", "ResourceGather", "VarIsInitializedOp",
    "IsVariableInitialized", "Assign", "AssignVariableOp", "DestroyResourceOp",
})
# What the saver's restore op and a loader's init ops add: reading the checkpoint the loader points them at.
LOADING_OPS = INFERENCE_OPS | VARIABLE_OPS | {"RestoreV2", "Restore", "RestoreSlice", "StringJoin", "ShardedFilename"}

@dataclass(frozen=True)
class Refused:
    """An op a run would reach that is not allowed, and where it sits (a node, or a function and its node)."""

    op: str
    node: str


def _op_name(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _unresolved(source: str, node: str, key: str, what: str) -> UserError:
    return UserError(
        f"{source!r} has a node ({node!r}) whose attribute {key!r} {what}, so onnxgru cannot tell before running it "
        "what code it calls; give a graph whose every function reference names a function of the file, or pass "
        "--trust-code if you trust the file."
    )


def _attr_functions(key: str, value: Any, node: str, library: dict[str, Any], source: str | None) -> list[str]:
    """The functions one ``AttrValue`` names, through the attributes of every ``NameAttrList`` it holds (a call's
    attributes are the callee's, and may name functions in turn), however deep. With ``source`` (the file, to name
    in the refusal), a placeholder (a value the caller binds, unknown here) or a name that is no function of
    ``library`` (TensorFlow would run the op of that name) is a UserError naming ``node``; without, it is passed
    over."""
    out, todo = [], [value]
    while todo:
        v = todo.pop()
        kind = v.WhichOneof("value")
        if kind == "placeholder" and source is not None:
            raise _unresolved(source, node, key, f"is bound by its caller (placeholder {v.placeholder!r})")
        called = [v.func] if kind == "func" else list(v.list.func) if kind == "list" else []
        for f in called:
            if f.name not in library and source is not None:
                raise _unresolved(source, node, key, f"names {f.name!r}, which is no function of the file")
            out += [f.name] if f.name in library else []
            todo += f.attr.values()
    return out


def _called(node: Any, library: dict[str, Any], where: str, source: str | None) -> list[str]:
    """The library functions a node runs: the op itself when it names one, and every function any attribute names."""
    out = [node.op] if node.op in library else []
    for key, value in node.attr.items():
        out += _attr_functions(key, value, where, library, source)
    return out


def reachable(graph_def: Any, targets: Iterable[str] | None = None,
              source: str | None = None) -> tuple[list[Any], list[Any]]:
    """The nodes a run of ``targets`` reaches (all nodes when ``targets`` is None) and the functions they call,
    transitively; iterative, so a long chain is no recursion. With ``source``, a function reference that cannot be
    followed is a UserError (``_attr_functions``)."""
    nodes = {n.name: n for n in graph_def.node}
    library = {f.signature.name: f for f in graph_def.library.function}
    start = list(nodes) if targets is None else [_op_name(t) for t in targets]
    names = closure(start, lambda name: [_op_name(i) for i in nodes[name].input] if name in nodes else [])
    reached = [nodes[name] for name in names if name in nodes]
    calls = [c for node in reached for c in _called(node, library, node.name, source)]
    return reached, called_functions(calls, library, source)


def _implements(fn: Any) -> tuple[bytes, str]:
    """What Grappler's implementation selector swaps a function for: one of the same ``api_implements`` and the same
    kind (inference, or the forward or backward half of a training pair); ``b""`` when it swaps nothing."""
    api = fn.attr["api_implements"].s if "api_implements" in fn.attr else b""
    kind = next((k for k in ("forward_function_name", "backward_function_name") if k in fn.attr), "inference")
    return api, kind


def called_functions(names: Iterable[str], library: dict[str, Any], source: str | None = None) -> list[Any]:
    """The functions of ``names`` and every function their bodies and attributes call, transitively. A function
    that declares an ``api_implements`` brings every function of its kind declaring the same: Grappler may swap a
    call to one for a call to another."""
    siblings: dict[tuple[bytes, str], list[str]] = {}
    for f in library.values():
        siblings.setdefault(_implements(f), []).append(f.signature.name)

    def calls(name: str) -> list[str]:
        fn = library.get(name)
        if fn is None:
            return []
        where = fn.signature.name
        out = [c for node in fn.node_def for c in _called(node, library, f"{where}/{node.name}", source)]
        for key, value in fn.attr.items():
            out += _attr_functions(key, value, where, library, source)
        return out + (siblings[_implements(fn)] if _implements(fn)[0] else [])

    return [library[name] for name in closure(names, calls) if name in library]


def with_library(graph_def: Any, keep: set[str]) -> Any:
    """A copy of ``graph_def`` whose library holds only the functions of ``keep`` (and the gradients that pair two
    of them): what a loader sees is what was checked."""
    out = type(graph_def)()
    out.CopyFrom(graph_def)
    del out.library.function[:]
    del out.library.gradient[:]
    del out.library.registered_gradients[:]
    out.library.function.extend(f for f in graph_def.library.function if f.signature.name in keep)
    out.library.gradient.extend(g for g in graph_def.library.gradient
                                if g.function_name in keep and g.gradient_func in keep)
    out.library.registered_gradients.extend(g for g in graph_def.library.registered_gradients
                                            if g.gradient_func in keep)
    return out


def prune(graph_def: Any, targets: Iterable[str]) -> tuple[Any, list[str]]:
    """A copy of ``graph_def`` with only what a run of ``targets`` reaches (nodes in their order, the functions
    they call), and the names of the nodes left out. Everything that comes after (tf2onnx, whose constant folding
    runs every op of the graph it is given whose inputs are constants, reached or not) sees only checked nodes."""
    nodes, functions = reachable(graph_def, list(targets))
    keep = {n.name for n in nodes}
    out = with_library(graph_def, {f.signature.name for f in functions})
    del out.node[:]
    out.node.extend(n for n in graph_def.node if n.name in keep)
    return out, [n.name for n in graph_def.node if n.name not in keep]


def library_of_nodes(graph_def: Any, where: str, trust: bool = False) -> Any:
    """A copy of ``graph_def`` whose library holds only the functions its nodes call (transitively), for a loader
    to import: nothing else in the file reaches TensorFlow. Unless trusted, every function reference of every node
    must resolve to a function of the file (``_attr_functions``)."""
    _, functions = reachable(graph_def, None, None if trust or not screens.on() else where)
    return with_library(graph_def, {f.signature.name for f in functions})


def refused_ops(nodes: Iterable[Any], functions: Iterable[Any], allowed: frozenset[str],
                library: set[str]) -> list[Refused]:
    """Every node of ``nodes`` and of the bodies of ``functions`` whose op is neither allowed nor a function."""
    out = []

    def visit(node: Any, where: str) -> None:
        if node.op in library:
            return
        if node.op not in allowed:
            out.append(Refused(node.op, where))

    for node in nodes:
        visit(node, node.name)
    for fn in functions:
        for node in fn.node_def:
            visit(node, f"{fn.signature.name}/{node.name}")
    return out


def check_graph(graph_def: Any, outputs: Iterable[str], where: str, trust: bool = False) -> None:
    """Refuse a graph if a run of ``outputs`` would reach an op that is not an inference op, or make a tensor of
    a size its constants fix beyond ``limits.MAX_TENSOR_BYTES`` (a ``Fill`` of 2 GB)."""
    strict = not trust and screens.on()
    nodes, functions = reachable(graph_def, list(outputs), where if strict else None)
    if strict:
        library = {f.signature.name for f in graph_def.library.function}
        _raise(refused_ops(nodes, functions, INFERENCE_OPS, library), where)
    _check_declared_sizes(nodes, where)
    for fn in functions:
        _check_declared_sizes(list(fn.node_def), f"{where}, function {fn.signature.name}")


# Ops that allocate a tensor of the shape given by one of their inputs (its index), whatever their other inputs.
_SHAPED = {"Fill": 0, "Empty": 0, "RandomUniform": 0, "RandomUniformInt": 0, "RandomStandardNormal": 0,
           "TruncatedNormal": 0, "StatelessRandomUniform": 0, "StatelessRandomUniformV2": 0,
           "StatelessRandomNormal": 0, "StatelessRandomNormalV2": 0, "StatelessTruncatedNormal": 0,
           "BroadcastTo": 1, "TensorListReserve": 1, "TensorArrayV3": 0}


def _check_declared_sizes(nodes: list[Any], where: str) -> None:
    """Refuse a node that would allocate more than ``limits.MAX_TENSOR_BYTES`` from a shape held in a constant."""
    from tensorflow.python.framework import tensor_util

    consts = {n.name: n for n in nodes if n.op == "Const"}
    for node in nodes:
        index = _SHAPED.get(node.op)
        if index is None or len(node.input) <= index:
            continue
        shape = consts.get(_op_name(node.input[index]))
        if shape is None:
            continue
        try:
            dims = np.asarray(tensor_util.MakeNdarray(shape.attr["value"].tensor)).reshape(-1)
        except Exception:  # noqa: BLE001 - a constant TensorFlow cannot read fails the run itself, in its own words
            continue
        values = int(np.prod([max(int(d), 0) for d in dims], dtype=object)) if dims.size else 1
        if values * 4 > limits.MAX_TENSOR_BYTES:  # 4 bytes: the smallest element of a float the graph may ask for
            raise UserError(
                f"{where!r} has a {node.op} node ({node.name!r}) that would allocate {values:,} values "
                f"({values * 4 / limits.GIB:.3g} GiB or more) from constants; onnxgru refuses a graph that makes a "
                f"tensor over {limits.MAX_TENSOR_BYTES / limits.GIB:g} GiB (the file is corrupt or hostile)."
            )


def check_meta_graph(meta_graph: Any, where: str, trust: bool = False) -> Any:
    """Refuse a checkpoint's or SavedModel's meta graph if loading it, or calling its functions, would run an op
    that is neither an inference op nor one that reads variables and the checkpoint, or read weights from a file the
    loader does not name; return a copy whose library holds only the functions its nodes and its object graph call,
    for the loader to be given instead.

    Loading runs the saver's restore op and the init ops (a SavedModel's main op, legacy init op, table
    initialisers); a TF2 loader may call every function its object graph names. What only the saver's save op, a
    training op or a gradient reaches never runs on loading and is not checked here; the graph onnxgru then runs
    (the frozen serving graph) passes ``check_graph``."""
    graph_def = meta_graph.graph_def
    library = {f.signature.name: f for f in graph_def.library.function}
    source = None if trust or not screens.on() else where
    saver = meta_graph.saver_def if meta_graph.HasField("saver_def") else None
    restore = [saver.restore_op_name] if saver is not None and saver.restore_op_name else []
    init = []
    for key in ("saved_model_main_op", "legacy_init_op", "table_initializer"):
        if key in meta_graph.collection_def:
            init += list(meta_graph.collection_def[key].node_list.value)
    main = meta_graph.signature_def.get("__saved_model_init_op")  # where TF2's builder keeps the main op
    init += [t.name for t in main.outputs.values() if t.name] if main is not None else []
    # a TF2 loader may call any function the object graph names (Keras revives layers from them)
    revived = called_functions(meta_graph.object_graph_def.concrete_functions, library, source)
    if source is not None:
        restore_nodes, restore_functions = reachable(graph_def, restore, source)
        init_nodes, init_functions = reachable(graph_def, init, source)
        loaded = {f.signature.name: f for f in [*restore_functions, *init_functions, *revived]}
        nodes = {n.name: n for n in [*restore_nodes, *init_nodes]}
        _raise(refused_ops(nodes.values(), loaded.values(), LOADING_OPS, set(library)), where)
        filename = saver.filename_tensor_name if saver is not None else ""
        _check_restore_prefixes(restore_nodes, init_nodes, list(loaded.values()), filename, library, where)
    _, called = reachable(graph_def, None, source)  # the functions every node calls: importing needs them
    out = type(meta_graph)()
    out.CopyFrom(meta_graph)
    out.graph_def.CopyFrom(with_library(graph_def, {f.signature.name for f in [*called, *revived]}))
    return out


_RESTORE_OPS = frozenset({"RestoreV2", "Restore", "RestoreSlice"})
_DT_STRING = 7  # types_pb2.DT_STRING


def _traced(name: str, nodes: dict[str, Any]) -> str:
    """The tensor ``name`` is a copy of, through ``Identity`` nodes (``"x"`` and ``"x:0"`` alike)."""
    seen: set[str] = set()
    while True:
        base = name.split(":")[0]
        node = nodes.get(base)
        if node is None or node.op != "Identity" or not node.input or base in seen:
            return name if ":" in name else f"{name}:0"
        seen.add(base)
        name = node.input[0]


def _check_restore_prefixes(restore_nodes: list[Any], init_nodes: list[Any], functions: list[Any], filename: str,
                            library: dict[str, Any], where: str) -> None:
    """Refuse a restore op that would read another file than the one the loader feeds the saver's filename tensor:
    in the graph, its prefix (and every string a call to a function holding one passes) must be that tensor; in a
    function, an argument of the function; an init op (which the loader runs unfed) reaches none."""
    holds: set[str] = set()  # functions that run a restore op, themselves or through a call
    changed = True
    while changed:
        changed = False
        for fn in functions:
            name = fn.signature.name
            if name not in holds and any(n.op in _RESTORE_OPS or set(_called(n, library, "", None)) & holds
                                         for n in fn.node_def):
                holds.add(name)
                changed = True

    def prefixes(node: Any) -> list[str]:
        if node.op in _RESTORE_OPS:
            return list(node.input[:1])
        if not set(_called(node, library, "", None)) & holds:
            return []
        data = [i for i in node.input if not i.startswith("^")]
        types = list(node.attr["Tin"].list.type) if "Tin" in node.attr else []
        return [i for k, i in enumerate(data) if k >= len(types) or types[k] == _DT_STRING]

    def refuse(node: str, from_: str) -> None:
        raise UserError(
            f"{where!r} has a restore node ({node!r}) that reads weights from {from_}, not from the checkpoint the "
            "loader names: weights would be read from a file you did not name; give the checkpoint as the saver "
            "wrote it, or pass --trust-code if you trust the file."
        )

    restored = {n.name for n in restore_nodes}
    graph_nodes = {n.name: n for n in [*restore_nodes, *init_nodes]}
    for node in init_nodes:
        if node.name not in restored and prefixes(node):
            refuse(node.name, "a file name of the graph's own (an init op, which the loader runs unfed)")
    for node in restore_nodes:
        for prefix in prefixes(node):
            if not filename or _traced(prefix, graph_nodes) != _traced(filename, graph_nodes):
                refuse(node.name, f"{_traced(prefix, graph_nodes)!r}")
    for fn in functions:
        args = {a.name for a in fn.signature.input_arg}
        body = {n.name: n for n in fn.node_def}
        for node in fn.node_def:
            for prefix in prefixes(node):
                if _traced(prefix, body).split(":")[0] not in args:
                    refuse(f"{fn.signature.name}/{node.name}", f"{_traced(prefix, body)!r}")


def _raise(found: list[Refused], where: str) -> None:
    if not found:
        return
    ops = sorted({r.op for r in found})
    first = next(r for r in found if r.op == ops[0])
    more = f" (and {', '.join(ops[1:4])}{', ...' if len(ops) > 4 else ''})" if len(ops) > 1 else ""
    raise UserError(
        f"{where!r} runs a {ops[0]} operation (node {first.node!r}){more}, which is not an inference op onnxgru "
        "allows: it may read or write files or run code when the graph runs. Give an inference graph without it, "
        "or pass --trust-code if you trust the file."
    )
