"""The tf2onnx conversions onnxgru tries, each returning an ``onnx.ModelProto``.

Measured on tf2onnx 1.17 / TF 2.21: ``from_graph_def`` runs Grappler first, which constant-folds a v1 loop's
``Enter`` nodes so the GRU pattern no longer matches (a ``Scan``); ``process_tf_graph`` on the same frozen GraphDef
without Grappler matches it and writes one fused ``GRU`` node (one bidirectional node for a fw/bw pair).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onnxgru.frameworks.tf import graph
from onnxgru.frameworks.tf.keras import concrete_function, io_specs
from onnxgru.frameworks.tf.tfimport import quiet, tf, tf2onnx

if TYPE_CHECKING:
    import onnx

    from onnxgru.frameworks.tf.keras import KerasModel


def renames(tfg: graph.TFGraph) -> dict[str, str]:
    """Tensor names -> the names the ONNX file gets: the signature's, else the node's (``x:0`` -> ``x``)."""
    out: dict[str, str] = {}
    for name in [f.name for f in tfg.inputs] + list(tfg.outputs):
        new = tfg.rename.get(name) or (graph.op_name(name) if name.endswith(":0") else name.replace(":", "_"))
        if new not in out.values():
            out[name] = new
    return out


def with_grappler(tfg: graph.TFGraph, opset: int | None, graph_def: Any = None) -> onnx.ModelProto:
    """tf2onnx's default path for a GraphDef (``tf2onnx.convert.from_graph_def``), Grappler included."""
    t2o = tf2onnx()
    inputs = [f.name for f in tfg.inputs if _present(f.name, graph_def or tfg.graph_def)]
    with quiet():
        model, _ = t2o.convert.from_graph_def(
            graph_def or tfg.graph_def, input_names=inputs, output_names=list(tfg.outputs), opset=opset,
            tensors_to_rename=renames(tfg),
        )
    return model


def without_grappler(tfg: graph.TFGraph, opset: int | None, graph_def: Any = None) -> onnx.ModelProto:
    """tf2onnx's converter and GRU rewriters on the frozen GraphDef as it is, Grappler skipped."""
    t = tf()
    t2o = tf2onnx()
    from tf2onnx import optimizer, tfonnx

    gd = graph_def or tfg.graph_def
    inputs = [f.name for f in tfg.inputs if _present(f.name, gd)]
    with t.Graph().as_default() as tf_graph, quiet():
        t.import_graph_def(gd, name="")
        g = tfonnx.process_tf_graph(
            tf_graph, opset=opset, input_names=inputs, output_names=list(tfg.outputs), tensors_to_rename=renames(tfg)
        )
        g = optimizer.optimize_graph(g)
        model = g.make_model(f"converted by onnxgru with tf2onnx {t2o.__version__} (no Grappler)")
    return model


def from_keras(km: KerasModel, opset: int | None) -> onnx.ModelProto:
    """tf2onnx's path for Keras: the model traced as a ``tf.function``."""

    t2o = tf2onnx()
    call, specs = concrete_function(km)
    with quiet():
        model, _ = t2o.convert.from_function(call, input_signature=specs, opset=opset)
    rename_outputs(model, io_specs(km)[1])
    return model


def rename_outputs(model: onnx.ModelProto, names: list[str]) -> None:
    """The graph's outputs under the model's own names (tf2onnx names a traced function's outputs ``Identity:0``), so
    serving code written for the model finds them."""
    graph = model.graph
    taken = {o for n in graph.node for o in n.output} | {i.name for i in graph.input}
    for out, name in zip(graph.output, names):
        if out.name == name or name in taken:
            continue
        old = out.name
        for node in graph.node:
            node.output[:] = [name if o == old else o for o in node.output]
            node.input[:] = [name if i == old else i for i in node.input]
        out.name = name
        taken.add(name)


def _present(name: str, graph_def: Any) -> bool:
    """A fixed input folded into a constant is no longer an input."""
    op = graph.op_name(name)
    return any(n.name == op and n.op.startswith("Placeholder") for n in graph_def.node)
