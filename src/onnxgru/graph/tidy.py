"""Rewrites that leave what an exported graph computes as it is, so that more runtimes run it: the body outputs of
loops as tract reads them, one-hot indices and depths as ONNX Runtime and the reference take them, optional inputs
as the tensors they hold, inputs nothing reads any more dropped, and TensorFlow's dropout at keep_prob 1 (top level
or inside a loop body) written as the identity it is. Callers verify the result against the framework."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from onnxgru._lazy import require
from onnxgru.graph.constants import _array, constants
from onnxgru.graph.describe import outer_names
from onnxgru.graph.edit import Names, prune, prune_graph, swap_node

if TYPE_CHECKING:
    import onnx


# --- loop bodies tract reads ---------------------------------------------------------------------------------------
def body_outputs_through_identity(model: onnx.ModelProto) -> int:
    """Every output of a Scan or Loop body made by an Identity of its own. tf2onnx orders a MultiRNNCell loop's carried
    values by set iteration, so from run to run the last cell's new state is a scan output read by the Identity that
    carries it as a state, or the other way round; tract 0.23.9 refuses the first ("output-0-adjust-dim ... Impossible
    to unify 2 with 3") and runs the second. With an Identity in front of every body output, every order runs, so a
    check's verdict no longer depends on the hash seed. Returns how many outputs changed."""
    from onnx import helper

    changed = 0
    for node in model.graph.node:
        if node.op_type not in ("Scan", "Loop"):
            continue
        body = next((a.g for a in node.attribute if a.name == "body"), None)
        if body is None:
            continue
        producer = {o: n for n in body.node for o in n.output}
        names = Names(body, "body_output")
        for out in body.output:
            made = producer.get(out.name)
            if made is None or made.op_type == "Identity":
                continue
            inner = names(out.name.replace("/", "_"))
            made.output[:] = [inner if o == out.name else o for o in made.output]
            for n in body.node:
                n.input[:] = [inner if i == out.name else i for i in n.input]
            body.node.append(helper.make_node("Identity", [inner], [out.name], name=names("identity")))
            changed += 1
    return changed


# --- indices ONNX Runtime has no kernel for ---------------------------------------------------------------------
_NARROW_INTS = {2, 3, 4, 5, 12, 13}  # uint8, int8, uint16, int16, uint32, uint64: no OneHot kernel in ONNX Runtime


def one_hot_indices_as_int64(model: onnx.ModelProto) -> int:
    """ONNX Runtime implements ``OneHot`` for int32, int64 and float indices only; TensorFlow one-hot encodes uint8
    character ids (a TF1 char-RNN's ``X``) and tf2onnx writes them as they are. The same indices cast to int64 give
    the same encoding, so a Cast goes in front. A depth of shape (1,) (tf2onnx's) becomes the scalar it holds: ONNX
    allows both, and the ONNX reference evaluator (onnx 1.23.2) runs only the scalar. Returns how many OneHots
    changed."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.value_info]}
    inits = {t.name: t for t in graph.initializer}
    changed = 0
    for node in list(graph.node):
        if node.op_type != "OneHot":
            continue
        names = Names(graph, node.name or "one_hot")
        depth = inits.get(node.input[1])
        if depth is not None and list(depth.dims) == [1]:
            scalar = names("depth")
            graph.initializer.append(numpy_helper.from_array(_array(depth).reshape(()), scalar))
            node.input[1] = scalar
            changed += 1
        if types.get(node.input[0]) not in _NARROW_INTS:
            continue
        wide = names("indices_int64")
        index = list(graph.node).index(node)
        graph.node.insert(index, helper.make_node("Cast", [node.input[0]], [wide], to=TensorProto.INT64,
                                                  name=names("cast")))
        node.input[0] = wide
        changed += 1
    if changed:
        prune(model)
    return changed


# --- dropout at inference -----------------------------------------------------------------------------------------
def optional_inputs_as_tensors(model: onnx.ModelProto) -> list[str]:
    """A graph input of ``optional(tensor)`` type (torch.onnx's export of a scripted ``h: Optional[Tensor] = None``)
    as the plain tensor it carries: ``OptionalHasElement`` of it is true, ``OptionalGetElement`` the tensor itself,
    and each ``If`` that this makes constant is replaced by the branch it takes. ONNX Runtime runs optional inputs;
    OpenVINO, tract and the ONNX reference evaluator do not, and a model given its initial state needs none of it.
    Returns the inputs changed."""
    from onnx import TensorProto, helper

    graph = model.graph
    changed = [i.name for i in graph.input if i.type.WhichOneof("value") == "optional_type"
               and i.type.optional_type.elem_type.WhichOneof("value") == "tensor_type"]
    if not changed:
        return []
    for i in graph.input:
        if i.name in changed:
            inner = type(i.type)()
            inner.CopyFrom(i.type.optional_type.elem_type)
            i.type.CopyFrom(inner)
    present = set(changed)  # values that hold a tensor for sure: those inputs, Optional(x), their Identity copies
    while True:  # an inlined branch brings its own Optional* nodes up
        for node in list(graph.node):
            if node.op_type == "Optional" and node.input and node.input[0]:
                present.update(node.output)
                swap_node(graph, node, [helper.make_node("Identity", [node.input[0]], list(node.output),
                                                        name=node.name)])
            elif node.op_type == "Identity" and node.input[0] in present:
                present.update(node.output)
            elif node.op_type == "OptionalHasElement" and node.input and node.input[0] in present:
                true = helper.make_tensor("present", TensorProto.BOOL, [], [True])
                swap_node(graph, node, [helper.make_node("Constant", [], list(node.output), name=node.name,
                                                        value=true)])
            elif node.op_type == "OptionalGetElement" and node.input and node.input[0] in present:
                swap_node(graph, node, [helper.make_node("Identity", list(node.input), list(node.output),
                                                        name=node.name)])
        if not _inline_constant_if(graph):
            return changed


def _inline_constant_if(graph: onnx.GraphProto) -> bool:
    """The first ``If`` whose condition is a constant (through Not, Cast, Identity) replaced by the nodes of the branch
    it takes, its outputs renamed to the If's; True when one was."""
    from onnx import helper

    producer = {o: n for n in graph.node for o in n.output}

    def value(name: str) -> bool | None:
        flips = 0
        for _ in range(16):
            node = producer.get(name)
            if node is None:
                return None
            if node.op_type == "Constant" and node.attribute:
                return bool(_array(node.attribute[0].t).reshape(-1)[0]) != bool(flips % 2)
            if node.op_type == "Not":
                flips += 1
            elif node.op_type not in ("Cast", "Identity"):
                return None
            name = node.input[0]
        return None

    for node in graph.node:
        cond = value(node.input[0]) if node.op_type == "If" else None
        if cond is None:
            continue
        branch = next(a.g for a in node.attribute if a.name == ("then_branch" if cond else "else_branch"))
        graph.initializer.extend(branch.initializer)
        inlined = list(branch.node) + [helper.make_node("Identity", [b.name], [out], name=f"{node.name}/{out}")
                                       for b, out in zip(branch.output, node.output) if out]
        swap_node(graph, node, inlined)
        return True
    return False


def drop_unread_inputs(model: onnx.ModelProto) -> list[str]:
    """Graph inputs no node reads any more (a ``keep_prob`` whose dropout sat inside a loop a GRU node replaced): an
    input that changes nothing is dropped, since OpenVINO and tract refuse to be fed one their graph no longer has.
    Returns the names dropped."""
    graph = model.graph
    read = {i for n in graph.node for i in [*n.input, *outer_names(n)]} | {o.name for o in graph.output}
    dropped = [i.name for i in graph.input if i.name not in read]
    if dropped:
        keep = [i for i in graph.input if i.name in read]
        del graph.input[:]
        graph.input.extend(keep)
    return dropped


def drop_inference_dropout(model: onnx.ModelProto) -> int:
    """TensorFlow's ``dropout`` keeps a value where ``random >= rate``; with the rate a constant of 0 (keep_prob fixed
    at 1) the mask is all true: write it as a constant mask of the random tensor's shape. Inside a loop body (a
    ``DropoutWrapper`` in a control flow v2 ``While``) the keep probability arrives as a loop-invariant input: its
    constant is read from outside, the mask goes the same way, and the select over it (``x / 1`` where the mask
    holds) becomes ``x`` itself, so the cells chain directly again. Returns how many."""
    require("onnx")
    graph = model.graph
    outer = constants(graph)
    changed = _drop_dropout(graph, outer)
    for node in graph.node:
        body = next((a.g for a in node.attribute if a.name == "body"), None) if node.op_type == "Loop" else None
        if body is None:
            continue
        invariant = _loop_invariants(node, body, outer)
        here = _drop_dropout(body, {**outer, **invariant}, invariant)
        if here:
            _keep_all_selects(body, invariant)
            prune_graph(body)
            changed += here
    if changed:
        prune(model)
    return changed


def _loop_invariants(node: onnx.NodeProto, body: onnx.GraphProto, outer: dict[str, np.ndarray]
                     ) -> dict[str, np.ndarray]:
    """The small constants a Loop carries unchanged (its body passes the input straight to the output), by the body's
    name for them."""
    inputs = [i.name for i in body.input]
    out = {}
    for k in range(2, min(len(node.input), len(inputs))):
        value = outer.get(node.input[k])
        if value is not None and value.size <= 16 and k - 1 < len(body.output) and body.output[k - 1].name == inputs[k]:
            out[inputs[k]] = value
    return out


def _drop_dropout(graph: onnx.GraphProto, known: dict[str, np.ndarray], extra: dict[str, np.ndarray] | None = None
                  ) -> int:
    from onnx import TensorProto, helper

    consts = {**known, **constants(_with_values(graph, extra or {}))}
    producer = {o: n for n in graph.node for o in n.output}
    changed = 0
    for node in list(graph.node):
        if node.op_type != "GreaterOrEqual":
            continue
        random = producer.get(node.input[0])
        rate = consts.get(node.input[1])
        if random is None or random.op_type not in ("RandomUniformLike", "RandomUniform") or rate is None:
            continue
        low = next((a.f for a in random.attribute if a.name == "low"), 0.0)
        if float(np.max(rate)) > low:
            continue
        names = Names(graph, node.name or "dropout")
        shape = names("shape")
        like = random.input[0] if random.op_type == "RandomUniformLike" else None
        if like is None:
            continue
        new = [helper.make_node("Shape", [like], [shape], name=names("shape")),
               helper.make_node("ConstantOfShape", [shape], [node.output[0]], name=names("keep_all"),
                                value=helper.make_tensor("one", TensorProto.BOOL, [1], [True]))]
        swap_node(graph, node, new)
        changed += 1
    return changed


def _with_values(graph: onnx.GraphProto, values: dict[str, np.ndarray]) -> onnx.GraphProto:
    """A copy of ``graph`` whose named inputs are initializers of ``values`` (for folding what is computed from
    them); ``graph`` itself unchanged."""
    from onnx import numpy_helper

    if not values:
        return graph
    copy = type(graph)()
    copy.CopyFrom(graph)
    copy.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in values.items())
    return copy


def _keep_all_selects(graph: onnx.GraphProto, known: dict[str, np.ndarray]) -> None:
    """tf2onnx writes a float ``SelectV2(mask, a, b)`` as ``Cast(mask) * a + Cast(Not(mask)) * b``; over a mask that
    keeps everything (``ConstantOfShape`` of true) that is ``a``, and ``a`` (dropout's ``x / keep_prob``) is ``x``
    when the divisor is the constant 1 (``known``: the loop-invariant values it is computed from): the readers of each
    such result read ``x`` instead."""
    consts = constants(_with_values(graph, known))
    producer = {o: n for n in graph.node for o in n.output}

    def made(name: str, op: str) -> onnx.NodeProto | None:
        n = producer.get(name)
        return n if n is not None and n.op_type == op else None

    def all_true(name: str) -> bool:
        n = made(name, "ConstantOfShape")
        value = next((a.t for a in n.attribute if a.name == "value"), None) if n is not None else None
        return value is not None and bool(_array(value).all())

    def kept(name: str) -> str | None:  # Cast(mask) * a, with the mask all true: a
        mul = made(name, "Mul")
        if mul is None:
            return None
        for k in (0, 1):
            cast = made(mul.input[k], "Cast")
            if cast is not None and all_true(cast.input[0]):
                return mul.input[1 - k]
        return None

    def dropped(name: str) -> bool:  # Cast(Not(mask)) * b, with the mask all true: 0
        mul = made(name, "Mul")
        return mul is not None and any(
            (cast := made(i, "Cast")) is not None and (neg := made(cast.input[0], "Not")) is not None
            and all_true(neg.input[0]) for i in mul.input)

    rename: dict[str, str] = {}
    for node in graph.node:
        if node.op_type == "Add" and len(node.input) == 2:
            for a, b in ((0, 1), (1, 0)):
                value = kept(node.input[a])
                if value is not None and dropped(node.input[b]):
                    div = made(value, "Div")
                    one = consts.get(div.input[1]) if div is not None else None
                    rename[node.output[0]] = div.input[0] if div is not None and one is not None and np.all(
                        one == 1) else value
                    break
    if not rename:
        return
    outputs = {o.name for o in graph.output}
    for node in graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
    from onnx import helper

    for old, new in rename.items():  # a body output keeps its name, as an Identity of the value
        if old in outputs:
            graph.node.append(helper.make_node("Identity", [new], [old], name=f"{old}/kept"))
    for node in list(graph.node):
        if node.op_type == "Add" and node.output[0] in rename and node.output[0] in outputs:
            graph.node.remove(node)
