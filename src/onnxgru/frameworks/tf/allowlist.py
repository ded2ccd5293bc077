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


def _called(node: Any, functions: dict[str, Any]) -> list[str]:
    """The library functions a node runs: the op itself when it names one, and every function-valued attribute."""
    out = [node.op] if node.op in functions else []
    for value in node.attr.values():
        if value.HasField("func"):
            out.append(value.func.name)
        elif value.HasField("list") and value.list.func:
            out += [f.name for f in value.list.func]
    return out


def reachable(graph_def: Any, targets: Iterable[str] | None = None) -> tuple[list[Any], list[Any]]:
    """The nodes a run of ``targets`` reaches (all nodes when ``targets`` is None) and the functions they call,
    transitively; iterative, so a long chain is no recursion."""
    nodes = {n.name: n for n in graph_def.node}
    functions = {f.signature.name: f for f in graph_def.library.function}
    start = list(nodes) if targets is None else [_op_name(t) for t in targets]
    names = closure(start, lambda name: [_op_name(i) for i in nodes[name].input] if name in nodes else [])
    reached = [nodes[name] for name in names if name in nodes]
    return reached, called_functions([c for node in reached for c in _called(node, functions)], functions)


def prune(graph_def: Any, targets: Iterable[str]) -> tuple[Any, list[str]]:
    """A copy of ``graph_def`` with only what a run of ``targets`` reaches (nodes in their order, the functions
    they call), and the names of the nodes left out. Everything that comes after (tf2onnx, whose constant folding
    runs every op of the graph it is given whose inputs are constants, reached or not) sees only checked nodes."""
    nodes, functions = reachable(graph_def, list(targets))
    keep = {n.name for n in nodes}
    called = {f.signature.name for f in functions}
    out = type(graph_def)()
    out.versions.CopyFrom(graph_def.versions)
    out.node.extend(n for n in graph_def.node if n.name in keep)
    out.library.function.extend(f for f in graph_def.library.function if f.signature.name in called)
    out.library.gradient.extend(g for g in graph_def.library.gradient if g.function_name in called)
    return out, [n.name for n in graph_def.node if n.name not in keep]


def called_functions(names: Iterable[str], functions: dict[str, Any]) -> list[Any]:
    """The functions of ``names`` and every function their bodies call, transitively."""

    def calls(name: str) -> list[str]:
        return [c for node in functions[name].node_def for c in _called(node, functions)] if name in functions else []

    return [functions[name] for name in closure(names, calls) if name in functions]


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
    nodes, functions = reachable(graph_def, list(outputs))
    if not trust and screens.on():
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


def check_meta_graph(meta_graph: Any, where: str, trust: bool = False) -> None:
    """Refuse a checkpoint's or SavedModel's meta graph if loading it, or calling its functions, would run an op
    that is neither an inference op nor one that reads variables and the checkpoint.

    Loading runs the saver's restore op and the init ops (a SavedModel's main op, legacy init op, table
    initialisers); a TF2 loader may call every function its object graph names. What only the saver's save op, a
    training op or a gradient reaches never runs on loading and is not checked here; the graph onnxgru then runs
    (the frozen serving graph) passes ``check_graph``."""
    if trust or not screens.on():
        return
    graph_def = meta_graph.graph_def
    functions = {f.signature.name: f for f in graph_def.library.function}
    saver = meta_graph.saver_def if meta_graph.HasField("saver_def") else None
    targets = [saver.restore_op_name] if saver is not None and saver.restore_op_name else []
    for key in ("saved_model_main_op", "legacy_init_op", "table_initializer"):
        if key in meta_graph.collection_def:
            targets += list(meta_graph.collection_def[key].node_list.value)
    init = meta_graph.signature_def.get("__saved_model_init_op")  # where TF2's builder keeps the main op
    targets += [t.name for t in init.outputs.values() if t.name] if init is not None else []
    nodes, reached = reachable(graph_def, targets)
    # a TF2 loader may call any function the object graph names (Keras revives layers from them)
    revived = called_functions(meta_graph.object_graph_def.concrete_functions, functions)
    loaded = {f.signature.name: f for f in [*reached, *revived]}
    _raise(refused_ops(nodes, loaded.values(), LOADING_OPS, set(functions)), where)


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
