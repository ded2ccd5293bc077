"""GRU009: when ONNX Runtime's CUDA execution provider would run a GRU node on the CPU instead of cuDNN.

A static rule, read from ONNX Runtime's source (no GPU needed), ``onnxruntime/core/providers/cuda/
cuda_execution_provider.cc``: ``GetCapability`` asks ``RNNNeedFallbackToCPU(node, {"sigmoid", "tanh", "sigmoid",
"tanh"}, "GRU")``, which sends the node to the CPU provider, with only a WARNING log line ("CUDA kernel not supported.
Fallback to CPU execution provider for Op type: GRU"), when the node carries

- an ``activation_alpha``, ``activation_beta`` or ``clip`` attribute (whatever its value),
- an ``activations`` entry that differs, case-insensitively, from sigmoid/tanh at its position,
- a ``linear_before_reset`` attribute other than 1 ("cudnn GRU only support linear_before_reset = 1").

The rule looks only at attributes *written in the node*. The CUDA kernel itself (``cuda/rnn/gru.h``,
``cudnn_rnn_base.h``) never reads ``linear_before_reset``, and refuses ``layout != 0`` in its constructor
(``ORT_ENFORCE(layout_ == 0, "Batchwise recurrent operations (layout == 1) are not supported...")``); those two
follow in ``cuda_hazards``. Neither is measured here (no CUDA build of ONNX Runtime on the CPU machines).
"""

from __future__ import annotations

from collections.abc import Collection

from onnxgru.core.spec import GRUAttrs

_CUDNN_ACTIVATIONS = ("Sigmoid", "Tanh")


def cuda_fallback_reasons(attrs: GRUAttrs, present: Collection[str] | None = None) -> list[str]:
    """Why ONNX Runtime's CUDA provider would run this GRU on the CPU; empty when cuDNN runs it.

    ``present`` names the attributes written in the node (``{a.name for a in node.attribute}``); without it the rule
    is judged on the values, as if every non-default attribute were written (what ``onnx_build`` does).
    """
    reasons: list[str] = []
    if attrs.linear_before_reset != 1 and (present is None or "linear_before_reset" in present):
        reasons.append(
            "linear_before_reset=0 (reset before the recurrent matmul): cuDNN's GRU computes only the reset-after "
            "form (linear_before_reset=1)"
        )
    if attrs.clip is not None or (present is not None and "clip" in present):
        reasons.append(f"clip is set ({attrs.clip}); cuDNN's GRU has no cell clipping")
    pairs = [attrs.activations[i : i + 2] for i in range(0, len(attrs.activations), 2)]
    odd = [f"{f}/{g}" for f, g in pairs if (f, g) != _CUDNN_ACTIVATIONS]
    if odd:
        reasons.append(f"activations {', '.join(odd)} are not cuDNN's sigmoid/tanh")
    written = sorted({"activation_alpha", "activation_beta"} & set(present or ()))
    if written and not odd:
        reasons.append(f"the node carries {' and '.join(written)}, which ONNX Runtime's CUDA rule never accepts")
    return reasons


def cuda_hazards(attrs: GRUAttrs, present: Collection[str] | None = None) -> list[str]:
    """What would go wrong on ONNX Runtime's CUDA provider beyond a CPU fallback, read from its source (unmeasured).

    With ``present`` given and no ``linear_before_reset`` in it, the fallback rule does not fire for the ONNX default
    0, so the node stays on cuDNN, which computes the reset-after form: other numbers, no error.
    """
    hazards: list[str] = []
    if present is not None and attrs.linear_before_reset == 0 and "linear_before_reset" not in present:
        hazards.append(
            "linear_before_reset is not written in the node (ONNX default 0): ONNX Runtime's CUDA rule checks only "
            "written attributes, so cuDNN would run it as a reset-after GRU and give other numbers without an error; "
            "write linear_before_reset=0 explicitly"
        )
    if attrs.layout != 0:
        hazards.append("layout=1: ONNX Runtime's CUDA GRU kernel refuses batch-major layout when the session is made")
    return hazards
