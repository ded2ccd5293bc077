"""How fast is the exact reset-before module that `onnxgru convert` writes, next to torch.nn.GRU on CPU?

Target (issue 6): within 1.5x of nn.GRU. Both run in this one process, on the same inputs, interleaved (nn.GRU,
exact, nn.GRU, exact, ...); the ratio of the fastest rounds is what counts (see ``_common.best``). The exact
module is timed as a user gets it: scripted, saved and loaded with torch.jit.load. Its reset-after twin is checked
against nn.GRU first (a fast wrong answer is no result) and timed too.

    python benchmarks/bench_exact_module.py [--sizes 1x100x128,32x200x128,64x256x256] [--repeats 9]

A size is batch x steps x hidden, with input features = hidden.
"""

from __future__ import annotations

import argparse
import functools
import io

import numpy as np
from _common import Row, best, emit, interleaved, ratio_table

import torch
from onnxgru.core.spec import GRUAttrs, GRULayer
from onnxgru.frameworks.torch import build

DEFAULT_SIZES = "1x100x128,32x200x128,64x256x256"
EXACT = "exact reset-before (TorchScript)"
EXACT_AFTER = "exact reset-after (TorchScript)"


def _layer(rng: np.random.Generator, input_size: int, hidden: int, linear_before_reset: int) -> GRULayer:
    attrs = GRUAttrs(hidden_size=hidden, input_size=input_size, linear_before_reset=linear_before_reset)
    scale = 1.0 / np.sqrt(hidden)
    return GRULayer(
        "bench", attrs,
        rng.uniform(-scale, scale, (1, 3 * hidden, input_size)).astype(np.float32),
        rng.uniform(-scale, scale, (1, 3 * hidden, hidden)).astype(np.float32),
        rng.uniform(-scale, scale, (1, 6 * hidden)).astype(np.float32),
    )


def _as_user_gets_it(module: torch.nn.Module) -> torch.jit.ScriptModule:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def measure(batch: int, steps: int, hidden: int, input_size: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of nn.GRU and the exact modules, interleaved, after TorchScript's warm-up calls."""
    rng = np.random.default_rng(0)
    after = _layer(rng, input_size, hidden, 1)
    before = GRULayer("bench", GRUAttrs(hidden, input_size, linear_before_reset=0), after.W, after.R, after.B)
    candidates = {
        "nn.GRU": build.nn_gru([after], batch_first=True),
        EXACT: _as_user_gets_it(build.exact_stack([before], batch_first=True)),
        EXACT_AFTER: _as_user_gets_it(build.exact_stack([after], batch_first=True)),
    }
    x = torch.from_numpy(rng.uniform(-1, 1, (batch, steps, input_size)).astype(np.float32))
    h0 = torch.from_numpy(rng.uniform(-0.9, 0.9, (1, batch, hidden)).astype(np.float32))
    with torch.inference_mode():
        err = (candidates[EXACT_AFTER](x, h0)[0] - candidates["nn.GRU"](x, h0)[0]).abs().max()
        assert float(err) < 1e-4, f"exact reset-after differs from nn.GRU by {float(err):.3g}"
        # warm-up: TorchScript's profiling executor optimises on the first calls
        calls = {name: functools.partial(module, x, h0) for name, module in candidates.items()}
        return interleaved(calls, repeats, warmup=2)


def rows(sizes: str, repeats: int) -> list[Row]:
    out = []
    for size in sizes.split(","):
        batch, steps, hidden = (int(v) for v in size.lower().split("x"))
        t = {k: best(v) for k, v in measure(batch, steps, hidden, hidden, repeats).items()}
        case = f"({batch}, {steps}, {hidden})"
        out.append(Row("4 exact", f"{case} {EXACT}", t[EXACT], "nn.GRU (CPU)", t["nn.GRU"], 1.5, stat="min"))
        out.append(Row("4 exact", f"{case} {EXACT_AFTER}", t[EXACT_AFTER], "nn.GRU (CPU)", t["nn.GRU"], stat="min"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="batch x steps x hidden, comma-separated")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    p.add_argument("--json", action="store_true", help="print the rows as one JSON line (for run.py)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = rows(args.sizes, args.repeats)
    if args.json:
        emit(result)
    else:
        threads = torch.get_num_threads()
        print(f"torch {torch.__version__}, {threads} threads; best of {args.repeats} interleaved runs")
        print(ratio_table(result))


if __name__ == "__main__":
    main()
