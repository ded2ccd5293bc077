"""The command line: parse, call a command, render its report. Nothing else lives here."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from onnxgru import __version__
from onnxgru.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is a UserError (one sentence, exit 2) instead of usage noise."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} -h`).")


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


def _common_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--atol", type=_float, default=1e-5, help="absolute tolerance, elementwise (default 1e-5)")
    p.add_argument("--rtol", type=_float, default=1e-5, help="relative tolerance, elementwise (default 1e-5)")
    p.add_argument("--seed", type=_int, default=0, help="seed of the generated inputs (default 0)")
    p.add_argument("--batch", type=_int, default=3, help="batch rows of the generated inputs (default 3)")
    p.add_argument("--steps", type=_int, default=12, help="time steps of the generated inputs (default 12)")
    p.add_argument("--inputs", metavar="FILE.npz", help="fixed inputs: x (batch, steps, features) and optional h0")


def _common_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE|FILE.npy",
        help="a fixed feed for a model input, e.g. keep_prob=1.0 (repeatable)",
    )
    p.add_argument(
        "--time-major", action="store_true", default=None, help="the model's sequence input is (steps, batch, features)"
    )
    p.add_argument("--batch-first", action="store_true", default=None, help="a PyTorch state dict's GRU is batch_first")
    p.add_argument(
        "--trust-pickle", action="store_true", help="allow loading a pickled PyTorch module (runs code from the file)"
    )
    p.add_argument(
        "--trust-code", action="store_true",
        help="run TensorFlow ops off the inference allowlist and unscreened TorchScript (only for files you trust)",
    )
    p.add_argument(
        "--time-limit", type=_float, default=None, metavar="SECONDS",
        help="stop a native run, or a runtime on one model, after this long (default 300)",
    )
    p.add_argument(
        "--memory-limit", default=None, metavar="SIZE",
        help="address space of each runtime's child process, e.g. 8G (default 16G)",
    )
    p.add_argument("--input-names", default="", help="comma-separated graph input names (TensorFlow graphs)")
    p.add_argument("--output-names", default="", help="comma-separated graph output names (TensorFlow graphs)")


def _common_out(p: argparse.ArgumentParser, plot: bool = True, junit: bool = False) -> None:
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    if plot:
        p.add_argument("--plot", metavar="FILE.png", help="plot the error per time step")
    if junit:
        p.add_argument("--junit", metavar="FILE.xml", help="write a JUnit XML report for CI")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing output files")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="onnxgru", description="Cross-framework validator for GRU models, through ONNX.")
    parser.add_argument("--version", action="version", version=f"onnxgru {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("inspect", help="describe every GRU in a source")
    p.add_argument("source")
    _common_source(p)
    _common_out(p, plot=False)

    p = sub.add_parser("compare", help="compare two sources: attributes, weights, outputs")
    p.add_argument("a")
    p.add_argument("b")
    _common_run(p)
    _common_source(p)
    _common_out(p)

    p = sub.add_parser("check", help="deployment pre-flight across frameworks and runtimes")
    p.add_argument("--tf", action="append", default=[], metavar="SRC", help="a TensorFlow/Keras source (repeatable)")
    p.add_argument("--torch", action="append", default=[], metavar="SRC", help="a PyTorch source (repeatable)")
    p.add_argument("--onnx", action="append", default=[], metavar="FILE", help="an ONNX file (repeatable)")
    p.add_argument(
        "--runtimes",
        default=None,
        help="comma-separated: onnxruntime,openvino,tract,reference (default: all installed)",
    )
    _common_run(p)
    _common_source(p)
    _common_out(p, junit=True)

    p = sub.add_parser("export", help="export a TensorFlow or PyTorch GRU to ONNX with fused GRU nodes")
    p.add_argument("framework", choices=["tf", "torch"])
    p.add_argument("source")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None, help="export in this float type")
    p.add_argument(
        "--exporter", choices=["torchscript", "dynamo"], default="torchscript", help="torch.onnx path (torch only)"
    )
    p.add_argument("--opset", type=_int, default=None, help="ONNX opset (default: the exporter's)")
    _common_run(p)
    _common_source(p)
    _common_out(p, plot=False)

    p = sub.add_parser("convert", help="convert a TensorFlow GRU into an exact PyTorch module")
    p.add_argument("source")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument(
        "--target", choices=["exact", "nn.GRU"], default="exact", help="exact module (default) or plain nn.GRU"
    )
    _common_run(p)
    _common_source(p)
    _common_out(p, plot=False)
    return parser


def _fixed_inputs(items: Sequence[str]) -> dict[str, np.ndarray]:
    fixed = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"--input {item!r} must be NAME=VALUE or NAME=FILE.npy, e.g. keep_prob=1.0.")
        if value.endswith(".npy"):
            from onnxgru.core.inputs import check_npy
            from onnxgru.sources.files import existing

            try:
                check_npy(existing(value, "--input"), f"--input {name}={value}")
                fixed[name] = np.load(value, allow_pickle=False)
            except UserError:
                raise
            except Exception as exc:
                raise UserError(
                    f"--input {name}: {value!r} is not a readable .npy file ({type(exc).__name__})."
                ) from None
        else:
            try:
                number: float = int(value)
            except ValueError:
                try:
                    number = float(value)
                except ValueError:
                    raise UserError(f"--input {name}: {value!r} is neither a number nor a .npy file.") from None
            if isinstance(number, float) and not abs(number) <= float(np.finfo(np.float32).max):  # nan, inf, 1e39
                raise UserError(f"--input {name}={value} is NaN, Inf or beyond float32; give a finite value.")
            fixed[name] = np.array(number) if isinstance(number, int) else np.array(number, dtype=np.float32)
        given = fixed[name]
        if given.dtype.kind in "fc" and not np.all(np.isfinite(given)):
            raise UserError(f"--input {name} contains NaN or Inf; give a finite value.")
    return fixed


def _load_options(args: argparse.Namespace):
    from onnxgru import limits
    from onnxgru.sources.load import LoadOptions

    time_limit = limits.TIME_LIMIT_S if args.time_limit is None else args.time_limit
    if not 0 < time_limit < float("inf"):
        raise UserError(f"--time-limit must be a positive number of seconds, got {args.time_limit!r}.")
    return LoadOptions(
        fixed=_fixed_inputs(args.input),
        time_major=args.time_major,
        batch_first=args.batch_first,
        trust_pickle=args.trust_pickle,
        input_names=tuple(n for n in args.input_names.split(",") if n),
        output_names=tuple(n for n in args.output_names.split(",") if n),
        trust_code=args.trust_code,
        time_limit=time_limit,
        memory_limit=limits.MEMORY_LIMIT_BYTES if args.memory_limit is None else limits.parse_memory(args.memory_limit),
    )


def _settings(args: argparse.Namespace):
    from onnxgru.commands.common import Settings

    return Settings(
        atol=args.atol, rtol=args.rtol, seed=args.seed, batch=args.batch, steps=args.steps, inputs_file=args.inputs
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Parse, run, render; returns the exit code. UserErrors propagate to ``main``."""
    from onnxgru.commands.common import check_output_path, write_atomic

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    sources = [getattr(args, k) for k in ("source", "a", "b") if getattr(args, k, None)]
    sources += (
        list(getattr(args, "tf", []) or [])
        + list(getattr(args, "torch", []) or [])
        + list(getattr(args, "onnx", []) or [])
    )
    sources += [args.inputs] if getattr(args, "inputs", None) else []  # input files are inputs too
    sources += [v.partition("=")[2] for v in getattr(args, "input", []) if v.endswith(".npy")]
    outputs: dict[str, Path | None] = {
        k: check_output_path(getattr(args, k, None), args.force, sources) for k in ("json", "plot", "junit")
    }
    target = check_output_path(getattr(args, "output", None), args.force, sources)
    if len({str(p.resolve()) for p in [*outputs.values(), target] if p}) < sum(
        1 for p in [*outputs.values(), target] if p
    ):
        raise UserError("two output options name the same file; give each output its own path.")
    options = _load_options(args)

    if args.command == "inspect":
        from onnxgru.commands.inspect_cmd import inspect

        report = inspect(args.source, options)
    elif args.command == "compare":
        from onnxgru.commands.compare_cmd import compare

        report = compare(args.a, args.b, _settings(args), options)
    elif args.command == "check":
        from onnxgru.commands.check_cmd import check

        report = check(
            tf=args.tf,
            torch=args.torch,
            onnx=args.onnx,
            runtimes=args.runtimes,
            settings=_settings(args),
            options=options,
        )
    elif args.command == "export":
        from onnxgru.commands.export_cmd import export

        report = export(
            args.framework,
            args.source,
            target,
            _settings(args),
            options,
            dtype=args.dtype,
            exporter=args.exporter,
            opset=args.opset,
        )
    else:
        from onnxgru.commands.convert_cmd import convert

        report = convert(args.source, target, _settings(args), options, target_kind=args.target)

    from onnxgru.render import text

    sys.stdout.write(text.render(report))
    if outputs["json"]:
        from onnxgru.render import json_out

        write_atomic(outputs["json"], json_out.render(report))
    if outputs.get("plot"):
        from onnxgru.render import plot

        write_atomic(outputs["plot"], plot.render(report))
    if outputs.get("junit"):
        from onnxgru.render import junit

        write_atomic(outputs["junit"], junit.render(report))
    return report.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: user errors are one sentence on stderr and exit 2, never a traceback."""
    from onnxgru import limits

    limits.enable_hard_stop()  # this process is the command's: a native run past --time-limit may end it
    try:
        return run(argv)
    except UserError as exc:
        print(f"onnxgru: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("onnxgru: interrupted; nothing was written.", file=sys.stderr)
        return 130
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
