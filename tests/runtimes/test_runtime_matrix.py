"""The support matrix, measured: every runtime against the numpy oracle on single GRU nodes.

Each case either agrees with the oracle, or is refused / computed differently exactly where ``runtimes.limits``
says so. The oracle itself is held against ONNX Runtime, which honours every attribute, in every case it runs.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from onnxgru import runtimes
from onnxgru.core.spec import GRUAttrs

from .cases import Case, openvino_threads, verdict

pytestmark = pytest.mark.runtime

RUNTIMES = ("onnxruntime", "openvino", "openvino-f32", "tract", "reference")
INPUT, HIDDEN = 4, 3


def attrs(**kw: object) -> GRUAttrs:
    return GRUAttrs(hidden_size=HIDDEN, input_size=INPUT, **kw)


CASES = {
    **{
        f"lbr{lbr}-layout{layout}-{d}": Case(attrs(linear_before_reset=lbr, layout=layout, direction=d), seed=lbr)
        for lbr in (0, 1) for layout in (0, 1) for d in ("forward", "reverse", "bidirectional")
    },
    "layout1-bidirectional-h0": Case(attrs(layout=1, direction="bidirectional"), with_h0=True),
    "layout1-forward-h0": Case(attrs(layout=1, linear_before_reset=1), with_h0=True),
    **{f"{d}-h0": Case(attrs(direction=d), with_h0=True, seed=2) for d in ("forward", "reverse", "bidirectional")},
    **{
        f"lbr{lbr}-{d}-lens": Case(attrs(linear_before_reset=lbr, direction=d), lens=(5, 3, 1), with_h0=True)
        for lbr in (0, 1) for d in ("forward", "reverse", "bidirectional")
    },
    "lens-zero-length": Case(attrs(direction="bidirectional"), lens=(5, 0, 2), with_h0=True),
    "clip": Case(attrs(clip=0.4)),
    "clip-bidirectional-lbr1": Case(attrs(clip=0.4, direction="bidirectional", linear_before_reset=1)),
    "float64-lbr0": Case(attrs(), dtype=np.float64),
    "float64-lbr1-bidirectional-h0": Case(attrs(linear_before_reset=1, direction="bidirectional"), np.float64,
                                          with_h0=True),
    "relu-candidate": Case(attrs(activations=("Sigmoid", "Relu"))),
    "hardsigmoid-gates-alpha-beta": Case(attrs(activations=("HardSigmoid", "Tanh"), activation_alpha=(0.3,),
                                               activation_beta=(0.6,))),
    "scaledtanh-alpha-beta": Case(attrs(activations=("Sigmoid", "ScaledTanh"), activation_alpha=(0.8,),
                                        activation_beta=(1.3,), linear_before_reset=1)),
    "bidirectional-other-reverse-activations": Case(attrs(
        direction="bidirectional", activations=("Sigmoid", "Tanh", "Sigmoid", "Relu"))),
    "bidirectional-affine-elu": Case(attrs(
        direction="bidirectional", activations=("Sigmoid", "Tanh", "Affine", "Elu"), activation_alpha=(0.5, 0.7),
        activation_beta=(0.1,))),
}


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", list(CASES))
def test_runtime_matches_oracle_or_known_limit(runtime: str, name: str) -> None:
    if not runtimes.get(runtime).available():
        pytest.skip(f"{runtime} is not installed")
    case = CASES[name]
    got, err, why = verdict(runtime, case)
    assert got == case.expected(runtime), f"{runtime} on {name}: {got} (max error {err}) {why}"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity to run OpenVINO on one thread")
@pytest.mark.parametrize("name", ["layout1-forward-h0", "layout1-bidirectional-h0"])
def test_openvino_on_one_thread_runs_what_it_refuses_on_more(name: str) -> None:
    """The 1-CPU branch on any machine: the children (the probe's, openvino_threads') inherit a 1-CPU affinity."""
    pytest.importorskip("openvino")
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        threads, expected = openvino_threads(), CASES[name].expected("openvino")
        got, err, why = verdict("openvino", CASES[name])
    finally:
        os.sched_setaffinity(0, cpus)
    assert threads == 1 and got == expected == "mismatch" and err == float("inf"), why


def test_onnxruntime_refusals_say_why_without_source_paths() -> None:
    layout1 = verdict("onnxruntime", CASES["lbr1-layout1-forward"])
    assert layout1[0] == "refused" and "layout == 1" in layout1[2] and "onnxruntime_src" not in layout1[2]
    f64 = verdict("onnxruntime", CASES["float64-lbr0"])
    assert f64[0] == "refused" and "does not support double" in f64[2]


def test_openvino_refusal_names_the_activation() -> None:
    pytest.importorskip("openvino")
    got, _, why = verdict("openvino-f32", CASES["hardsigmoid-gates-alpha-beta"])
    assert got == "refused" and "activation function" in why and "Exception from" not in why


def test_tract_refusal_keeps_the_cause() -> None:
    pytest.importorskip("tract")
    got, _, why = verdict("tract", CASES["lbr0-forward-lens"])
    assert got == "refused" and "Non constant seq_len is not supported" in why and "backtrace" not in why
