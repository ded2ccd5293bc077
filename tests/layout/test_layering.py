"""The floors of ``src/onnxgru``: each module imports only its own floor and the floors below (an ``ast`` walk of
every import, those inside functions included, and of every module a registry names by string); no import circle
between modules. The list is DEVELOPING.md's "Floors" block, compared here line by line."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

# bottom up: (floor, the modules and packages on it)
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("errors", "limits", "_lazy", "files", "progress", "version", "confine", "screens")),
    ("core", ("core",)),
    ("graph", ("graph",)),
    ("runtimes", ("runtimes",)),
    ("sources", ("sources",)),
    ("results", ("entries", "meaning")),
    ("render", ("render",)),
    ("report", ("report",)),
    ("verify", ("verify",)),
    ("frameworks", ("frameworks",)),
    ("commands", ("commands", "request", "example", "cli_help", "cli_parser")),
    ("entry", ("cli", "__main__", "")),
]

# Registries load a module by name so that a framework is imported only when a file of its kind is read: the loaders
# that sources/load.py finds by kind sit on the floors of their frameworks.
REGISTRIES = {("sources.load", "frameworks.tf.source"), ("sources.load", "frameworks.torch.source")}

# Imports that still run up a floor, each to go; a new one fails the test, and so does one that is gone.
KNOWN_UP: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for p in (SRC / "onnxgru").rglob("*.py"):
        name = ".".join(p.relative_to(SRC / "onnxgru").with_suffix("").parts)
        out[name.removesuffix(".__init__").removesuffix("__init__")] = p
    return out


def _floor(module: str) -> int:
    best = None
    for i, (_, members) in enumerate(FLOORS):
        for m in members:
            if module == m or (m and module.startswith(m + ".")) or (not m and module == ""):
                if best is None or len(m) > best[1]:
                    best = (i, len(m))
    assert best is not None, f"onnxgru.{module} is on no floor: add it to FLOORS and DEVELOPING.md"
    return best[0]


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The onnxgru modules ``module`` imports anywhere in its code (not under ``if TYPE_CHECKING``), and those its
    registries name as strings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _type_checking(node)
            for stmt in node.body for n in ast.walk(stmt)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()

    def add(name: str) -> None:
        name = name.removeprefix("onnxgru").removeprefix(".")
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name != module:
            found.add(name)

    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "onnxgru":
                    add(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, *([node.module] if node.module else [])])
            elif (node.module or "").split(".")[0] == "onnxgru":
                stem = node.module.removeprefix("onnxgru").removeprefix(".")  # type: ignore[union-attr]
            else:
                continue
            for a in node.names:
                full = f"{stem}.{a.name}" if stem else a.name
                add(full if full in modules else stem)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.fullmatch(r"onnxgru(\.\w+)+(:\w+)?", node.value):
                add(node.value.split(":")[0])
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def test_every_import_stays_on_its_floor_or_goes_down() -> None:
    up = set()
    for module, imported in _graph().items():
        for other in imported:
            if _floor(other) > _floor(module) and (module, other) not in REGISTRIES:
                up.add((module, other))
    assert up == KNOWN_UP, (f"imports running up a floor: {sorted(up - KNOWN_UP)}; "
                            f"gone (take them out of KNOWN_UP): {sorted(KNOWN_UP - up)}")


def test_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for other in sorted(graph.get(m, ())):
            if (m, other) in KNOWN_UP:
                continue  # counted by the floors test
            if state.get(other) == 1:
                raise AssertionError(f"import circle: {' -> '.join([*stack[stack.index(other):], other])}")
            if not state.get(other):
                visit(other)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m)


def test_developing_md_lists_the_same_floors() -> None:
    text = (ROOT / "DEVELOPING.md").read_text(encoding="utf-8")
    block = text.split("## Floors", 1)[1].split("```")[1]
    listed = [line.split(None, 1) for line in block.strip().splitlines()]
    assert [(name, tuple(m.strip() for m in rest.split(","))) for name, rest in listed] == [
        (name, tuple(m or "onnxgru" for m in members)) for name, members in FLOORS]
