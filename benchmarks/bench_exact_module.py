"""How fast is the exact reset-before module that `onnxgru convert` writes, next to torch.nn.GRU on CPU?

Target (issue 4): within 1.5x of nn.GRU at batch 64, 256 steps, hidden 256. Both run in this one process, on the
same inputs, interleaved (nn.GRU, exact, nn.GRU, exact, ...), so machine noise hits both alike; the ratio of the
medians is what counts. The exact module is timed as a user gets it: scripted, saved and loaded with torch.jit.load.

    python benchmarks/bench_exact_module.py [--batch 64] [--steps 256] [--hidden 256] [--input 256] [--repeats 9]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np

import torch
from onnxgru.core.spec import GRUAttrs, GRULayer
from onnxgru.frameworks.torch import build


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


def _time(fn, x: torch.Tensor, h0: torch.Tensor) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn(x, h0)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--input", type=int, default=256)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    after = _layer(rng, args.input, args.hidden, 1)
    before = GRULayer("bench", GRUAttrs(args.hidden, args.input, linear_before_reset=0), after.W, after.R, after.B)

    candidates = {
        "nn.GRU": build.nn_gru([after], batch_first=True),
        "exact reset-before (TorchScript)": _as_user_gets_it(build.exact_stack([before], batch_first=True)),
        "exact reset-after (TorchScript)": _as_user_gets_it(build.exact_stack([after], batch_first=True)),
    }
    x = torch.from_numpy(rng.uniform(-1, 1, (args.batch, args.steps, args.input)).astype(np.float32))
    h0 = torch.from_numpy(rng.uniform(-0.9, 0.9, (1, args.batch, args.hidden)).astype(np.float32))
    times: dict[str, list[float]] = {name: [] for name in candidates}
    with torch.inference_mode():
        # The exact reset-after module must compute what nn.GRU computes; a fast wrong answer is no result.
        err = (candidates["exact reset-after (TorchScript)"](x, h0)[0] - candidates["nn.GRU"](x, h0)[0]).abs().max()
        assert float(err) < 1e-4, f"exact reset-after differs from nn.GRU by {float(err):.3g}"
        for _ in range(2):  # warm-up: TorchScript's profiling executor optimises on the first calls
            for fn in candidates.values():
                fn(x, h0)
        for _ in range(args.repeats):
            for name, fn in candidates.items():
                times[name].append(_time(fn, x, h0))

    base = statistics.median(times["nn.GRU"])
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {args.batch}, steps {args.steps}, "
        f"input {args.input}, hidden {args.hidden}; median of {args.repeats} interleaved runs"
    )
    print(f"{'module':<34} {'median ms':>10} {'min ms':>8} {'vs nn.GRU':>10}")
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"{name:<34} {median * 1e3:>10.1f} {min(ts) * 1e3:>8.1f} {median / base:>9.2f}x")
    ratio = statistics.median(times["exact reset-before (TorchScript)"]) / base
    print(f"target: exact reset-before within 1.5x of nn.GRU -> {ratio:.2f}x {'met' if ratio <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
