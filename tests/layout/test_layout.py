"""The package layout keeps its promises: no import cycles between modules, no module importing
the package root, no module past ~400 lines without a stated reason."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "torch_photonic"
MAX_LINES = 420
# Files allowed past MAX_LINES, with the reason.
LONG_FILES = {
    "hardware/config.py": "one frozen dataclass per config group, each with its validation",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(modules):
    """module -> set of package modules it imports (at any depth of the file), with the
    packages Python runs on the way (importing a.b.c runs a and a.b first)."""
    graph = {}
    for mod, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    target = _resolve(mod, is_package, node.level, node.module)
                else:
                    target = node.module or ""
                for alias in node.names:  # `from . import x` may name a submodule
                    sub = f"{target}.{alias.name}"
                    targets.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        expanded = set()
        for t in targets:
            parts = t.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix != mod and not mod.startswith(prefix + "."):
                    expanded.add(prefix)
        graph[mod] = expanded
    return graph


def test_no_module_imports_the_package_root():
    modules = _modules()
    offenders = sorted(m for m, deps in _imports(modules).items()
                       if "torch_photonic" in deps and m != "torch_photonic")
    assert not offenders, f"these modules import the package root: {offenders}"


def test_no_import_cycles():
    modules = _modules()
    graph = _imports(modules)
    graph.pop("torch_photonic", None)
    for deps in graph.values():
        deps.discard("torch_photonic")
    # Tarjan's strongly connected components
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_files_stay_short():
    long = {}
    for path in PACKAGE.rglob("*.py"):
        rel = str(path.relative_to(PACKAGE))
        n = len(path.read_text().splitlines())
        if n > MAX_LINES and rel not in LONG_FILES:
            long[rel] = n
    assert not long, f"files past {MAX_LINES} lines without a reason in LONG_FILES: {long}"


def test_the_public_api_is_small_and_exported():
    import torch_photonic as tp

    assert len(tp.__all__) <= 40
    for name in tp.__all__:
        assert hasattr(tp, name), name
