"""The command line: check the request, call a command (in a confined child), render its report; the flags are
``cli_parser``'s. Nothing else lives here.

Everything a user can get wrong on the command line (a flag, a path, a file kind, an output) is refused here, before
any framework is imported: a missing ``--torch`` file is one sentence in milliseconds, not after TensorFlow loaded.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from onnxgru import _lazy, confine, limits
from onnxgru.cli_parser import COMMANDS, build_parser, load_options, settings_of, unrecognized
from onnxgru.core import catalog
from onnxgru.errors import UserError
from onnxgru.files import Output, existing
from onnxgru.progress import Progress
from onnxgru.render import text
from onnxgru.request import check_runtimes, check_sources, close_matches, ignored_codes
from onnxgru.sources.load import parts_of

STDOUT = ("-", "/dev/stdout")


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
        raise unrecognized(parser, args, extras)
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
    options = load_options(args)
    settings = settings_of(args) if hasattr(args, "atol") else None

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

