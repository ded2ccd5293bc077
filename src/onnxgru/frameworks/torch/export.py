"""``onnxgru export torch SRC -o OUT.onnx``: torch.onnx (TorchScript or dynamo exporter), one ``GRU`` node per layer,
``linear_before_reset`` verified on every node, and the result checked against PyTorch in ONNX Runtime.

What is exported is the source's GRU stack (``onnx_ops.ExportGRU``), with inputs ``x`` (the source's layout) and
``h0`` (layers*dirs, N, H), outputs ``output`` and ``state``. The file is returned only when the check passed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from onnxgru._lazy import require
from onnxgru.commands.common import Settings, disagreement, discrimination, execute, make_inputs, pair, refused
from onnxgru.core import findings as F
from onnxgru.core.spec import GRULayer
from onnxgru.errors import UserError
from onnxgru.report import Report
from onnxgru.runtimes import RuntimeRefused
from onnxgru.sources.load import KIND_NAMES, LoadOptions, kind_of, load

if TYPE_CHECKING:
    import onnx

EXPORTERS = ("torchscript", "dynamo")
DEFAULT_OPSET = {"torchscript": 17, "dynamo": 18}


def export(
    source: str, *, settings: Settings, options: LoadOptions, dtype: str | None = None,
    exporter: str = "torchscript", opset: int | None = None,
) -> tuple[Report, bytes | None]:
    """Export a PyTorch source to ONNX; ``(report, model bytes)``, the bytes only when the export was verified."""
    if exporter not in EXPORTERS:
        raise UserError(f"--exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}.")
    kind = kind_of(source)  # before reading: a file of another framework is not even opened
    if kind != "torch":
        raise UserError(f"{source!r} is {KIND_NAMES[kind]} source; `onnxgru export torch` exports PyTorch models.")
    model = load(source, "torch", options, kind)
    dtype = dtype or "float32"
    proto, route = to_onnx(model.layers, batch_first=not model.time_major, dtype=dtype, exporter=exporter, opset=opset)
    findings = [f for f in model.findings if f.code == "GRU012"]  # model code ran: the report says so
    findings += verify_linear_before_reset(proto, model.layers, exporter)
    findings += node_count(proto, model.layers)

    from onnxgru.sources.onnx_model import from_proto

    exported = from_proto(proto, "exported.onnx", "onnx", LoadOptions(time_major=model.time_major))
    inputs = make_inputs([model, exported], settings)
    native = execute(model, inputs)
    pairs = []
    try:
        pairs = pair("torch", native, "onnxruntime", execute(exported, inputs), settings.atol, settings.rtol)
    except RuntimeRefused as exc:
        findings.append(refused("onnxruntime", "the exported model", str(exc)))
    findings += [disagreement(p) for p in pairs if not p.passed]
    findings += discrimination([model], inputs, settings.atol, settings.rtol)
    gru_nodes = sum(1 for n in proto.graph.node if n.op_type == "GRU")
    report = Report(
        "export torch", inputs=inputs.describe(), models=(model.describe(), exported.describe()),
        pairs=tuple(pairs), findings=tuple(findings),
        extra={"export": {"exporter": exporter, "opset": _opset(proto), "dtype": dtype, "gru_nodes": gru_nodes,
                          "route": route}},
    )
    return report, (proto.SerializeToString() if report else None)


def to_onnx(
    layers: Sequence[GRULayer], *, batch_first: bool, dtype: str = "float32", exporter: str = "torchscript",
    opset: int | None = None,
) -> tuple[onnx.ModelProto, str]:
    """Run torch.onnx on the layers' ``ExportGRU``: the raw exporter output (not yet verified) and what was exported
    (torch.onnx's own nn.GRU export, or onnxgru's ``onnxgru::gru`` op)."""
    torch = require("torch", "export PyTorch models")
    onnx = require("onnx")
    from onnxgru.frameworks.torch import build, onnx_ops

    ops = onnx_ops.ops()
    module = ops.ExportGRU(layers, batch_first=batch_first, dtype=dtype, allow_nn_gru=exporter == "torchscript")
    route = "nn.GRU (torch.onnx's GRU export)" if module.plain else f"{onnx_ops.OP_NAME} (one GRU node per layer)"
    tdtype = build.torch_dtype(dtype)
    batch, steps = 3, 5
    first = layers[0].attrs
    x = torch.zeros((batch, steps, first.input_size) if batch_first else (steps, batch, first.input_size), dtype=tdtype)
    rows = sum(layer.attrs.num_directions for layer in layers)
    h0 = torch.zeros(rows, batch, layers[-1].attrs.hidden_size, dtype=tdtype)
    n_axis, t_axis = (0, 1) if batch_first else (1, 0)
    opset = opset or DEFAULT_OPSET[exporter]
    names = {"input_names": ["x", "h0"], "output_names": ["output", "state"], "opset_version": opset}
    quiet = io.StringIO()
    try:
        with _quiet_exporter(quiet):
            if exporter == "torchscript":
                f = io.BytesIO()
                torch.onnx.export(
                    module, (x, h0), f, dynamo=False, **names,
                    dynamic_axes={"x": {n_axis: "N", t_axis: "T"}, "h0": {1: "N"},
                                  "output": {n_axis: "N", t_axis: "T"}, "state": {1: "N"}},
                )
                return onnx.load_from_string(f.getvalue()), route
            n, t = torch.export.Dim("N"), torch.export.Dim("T")
            program = torch.onnx.export(
                module, (x, h0), dynamo=True, **names, custom_translation_table=ops.CUSTOM_TRANSLATIONS,
                dynamic_shapes=({n_axis: n, t_axis: t}, {1: n}), verbose=False,
            )
            return program.model_proto, route
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"torch.onnx ({exporter} exporter, opset {opset}) could not export this GRU "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}); "
            "try the other --exporter or another --opset."
        ) from None


@contextlib.contextmanager
def _quiet_exporter(sink: io.StringIO) -> Iterator[None]:
    """torch.onnx prints progress, warnings and log lines (e.g. "torchvision is not installed"); onnxgru's output
    is its report, so all of that is kept out of stdout and stderr."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _opset(proto: onnx.ModelProto) -> int | None:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def _lbr(node: onnx.NodeProto) -> int | None:
    attr = next((a for a in node.attribute if a.name == "linear_before_reset"), None)
    return None if attr is None else int(attr.i)


def verify_linear_before_reset(
    proto: onnx.ModelProto, layers: Sequence[GRULayer], exporter: str = ""
) -> list[F.Finding]:
    """Every GRU node must carry the ``linear_before_reset`` of the layer it computes. A node that lost it (as
    torch.onnx's dynamo path through onnxscript 0.5.7-0.7.0 dropped ``linear_before_reset=1`` for ``nn.GRU``, giving
    wrong numbers and no error) is repaired in ``proto``, with a finding saying so."""
    from onnx import helper

    findings = []
    nodes = [n for n in proto.graph.node if n.op_type == "GRU"]
    for node, layer in zip(nodes, layers):
        want, have = layer.attrs.linear_before_reset, _lbr(node)
        if have == want or (have is None and want == 0):
            continue
        kept = [a for a in node.attribute if a.name != "linear_before_reset"]
        del node.attribute[:]
        node.attribute.extend([*kept, helper.make_attribute("linear_before_reset", want)])
        said = "without linear_before_reset" if have is None else f"with linear_before_reset={have}"
        source = "nn.GRU (reset after)" if want else "a reset-before layer"
        formula = F.RESET_BEFORE_FORMULA if want else F.RESET_AFTER_FORMULA
        findings.append(F.Finding(
            "GRU001", "warning",
            f"torch.onnx ({exporter or 'exporter'}) wrote GRU node {node.name or node.output[0]!r} {said}, but its "
            f"source {layer.name} is {source}, so the node computed the other GRU family ({formula}). "
            f"onnxgru set linear_before_reset={want} and checked the result in ONNX Runtime. This is the onnxscript "
            "0.5.7-0.7.0 bug; upgrade onnxscript to 0.7.1 or later (or use --exporter torchscript).",
            node.name or node.output[0],
        ))
    return findings


def node_count(proto: onnx.ModelProto, layers: Sequence[GRULayer]) -> list[F.Finding]:
    """GRU005 when the exporter did not write one fused GRU node per layer."""
    count = sum(1 for n in proto.graph.node if n.op_type == "GRU")
    if count == len(layers):
        return []
    loops = [n.op_type for n in proto.graph.node if n.op_type in ("Loop", "Scan")]
    how = f"{count} GRU node(s) for {len(layers)} layer(s)" + (f" and {len(loops)} {loops[0]}" if loops else "")
    return [F.no_fused_node("exported model", how)]
