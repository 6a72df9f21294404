"""The shape of the import graph and the function lengths of ``src/affectlab``, as JSON.

    python benchmarks/architecture.py [--src src] [--limit 100] [--brief]

Reads every module of ``src/affectlab`` with :mod:`ast` (nothing is imported) and prints:

- ``cycles.module_level``: import circles among modules counting only module-level imports (the ones
  that run on ``import``; imports under ``if TYPE_CHECKING:`` are left out). Any circle here fails
  ``tests/test_architecture.py``.
- ``cycles.with_inner``: the same with imports inside functions counted too (a circle that can only
  close at call time; harmless at start-up, still a knot in the design).
- ``upward``: imports (module-level or inner) from a package to a package on a higher floor of
  :data:`LAYERS`, e.g. ``features`` importing ``models``.
- ``long_functions``: functions over ``--limit`` lines (default 100), longest first.
- ``inner_imports``: how many import statements sit inside functions, and how many of them load an
  ``affectlab`` module (the rest load heavy third-party libraries such as torch, cv2 or sklearn that
  the CLI's start-up avoids on purpose).

Circles are reported as strongly connected components (every module in one can reach every other),
each with one shortest circle through its first module as an example.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: The floors of ``affectlab``, lowest first: a package may import its own floor and those below.
#: Top-level modules count as packages of their own (``analysis``, ``errors``...).
LAYERS: list[list[str]] = [
    ["affectlab", "errors", "checks", "labels", "parallel", "outputs"],
    ["data", "evaluate"],                                  # records and readers; protocols and metrics
    ["face", "features", "audio"],                         # front-ends and descriptors
    ["models", "classify"],                                # networks and classifiers
    ["analysis", "explain", "viz", "video", "pairs", "identity"],  # what is built on a network
    ["media", "live"],                                     # one entry for any media file; live sources
    ["batch", "service", "experiments", "clips"],          # the applications
    ["cli"],
]


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    top: set[str] = field(default_factory=set)        # affectlab modules imported at module level
    inner: set[str] = field(default_factory=set)      # affectlab modules imported inside functions
    inner_statements: int = 0
    inner_affectlab: int = 0


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(tree: ast.Module) -> set[int]:
    """ids of the import nodes that run on import: the module body and its if/try blocks."""
    found: set[int] = set()
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.add(id(node))
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                todo.extend(node.body)
                todo.extend(node.orelse)
        elif isinstance(node, ast.Try):
            todo.extend(node.body)
            todo.extend(node.orelse)
            todo.extend(node.finalbody)
            for handler in node.handlers:
                todo.extend(handler.body)
    return found


def _guarded(tree: ast.Module) -> set[int]:
    """ids of the imports under ``if TYPE_CHECKING:`` (never run)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for sub in node.body:
                for inner in ast.walk(sub):
                    out.add(id(inner))
    return out


def _targets(node: ast.Import | ast.ImportFrom, mod: Module, names: set[str]) -> list[str]:
    """The affectlab modules one import statement loads (the deepest module named)."""
    if isinstance(node, ast.Import):
        raw = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = mod.name.split(".") if mod.is_package else mod.name.split(".")[:-1]
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join(parts + ([base] if base else []))
        raw = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base for alias in node.names]
    out = []
    for target in raw:
        while target and target not in names:
            target = target.rpartition(".")[0]
        if target.startswith("affectlab") and target != mod.name:
            out.append(target)
    return out


def read_modules(src: Path) -> tuple[dict[str, Module], list[dict]]:
    """Every module under ``src/affectlab`` with its imports, and the functions over the limit (unsorted)."""
    root = src
    paths = sorted((src / "affectlab").rglob("*.py"))
    modules = {module_name(root, p): Module(module_name(root, p), p, p.name == "__init__.py") for p in paths}
    names = set(modules)
    functions: list[dict] = []
    for mod in modules.values():
        tree = ast.parse(mod.path.read_text(encoding="utf-8"), filename=str(mod.path))
        top, guarded = _module_level_imports(tree), _guarded(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in guarded:
                targets = _targets(node, mod, names)
                if id(node) in top:
                    mod.top.update(targets)
                else:
                    mod.inner_statements += 1
                    mod.inner_affectlab += bool(targets)
                    mod.inner.update(targets)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append({"lines": node.end_lineno - node.lineno + 1, "name": node.name,
                                  "where": f"{mod.path.relative_to(src.parent)}:{node.lineno}"})
    return modules, functions


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one node (iterative), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return sorted(out, key=lambda c: (-len(c), c))


def shortest_circle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """A shortest circle from ``start`` back to itself inside one component."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph.get(node, ())):
            if child not in within:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if child not in parent:
                parent[child] = node
                queue.append(child)
    return []


def cycles(graph: dict[str, set[str]]) -> list[dict]:
    return [{"modules": c, "example": shortest_circle(graph, c[0], set(c))} for c in strongly_connected(graph)]


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def floor_of(package: str) -> int | None:
    for floor, members in enumerate(LAYERS):
        if package in members:
            return floor
    return None


def upward_imports(modules: dict[str, Module]) -> tuple[list[dict], list[str]]:
    """Imports into a higher floor, and the packages :data:`LAYERS` does not place."""
    found, unplaced = [], set()
    for mod in modules.values():
        low = floor_of(package_of(mod.name))
        if low is None:
            unplaced.add(package_of(mod.name))
            continue
        for kind, targets in (("module", mod.top), ("inner", mod.inner - mod.top)):
            for target in sorted(targets):
                high = floor_of(package_of(target))
                if high is not None and high > low:
                    found.append({"from": mod.name, "to": target, "where": kind})
    unplaced.discard("affectlab")
    return found, sorted(unplaced)


def report(src: Path, limit: int = 100) -> dict:
    modules, functions = read_modules(src)
    top = {name: set(m.top) for name, m in modules.items()}
    full = {name: m.top | m.inner for name, m in modules.items()}
    long = sorted((f for f in functions if f["lines"] > limit), key=lambda f: (-f["lines"], f["where"]))
    upward, unplaced = upward_imports(modules)
    inner_total = sum(m.inner_statements for m in modules.values())
    inner_own = sum(m.inner_affectlab for m in modules.values())
    by_module = Counter({name: m.inner_affectlab for name, m in modules.items() if m.inner_affectlab})
    return {
        "modules": len(modules),
        "edges": {"module_level": sum(map(len, top.values())), "with_inner": sum(map(len, full.values()))},
        "cycles": {"module_level": cycles(top), "with_inner": cycles(full)},
        "layers": LAYERS,
        "unplaced_packages": unplaced,
        "upward": upward,
        "long_functions": {"limit": limit, "count": len(long), "over_150": sum(f["lines"] > 150 for f in long),
                           "functions": long},
        "inner_imports": {"total": inner_total, "affectlab": inner_own, "third_party": inner_total - inner_own,
                          "affectlab_by_module": dict(by_module.most_common())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the folder holding affectlab/")
    parser.add_argument("--limit", type=int, default=100, help="report functions longer than this (lines)")
    parser.add_argument("--brief", action="store_true", help="counts only")
    args = parser.parse_args(argv)
    out = report(args.src, args.limit)
    if args.brief:
        out = {"modules": out["modules"],
               "cycles": {k: [len(c["modules"]) for c in v] for k, v in out["cycles"].items()},
               "upward": len(out["upward"]), "long_functions": out["long_functions"]["count"],
               "over_150": out["long_functions"]["over_150"], "inner_imports": out["inner_imports"]["total"],
               "inner_affectlab": out["inner_imports"]["affectlab"]}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
