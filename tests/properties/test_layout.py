"""The package's shape: layers that import downward only, no import cycle, no module over 600 lines; tests like it."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO

PACKAGE = REPO / "ghosthub"

# Lowest first. A module may import from its own layer's package or from a lower layer, never higher.
LAYERS = [
    ("foundation", ("_version", "errors", "constants", "config", "naming", "preprocessing", "_utils")),
    ("cards", ("modelcard",)),
    ("downloads", ("download",)),
    ("pages", ("pages",)),
    ("hubs", ("hub",)),
    ("registry", ("registry",)),
    ("networks and data", ("architectures", "weights", "data")),
    ("tasks", ("tasks", "runtime")),
    ("training", ("training",)),
    ("api", ("client", "api")),
    ("surface", ("cli", "demo", "__main__", "__init__")),
]
LAYER_OF = {top: i for i, (_, tops) in enumerate(LAYERS) for top in tops}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Every ghosthub module ``module`` imports, at the top or inside functions."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for name in candidates:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and name != "ghosthub":
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, p, set(mods)) for m, p in mods.items()}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_cycle_counting_imports_inside_functions():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert len(graph) > 40, "the graph was not built"
    assert cycles == []


def test_every_import_goes_down_the_layers():
    upward = []
    for module, targets in _graph().items():
        mine = LAYER_OF[_top(module)]
        for target in targets:
            theirs = LAYER_OF[_top(target)]
            if theirs > mine:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_module_over_600_lines():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in _modules().items()}
    assert max(sizes.values()) <= 600, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_every_subpackage_is_placed_in_a_layer():
    tops = {_top(m) for m in _modules()}
    assert tops <= set(LAYER_OF), tops - set(LAYER_OF)


# The folders of tests/ that hold no subpackage's tests: what the tests share, and promises across modules.
BESIDE_THE_PACKAGE = ("support", "properties")


def test_tests_are_laid_out_like_the_package():
    """tests/<subpackage>/test_<module>.py and tests/test_<top-level module>.py; a subpackage's tests taken
    together are tests/<subpackage>/test_<subpackage>.py."""
    modules = set(_modules())
    tests = REPO / "tests"
    misplaced = []
    for path in sorted(tests.rglob("test_*.py")):
        relative = path.relative_to(tests)
        if relative.parts[0] in BESIDE_THE_PACKAGE:
            continue
        *folders, name = relative.with_suffix("").parts
        package = ".".join(["ghosthub", *folders])
        if f"{package}.{name.removeprefix('test_')}" in modules:
            continue
        if folders and name == f"test_{folders[-1]}" and package in modules:
            continue
        misplaced.append(f"tests/{relative} (ghosthub has no {package}.{name.removeprefix('test_')})")
    assert misplaced == [], (
        f"test files named after no module: {misplaced}. Name a test file after the module it tests "
        "(tests/<subpackage>/test_<module>.py, tests/test_<module>.py for a top-level module), or put a "
        f"promise that crosses modules in tests/{BESIDE_THE_PACKAGE[1]}/."
    )


def test_no_private_name_is_imported_across_subpackages():
    """``from ..runtime.isa import _TABLE`` ties a module to another's insides: export a public name instead.

    ``_utils`` is the shared private toolbox and may be imported from anywhere.
    """
    crossing = []
    for module, path in _modules().items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = module.split(".") if is_package else module.split(".")[:-1]
            target = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
            if _top(target) in (_top(module), "_utils"):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    crossing.append(f"{module}: from {target} import {alias.name}")
    assert crossing == []
