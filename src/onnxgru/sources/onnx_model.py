"""An ONNX file as a ``LoadedModel`` that runs in ONNX Runtime (or any runtime of ``onnxgru.runtimes``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from onnxgru.core import inputs as inp
from onnxgru.core.inputs import Inputs
from onnxgru.core.model import LoadedModel, Run, batch_major
from onnxgru.core.numerics import same_values
from onnxgru.core.signature import Signature
from onnxgru.core.taps import Tap
from onnxgru.errors import UserError
from onnxgru.graph import bind as onnx_bind
from onnxgru.graph import describe as onnx_describe
from onnxgru.graph import nesting, sizes
from onnxgru.graph import read as onnx_read
from onnxgru.graph.constants import constants
from onnxgru.runtimes import get

if TYPE_CHECKING:
    import onnx

    from onnxgru.sources.load import LoadOptions


@dataclass(eq=False)
class OnnxHandle:
    """The model, its GRUs and, made on first use, its tapped copy."""

    proto: onnx.ModelProto
    scan: onnx_describe.GRUScan
    signature: Signature
    _tapped: tuple | None = field(default=None, repr=False)

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.proto.graph.output]

    def tapped(self) -> tuple[onnx.ModelProto, onnx_bind.TapPlan]:
        if self._tapped is None:
            self._tapped = onnx_bind.tap(self.proto, self.scan)
        return self._tapped

    def to_run(self, values: list[np.ndarray], tapped: bool, inputs: Inputs, time_major: bool,
               precision: str | None = None) -> Run:
        """A runtime's raw outputs (of the tapped model when ``tapped``) as a ``Run``."""
        if not tapped:
            own = {n: np.asarray(v) for n, v in zip(self.output_names, values)}
            return Run(batch_major(own, inputs) if time_major else own, (), precision)
        proto, plan = self.tapped()
        own, taps = plan.split(values, [o.name for o in proto.graph.output],
                               lambda: inp.feeds(self.signature, inputs))
        own = batch_major(own, inputs) if time_major else own
        return Run(own, tuple(_shared(t, [*own.values()], inputs.data) for t in taps), precision)


def _shared(tap: Tap, outputs: list[np.ndarray], data: tuple[np.ndarray, ...]) -> Tap:
    """The tap with its Y taken from the model's output and its X from the model's input where they hold the very same
    values (a GRU whose output the model returns through a Transpose and a Reshape, or that reads the model's input):
    the runtime's own copy is then let go. At 10,000 steps the tapped Y is as big as the output."""
    X = next((a for a in data if same_values(a, tap.X)), tap.X)
    Y = None if tap.Y is None else next((o for o in outputs if same_values(o, tap.Y)), tap.Y)
    return tap if X is tap.X and Y is tap.Y else replace(tap, X=X, Y=Y)



def _keep_interface(signature: Signature, source: Signature) -> Signature:
    """An export's inputs as its source reads them: what each one is (data, state, lengths, feed), its axes, its
    vocabulary; the export's own dtype and shape stay."""
    ports = []
    for p in signature.inputs:
        s = source.input(p.name) or source.input(p.name.split(":")[0])
        if s is not None:
            p = p.with_(role=s.role, batch_axis=s.batch_axis, time_axis=s.time_axis, vocab=s.vocab, low=s.low,
                        rows=s.rows, state_form=s.state_form, optional=s.optional,
                        default=p.default if p.default is not None else s.default)
        ports.append(p)
    return Signature(tuple(ports), signature.outputs)


def from_proto(
    model: onnx.ModelProto, path: str, role: str, options: LoadOptions, kind: str = "onnx",
    runtime: str = "onnxruntime", like: LoadedModel | None = None,
) -> LoadedModel:
    """Describe ``model`` and read its interface; running it loads ``runtime`` on first use. ``like`` is the source
    an export was made from: the export keeps its interface (each input's role by name), and where the export holds
    no GRU node or loop (a single cell step written as plain operators) its GRUs are the source's, unfused."""
    nesting.check(model, path)  # an export, read by no reader: before the GRU search walks its subgraphs
    given = {k: v for k, v in {**options.named, **options.fixed}.items() if any(i.name == k for i in model.graph.input)}
    scan = onnx_describe.find_grus(model, given)
    if like is not None and not scan.layers and not scan.unused:
        scan.layers = [replace(la, fused=False, detail="written as plain operators (no GRU node or loop)")
                       for la in like.layers]
        scan.nodes = []
    if not scan.layers and scan.unused and all(f.code == "GRU011" for f in scan.findings):
        raise UserError(
            f"{path!r} contains no GRU that an output of the model depends on ({', '.join(map(repr, scan.unused[:3]))} "
            "compute nothing it outputs); give a model whose outputs come from its GRU."
        )
    if not scan.layers and not scan.findings:
        other = f"; it has {', '.join(scan.others)}: onnxgru checks GRUs" if scan.others else ""
        raise UserError(f"{path!r} contains no GRU (no GRU node and no recurrent Loop/Scan){other}; "
                        "give a model with a GRU.")
    known = {i.name for i in model.graph.input} - {t.name for t in model.graph.initializer}
    unknown = sorted(set(options.fixed) - known)
    if unknown:
        raise UserError(f"--input names {unknown} are not inputs of the model; its inputs are "
                        f"{', '.join(repr(n) for n in sorted(known))}.")
    signature = onnx_bind.signature(model, scan, constants(model.graph, given))
    if like is not None:
        signature = _keep_interface(signature, like.signature)
    if options.time_major is not None:
        signature = Signature(tuple(p.with_(batch_axis=1 if options.time_major else 0,
                                            time_axis=0 if options.time_major else 1)
                                    if p.role == "data" and p.rank == 3 else p for p in signature.inputs),
                              signature.outputs)
    handle = OnnxHandle(model, scan, signature)
    data = signature.data
    time_major = bool(data) and data[0].time_axis == 0
    floats = [p.dtype for p in signature.inputs if np.dtype(p.dtype).kind == "f"]
    dtype = str(scan.layers[0].W.dtype) if scan.layers else (floats[0] if floats else "float32")
    untapped = tuple(f"{layer.name}: inside a {node.op_type}, whose steps a runtime does not expose"
                     for layer, node in zip(scan.layers, scan.nodes) if node.op_type != "GRU")
    untapped += tuple(f"{layer.name}: {layer.detail}" for layer in scan.layers[len(scan.nodes):])
    loaded = LoadedModel(
        role=role, path=path, kind=kind, layers=tuple(scan.layers), signature=signature, dtype=dtype,
        time_major=time_major, findings=list(scan.findings), onnx_model=model, handle=handle,
        form="ONNX model", untapped=untapped,
    )
    loaded.runner = runner(handle, time_major, runtime, path)
    return loaded


def runner(  # noqa: ANN201
    handle: OnnxHandle, time_major: bool, runtime: str = "onnxruntime", where: str = "the model"
):
    """A function of canonical ``Inputs``; each session (plain and tapped) is made once, on first use. The model's
    sizes are checked at the shapes of each new feed before the runtime sees it (``where`` names it)."""
    sessions: dict[bool, object] = {}
    checked: set[tuple] = set()  # (taps, the feeds' shapes) already checked

    def run(inputs: Inputs, taps: bool = True) -> Run:
        feeds = inp.feeds(handle.signature, inputs)
        proto = handle.tapped()[0] if taps else handle.proto
        fed = (taps, tuple(sorted((k, np.shape(v)) for k, v in feeds.items())))
        if fed not in checked:
            sizes.check_fed(proto, feeds, where)
            checked.add(fed)
        if taps not in sessions:
            sessions[taps] = get(runtime).load(proto)
        session = sessions[taps]
        values = session(feeds)  # type: ignore[operator]
        return handle.to_run(values, taps, inputs, time_major, getattr(session, "precision", None))

    return run


def load(path: Path, role: str, options: LoadOptions, kind: str = "onnx") -> LoadedModel:
    return from_proto(onnx_read.read_model(path), str(path), role, options)
