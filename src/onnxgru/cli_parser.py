"""The command line's parser: every command's flags, and what they become (``LoadOptions``, ``Settings``).

A bad flag is a ``UserError`` naming the near miss and the command's help; nothing here imports a framework.
"""

from __future__ import annotations

import argparse
import re
import shutil
import textwrap
from collections.abc import Sequence

from onnxgru import limits
from onnxgru.cli_help import ALIASES, EXAMPLES, EXIT_CODES, file_kinds
from onnxgru.errors import UserError
from onnxgru.request import close_matches, fixed_inputs, tolerances
from onnxgru.sources.load import LoadOptions
from onnxgru.verify.inputs import read_npz
from onnxgru.verify.settings import (
    DEFAULT_BATCH,
    DEFAULT_SEED,
    DEFAULT_STEPS,
    DEFAULT_TOLERANCE,
    Settings,
    parse_shapes,
)
from onnxgru.version import __version__

COMMANDS = ("inspect", "compare", "check", "export", "convert", "fix", "explain")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=min(100, max(60, _columns())))


def _columns() -> int:
    return shutil.get_terminal_size((100, 24)).columns


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is a UserError (one sentence, exit 2) that names the near miss and this command's
    help, instead of usage noise."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("allow_abbrev", False)  # --input must never quietly mean --inputs; near misses are named
        if kwargs.get("description"):  # the raw formatter keeps the epilog's layout; the description is wrapped here
            kwargs["description"] = textwrap.fill(kwargs["description"], min(100, max(60, _columns())))
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message}{_suggest_choice(message)} (see `{self.prog} -h`).")


def _suggest_choice(message: str) -> str:
    """``invalid choice: 'chek' (choose from 'inspect', 'check')`` -> ``; did you mean 'check'?``"""
    if "invalid choice:" not in message:
        return ""
    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not m:
        return ""
    choices = re.findall(r"'([^']*)'", m.group(2)) or [c.strip() for c in m.group(2).split(",")]
    given = m.group(1)
    alias = ALIASES.get(given.lower())
    close = [alias] if alias in choices else close_matches(given, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _tolerance(text: str) -> tuple[str | None, float]:
    """``1e-5`` (every output) or ``state:1e-4`` (one output)."""
    name, sep, value = text.rpartition(":")
    if sep and not name:
        raise argparse.ArgumentTypeError(f"{text!r} has no output name before ':' (e.g. state:1e-4)")
    try:
        return (name or None), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or OUTPUT:number (e.g. state:1e-4)") from None


_TOL = str(DEFAULT_TOLERANCE).replace("e-0", "e-")  # 1e-5, as a user writes it


def _common_run(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("inputs and tolerances")
    for name in ("atol", "rtol"):
        g.add_argument(
            f"--{name}",
            type=_tolerance,
            action="append",
            default=[],
            metavar="[OUTPUT:]TOL",
            help=f"{'absolute' if name == 'atol' else 'relative'} tolerance, elementwise (default {_TOL}); "
            f"OUTPUT:TOL sets it for one output, e.g. --{name} state:1e-4 (repeatable)",
        )
    g.add_argument("--seed", type=_int, default=DEFAULT_SEED,
                   help=f"seed of the generated inputs (default {DEFAULT_SEED})")
    g.add_argument("--batch", type=_int, default=DEFAULT_BATCH,
                   help=f"batch rows of the generated inputs (default {DEFAULT_BATCH})")
    g.add_argument("--steps", type=_int, default=DEFAULT_STEPS,
                   help=f"time steps of the generated inputs (default {DEFAULT_STEPS})")
    g.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                   help="the whole shape of a model input whose axes are free or unknown, e.g. ids=4x30 (repeatable)")
    g.add_argument("--inputs", metavar="FILE.npz",
                   help="fixed inputs by the model's input names (or x (batch, steps, features) and h0)")
    g.add_argument("--no-taps", action="store_true",
                   help="do not capture each GRU's input and outputs: faster, but no GRU is checked on its own "
                   "and a disagreement is not localised")


def _saved_flags(p: argparse.ArgumentParser, outputs: bool = False, against: bool = False) -> None:
    g = p.add_argument_group("saved inputs and outputs (golden files)")
    g.add_argument("--save-inputs", metavar="FILE.npz",
                   help="write the inputs fed, by the model's input names, as --inputs reads them back")
    if outputs:
        g.add_argument("--save-outputs", metavar="FILE.npz",
                       help="write the inputs and every execution's outputs and GRU taps, by name (a golden file)")
    if against:
        g.add_argument("--against", metavar="FILE.npz",
                       help="run on the inputs of a golden file (--save-outputs, e.g. on the training machine) and "
                       "hold every execution against the one saved under its label")


def _source_flags(p: argparse.ArgumentParser, tf: bool = True, torch: bool = True) -> None:
    g = p.add_argument_group("reading the sources")
    g.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE|FILE.npy",
        help="a value for a model input, e.g. keep_prob=1.0 or x=x.npy, to verify with; an export keeps the input "
             "(repeatable)",
    )
    g.add_argument(
        "--freeze", action="append", default=[], metavar="NAME=VALUE",
        help="fold a feed into the export as a constant, e.g. keep_prob=1.0 (repeatable; the report says what)",
    )
    g.add_argument(
        "--trust-code", action="store_true",
        help="run TensorFlow ops off the inference allowlist and unscreened TorchScript (only for files you trust)",
    )
    g.add_argument(
        "--time-limit", type=_float, default=None, metavar="SECONDS",
        help="stop a native run, or a runtime on one model, after this long (default 300)",
    )
    g.add_argument(
        "--budget", type=_float, default=None, metavar="SECONDS",
        help="the whole command's time: a runtime still running past its share of it is stopped and reported, so "
        "the command ends in a verdict (default 120)",
    )
    g.add_argument(
        "--memory-limit", default=None, metavar="SIZE",
        help="address space of each runtime's child process, e.g. 8G (default 16G)",
    )
    if tf:
        g.add_argument(
            "--time-major",
            action="store_true",
            default=None,
            help="the model's sequence input is (steps, batch, features) (TensorFlow, ONNX)",
        )
        g.add_argument("--input-names", default="", help="comma-separated graph input names (TensorFlow graphs)")
        g.add_argument("--output-names", default="", help="comma-separated graph output names (TensorFlow graphs)")
    if torch:
        g.add_argument(
            "--batch-first", action="store_true", default=None, help="a PyTorch state dict's GRU is batch_first"
        )
        g.add_argument(
            "--trust-pickle",
            action="store_true",
            help="allow loading a pickled PyTorch module (runs code from the file: only for files you trust)",
        )


def _report_flags(p: argparse.ArgumentParser, plot: bool = True) -> None:
    g = p.add_argument_group("report")
    g.add_argument("--json", metavar="FILE", help="write the report as JSON (- for standard output)")
    g.add_argument("--junit", metavar="FILE.xml", help="write JUnit XML for CI: one failure per error finding")
    g.add_argument("--markdown", metavar="FILE.md", help="write a Markdown summary, e.g. for a pull-request comment")
    if plot:
        g.add_argument("--plot", metavar="FILE.png", help="plot the error per time step")
    g.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="CODE",
        help="leave findings of this code out of the verdict and the report, e.g. --ignore GRU009 (repeatable, "
        "or comma-separated)",
    )
    g.add_argument(
        "--fail-on",
        choices=["error", "warning"],
        default="error",
        help="the lowest severity that fails the run (exit 1); default error",
    )
    g.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    g.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="print every table and section; -vv also lets the frameworks' own log lines through"
    )
    g.add_argument("-f", "--force", action="store_true", help="overwrite existing output files")


def _epilog(name: str, kinds: Sequence[str] = ()) -> str:
    return "\n\n".join([EXAMPLES[name], file_kinds(*kinds), EXIT_CODES])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's (a run needs one: building all six costs 4 ms)."""

    def want(command: str) -> bool:
        return only is None or only == command

    parser = _Parser(
        prog="onnxgru",
        description="Cross-framework validator for GRU models, through ONNX: TensorFlow, PyTorch, ONNX Runtime, "
        "OpenVINO, tract and the ONNX reference evaluator.",
        epilog=_epilog("onnxgru"),
    )
    parser.add_argument("--version", action="version", version=f"onnxgru {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    if want("inspect"):
        p = sub.add_parser("inspect", help="describe every GRU in a source", epilog=_epilog("inspect"),
                           description="Describe every GRU in a source: semantics, attributes, weights, fused or not.")
        p.add_argument("source", metavar="SOURCE", help="a model file or folder (kinds below)")
        _source_flags(p)
        _report_flags(p, plot=False)

    if want("compare"):
        p = sub.add_parser("compare", help="compare two sources: attributes, weights, outputs",
                           epilog=_epilog("compare"),
                           description="Compare two sources: GRU layers paired in order, attributes and weights diffed "
                           "in ONNX's canonical form, both run on the same inputs.")
        p.add_argument("a", metavar="A", help="the first source (the reference)")
        p.add_argument("b", metavar="B", help="the second source")
        _common_run(p)
        _saved_flags(p, outputs=True)
        _source_flags(p)
        _report_flags(p)

    if want("check"):
        p = sub.add_parser("check", help="deployment pre-flight across frameworks and runtimes",
                           epilog=_epilog("check"),
                           description="Every source runs natively and is exported to ONNX; every ONNX model runs in "
                           "every runtime; all are compared. With no source: the bundled example.")
        g = p.add_argument_group("sources (repeatable; none: the bundled example)")
        g.add_argument("--tf", action="append", default=[], metavar="SRC", help="a TensorFlow or Keras source")
        g.add_argument("--torch", action="append", default=[], metavar="SRC", help="a PyTorch source")
        g.add_argument("--onnx", action="append", default=[], metavar="FILE", help="an ONNX file")
        _runtimes_flag(g)
        _common_run(p)
        _saved_flags(p, outputs=True, against=True)
        _source_flags(p)
        _report_flags(p)

    if want("export"):
        p = sub.add_parser("export", help="export a TensorFlow or PyTorch GRU to ONNX with fused GRU nodes",
                           description="Export to ONNX with one fused GRU node per layer, verified against the "
                           "framework before the file is written.", epilog=EXIT_CODES)
        frameworks = p.add_subparsers(dest="framework", metavar="FRAMEWORK", parser_class=_Parser, required=True)
        for name, what in (("tf", "a TensorFlow or Keras source"), ("torch", "a PyTorch source")):
            q = frameworks.add_parser(name, help=f"export {what}", epilog=_epilog(f"export {name}", (name,)),
                                      description=f"Export {what} to ONNX (through "
                                      f"{'tf2onnx' if name == 'tf' else 'torch.onnx'}), verified before writing.")
            q.add_argument("source", metavar="SOURCE", help=what)
            q.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="the ONNX file to write")
            q.add_argument("--dtype", choices=["float32", "float64"], default=None, help="export in this float type")
            if name == "torch":
                q.add_argument("--exporter", choices=["torchscript", "dynamo"], default="torchscript",
                               help="torch.onnx path (default torchscript)")
            q.add_argument("--opset", type=_int, default=None, help="ONNX opset (default: the exporter's)")
            _runtimes_flag(q, "the runtimes the export must run in (default: all installed)")
            _common_run(q)
            _saved_flags(q)
            _source_flags(q, tf=name == "tf", torch=name == "torch")
            _report_flags(q, plot=False)

    if want("convert"):
        p = sub.add_parser("convert", help="convert a TensorFlow GRU into an exact PyTorch module",
                           epilog=_epilog("convert", ("tf",)),
                           description="Convert a TensorFlow or Keras GRU into a PyTorch module that loads with plain "
                           "torch (torch.jit.load), verified against the source.")
        p.add_argument("source", metavar="SOURCE", help="a TensorFlow or Keras source")
        p.add_argument("-o", "--output", required=True, metavar="OUT.pt", help="the TorchScript file to write")
        p.add_argument(
            "--target", choices=["exact", "nn.GRU"], default="exact", help="exact module (default) or plain nn.GRU"
        )
        _common_run(p)
        _saved_flags(p)
        _source_flags(p, torch=False)
        _report_flags(p, plot=False)

    if want("fix"):
        p = sub.add_parser("fix", help="reorder a PyTorch port's GRU weights to match its source (GRU004)",
                           epilog=_epilog("fix"),
                           description="Reorder the GRU weights of a PyTorch port that were copied in the wrong gate "
                           "order or orientation (what GRU004 names), write the port in its own form (TorchScript or "
                           "state dict), and write it only when it passes the check against its source.")
        p.add_argument("port", metavar="PORT", help="the PyTorch port: TorchScript or a state dict")
        p.add_argument("--like", required=True, metavar="SOURCE", help="the model it was ported from (any source)")
        p.add_argument("-o", "--output", required=True, metavar="FIXED.pt", help="the fixed port to write")
        _runtimes_flag(p, "the runtimes the fixed port is checked in (default: all installed)")
        _common_run(p)
        _source_flags(p)
        _report_flags(p, plot=False)

    if want("explain"):
        p = sub.add_parser("explain", help="what a finding code means and how to fix it", epilog=EXAMPLES["explain"],
                           description="Explain a finding code (GRU001-GRU011): its cause and its fix.")
        p.add_argument("code", nargs="?", metavar="CODE", help="a finding code, e.g. GRU001 (none: list every code)")
    return parser


def _runtimes_flag(p: argparse.ArgumentParser | argparse._ArgumentGroup, what: str = "") -> None:
    p.add_argument(
        "--runtimes", default=None, metavar="NAMES",
        help="comma-separated: onnxruntime,openvino,openvino-f32,tract,reference (default: all installed)"
        + (f"; {what}" if what else ""),
    )


def load_options(args: argparse.Namespace) -> LoadOptions:
    """What the flags say about reading and running the sources: limits, given and frozen inputs, trust."""
    given = getattr(args, "time_limit", None)
    time_limit = limits.TIME_LIMIT_S if given is None else given
    if not 0 < time_limit < float("inf"):
        raise UserError(f"--time-limit must be a positive number of seconds, got {given!r}.")
    memory = getattr(args, "memory_limit", None)
    budget = getattr(args, "budget", None)
    budget = limits.COMMAND_BUDGET_S if budget is None else budget
    if not 0 < budget < float("inf"):
        raise UserError(f"--budget must be a positive number of seconds, got {budget!r}.")
    return LoadOptions(
        trust_code=getattr(args, "trust_code", False),
        time_limit=time_limit,
        memory_limit=limits.MEMORY_LIMIT_BYTES if memory is None else limits.parse_memory(memory),
        budget=limits.Budget(budget),
        fixed={**fixed_inputs(getattr(args, "input", [])), **(frozen := fixed_inputs(getattr(args, "freeze", [])))},
        freeze=frozen,
        named=_npz(getattr(args, "inputs", None)),
        time_major=getattr(args, "time_major", None),
        batch_first=getattr(args, "batch_first", None),
        trust_pickle=getattr(args, "trust_pickle", False),
        input_names=tuple(n for n in getattr(args, "input_names", "").split(",") if n),
        output_names=tuple(n for n in getattr(args, "output_names", "").split(",") if n),
    )


def _npz(path: str | None) -> dict:
    """The arrays of ``--inputs FILE.npz`` for the readers: an ONNX model's weights given as graph inputs."""
    if not path:
        return {}
    return read_npz(path)


def settings_of(args: argparse.Namespace) -> Settings:
    """What the flags say about inputs and tolerances of a run."""
    atol, atol_for = tolerances(args.atol, "atol")
    rtol, rtol_for = tolerances(args.rtol, "rtol")
    return Settings(
        atol=atol, rtol=rtol, seed=args.seed, batch=args.batch, steps=args.steps, inputs_file=args.inputs,
        atol_for=atol_for, rtol_for=rtol_for, taps=not args.no_taps, shapes=parse_shapes(args.shape),
    )


def unrecognized(parser: argparse.ArgumentParser, args: argparse.Namespace, extras: list[str]) -> UserError:
    """``unrecognized arguments: --atl`` with the near miss among this command's flags."""
    sub = _subparser(parser, args)
    flags = [s for a in sub._actions for s in a.option_strings]
    first = next((e for e in extras if e.startswith("-")), extras[0])
    close = close_matches(first.split("=")[0], flags, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return UserError(f"unrecognized arguments: {' '.join(extras)}{hint} (see `{sub.prog} -h`).")


def _subparser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    sub = parser
    for dest in ("command", "framework"):
        name = getattr(args, dest, None)
        action = next((a for a in sub._actions if isinstance(a, argparse._SubParsersAction)), None)
        if not name or action is None or name not in action.choices:
            break
        sub = action.choices[name]
    return sub
