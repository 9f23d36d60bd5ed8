"""The house rules that keep the package readable: no import circles (function-level imports
and TYPE_CHECKING blocks included), a small root, small modules and functions."""

from __future__ import annotations

import ast
from pathlib import Path

EDGE = Path(__file__).resolve().parents[1] / "edge"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
# Functions that are one table literal (a document built in place) may be longer.
TABLE_LITERALS = {"device/discovery.py:discovery_payload"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(EDGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in EDGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the edge modules it imports anywhere in its body (not only at top level)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join([*pkg, base] if base else pkg)
                # `from pkg import submodule` imports the submodule
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                if t in mods and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_scan_finds_a_planted_circle() -> None:
    graph = import_graph()
    graph["edge.types"].add("edge.pipeline")  # pipeline imports types: now a circle
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]


def test_no_import_circles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_root_is_small_and_modules_and_functions_are_short() -> None:
    root = [p.name for p in EDGE.glob("*.py")]
    assert len(root) <= 10, root
    long_modules, long_functions = [], []
    for path in EDGE.rglob("*.py"):
        text = path.read_text("utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            long_modules.append(f"{path.relative_to(EDGE)}: {text.count(chr(10))}")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                where = f"{path.relative_to(EDGE)}:{node.name}"
                if n > MAX_FUNCTION_LINES and where not in TABLE_LITERALS:
                    long_functions.append(f"{where}: {n}")
    assert not long_modules, long_modules
    assert not long_functions, long_functions
