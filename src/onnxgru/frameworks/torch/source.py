"""PyTorch sources as ``LoadedModel``s: TorchScript, ExportedProgram ``.pt2``, state dicts, pickled modules.

Nothing from a file runs code by default (``safety``): a whole pickled module, or an ExportedProgram with pickled or
compiled parts, needs ``--trust-pickle``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxgru import limits
from onnxgru._lazy import require
from onnxgru.core.findings import code_ran
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel, Outputs
from onnxgru.errors import UserError
from onnxgru.frameworks.torch import screen
from onnxgru.frameworks.torch.safety import file_format, first_line, load_exported_program, load_pickle
from onnxgru.sources.files import existing

if TYPE_CHECKING:
    from onnxgru.frameworks.torch.discover import Site
    from onnxgru.sources.load import LoadOptions
    from torch import nn


def _flatten(obj: Mapping, prefix: str = "") -> dict:
    """Nested dicts of tensors (``{"model": {"gru.weight_ih_l0": ...}}``) as one dotted-name dict; iterative, as a
    file may nest its dicts as deep as it likes."""
    torch = require("torch")
    out: dict = {}
    stack = [(prefix, iter(obj.items()))]  # depth first, in the file's order
    while stack:
        head, items = stack[-1]
        for k, v in items:
            name = f"{head}{k}"
            if isinstance(v, torch.Tensor):
                out[name] = v
            elif isinstance(v, Mapping):
                stack.append((name + ".", iter(v.items())))
                break
        else:
            stack.pop()
    return out


def load(path: Path, role: str, options: LoadOptions, kind: str = "torch") -> LoadedModel:
    """Read a PyTorch source. Only the suffixes of ``onnxgru.sources.load.TORCH_SUFFIXES`` reach here."""
    torch = require("torch", "read PyTorch models")
    from onnxgru.frameworks.torch import discover

    p = existing(path, "PyTorch")
    fmt = file_format(p)
    top, cells, ran = None, [], None
    if fmt == "torchscript":
        if not options.trust_code:
            screen.screen_archive(p)  # before torch.jit.load, which runs the archive's __setstate__
        ran = (
            "this TorchScript file's code runs when it loads (__setstate__) and when it runs (forward), "
            + ("unscreened (--trust-code)" if options.trust_code else "after onnxgru screened it: allowlisted tensor "
               "ops only")
        )
        try:
            module = torch.jit.load(str(p), map_location="cpu")
        except Exception as exc:
            raise UserError(f"{str(p)!r} is not a loadable TorchScript file ({first_line(exc)}).") from None
        sites, cells = discover.sites_of_module(module), discover.gru_cells(module)
        top = module if discover.is_converted(module) else None
        what = "TorchScript" + _around(module, sites, top)
    elif fmt == "exported_program":
        ep = load_exported_program(p, options.trust_pickle)
        sites = discover.sites_of_exported_program(ep)
        what = "ExportedProgram; onnxgru runs its aten.gru calls with the program's weights"
    else:
        obj = load_pickle(p, options.trust_pickle)
        if isinstance(obj, torch.nn.Module):
            ran = "the pickled module was unpickled with --trust-pickle, which runs code from the file"
            sites, cells = discover.sites_of_module(obj), discover.gru_cells(obj)
            top = obj if discover.is_converted(obj) else None
            what = "pickled module" + _around(obj, sites, top)
        elif isinstance(obj, Mapping):
            flat = _flatten(obj)
            sites, cells = discover.sites_of_state_dict(flat, bool(options.batch_first)), discover.gru_cells(flat)
            what = "state dict" + (" (batch_first)" if options.batch_first else "")
            half = sorted({str(v.dtype).replace("torch.", "") for v in flat.values()
                           if v.dtype in (torch.float16, torch.bfloat16)})
            what += f"; its {'/'.join(half)} weights are read and run in float32" if half else ""
        else:
            raise UserError(
                f"{str(p)!r} holds a {type(obj).__name__}, not a state dict or a module; save model.state_dict()."
            )
    if not sites:
        hint = (
            f"; it has nn.GRUCell {', '.join(cells)}, which Python code steps by hand: put its weights in an nn.GRU "
            "(same names with _l0) to check it" if cells else "; give a model with a GRU"
        )
        raise UserError(f"{str(p)!r} contains no GRU (no nn.GRU and no onnxgru exact GRU){hint}.")
    model = from_sites(sites, str(p), role, top, what)
    model.run = limits.timed(model.run, options.time_limit, f"the PyTorch model {str(p)!r}")
    if ran:
        model.findings.append(code_ran(str(p), ran))
    return model


def _around(module: nn.Module, sites: list[Site], top: nn.Module | None) -> str:
    """What runs, when the model is more than its GRUs (e.g. a Linear head): only the GRU modules are compared."""
    if top is not None or not sites or any(s.module is module for s in sites):
        return ""
    return f"; onnxgru runs its GRU modules ({', '.join(s.name for s in sites)}), not the rest of the model"


def from_module(module: nn.Module, path: str, role: str, what: str = "module") -> LoadedModel:
    """A PyTorch module already in memory (e.g. what ``convert`` just wrote, loaded back) as a ``LoadedModel``."""
    from onnxgru.frameworks.torch import discover

    sites = discover.sites_of_module(module)
    if not sites:
        raise UserError(f"{path!r} contains no GRU (no nn.GRU and no onnxgru exact GRU).")
    return from_sites(sites, path, role, module if discover.is_converted(module) else None, what)


def from_sites(sites: list[Site], path: str, role: str, top: nn.Module | None, what: str) -> LoadedModel:
    layers = tuple(layer for s in sites for layer in s.layers)
    dtype = str(next(sites[0].module.parameters()).dtype).replace("torch.", "")
    hidden = {s.layers[-1].attrs.hidden_size for s in sites}
    time_major = bool(top.time_major) if top is not None else not sites[0].batch_first
    return LoadedModel(
        role=role, path=path, kind="torch", layers=layers, input_size=layers[0].attrs.input_size,
        accepts_h0=len(hidden) == 1, dtype=dtype, run=_runner(sites, top), time_major=time_major,
        extra={"format": what, "modules": [s.name for s in sites]},
    )


def _runner(sites: list[Site], top: nn.Module | None):
    """Run the source natively in torch on canonical inputs: a converted module through its own ``forward``,
    anything else by chaining its GRU modules (the rest of a model, e.g. a Linear head, is not a GRU's output)."""
    torch = require("torch")

    def tensor(a: np.ndarray, like: nn.Module) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a)).to(next(like.parameters()).dtype)

    def run(inputs: Inputs) -> Outputs:
        with torch.no_grad():
            if top is not None:
                x = tensor(inputs.x, top)
                h0 = None if inputs.h0 is None else tensor(inputs.h0, top)
                if h0 is not None and top.squeeze_state:
                    h0 = h0[0]
                out, state = top(x.transpose(0, 1) if top.time_major else x, h0)
                out = out.transpose(0, 1) if top.time_major else out
                state = state.unsqueeze(0) if top.squeeze_state else state
                return {"output": out.numpy(), "state": state.numpy()}
            seq = inputs.x
            states, row = [], 0
            for site in sites:
                rows = sum(layer.attrs.num_directions for layer in site.layers)
                x = tensor(seq, site.module)
                h0 = None if inputs.h0 is None else tensor(inputs.h0[row : row + rows], site.module)
                row += rows
                out, state = site(x if site.batch_first else x.transpose(0, 1), h0)
                seq = (out if site.batch_first else out.transpose(0, 1)).numpy()
                states.append(state.numpy())
            same = len({s.shape[-1] for s in states}) == 1
            return {"output": seq, "state": np.concatenate(states, 0) if same else states[-1]}

    return run
