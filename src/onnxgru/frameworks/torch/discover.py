"""Finding the GRUs in a PyTorch object: a module (eager or TorchScript), an ExportedProgram, a state dict.

Each GRU found is a ``Site``: a module with ``nn.GRU``'s interface (``forward(input, hx) -> (output, h_n)``), its
``batch_first`` and its canonical layers. Running a source chains its sites, so what runs is the source's own GRU
code (``nn.GRU``'s kernels, or the TorchScript of an exact ``GRUStack``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru._lazy import require
from onnxgru.core.spec import GRULayer
from onnxgru.errors import UserError
from onnxgru.frameworks.torch import build, exact

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass
class Site:
    """One GRU module of a source, runnable with ``nn.GRU``'s interface."""

    name: str
    module: nn.Module
    batch_first: bool
    layers: list[GRULayer]

    def __call__(self, x: torch.Tensor, h0: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        return _tensor_forward(self.module)(x, h0)


def _tensor_forward(m: nn.Module) -> Any:
    """The module's forward on tensors. A scripted ``nn.GRU`` has no ``forward``, only its two overloads
    (``forward__0`` on a Tensor, ``forward__1`` on a PackedSequence)."""
    c: Any = getattr(m, "_c", None)  # a ScriptModule's C++ module
    if _scripted(m) and "forward" not in c._method_names():
        for name in c._method_names():
            if name.startswith("forward__") and "Tensor input" in str(c._get_method(name).schema):
                return getattr(m, name)
    return m


def _scripted(m: nn.Module) -> bool:
    return isinstance(m, require("torch").jit.ScriptModule)


def _class_name(m: nn.Module) -> str:
    """``GRU`` for an ``nn.GRU`` whether eager or scripted (a ScriptModule keeps its ``original_name``)."""
    return str(m.original_name) if _scripted(m) else type(m).__name__


def _params(m: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in m.named_parameters(recurse=False)}


def is_stack(m: nn.Module) -> bool:
    return _class_name(m) == "GRUStack" and getattr(m, "onnxgru_module", "") == exact.FORMAT


def is_converted(m: nn.Module) -> bool:
    """What ``onnxgru convert`` writes: ``ConvertedGRU`` or, for layers of different hidden sizes,
    ``ConvertedGRUCells``."""
    return getattr(m, "onnxgru_module", "") in (exact.CONVERTED_FORMAT, exact.CONVERTED_CELLS_FORMAT) and (
        _class_name(m) in ("ConvertedGRU", "ConvertedGRUCells"))


def _is_nn_gru(m: nn.Module) -> bool:
    if isinstance(m, require("torch").nn.GRU):
        return True
    return _scripted(m) and m.original_name == "GRU" and getattr(m, "mode", "") == "GRU"


def sites_of_module(module: nn.Module) -> list[Site]:
    """Every ``nn.GRU`` and exact ``GRUStack`` in ``module``, in registration order."""
    sites: list[Site] = []
    for name, m in module.named_modules():
        label = name or "gru"
        if _is_nn_gru(m):
            if int(getattr(m, "proj_size", 0) or 0):
                raise UserError(f"{label} is an nn.GRU with proj_size, which onnxgru does not read.")
            layers = build.layers_from_gru_params(_params(m), label)
            sites.append(Site(label, m, bool(m.batch_first), layers))
        elif is_stack(m):
            sites.append(Site(label, m, bool(m.batch_first), build.layers_from_stack(m, label)))
    return sites


def gru_cells(obj: nn.Module | dict) -> list[str]:
    """Names of ``nn.GRUCell``s (modules, or ``weight_ih`` without a layer suffix in a state dict): a cell stepped
    by hand in Python is not a GRU layer onnxgru can run, so it is named when no GRU is found."""
    if isinstance(obj, dict):
        return sorted({k[: -len("weight_ih")].rstrip(".") or "cell" for k in obj if str(k).endswith("weight_ih")})
    return [name or "cell" for name, m in obj.named_modules() if _class_name(m) == "GRUCell"]


def _as_float(state: dict) -> dict:
    """GRU parameters as float32/float64 tensors: half-precision weights (float16, bfloat16) are read and run in
    float32 (torch's half GRU on the CPU, and numpy, cannot hold what a comparison needs); integer or boolean
    "weights" are no GRU's, and a UserError says so."""
    torch = require("torch")
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            continue
        if build._GRU_PARAM.match(str(k)) and not (v.is_floating_point() and not v.is_complex()):
            raise UserError(
                f"the GRU parameter {k!r} is {str(v.dtype).replace('torch.', '')}, not floating point; a GRU's weights "
                "are floats: save the state dict of a float model."
            )
        out[k] = v.float() if v.dtype in (torch.float16, torch.bfloat16) else v
    return out


def sites_of_state_dict(state: dict, batch_first: bool, dtype: torch.dtype | None = None) -> list[Site]:
    """The ``nn.GRU``s a state dict describes, each rebuilt as a module so it runs with torch's own GRU."""
    torch = require("torch")
    state = _as_float(state)
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    arrays = {k: v.detach().cpu().numpy() for k, v in state.items() if isinstance(v, torch.Tensor)}
    groups = build.group_gru_params(arrays)
    sites = []
    for prefix, params in groups.items():
        label = prefix.rstrip(".") or "gru"
        layers = build.layers_from_gru_params(params, label)
        first = layers[0].attrs
        gru = torch.nn.GRU(
            first.input_size, first.hidden_size, num_layers=len(layers), bias=any(k.startswith("bias") for k in params),
            batch_first=batch_first, bidirectional=first.num_directions == 2,
            dtype=state[prefix + "weight_ih_l0"].dtype if dtype is None else dtype,
        )
        try:
            gru.load_state_dict({k: state[prefix + k] for k in params}, strict=True)
        except RuntimeError as exc:
            raise UserError(
                f"the parameters under {label!r} do not form one nn.GRU ({str(exc).splitlines()[0]}); "
                "save the state dict of an nn.GRU (or a module holding one)."
            ) from None
        sites.append(Site(label, gru.eval(), batch_first, layers))
    return sites


def sites_of_exported_program(ep: torch.export.ExportedProgram, with_nodes: bool = False) -> Any:
    """The ``aten.gru`` calls of an ExportedProgram, each rebuilt as an ``nn.GRU`` with the program's weights (and,
    ``with_nodes``, the name of each call's graph node)."""
    sig = ep.graph_signature
    to_state = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    state = {**ep.state_dict, **getattr(ep, "constants", {})}
    sites, names = [], []
    for node in ep.graph.nodes:
        if node.op != "call_function" or "aten.gru" not in str(node.target) or len(node.args) < 9:
            continue
        if not all(getattr(p, "name", None) in to_state for p in node.args[2]):
            raise UserError(
                f"the aten.gru call {node.name!r} of the ExportedProgram takes its weights from the program's inputs "
                "or from a computation, not from its parameters; onnxgru reads GRUs whose weights the program holds "
                "(export the module with its nn.GRU as a submodule)."
            )
        names.append(node.name)
        _, _, params, has_biases, num_layers, _, _, bidirectional, batch_first = node.args[:9]
        tensors = [state[to_state[p.name]] for p in params]
        param_names = gru_param_names(int(num_layers), bool(bidirectional), bool(has_biases))
        if len(param_names) != len(tensors):
            raise UserError(f"the aten.gru call {node.name!r} of the ExportedProgram has an unexpected parameter list.")
        label = to_state[params[0].name].rsplit(".", 1)[0] if "." in to_state[params[0].name] else node.name
        sites += sites_of_state_dict(
            {f"{label}.{n}": t for n, t in zip(param_names, tensors)}, bool(batch_first), tensors[0].dtype
        )
    return (sites, names) if with_nodes else sites


def gru_param_names(num_layers: int, bidirectional: bool, bias: bool) -> list[str]:
    """The order ``aten.gru`` takes the flat parameter list in (as ``nn.GRU._flat_weights_names``)."""
    names = []
    for k in range(num_layers):
        for s in ["", "_reverse"][: 2 if bidirectional else 1]:
            names += [f"weight_ih_l{k}{s}", f"weight_hh_l{k}{s}"]
            if bias:
                names += [f"bias_ih_l{k}{s}", f"bias_hh_l{k}{s}"]
    return names
