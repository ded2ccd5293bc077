"""``onnxgru export torch SRC -o OUT.onnx``: torch.onnx (TorchScript or dynamo exporter), one ``GRU`` node per layer,
``linear_before_reset`` verified on every node, and the result checked against PyTorch in ONNX Runtime.

What is exported is the source's GRU stack (``onnx_ops.ExportGRU``), with inputs ``x`` (the source's layout) and
``h0`` (layers*dirs, N, H), outputs ``output`` and ``state``. The file is returned only when the check passed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru._lazy import native_output_silenced, require
from onnxgru.core import findings as F
from onnxgru.core import inputs as inp
from onnxgru.core.spec import GRULayer
from onnxgru.entries import ExportDetails
from onnxgru.errors import UserError
from onnxgru.frameworks.torch import build, discover, fuse, onnx_ops
from onnxgru.graph.describe import what_it_holds
from onnxgru.graph.tidy import optional_inputs_as_tensors
from onnxgru.verify.inputs import make_inputs
from onnxgru.verify.pipeline import Exported
from onnxgru.verify.settings import Settings

if TYPE_CHECKING:
    import onnx

    from onnxgru.core.model import LoadedModel
    from onnxgru.sources.load import LoadOptions

EXPORTERS = ("torchscript", "dynamo")
DEFAULT_OPSET = {"torchscript": 17, "dynamo": 18}


def export_model(
    model: LoadedModel, settings: Settings, options: LoadOptions, dtype: str | None = None,
    opset: int | None = None, exporter: str = "torchscript",
) -> Exported:
    """A bare GRU stack (a state dict, a converted module) as one GRU node per layer with the source's interface; any
    other module exported whole by torch.onnx, its GRUs as torch.onnx writes them."""
    if exporter not in EXPORTERS:
        raise UserError(f"--exporter must be one of {', '.join(EXPORTERS)}, got {exporter!r}.")
    handle = model.handle
    bare = handle.form == "state_dict" or (handle.form == "torchscript" and (
        _is_converted(handle.module) or _scripted_gru(handle.module)))
    if bare:
        with_h0 = any(p.role == "state" and not p.optional for p in model.signature.inputs)
        proto, route = to_onnx(model.layers, batch_first=not model.time_major, dtype=dtype or "float32",
                               exporter=exporter, opset=opset, with_h0=with_h0, names=_names(model))
        findings = verify_linear_before_reset(proto, model.layers, exporter)
    else:
        findings = []
        try:
            proto, route = _whole(model, settings, options, exporter, opset)
        except _FixedShapes as fixed:
            proto, route = fixed.proto, fixed.route
            findings.append(F.partial(model.place, f"exported {route}; the file runs only at those shapes (export "
                                      "the module with shapes torch.onnx can leave free, e.g. no squeeze of a "
                                      "computed axis, for other batches and lengths)."))

        if optional_inputs_as_tensors(proto):
            route += "; an optional input written as the tensor it takes (its If branches resolved)"

        left = fuse.fuse_stacks(proto, model, make_inputs([model], settings, options.fixed))
        findings += verify_linear_before_reset(proto, [la for la in model.layers if la.fused], exporter) if (
            sum(1 for n in proto.graph.node if n.op_type == "GRU") == len(model.layers)) else []
        if left:
            route += f"; the exact GRU {', '.join(left)} stays as torch.onnx wrote it"
    # dynamo's value_info annotations (shapes with symbolic dims) make tract 0.23.9 refuse the model ("Impossible to
    # unify Sym(T) with Val(12)"); they only annotate, so the export drops them and every runtime infers the shapes.
    del proto.graph.value_info[:]
    findings += node_count(proto, model.layers)
    details = ExportDetails(dtype or model.dtype, exporter=exporter, opset=_opset(proto), route=route)
    return Exported(proto, tuple(findings), details)


def _scripted_gru(module: object) -> bool:
    """``torch.jit.script(nn.GRU(...))``, the commonest TorchScript GRU: its ``forward`` is an overload (tensor or
    packed input) that torch.onnx cannot call, and it is nothing but the stack, so it is exported as the stack."""
    return getattr(module, "original_name", "") == "GRU"


def _is_converted(module: Any) -> bool:

    return discover.is_converted(module)


def _names(model: LoadedModel) -> tuple[str, str, str]:
    data = model.signature.data
    return (data[0].name if data else "input", "output0", "output1")


def _whole(
    model: LoadedModel, settings: Settings, options: LoadOptions, exporter: str, opset: int | None
) -> tuple[onnx.ModelProto, str]:
    """torch.onnx on the whole module, fed example inputs that fit its signature; the batch and time axes dynamic."""
    torch = require("torch", "export PyTorch models")
    onnx_lib = require("onnx")

    inputs = make_inputs([model], settings, options.fixed)
    feeds = inp.feeds(model.signature, inputs)
    ports = [p for p in model.signature.inputs if p.name in feeds]
    args = tuple(torch.from_numpy(np.ascontiguousarray(feeds[p.name])) for p in ports)
    outputs = list(model.run(inputs, False).outputs)
    handle = model.handle
    target = handle.program if handle.form == "exported_program" else handle.module
    dynamic = {p.name: {a: n for a, n in ((p.batch_axis, "N"), (p.time_axis, "T")) if a is not None}
               for p in ports if p.role == "data"}
    dynamic.update({p.name: {1 if p.state_form == "DNH" else 0: "N"} for p in ports if p.role == "state"})
    opset = opset or DEFAULT_OPSET[exporter]
    if exporter == "dynamo" and handle.form == "torchscript":
        raise UserError(
            f"the dynamo exporter traces Python modules with torch.export, and {model.path!r} is TorchScript: export "
            "it with --exporter torchscript (the default), or give the model as an ExportedProgram (.pt2)."
        )
    quiet = io.StringIO()
    route = f"the whole module through torch.onnx ({exporter})"
    try:
        with _quiet_exporter(quiet):
            if exporter == "torchscript" and handle.form != "exported_program":
                def export(axes: dict | None) -> onnx.ModelProto:
                    f = io.BytesIO()
                    torch.onnx.export(target, args, f, dynamo=False, input_names=[p.name for p in ports],
                                      output_names=outputs, opset_version=opset, dynamic_axes=axes)
                    return onnx_lib.load_from_string(f.getvalue())

                try:
                    return export(dynamic), route
                except Exception as exc:
                    if not dynamic:
                        raise
                    free = _first_line(exc)
                proto = export(None)  # what torch.onnx gives with no dynamic_axes: the example's shapes
                shapes = ", ".join(f"{p.name} {tuple(a.shape)}" for p, a in zip(ports, args))
                raise _FixedShapes(proto, f"{route} at the example's fixed shapes ({shapes}): with free batch and "
                                   f"time axes torch.onnx fails ({free})")
            program = torch.onnx.export(target, args, dynamo=True, input_names=[p.name for p in ports],
                                        output_names=outputs, opset_version=opset, verbose=False,
                                        dynamic_shapes=_dynamic_shapes(torch, ports, dynamic)
                                        if handle.form != "exported_program" else None)
            return program.model_proto, route
    except (UserError, _FixedShapes):
        raise
    except Exception as exc:
        raise UserError(
            f"torch.onnx ({exporter} exporter, opset {opset}) could not export this model "
            f"({type(exc).__name__}: {_first_line(exc)}); "
            "try the other --exporter or another --opset."
        ) from None


class _FixedShapes(Exception):
    """torch.onnx exported the module only at its example's shapes (``proto``); ``route`` says so and why."""

    def __init__(self, proto: onnx.ModelProto, route: str) -> None:
        super().__init__(route)
        self.proto, self.route = proto, route


def _first_line(exc: Exception) -> str:
    """An exception's first line without terminal colour codes (torch.export colours its step banner)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return text.splitlines()[0][:200] if text else ""


def _dynamic_shapes(torch: object, ports: list, dynamic: dict) -> tuple:
    dims = {"N": torch.export.Dim("N"), "T": torch.export.Dim("T")}  # type: ignore[attr-defined]
    return tuple({a: dims[n] for a, n in dynamic.get(p.name, {}).items()} for p in ports)


def to_onnx(
    layers: Sequence[GRULayer], *, batch_first: bool, dtype: str = "float32", exporter: str = "torchscript",
    opset: int | None = None, with_h0: bool = False, names: tuple[str, str, str] = ("x", "output", "state"),
) -> tuple[onnx.ModelProto, str]:
    """Run torch.onnx on the layers' ``ExportGRU``: the raw exporter output (not yet verified) and what was exported
    (torch.onnx's own nn.GRU export, or onnxgru's ``onnxgru::gru`` op). ``h0`` is an input only ``with_h0``."""
    torch = require("torch", "export PyTorch models")
    onnx = require("onnx")

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
    x_name, out_name, state_name = names
    args = (x, h0) if with_h0 else (x,)
    inputs = [x_name, "h0"] if with_h0 else [x_name]
    io_names = {"input_names": inputs, "output_names": [out_name, state_name], "opset_version": opset}
    quiet = io.StringIO()
    try:
        with _quiet_exporter(quiet):
            if exporter == "torchscript":
                f = io.BytesIO()
                axes = {x_name: {n_axis: "N", t_axis: "T"}, out_name: {n_axis: "N", t_axis: "T"}, state_name: {1: "N"}}
                if with_h0:
                    axes["h0"] = {1: "N"}
                torch.onnx.export(module, args, f, dynamo=False, **io_names, dynamic_axes=axes)
                return onnx.load_from_string(f.getvalue()), route
            n, t = torch.export.Dim("N"), torch.export.Dim("T")
            shapes = ({n_axis: n, t_axis: t}, {1: n}) if with_h0 else ({n_axis: n, t_axis: t},)
            program = torch.onnx.export(
                module, args, dynamo=True, **io_names, custom_translation_table=ops.CUSTOM_TRANSLATIONS,
                dynamic_shapes=shapes, verbose=False,
            )
            return program.model_proto, route
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"torch.onnx ({exporter} exporter, opset {opset}) could not export this GRU "
            f"({type(exc).__name__}: {_first_line(exc)}); "
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
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                native_output_silenced():
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
        findings.append(F.exporter_dropped_lbr(exporter, node.name or node.output[0], said, layer.name, want))
    return findings


def node_count(proto: onnx.ModelProto, layers: Sequence[GRULayer]) -> list[F.Finding]:
    """GRU005 when the exporter did not write one fused GRU node per layer."""

    if sum(1 for n in proto.graph.node if n.op_type == "GRU") == len(layers):
        return []
    return [F.no_fused_node("exported model", what_it_holds(proto, len(layers)))]
