"""The package imports one way: no import cycle between modules of ``room/``, and no stage imports a
higher one.

The import graph is read with :mod:`ast` from every ``import`` / ``from ... import`` statement
anywhere in a module (module level, inside functions, under ``TYPE_CHECKING``), so an import moved
into a function to dodge a cycle is still an edge. Stages, lowest first::

    base (errors, types, transforms, config, paths, fileio, versions, _version)
    -> anatomy -> robot -> sim -> trajectory -> render -> sensor -> env -> data -> learn, viz
    -> nav (navigation benchmark) -> compose (Hydra schemas and the Compose API) -> cli
    -> the package's top-level API

A module may import its own stage, lower stages and the base modules; ``learn`` and ``viz`` are
one level (neither imports the other).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "room"

BASE = {"room.errors", "room.types", "room.transforms", "room.config", "room.paths",
        "room.fileio", "room.versions", "room._version"}
API = "room"  # the package's lazy top-level API (room/__init__.py) sits above everything
STAGES = ["anatomy", "robot", "sim", "trajectory", "render", "sensor", "env", "data",
          ("learn", "viz"), "nav", "compose", "cli"]
LEVEL = {name: i + 1 for i, s in enumerate(STAGES)
         for name in (s if isinstance(s, tuple) else (s,))}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` names or lies in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (node.level - 1)]
                    base = ".".join(pkg + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                if not t.startswith("room"):
                    continue
                r = _resolve(t, modules)
                if r and r != mod:
                    graph[mod].add(r)
    return graph


def level(mod: str) -> int:
    if mod in BASE:
        return 0
    if mod == API:
        return len(STAGES) + 1
    return LEVEL[mod.split(".")[1]]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_stage():
    unknown = [m for m in _modules()
               if m not in BASE and m != API and m.split(".")[1] not in LEVEL]
    assert not unknown, f"modules outside every stage (add them to STAGES or BASE): {unknown}"


def test_no_import_cycle():
    graph = import_graph()
    cycles = _cycles(graph)
    msg = []
    for comp in cycles:
        members = set(comp)
        edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in members]
        msg.append("cycle among " + ", ".join(comp) + ":\n    " + "\n    ".join(edges))
    assert not cycles, "import cycles in room/:\n" + "\n".join(msg)


def test_stages_import_only_downward():
    graph = import_graph()
    bad = [f"{a} -> {b}" for a in sorted(graph) for b in sorted(graph[a])
           if level(b) > level(a) or (level(b) == level(a) and 0 < level(a) <= len(STAGES)
                                      and a.split(".")[1] != b.split(".")[1])]
    assert not bad, "imports from a lower stage to a higher one:\n  " + "\n  ".join(bad)
