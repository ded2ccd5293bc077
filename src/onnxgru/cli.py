"""The command line: parse, check the request, call a command, render its report. Nothing else lives here.

Everything a user can get wrong on the command line (a flag, a path, a file kind, an output) is refused here, before
any framework is imported: a missing ``--torch`` file is one sentence in milliseconds, not after TensorFlow loaded.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from onnxgru import _lazy, confine, limits
from onnxgru.cli_help import ALIASES, EXAMPLES, EXIT_CODES, file_kinds
from onnxgru.core import catalog
from onnxgru.errors import UserError
from onnxgru.files import Output, existing
from onnxgru.progress import Progress
from onnxgru.render import text
from onnxgru.request import check_runtimes, check_sources, close_matches, fixed_inputs, ignored_codes, tolerances
from onnxgru.sources.load import LoadOptions, parts_of
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

STDOUT = ("-", "/dev/stdout")
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


def _load_options(args: argparse.Namespace):  # -> LoadOptions

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


def _settings(args: argparse.Namespace):  # -> Settings

    atol, atol_for = tolerances(args.atol, "atol")
    rtol, rtol_for = tolerances(args.rtol, "rtol")
    return Settings(
        atol=atol, rtol=rtol, seed=args.seed, batch=args.batch, steps=args.steps, inputs_file=args.inputs,
        atol_for=atol_for, rtol_for=rtol_for, taps=not args.no_taps, shapes=parse_shapes(args.shape),
    )


def _unrecognized(parser: argparse.ArgumentParser, args: argparse.Namespace, extras: list[str]) -> UserError:
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


def _explain(code: str | None) -> int:

    if not code:
        width = max(len(c) for c in catalog.CATALOG)
        for e in catalog.CATALOG.values():
            print(f"{e.code:<{width}}  {e.severity:<7}  {e.title}")
        print("\n`onnxgru explain CODE` for the cause and the fix.")
        return 0
    key = code.strip().upper()
    if key not in catalog.CATALOG:
        close = close_matches(key, list(catalog.CATALOG), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UserError(f"{code!r} is not a finding code; {hint}run `onnxgru explain` for the list.")
    sys.stdout.write(catalog.explain(key, text.terminal_width()))
    return 0


def _read(args: argparse.Namespace, models: list[str], confined: bool = False) -> list[Path]:
    """Every file and folder the command reads, which no output may be: each model's parts (the bundled example's
    for ``check`` without sources), ``--inputs``, ``--against`` and ``--input NAME=FILE.npy``. ``confined``: what
    the confined child may read, the same less any part of a model outside the model's own folder (external data
    or a link elsewhere, which the screens refuse: should one miss, the loader finds nothing there to read)."""
    if args.command == "check" and not models:
        from onnxgru import example  # noqa: PLC0415 - only when an output is to be checked against it

        models = [str(example.folder() / name) for name in example.FILES.values()]
    read = [part for m in models for part in parts_of(m) if not confined or _inside(part, Path(m))]
    read += [Path(f) for f in (getattr(args, k, None) for k in ("inputs", "against")) if f]
    return read + [Path(v.partition("=")[2]) for v in getattr(args, "input", []) if v.endswith(".npy")]


def _inside(part: Path, model: Path) -> bool:
    """Whether ``part`` (a link followed) lies in the folder of ``model`` (the model itself, for a folder)."""
    own = model.resolve()
    return part.resolve().is_relative_to(own if own.is_dir() else own.parent)


def _outputs(args: argparse.Namespace, models: list[str]) -> tuple[dict[str, Output | str | None], Output | None]:
    """The report files, checked before any work; ``"-"`` for standard output (at most one)."""
    given = [getattr(args, key, None) for key in ("json", "junit", "markdown", "plot", "output", "save_inputs",
                                                  "save_outputs")]
    sources = _read(args, models) if any(v is not None and v not in STDOUT for v in given) else []
    outputs: dict[str, Output | str | None] = {}
    for key in ("json", "junit", "markdown", "plot"):
        value = getattr(args, key, None)
        if value in STDOUT:
            if key == "plot":
                raise UserError("--plot writes a PNG file; give a file path, not standard output.")
            outputs[key] = "-"
        else:
            outputs[key] = Output.checked(value, args.force, sources)
    if sum(1 for v in outputs.values() if v == "-") > 1:
        raise UserError("only one report can go to standard output (-); give the others file paths.")
    for key in ("save_inputs", "save_outputs"):  # the golden files, on the commands that have the flag
        if not hasattr(args, key):
            continue
        value = getattr(args, key)
        flag = "--" + key.replace("_", "-")
        if value in STDOUT or (value is not None and not value.lower().endswith(".npz")):
            raise UserError(f"{flag} writes a numpy .npz archive; give a file path ending in .npz.")
        outputs[key] = Output.checked(value, args.force, sources)
    target = Output.checked(getattr(args, "output", None), args.force, sources)
    paths = [p.path for p in [*outputs.values(), target] if isinstance(p, Output)]
    if len({str(p.resolve()) for p in paths}) < len(paths):
        raise UserError("two output options name the same file; give each output its own path.")
    return outputs, target


def run(argv: Sequence[str] | None = None, confined: bool = False) -> int:
    """Parse, run, render; returns the exit code. UserErrors propagate to ``main``. ``confined``: load and run the
    models, and render, in a child that Landlock confines where the kernel has it (``confine.run_in_child``; the
    child keeps the memory limit and its own folders either way); this process, which checked the outputs, writes
    them."""
    given = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(given[0] if given and given[0] in COMMANDS else None)
    args, extras = parser.parse_known_args(given)
    if extras:
        raise _unrecognized(parser, args, extras)
    if not args.command:
        parser.print_help()
        return 2
    if args.command == "explain":
        return _explain(args.code)

    _lazy.set_verbose(args.verbose >= 2)  # TensorFlow's C++ lines and Torch IR dumps only with -vv
    if args.quiet and args.verbose:
        raise UserError("-q and -v contradict each other; give one of them.")
    ignore = ignored_codes(args.ignore)
    sources: list[tuple[str, str, Sequence[str] | None]] = [
        ("", getattr(args, k), None) for k in ("source", "a", "b") if getattr(args, k, None)
    ]
    for flag, kinds in (("tf", ("tf", "keras")), ("torch", ("torch",)), ("onnx", ("onnx",))):
        sources += [(f"--{flag}", p, kinds) for p in (getattr(args, flag, None) or [])]
    if args.command == "export":
        sources = [(f"export {args.framework}", args.source, ("tf", "keras") if args.framework == "tf" else ("torch",))]
    if args.command == "convert":
        sources = [("convert", args.source, ("tf", "keras"))]
    if args.command == "fix":
        sources = [("fix", args.port, ("torch",)), ("--like", args.like, None)]
    check_sources(sources)
    if getattr(args, "inputs", None):

        existing(args.inputs, "--inputs")
    if getattr(args, "against", None):
        existing(args.against, "--against")
    check_runtimes(getattr(args, "runtimes", None))
    models = [s for _, s, _ in sources]
    outputs, target = _outputs(args, models)
    options = _load_options(args)
    settings = _settings(args) if hasattr(args, "atol") else None

    def finish(files: confine.Written | None) -> int:
        if files is None:
            return _finish(args, settings, options, outputs, target, ignore)
        deferred = {k: v.deferred(files) if isinstance(v, Output) else v for k, v in outputs.items()}
        return _finish(args, settings, options, deferred, target.deferred(files) if target else None, ignore)

    if not confined:
        return finish(None)
    if not confine.abi() and args.verbose:  # the child still runs under the memory limit, in its own folders
        print("onnxgru: note: this kernel has no Landlock (Linux 5.13+), so the models are loaded and run "
              "unconfined; the screens still stand.", file=sys.stderr)

    def in_child(files: confine.Written) -> int:
        limits.enable_hard_stop(interrupts=True)  # the child's own watch: Ctrl-C ends it at once, with its line
        return _guarded(lambda: finish(files))

    code, files = confine.run_in_child(in_child, _read(args, models, confined=True), options.memory_limit)
    if code == 130:
        return code  # interrupted: nothing is written
    allowed = {o.path: o for o in [*outputs.values(), target] if isinstance(o, Output)}
    for path, data in files:
        if path not in allowed:  # only a child taken over by a file would name another path
            raise UserError(f"the confined run asked to write {str(path)!r}, which is no output of this command; "
                            "nothing more was written.")
        allowed[path].write(data)
    return code


def _finish(args: argparse.Namespace, settings, options, outputs: dict[str, Output | str | None],
            target: Output | None, ignore: frozenset[str]) -> int:
    """Run the command and render its report: to the terminal, and to the report files asked for."""
    started = time.monotonic()
    line = Progress(enabled=not args.quiet and sys.stderr.isatty())
    try:
        report = _dispatch(args, settings, options, target, outputs, line)
    finally:
        line.done()  # erased before anything else prints: the report, a warning, an error, an interruption
    report = replace(report, ignore=ignore, fail_on=args.fail_on, elapsed_s=round(time.monotonic() - started, 3))
    _warn_unused_tolerances(report, settings)


    verbosity = -1 if args.quiet else 1 if args.verbose else 0  # -v and -vv: every table
    rendered = text.render(report, verbosity)
    _write_out(rendered, sys.stderr if "-" in outputs.values() else sys.stdout)
    renderers = {"json": "json_out", "junit": "junit", "markdown": "markdown", "plot": "plot"}
    for key, module_name in renderers.items():
        where = outputs.get(key)
        if where is None:
            continue

        module = importlib.import_module(f"onnxgru.render.{module_name}")
        data = module.render(report)
        data = data.encode() if isinstance(data, str) else data
        if where == "-":
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            assert isinstance(where, Output)
            where.write(data)
    return report.exit_code


def _write_out(report_text: str, stream: TextIO) -> None:
    """To the terminal even where it cannot encode the formulas' '·' and '⊙' (an ASCII locale, a Windows console):
    escaped as Python escapes them on stderr, rather than an internal error and no report."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(report_text.encode(encoding, "backslashreplace").decode(encoding))


def _dispatch(args: argparse.Namespace, settings, options, target: Output | None, outputs: dict,
              line: Progress):  # -> Report
    # each command is imported when it runs: a mistake is answered before any of them loads (0.1 s of imports)
    saves = {k: outputs[k] for k in ("save_inputs", "save_outputs") if k in outputs}  # those this command has
    if args.command == "inspect":
        from onnxgru.commands.inspect_cmd import inspect  # noqa: PLC0415

        return inspect(args.source, options)
    if args.command == "compare":
        from onnxgru.commands.compare_cmd import compare  # noqa: PLC0415

        return compare(args.a, args.b, settings, options, **saves)
    if args.command == "check" and not (args.tf or args.torch or args.onnx):
        from onnxgru import example  # noqa: PLC0415

        return example.run(runtimes=args.runtimes, settings=settings, options=options, against=args.against,
                           progress=line, **saves)
    if args.command == "check":
        from onnxgru.commands.check_cmd import check  # noqa: PLC0415

        return check(tf=args.tf, torch=args.torch, onnx=args.onnx, runtimes=args.runtimes, settings=settings,
                     options=options, against=args.against, progress=line, **saves)
    if args.command == "export":
        from onnxgru.commands.export_cmd import export  # noqa: PLC0415

        return export(args.framework, args.source, target, settings, options, dtype=args.dtype,
                      exporter=getattr(args, "exporter", "torchscript"), opset=args.opset, runtimes=args.runtimes,
                      **saves)

    if args.command == "fix":
        from onnxgru.commands.fix_cmd import fix  # noqa: PLC0415

        return fix(args.port, args.like, target, args.runtimes, settings, options)
    from onnxgru.commands.convert_cmd import convert  # noqa: PLC0415

    return convert(args.source, target, settings, options, target_kind=args.target, **saves)


def _warn_unused_tolerances(report, settings) -> None:
    """A per-output tolerance that names no compared output is a typo: say so (the run itself stands)."""
    if settings is None or not report.pairs:
        return
    outputs = sorted({p.output for p in report.pairs})
    for flag, given in (("atol", settings.atol_for), ("rtol", settings.rtol_for)):
        for name in given:
            if name not in outputs:
                print(f"onnxgru: note: --{flag} {name}:... names no compared output (outputs: {', '.join(outputs)}).",
                      file=sys.stderr)


def main(argv: Sequence[str] | None = None, *, confined: bool | None = None) -> int:
    """The console script: user errors are one sentence on stderr and exit 2, never a traceback. ``confined``
    (default: when the arguments come from the command line, ``argv`` None) loads and runs the models in a confined
    child (``run``)."""

    limits.enable_hard_stop()  # this process is the command's: a native run past --time-limit may end it
    return _guarded(lambda: run(argv, argv is None if confined is None else confined))


def _guarded(work: Callable[[], int]) -> int:
    """``work``'s exit code; a UserError is one sentence and 2, Ctrl-C 130, a bug 3 with one line."""
    try:
        return work()
    except UserError as exc:
        print(f"onnxgru: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return limits.interrupted()
    except Exception as exc:  # a bug in onnxgru, not the user's doing
        if os.environ.get("ONNXGRU_DEBUG"):
            raise
        print(
            f"onnxgru: internal error ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "nothing was written. Rerun with ONNXGRU_DEBUG=1 for the traceback and report it.",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())

