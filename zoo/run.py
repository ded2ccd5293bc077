"""Build the zoo and run every owner's command on it; print a table (model, command, verdict, exit, seconds).

    python -m zoo.run                      # every model, every command (make zoo)
    python -m zoo.run --fast               # the subset make test runs
    python -m zoo.run --only NAME[,NAME]   # some models
    python -m zoo.run --markdown ZOO.md    # also write the table as ZOO.md shows it

Each builder runs in its own process (TF1 code needs tf-keras set before TensorFlow loads, Keras 3 code must not
have it) and writes into ``.zoo/<name>/``, rebuilt only when the builder changed. Exit 0 when every command gave
the exit code its truth calls for (and wrote the file it was asked for), else 1.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from zoo.case import Run

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "zoo" / "models"
CACHE = ROOT / ".zoo"
TIMEOUT = 600  # a command that runs past this is a failed row (issue: a verdict within 120 s on 2 cores)


@dataclass(frozen=True)
class Row:
    model: str
    run: Run
    exit: int | None
    verdict: str
    seconds: float
    ok: bool
    said: str  # the first line of stderr, or the verdict line


def names() -> list[str]:
    return sorted(p.stem for p in MODELS.glob("*.py") if not p.stem.startswith("_"))


def _stamp(name: str) -> str:
    text = (MODELS / f"{name}.py").read_bytes() + (ROOT / "zoo" / "case.py").read_bytes()
    return hashlib.sha256(text).hexdigest()[:16]


def build(name: str) -> list[Run]:
    """The model's files in ``.zoo/<name>/`` (built in a child process when missing or stale) and its commands."""
    out = CACHE / name
    stamp = out / ".stamp.json"
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved.get("stamp") == _stamp(name):
            return [Run(tuple(r["argv"]), r["expect"], r["why"], r["fast"], r["writes"]) for r in saved["runs"]]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    if not (MODELS / f"{name}.py").is_file():
        raise SystemExit(f"zoo: no model {name!r}; the models are {', '.join(names())}.")
    legacy = "LEGACY_KERAS = True" in (MODELS / f"{name}.py").read_text()
    env.pop("TF_USE_LEGACY_KERAS", None)
    if legacy:
        env["TF_USE_LEGACY_KERAS"] = "1"
    done = subprocess.run([sys.executable, "-m", "zoo.run", "--build-one", name, str(out)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise SystemExit(f"zoo: building {name} failed:\n{done.stderr[-3000:]}")
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    stamp.write_text(json.dumps({"stamp": _stamp(name), "runs": runs}))
    return [Run(tuple(r["argv"]), r["expect"], r["why"], r["fast"], r["writes"]) for r in runs]


def _build_one(name: str, out: Path) -> None:
    module = importlib.import_module(f"zoo.models.{name}")
    runs = module.build(out)
    print(json.dumps([asdict(r) for r in runs]))


def onnxgru() -> list[str]:
    exe = Path(sys.executable).parent / "onnxgru"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "onnxgru"]


def run_one(name: str, run: Run) -> Row:
    out = CACHE / name
    if run.writes:
        (out / run.writes).unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "ONNXGRU_MODELS")}
    start = time.perf_counter()
    try:
        done = subprocess.run([*onnxgru(), *run.argv], cwd=out, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        code: int | None = done.returncode
        stdout, stderr = done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        code, stdout, stderr = None, "", f"no verdict within {TIMEOUT} s"
    seconds = time.perf_counter() - start
    first = stdout.strip().splitlines()[0] if stdout.strip() else ""
    verdict = first.split(":", 1)[1].split(" - ")[0].strip() if ":" in first else "-"
    said = (stderr.strip().splitlines() or [first])[-1] if code not in (0, 1) else first
    ok = code == run.expect
    if ok and run.writes and code in (0, 1):
        ok = (out / run.writes).is_file()
        said = said if ok else f"{said} (but {run.writes} was not written)"
    return Row(name, run, code, verdict, seconds, ok, said)


def table(rows: list[Row], markdown: bool = False) -> str:
    head = ("model", "command", "expect", "exit", "verdict", "seconds", "ok")
    body = [(r.model, r.run.command, str(r.run.expect), "-" if r.exit is None else str(r.exit), r.verdict,
             f"{r.seconds:.1f}", "yes" if r.ok else "NO") for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " | why |", "|" + "---|" * (len(head) + 1)]
        lines += ["| " + " | ".join(f"`{c}`" if i == 1 else c for i, c in enumerate(b)) + f" | {r.run.why} |"
                  for b, r in zip(body, rows)]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in (head, *body)) for i in range(len(head))]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*b) for b in body)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.run", description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="only the commands make test runs")
    p.add_argument("--only", default="", help="comma-separated model names")
    p.add_argument("--markdown", metavar="FILE.md", help="write the table into this file (ZOO.md)")
    p.add_argument("--build-one", nargs=2, metavar=("NAME", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.build_one:
        _build_one(args.build_one[0], Path(args.build_one[1]))
        return 0
    chosen = [n for n in names() if not args.only or n in args.only.split(",")]
    rows = []
    for name in chosen:
        for run in build(name):
            if args.fast and not run.fast:
                continue
            row = run_one(name, run)
            rows.append(row)
            mark = "ok" if row.ok else "MISSED"
            print(f"{mark:6} {name}: onnxgru {run.command} -> exit {row.exit} (want {run.expect}) "
                  f"in {row.seconds:.1f} s: {row.said[:160]}", flush=True)
    print()
    print(table(rows))
    missed = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} commands gave what the truth calls for.")
    if args.markdown:
        _write_markdown(Path(args.markdown), rows)
    return 1 if missed else 0


def _write_markdown(path: Path, rows: list[Row]) -> None:
    text = path.read_text() if path.exists() else ""
    marker = "<!-- zoo table -->"
    head = text.split(marker)[0] if marker in text else text
    missed = sum(not r.ok for r in rows)
    path.write_text(f"{head}{marker}\n{len(rows) - missed} of {len(rows)} commands give what the truth calls for "
                    f"(`make zoo`, 2 cores).\n\n{table(rows, markdown=True)}\n")


if __name__ == "__main__":
    sys.exit(main())
