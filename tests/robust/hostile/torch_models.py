"""Hostile PyTorch files: TorchScript and pickles that write on load (``from_file``, ``__setstate__``), run forever or
call custom ops, code hidden under upper-case names or members stored twice, weights taken as inputs."""

from __future__ import annotations

import shutil
import warnings
import zipfile
from pathlib import Path

from .child import H, I  # noqa: E741


def _rewrite_code(src: Path, dst: Path, edit: dict[str, str]) -> None:
    """Copy a TorchScript archive, replacing text in its code files (what an attacker edits by hand)."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            data = zi.read(info.filename)
            if info.filename.endswith(".debug_pkl"):
                continue  # source ranges of the original code
            if info.filename.endswith(".py"):
                text = data.decode()
                for old, new in edit.items():
                    text = text.replace(old, new)
                data = text.encode()
            zo.writestr(info, data)


def _rename_members(src: Path, dst: Path, rename) -> None:
    """Copy a zip archive with its members renamed (what an attacker edits by hand)."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            data = zi.read(info.filename)
            info.filename = rename(info.filename)
            zo.writestr(info, data)


def torch_files(folder: Path) -> dict[str, Path]:
    import torch

    torch.manual_seed(13)
    out: dict[str, Path] = {}
    marker = out["from_file_marker"] = folder.parent / f"{folder.name}-from-file"

    class Payload(torch.nn.Module):
        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

        @torch.jit.export
        def __getstate__(self) -> tuple[str, bool]:
            return (self.path, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[str, bool]) -> None:
            self.path = state[0]
            self.training = state[1]

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(I, H)
            self.payload = Payload(str(marker))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.gru(self.payload(x))

    torch.jit.save(torch.jit.script(Model()), folder / "clean.pt")
    # __setstate__ runs inside torch.jit.load: torch.from_file(shared=True) + fill_ creates or overwrites any file
    write = "    _0 = torch.from_file(self.path, True, 4, dtype=0)\n    _1 = torch.fill_(_0, 65)\n" \
            "    self.training = bool(torch.gt(torch.sum(_1), 0))\n"  # used, so the compiler keeps the write
    setstate = "    self.training = (state)[1]\n"
    _rewrite_code(folder / "clean.pt", folder / "setstate.pt", {setstate: setstate + write})
    out["setstate"] = folder / "setstate.pt"
    # the same write in forward: it runs during check, compare and export
    _rewrite_code(folder / "clean.pt", folder / "forward.pt", {
        "    return x\n": "    _0 = torch.fill_(torch.from_file(self.path, True, 4, dtype=0), 66)\n"
                       "    return torch.add(x, torch.mul(torch.sum(_0), 0))\n"})  # used, so it is kept
    out["forward"] = folder / "forward.pt"
    # a GRU whose forward loops 10^9 times before its kernel: plain tensor ops, so it passes the screen and runs
    gru_call = "    _14, _15 = torch.gru(input0, "
    _rewrite_code(folder / "clean.pt", folder / "endless.pt", {
        gru_call: "    for _99 in range(1000000000):\n      input0 = torch.add(input0, 0.)\n" + gru_call})
    out["endless"] = folder / "endless.pt"
    # an op of a custom namespace, which a loaded library could register to do anything
    _rewrite_code(folder / "clean.pt", folder / "custom_op.pt", {"    return x\n": "    return ops.evil.run(x)\n"})
    out["custom_op"] = folder / "custom_op.pt"

    # an ExportedProgram whose GRU takes its weights from the program's inputs (a KeyError before)
    gru = torch.nn.GRU(I, H)

    class WeightsIn(torch.nn.Module):
        def forward(self, x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                    b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h0 = torch.zeros(1, x.shape[1], H)
            return torch._VF.gru(x, h0, [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, False)

    weights = [p.detach() for p in (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(WeightsIn(), (torch.randn(7, 3, I), *weights)), folder / "inputs.pt2")
    out["weights_as_inputs"] = folder / "inputs.pt2"

    # round three: the screen read code/ with Python's zipfile, torch's reader finds CODE/ whatever its case
    _rename_members(out["setstate"], folder / "upper_code.pt", lambda n: n.replace("/code/", "/CODE/"))
    out["upper_code"] = folder / "upper_code.pt"
    # a member stored twice: zipfile reads the last copy, torch's reader the first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(torch.nn.GRU(I, H), (torch.randn(7, 3, I),)), folder / "program.pt2")
    out["program"] = folder / "program.pt2"
    shutil.copy(out["program"], folder / "twice.pt2")
    with zipfile.ZipFile(folder / "twice.pt2", "a") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": that is the attack
        name = next(n for n in z.namelist() if n.endswith("_constants_config.json") or n.endswith(".json"))
        z.writestr(name, z.read(name))
    out["twice"] = folder / "twice.pt2"

    # state dicts in half precision and in integers
    for dtype in ("float16", "bfloat16", "int32"):
        state = {k: (v * 3).to(getattr(torch, dtype)) for k, v in gru.state_dict().items()}
        torch.save(state, folder / f"{dtype}.pt")
        out[dtype] = folder / f"{dtype}.pt"
    return out
