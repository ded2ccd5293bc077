"""Single-node GRU cases and the one rule every runtime test applies to them.

A case is one ONNX ``GRU`` node with random, non-degenerate weights, built with ``onnx_build.single_node``, and its
expected outputs from the numpy oracle ``core.reference.gru``. ``verdict`` runs a runtime on it and says what
happened ("ok", "refused", "mismatch"); ``expected`` says what ``runtimes.limits`` predicts. Tests assert the two are
the same, so the documented limits are re-measured on every run, and a runtime that fixes one makes a test fail
until ``limits.py`` and ``KNOWN.md`` are updated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from onnxgru import runtimes
from onnxgru.core.reference import gru
from onnxgru.core.spec import GRUAttrs
from onnxgru.graph.build import single_node
from onnxgru.runtimes.limits import limits

T, N = 5, 3
BF16_ATOL = 5e-2  # a GRU computed in bf16 differs from float32 by about 1e-2 at most (measured 3e-3 to 6e-3)


def reported_precision(runtime: str) -> str | None:
    """What ``runtime`` will report it computes a float32 model in on this machine: for OpenVINO's default, what its
    compiled model says (bf16 on CPUs with AVX512_BF16 or AMX, f32 elsewhere); None for a runtime that does not say
    (it follows the model). Tests derive their expectations from this, never from the CPU they happen to run on."""
    if runtime == "openvino":
        from onnxgru.runtimes.openvino_rt import default_precision

        return default_precision()
    return "f32" if runtime == "openvino-f32" else None


def is_reduced(precision: str | None) -> bool:
    return precision not in (None, "f32", "f64")


_THREADS = """
import numpy as np
from onnxgru.core.spec import GRUAttrs
from onnxgru.runtimes.openvino_rt import _compile
from onnxgru.graph.build import single_node
model = single_node(GRUAttrs(hidden_size=2, input_size=2), np.ones((1, 6, 2)), np.ones((1, 6, 2)), np.ones((1, 12)))
print(_compile(model, None).get_property("INFERENCE_NUM_THREADS"))
"""


@lru_cache
def _openvino_threads(cpus: frozenset[int]) -> int:
    done = subprocess.run([sys.executable, "-c", _THREADS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


def openvino_threads() -> int:
    """The threads OpenVINO's CPU plugin compiles a model for (its INFERENCE_NUM_THREADS) in a new process with this
    process's CPUs: 1 on a 1-CPU machine. Asked in a child, because a process that loaded OpenVINO keeps the CPUs
    it saw first."""
    return _openvino_threads(frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset())


@dataclass(frozen=True)
class Case:
    attrs: GRUAttrs
    dtype: type = np.float32
    lens: tuple[int, ...] | None = None
    with_h0: bool = False
    seed: int = 0

    def build(self) -> tuple[object, dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """(model, feeds, (Y, Y_h) from the oracle), feeds in the node's layout."""
        a = self.attrs
        rng = np.random.default_rng(self.seed)
        d, h, i = a.num_directions, a.hidden_size, a.input_size
        W = rng.uniform(-1, 1, (d, 3 * h, i)).astype(self.dtype)
        R = rng.uniform(-1, 1, (d, 3 * h, h)).astype(self.dtype)
        B = rng.uniform(-0.5, 0.5, (d, 6 * h)).astype(self.dtype)
        X = rng.uniform(-2, 2, (T, N, i) if a.layout == 0 else (N, T, i)).astype(self.dtype)
        feeds = {"X": X}
        h0 = None
        if self.with_h0:
            h0 = rng.uniform(-1, 1, (d, N, h) if a.layout == 0 else (N, d, h)).astype(self.dtype)
            feeds["initial_h"] = h0
        if self.lens is not None:
            feeds["sequence_lens"] = np.array(self.lens, np.int32)
        model = single_node(a, W, R, B, dtype=self.dtype, with_lens=self.lens is not None, with_h0=self.with_h0)
        return model, feeds, gru(a, X, W, R, B, self.lens, h0)

    def expected(self, runtime: str) -> str:
        zero = self.lens is not None and min(self.lens) == 0
        found = limits(runtime, self.attrs, self.dtype, self.lens is not None, has_h0=self.with_h0, zero_length=zero,
                       precision=reported_precision(runtime))
        kinds = {lim.kind for lim in found}
        if "refused" in kinds and self.corrupts_openvino(runtime) and openvino_threads() == 1:
            # only what refuses the same GRU without initial_h and sequence_lens still refuses; the rest is wrong
            alone = limits(runtime, self.attrs, self.dtype, False, precision=reported_precision(runtime))
            kinds = {lim.kind for lim in alone} | {"mismatch"}
        return "refused" if "refused" in kinds else "mismatch" if "mismatch" in kinds else "ok"

    def corrupts_openvino(self, runtime: str) -> bool:
        """OpenVINO 2026.4.1 refuses a layout=1 GRU fed ``initial_h`` or ``sequence_lens`` when it runs on two threads
        or more; on one (a 1-CPU machine) it returns a Y of 0 steps and corrupts its own memory: a later inference in
        the process segfaults (measured; KNOWN.md). Such a case runs in a child."""
        return runtime in ("openvino", "openvino-f32") and self.attrs.layout == 1 and (
            self.with_h0 or self.lens is not None)

    @property
    def atol(self) -> float:
        return 1e-10 if self.dtype == np.float64 else 2e-5


def max_error(outputs: list[np.ndarray], expected: tuple[np.ndarray, np.ndarray]) -> float:
    """Largest elementwise ``|got - want| / (1 + |want|)`` over Y and Y_h (absolute near zero, relative for the
    large values unbounded activations such as Affine reach); infinity when a shape differs."""
    if len(outputs) < 2 or any(o.shape != e.shape for o, e in zip(outputs, expected)):
        return float("inf")
    return max(float(np.max(np.abs(o - e) / (1.0 + np.abs(e)))) for o, e in zip(outputs, expected))


def verdict(runtime: str, case: Case) -> tuple[str, float | None, str]:
    """Run ``case`` in ``runtime``, in this process unless it may corrupt it: ("ok" | "refused" | "mismatch", max
    error, refusal text)."""
    model, feeds, expected = case.build()
    if case.corrupts_openvino(runtime):
        from onnxgru.runtimes.probe import probe

        result = probe(runtime, model, feeds)
        if not result:
            return result.status, None, result.detail
        outputs = result.outputs
    else:
        try:
            outputs = runtimes.get(runtime).load(model)(feeds)
        except runtimes.RuntimeRefused as exc:
            return "refused", None, str(exc)
    err = max_error(outputs, expected)
    # A documented deviation must be clearly one; between the two bounds the test fails either way.
    if err <= case.atol:
        return "ok", err, ""
    return ("mismatch" if err > 10 * case.atol else "unclear"), err, ""
