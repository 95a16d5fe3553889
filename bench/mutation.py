"""Mutation testing of the modules whose numbers users read: do the tests notice a wrong sign,
a swapped comparison, an off-by-one constant?

    python bench/mutation.py [--modules energy/model.py ...] [--jobs 2]
        [--out bench/mutation_report.json] [--max-mutants N] [--seed 0]
        [--only-survivors bench/mutation_report.json] [--list]

How it works:

1. The repository (the package with its built ``_C`` extension, tests, docs, examples,
   pyproject; not .git, .venv, build outputs) is copied once per worker into a scratch directory.
2. Each target module is parsed with :mod:`ast` and mutants are generated, one change each:
   arithmetic swaps (``+ <-> -``, ``* <-> /``, ``// -> /``, ``** -> *``, and the same in ``+=``
   etc.), comparison swaps (``< <-> <=``, ``> <-> >=``, ``== <-> !=``), constants (``0 -> 1``,
   ``1 -> 0``, ``2 -> 3``, other ints ``n -> n+1``, ``0.0 -> 1.0``, other floats ``x 1.5``,
   ``True <-> False``), ``and <-> or``, ``not x -> x``, ``max <-> min``, dropping one term of a
   sum, and ``return <number> -> return 0``. Docstrings, f-strings, the arguments of raise,
   assert messages, warnings and logging calls, annotations and ``__all__`` are left alone. The
   mutated expression is spliced into its own place in the source (as ``ast.unparse`` writes
   it, in parentheses), so every line keeps its number; each mutant is checked to parse to
   exactly the mutated tree.
3. Which tests to run: every target module maps to the test files that cover it
   (:data:`TARGETS`). Those files run once on the unmutated copy with a line tracer that records
   which test executes which line of the targets (``--no-coverage`` skips this). A mutant then
   runs only the passing tests that execute its statement (all of the module's tests for
   module-level code), fastest first, with ``-x -q -p no:cacheprovider`` and a timeout.
4. Each test run is a fork of this process (torch, pytest and hypothesis are imported once,
   before any fork; ``torch_photonic`` never is), chdir'ed into the worker's copy with the copy
   first on ``sys.path``; the child checks that it imported ``torch_photonic`` from the copy.
   Failing tests kill the mutant; passing ones let it survive; a run past its timeout counts as
   killed (``timeout``). The original file is restored after each mutant.

The report (JSON) lists every mutant with its status, and the survivors (module, line,
original, mutated). Survivors judged equivalent are listed in ``bench/mutation_survivors.md``,
one per line as ``- `energy/model.py:123` `original` -> `mutated`: reason``; the kill rate is
printed with and without them. ``--only-survivors REPORT`` re-runs only that report's survivors
and writes the merged report.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "torch_photonic"

# ------------------------------------------------------------------------------------ targets
_E = "tests/energy/"
_KILLS = [_E + "test_mutation_kills.py", "tests/nn/test_layer_mutation_kills.py"]
_BY_VALUE = [_E + "test_meter_by_value.py", _E + "test_planted_bugs.py"]
_V = "tests/validation/"

#: module (relative to the package) -> the tests that cover it, ``functions`` (fnmatch patterns
#: of qualified names; only those are mutated, None: the whole module) and ``cap`` (mutants
#: sampled by default, None: all).
TARGETS: Dict[str, Dict] = {
    "energy/model.py": dict(tests=[_E + "test_energy.py", _E + "test_meter.py", *_BY_VALUE,
                                   "tests/optics/test_link_budget.py", _E + "test_plan.py",
                                   *_KILLS]),
    "energy/meter.py": dict(tests=[_E + "test_meter.py", *_BY_VALUE, _E + "test_energy.py",
                                   _E + "test_host_bytes_touched.py", *_KILLS,
                                   _V + "test_meter_validation.py"]),
    "energy/meter_views.py": dict(tests=[_E + "test_meter.py", _E + "test_energy.py",
                                         *_BY_VALUE, *_KILLS, _V + "test_meter_validation.py"]),
    "energy/static.py": dict(tests=[_E + "test_energy.py", _E + "test_meter.py",
                                    _E + "test_system_plan.py", *_BY_VALUE, *_KILLS]),
    "energy/cost.py": dict(tests=[_E + "test_energy.py", _E + "test_meter.py",
                                  _E + "test_system_plan.py", _E + "test_gpu_plan.py", *_KILLS]),
    "energy/interconnect.py": dict(tests=[_E + "test_system_plan.py", _E + "test_gpu_plan.py",
                                          *_BY_VALUE, *_KILLS]),
    "energy/kv_tiers.py": dict(tests=[_E + "test_system_plan.py", _E + "test_energy.py",
                                      *_KILLS]),
    "energy/capacity.py": dict(tests=[_E + "test_system_plan.py", _E + "test_meter.py",
                                      _E + "test_plan.py", *_BY_VALUE, *_KILLS,
                                      _V + "test_meter_validation.py"]),
    "energy/system.py": dict(tests=[_E + "test_system_plan.py", _E + "test_system_docs.py",
                                    _E + "test_gpu_plan.py", _E + "test_plan.py", *_KILLS],
                             cap=200),
    "energy/gpu.py": dict(tests=[_E + "test_gpu_plan.py", _E + "test_plan.py",
                                 _E + "test_system_plan.py", _E + "test_baselines_sources.py",
                                 *_KILLS]),
    "hardware/photon_budget.py": dict(tests=["tests/optics/test_link_budget.py",
                                             _E + "test_energy.py", *_BY_VALUE, *_KILLS]),
    "hardware/checks.py": dict(tests=["tests/hardware/test_config.py",
                                      "tests/hardware/test_resolve.py", *_KILLS,
                                      _V + "test_config_validation.py"]),
    "hardware/config.py": dict(tests=["tests/hardware/test_config.py",
                                      "tests/hardware/test_resolve.py",
                                      "tests/hardware/test_presets_data.py", *_KILLS,
                                      _V + "test_config_validation.py"],
                               functions=["*._validate", "*.__post_init__"]),
    "nn/linear.py": dict(tests=["tests/nn/test_layers_convert.py", *_BY_VALUE,
                                _E + "test_meter.py", *_KILLS],
                         functions=["PhotonicLinear._optical"]),
    "nn/experts.py": dict(tests=["tests/nn/test_layers_convert.py", "tests/nn/test_gradients.py",
                                 *_BY_VALUE, *_KILLS],
                          functions=["PhotonicExperts.forward",
                                     "PhotonicExperts._optical_project"]),
    # the wrappers' checks and defaults (the C++ ops behind them have their own exhaustive tests)
    "quant/ops.py": dict(tests=["tests/quant/test_quant_errors.py", "tests/quant/test_names.py",
                                *_BY_VALUE, *_KILLS, _V + "test_quant_validation.py"]),
}

#: imported once before forking, so each test run skips them (never the package itself)
PRELOAD = ("torch", "numpy", "pytest", "hypothesis", "jsonschema", "matplotlib", "matplotlib.pyplot")

#: what is not copied into the workers' scratch copies
COPY_IGNORE = (".git", ".venv", "build", "out", "dist", "__pycache__", ".pytest_cache",
               ".hypothesis", "*.egg-info", ".eggs", "*.png")

_WRONG_IMPORT = 98   # the child imported torch_photonic from somewhere other than its copy
_CHILD_CRASH = 97    # the child itself failed (not a test)

# ------------------------------------------------------------------------------------ mutants
_BINOP = {ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.Div,), ast.Div: (ast.Mult,),
          ast.FloorDiv: (ast.Div,), ast.Pow: (ast.Mult,)}
_AUG = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
        ast.NotEq: ast.Eq}
_OP_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Pow: "**"}
_LOG_CALLS = {"warn", "warning", "debug", "info", "error", "exception", "critical", "format",
              "print", "log"}
_NUMERIC_CALLS = {"float", "int", "sum", "max", "min", "abs", "round", "len"}


@dataclass
class Mutant:
    module: str            # relative to the package, e.g. "energy/model.py"
    line: int
    col: int
    kind: str              # e.g. "Add->Sub", "const", "drop-right", "return-0"
    original: str
    mutated: str
    source: str = field(repr=False)   # the whole mutated module
    cover: Tuple[int, int] = (0, 0)   # lines whose execution means the mutant is reached
    module_level: bool = False        # code run at import (a constant, a table)
    names: Tuple[str, ...] = ()       # what that module-level statement binds

    @property
    def id(self) -> str:
        return f"{self.module}:{self.line}:{self.col}:{self.kind}"

    def key(self) -> Tuple[str, str, str]:
        """What names this mutant across runs: where it is and what it changes."""
        return (self.id, self.original, self.mutated)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _parents(tree: ast.AST) -> Dict[ast.AST, ast.AST]:
    out = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            out[child] = node
    return out


def _is_str(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))) \
        or isinstance(node, ast.JoinedStr)


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


class _Context:
    """Where a node sits: skipped or not, its enclosing function and statement."""

    def __init__(self, tree: ast.AST):
        self.parent = _parents(tree)

    def chain(self, node: ast.AST):
        while node in self.parent:
            child, node = node, self.parent[node]
            yield child, node

    def skipped(self, node: ast.AST) -> bool:
        for child, p in self.chain(node):
            if isinstance(p, (ast.JoinedStr, ast.Raise)):
                return True
            if isinstance(p, ast.Assert) and child is p.msg:
                return True
            if isinstance(p, ast.Call) and _call_name(p) in _LOG_CALLS:
                return True
            if isinstance(p, ast.arg) and child is p.annotation:
                return True
            if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)) and child is p.returns:
                return True
            if isinstance(p, ast.AnnAssign) and child is p.annotation:
                return True
            if isinstance(p, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = p.targets if isinstance(p, ast.Assign) else [p.target]
                if any(isinstance(t, ast.Name) and t.id in ("__all__", "__slots__")
                       for t in targets):
                    return True
            if isinstance(p, ast.If) and isinstance(p.test, ast.Compare) \
                    and isinstance(p.test.left, ast.Name) and p.test.left.id == "__name__":
                return True
        return False

    def functions(self, node: ast.AST) -> List[ast.AST]:
        """Enclosing functions and classes, innermost first."""
        return [p for _, p in self.chain(node)
                if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]

    def qualname(self, node: ast.AST) -> str:
        return ".".join(p.name for p in reversed(self.functions(node)))

    def statement(self, node: ast.AST) -> ast.AST:
        cur = node
        while not isinstance(cur, ast.stmt) and cur in self.parent:
            cur = self.parent[cur]
        return cur

    def statement_at_top(self, node: ast.AST) -> ast.AST:
        """The module-level statement holding ``node``."""
        top = node
        for child, p in self.chain(node):
            top = child
            if isinstance(p, ast.Module):
                break
        return top

    def cover(self, node: ast.AST) -> Tuple[Tuple[int, int], bool]:
        """(first, last) line whose execution reaches ``node``, and whether it is import-time."""
        funcs = [p for p in self.functions(node)
                 if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if not funcs:
            return (node.lineno, node.end_lineno or node.lineno), True
        f = funcs[0]
        inside_body = any(child in f.body for child, p in self.chain(node) if p is f)
        if not inside_body:  # a default argument or decorator: the body runs it
            return (f.body[0].lineno, f.end_lineno or f.lineno), False
        st = self.statement(node)
        if isinstance(st, (ast.If, ast.While, ast.For, ast.With, ast.Try)):
            return (st.lineno, st.lineno), False  # the header of a compound statement
        return (st.lineno, st.end_lineno or st.lineno), False


def _bound_names(stmt: ast.AST) -> Tuple[str, ...]:
    """Names a module-level statement binds (assignments, classes, functions)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (stmt.name,)
    targets = stmt.targets if isinstance(stmt, ast.Assign) else \
        [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else []
    return tuple(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))


def references(sources: Dict[str, str]) -> Dict[str, Set[Tuple[str, int]]]:
    """name -> (module, line) of every read of it (``name`` or ``anything.name``) inside a
    function of the given modules."""
    out: Dict[str, Set[Tuple[str, int]]] = {}
    for module, text in sources.items():
        for fn in ast.walk(ast.parse(text)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for n in ast.walk(fn):
                name = n.id if isinstance(n, ast.Name) else \
                    n.attr if isinstance(n, ast.Attribute) else None
                if name is not None:
                    out.setdefault(name, set()).add((module, n.lineno))
    return out


def _numeric_return(ret: ast.Return, ctx: _Context) -> bool:
    v = ret.value
    if v is None or (isinstance(v, ast.Constant) and v.value in (0, 0.0)
                     and not isinstance(v.value, bool)):
        return False
    if isinstance(v, ast.Constant):
        return isinstance(v.value, (int, float)) and not isinstance(v.value, bool)
    if isinstance(v, (ast.BinOp, ast.UnaryOp)) and not isinstance(getattr(v, "op", None), ast.Not):
        return not any(_is_str(n) for n in ast.walk(v))
    if isinstance(v, ast.Call):
        f = v.func
        if isinstance(f, ast.Name) and f.id in _NUMERIC_CALLS:
            return True
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "math":
            return True
    funcs = [p for p in ctx.functions(ret) if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if funcs and funcs[0].returns is not None:
        ann = ast.unparse(funcs[0].returns)
        return ann in ("int", "float", "Optional[float]", "Optional[int]")
    return False


def _const_change(value) -> Optional[object]:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return {0: 1, 1: 0, 2: 3}.get(value, value + 1)
    if isinstance(value, float):
        return 1.0 if value == 0.0 else value * 1.5
    return None


def _replace_in_parent(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
            return
        if isinstance(value, list):
            for i, v in enumerate(value):
                if v is old:
                    value[i] = new
                    return
    raise LookupError("node not found in its parent")


class _Source:
    """The module's text, spliced at byte offsets (``ast`` columns count UTF-8 bytes)."""

    def __init__(self, text: str):
        self.text = text
        self.lines = [ln.encode() for ln in text.splitlines(keepends=True)]

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or ast.unparse(node)

    def splice(self, l0: int, c0: int, l1: int, c1: int, new: str, wrap: bool) -> str:
        extra = l1 - l0
        if wrap:
            new = "(" + new + "\n" * extra + ")"
        elif extra:
            raise ValueError("a multi-line splice needs parentheses")
        lines = list(self.lines)
        lines[l0 - 1:l1] = [lines[l0 - 1][:c0] + new.encode() + lines[l1 - 1][c1:]]
        return b"".join(lines).decode()


def generate(module: str, text: str, functions: Optional[Sequence[str]] = None) -> List[Mutant]:
    """Every mutant of ``text`` (the source of ``module``)."""
    tree = ast.parse(text)
    ctx = _Context(tree)
    src = _Source(text)
    out: List[Mutant] = []
    seen: Set[str] = set()

    def wanted(node: ast.AST) -> bool:
        if not hasattr(node, "lineno") or ctx.skipped(node):
            return False
        if functions is None:
            return True
        q = ctx.qualname(node)
        return any(fnmatch.fnmatchcase(q, pat) or fnmatch.fnmatchcase(q, pat + ".*")
                   for pat in functions)

    def emit(node: ast.AST, kind: str, mutate, restore, splice_node: ast.AST,
             text_of_new, wrap: bool = True) -> None:
        """Applies ``mutate`` to the tree, splices ``text_of_new()`` over ``splice_node``, and
        keeps the mutant if the spliced source parses to exactly the mutated tree."""
        original = _short(src.segment(splice_node))
        mutate()
        try:
            new_text = text_of_new()
            expected = ast.dump(tree)
        finally:
            restore()
        s = splice_node
        new_source = src.splice(s.lineno, s.col_offset, s.end_lineno, s.end_col_offset,
                                new_text, wrap)
        try:
            ok = ast.dump(ast.parse(new_source)) == expected
        except SyntaxError:
            ok = False
        if not ok:  # never expected; reported rather than run with the wrong change
            print(f"warning: {module}:{node.lineno}: the splice of {kind} does not give the "
                  f"mutated tree ({new_text!r}); mutant skipped", file=sys.stderr)
            return
        if new_source in seen or new_source == text:
            return
        seen.add(new_source)
        cover, module_level = ctx.cover(node)
        names = _bound_names(ctx.statement_at_top(node)) if module_level else ()
        out.append(Mutant(module, node.lineno, node.col_offset, kind, original,
                          _short(new_text), new_source, cover, module_level, names))

    for node in ast.walk(tree):
        if not wanted(node):
            continue
        parent = ctx.parent.get(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
            if any(_is_str(x) for x in (node.left, node.right)):
                continue
            old = node.op
            for new_op in _BINOP[type(old)]:
                emit(node, f"{type(old).__name__}->{new_op.__name__}",
                     lambda n=new_op: setattr(node, "op", n()),
                     lambda o=old: setattr(node, "op", o), node, lambda: ast.unparse(node))
            if isinstance(old, ast.Add):  # drop one term of a sum
                sides = [("drop-right", node.left)]
                if not (isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Add)):
                    sides.append(("drop-left", node.right))
                for kind, keep in sides:
                    emit(node, kind, lambda k=keep: _replace_in_parent(parent, node, k),
                         lambda k=keep: _replace_in_parent(parent, k, node), node,
                         lambda k=keep: ast.unparse(k))
        elif isinstance(node, ast.AugAssign) and type(node.op) in _AUG:
            old, new_op = node.op, _AUG[type(node.op)]
            # splice the operator token only: the text between the target and the value
            t, v = node.target, node.value
            if t.end_lineno != v.lineno:
                continue
            between = src.lines[v.lineno - 1][t.end_col_offset:v.col_offset].decode()
            tok = _OP_TEXT[type(old)] + "="
            if tok not in between:
                continue
            new_between = between.replace(tok, _OP_TEXT[new_op] + "=", 1)
            holder = ast.Name(id="_", ctx=ast.Load())
            holder.lineno, holder.col_offset = t.end_lineno, t.end_col_offset
            holder.end_lineno, holder.end_col_offset = v.lineno, v.col_offset
            emit(node, f"{type(old).__name__}=->{new_op.__name__}=",
                 lambda: setattr(node, "op", new_op()), lambda o=old: setattr(node, "op", o),
                 holder, lambda: new_between, wrap=False)
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) not in _CMP:
                    continue
                new_op = _CMP[type(op)]
                emit(node, f"{type(op).__name__}->{new_op.__name__}",
                     lambda i=i, n=new_op: node.ops.__setitem__(i, n()),
                     lambda i=i, o=op: node.ops.__setitem__(i, o), node,
                     lambda: ast.unparse(node))
        elif isinstance(node, ast.BoolOp):
            old = node.op
            new_op = ast.Or if isinstance(old, ast.And) else ast.And
            emit(node, f"{type(old).__name__}->{new_op.__name__}",
                 lambda: setattr(node, "op", new_op()), lambda o=old: setattr(node, "op", o),
                 node, lambda: ast.unparse(node))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            emit(node, "drop-not", lambda: _replace_in_parent(parent, node, node.operand),
                 lambda: _replace_in_parent(parent, node.operand, node), node,
                 lambda: ast.unparse(node.operand))
        elif isinstance(node, ast.Constant):
            new = _const_change(node.value)
            if new is None:
                continue
            old = node.value
            emit(node, "const", lambda: setattr(node, "value", new),
                 lambda: setattr(node, "value", old), node, lambda: repr(new))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("max", "min"):
            f = node.func
            old = f.id
            new = "min" if old == "max" else "max"
            emit(node, f"{old}->{new}", lambda: setattr(f, "id", new),
                 lambda: setattr(f, "id", old), f, lambda: new, wrap=False)
        elif isinstance(node, ast.Return) and _numeric_return(node, ctx):
            v = node.value
            zero = ast.Constant(value=0)
            emit(node, "return-0", lambda: setattr(node, "value", zero),
                 lambda: setattr(node, "value", v), v, lambda: "0")
    out.sort(key=lambda m: (m.line, m.col, m.kind))
    return out


# ------------------------------------------------------------------------------------ copies
def make_copy(dest: str) -> str:
    """A copy of the repository at ``dest`` (the package with its built extension)."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*COPY_IGNORE), symlinks=True)
    so = [f for f in os.listdir(os.path.join(dest, PACKAGE)) if f.startswith("_C") and f.endswith(".so")]
    if not so:
        raise SystemExit(f"no built extension torch_photonic/_C*.so in {ROOT}: build it first")
    return dest


# ------------------------------------------------------------------------------------ runs
def _line_tracer(files: Dict[str, str]):
    """A pytest plugin recording which lines of the target files (absolute path -> module)
    each test executes, from its setup to its teardown."""
    import pytest

    class LineTracer:
        def __init__(self):
            self.tests: Dict[str, Dict] = {}
            self.failed: Set[str] = set()
            self._lines: Dict[str, Set[int]] = {}

        def _trace(self, frame, event, arg):
            key = files.get(frame.f_code.co_filename)
            if key is None:
                return None
            lines = self._lines.setdefault(key, set())
            lines.add(frame.f_lineno)

            def local(frame, event, arg):
                if event == "line":
                    lines.add(frame.f_lineno)
                return local
            return local

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):
            self._lines = {}
            t0 = time.perf_counter()
            sys.settrace(self._trace)
            threading.settrace(self._trace)
            try:
                return (yield)
            finally:
                sys.settrace(None)
                threading.settrace(None)
                self.tests[item.nodeid] = dict(
                    seconds=time.perf_counter() - t0,
                    lines={k: sorted(v) for k, v in self._lines.items()})

        def pytest_runtest_logreport(self, report):
            if report.failed:
                self.failed.add(report.nodeid)

    return LineTracer()


def _child(copy_dir: str, args: List[str], log: str, tracer_out: Optional[str],
           targets: Sequence[str]) -> None:
    """Body of a forked test run; never returns."""
    code = _CHILD_CRASH
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(copy_dir)
        sys.path.insert(0, copy_dir)
        os.environ["PYTHONPATH"] = copy_dir + os.pathsep + os.environ.get("PYTHONPATH", "")
        sys.dont_write_bytecode = tracer_out is None  # mutated sources must never be cached
        import pytest
        import torch
        torch.set_num_threads(1)
        plugins = []
        tracer = None
        if tracer_out:
            files = {}
            for key in targets:
                path = os.path.join(copy_dir, PACKAGE, key)
                files[path] = key
                files[os.path.realpath(path)] = key
            tracer = _line_tracer(files)
            plugins.append(tracer)
        code = int(pytest.main(args, plugins=plugins))
        mod = sys.modules.get(PACKAGE)
        where = os.path.realpath(getattr(mod, "__file__", "") or "")
        if mod is not None and not where.startswith(os.path.realpath(copy_dir) + os.sep):
            print(f"\nmutation: imported {PACKAGE} from {where}, not from {copy_dir}", flush=True)
            code = _WRONG_IMPORT
        if tracer is not None:
            with open(tracer_out, "w") as fh:
                json.dump(dict(tests=tracer.tests, failed=sorted(tracer.failed),
                               package=where), fh)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def fork_pytest(copy_dir: str, args: List[str], log: str, tracer_out: Optional[str] = None,
                targets: Sequence[str] = ()) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(copy_dir, args, log, tracer_out, targets)
    return pid


def wait_for(pid: int, timeout: float) -> Tuple[Optional[int], float]:
    """(exit code or None on timeout, seconds)."""
    t0 = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            _kill(pid)
            return None, time.monotonic() - t0
        time.sleep(0.05)


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            break
        except ProcessLookupError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "--no-header"]


# ------------------------------------------------------------------------------------ coverage
def measure_coverage(copy_dir: str, modules: Sequence[str], scratch: str) -> Dict:
    """Runs the targets' test files once (unmutated) with the line tracer."""
    files = sorted({t for m in modules for t in TARGETS[m]["tests"]
                    if os.path.exists(os.path.join(copy_dir, t))})
    out = os.path.join(scratch, "coverage.json")
    log = os.path.join(scratch, "coverage.log")
    print(f"coverage: {len(files)} test files on the unmutated copy ...", flush=True)
    pid = fork_pytest(copy_dir, ["-q", "-p", "no:cacheprovider", "--no-header", *files], log,
                      out, list(modules))
    code, secs = wait_for(pid, 3600)
    if not os.path.exists(out):
        raise SystemExit(f"coverage run failed (exit {code}); see {log}")
    with open(out) as fh:
        cov = json.load(fh)
    print(f"coverage: {len(cov['tests'])} tests in {secs:.0f} s, {len(cov['failed'])} failing "
          f"(not used); package imported from {cov['package']}", flush=True)
    if code not in (0, 1) or not cov["tests"]:
        raise SystemExit(f"the unmutated tests did not run (pytest exit {code}, "
                         f"{len(cov['tests'])} tests); see {log}")
    if not cov["package"].startswith(os.path.realpath(copy_dir)):
        raise SystemExit(f"the tests imported {PACKAGE} from {cov['package']}, not the copy")
    return cov


class TestPicker:
    """The tests to run for a mutant: the passing tests that execute its statement, fastest
    first. Module-level code (constants, tables) runs at import, so a mutant there runs the
    tests that execute a line reading one of the names its statement binds (in any target),
    and the tests whose own source reads one of them."""

    def __init__(self, cov: Optional[Dict], refs: Dict[str, Set[Tuple[str, int]]],
                 root: str = ROOT):
        self.cov = cov
        self.refs = refs
        self.root = root
        self._test_names: Dict[str, Dict[str, Set[str]]] = {}
        self.by_line: Dict[Tuple[str, int], Set[str]] = {}
        self.seconds: Dict[str, float] = {}
        if cov is None:
            return
        failed = set(cov["failed"])
        for test, rec in cov["tests"].items():
            if test in failed:
                continue
            self.seconds[test] = rec["seconds"]
            for key, lines in rec["lines"].items():
                for ln in lines:
                    self.by_line.setdefault((key, ln), set()).add(test)

    @staticmethod
    def _file_of(test: str) -> str:
        return test.split("::", 1)[0]

    def _names_in_test(self, test: str) -> Set[str]:
        """Identifiers the test function's own source reads."""
        path, _, rest = test.partition("::")
        func = rest.split("::")[-1].split("[", 1)[0]
        if path not in self._test_names:
            found: Dict[str, Set[str]] = {}
            try:
                with open(os.path.join(self.root, path)) as fh:
                    tree = ast.parse(fh.read())
            except (OSError, SyntaxError):
                tree = ast.Module(body=[], type_ignores=[])
            for fn in ast.walk(tree):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[fn.name] = {n.id if isinstance(n, ast.Name) else n.attr
                                      for n in ast.walk(fn)
                                      if isinstance(n, (ast.Name, ast.Attribute))}
            self._test_names[path] = found
        return self._test_names[path].get(func, set())

    def pick(self, m: Mutant) -> Tuple[List[str], float]:
        """(pytest arguments, expected seconds)."""
        files = TARGETS[m.module]["tests"]
        if self.cov is None:
            return [f for f in files if os.path.exists(os.path.join(self.root, f))], 60.0
        tests: Set[str] = set()
        if m.module_level:
            where = {ref for name in m.names for ref in self.refs.get(name, ())}
            if not m.names:  # binds nothing we can follow: every test of the module
                tests = set(self.seconds)
            for ref in where:
                tests |= self.by_line.get(ref, set())
            # and the tests that read the name themselves (a documented constant)
            tests |= {t for t in self.seconds if self._file_of(t) in files
                      and set(m.names) & self._names_in_test(t)}
        else:
            for ln in range(m.cover[0], m.cover[1] + 1):
                tests |= self.by_line.get((m.module, ln), set())
        tests = {t for t in tests if self._file_of(t) in files}
        order = sorted(tests, key=lambda t: (self.seconds[t], t))
        return order, sum(self.seconds[t] for t in order)


# ------------------------------------------------------------------------------------ main run
@dataclass
class Result:
    id: str
    module: str
    line: int
    col: int
    kind: str
    original: str
    mutated: str
    status: str            # killed | timeout | survived | no_tests | error
    seconds: float = 0.0
    tests: int = 0


def _status(code: Optional[int], log: str = "") -> str:
    if code is None:
        return "timeout"
    if code == 0:
        return "survived"
    if code in (1, 2, 3):      # tests failed, interrupted (a collection error), internal error
        return "killed"
    if code == 4 and "while loading conftest" in log:
        return "killed"        # the mutant breaks importing the package (the conftest does)
    return "error"             # usage error, no tests collected, wrong import, crashed child


def run_mutants(mutants: List[Mutant], copies: List[str], picker: TestPicker, scratch: str,
                timeout_factor: float, verbose: bool) -> List[Result]:
    originals: Dict[str, str] = {}
    results: List[Result] = []
    pending = deque(mutants)
    free = list(range(len(copies)))
    active: Dict[int, Tuple[int, Mutant, float, float, int]] = {}
    total = len(mutants)
    t_start = time.monotonic()

    def path_in(slot: int, module: str) -> str:
        return os.path.join(copies[slot], PACKAGE, module)

    def restore(slot: int, module: str) -> None:
        with open(path_in(slot, module), "w") as fh:
            fh.write(originals[module])

    def record(m: Mutant, status: str, secs: float, ntests: int) -> None:
        results.append(Result(m.id, m.module, m.line, m.col, m.kind, m.original, m.mutated,
                              status, round(secs, 2), ntests))
        if verbose or status in ("survived", "error", "no_tests"):
            done = len(results)
            eta = (time.monotonic() - t_start) / done * (total - done)
            print(f"[{done}/{total} eta {eta / 60:.0f} min] {status:8s} {m.id}  "
                  f"{m.original!r} -> {m.mutated!r}", flush=True)

    try:
        while pending or active:
            while pending and free:
                m = pending.popleft()
                tests, expect = picker.pick(m)
                if not tests:
                    record(m, "no_tests", 0.0, 0)
                    continue
                slot = free.pop()
                path = path_in(slot, m.module)
                if m.module not in originals:
                    with open(path) as fh:
                        originals[m.module] = fh.read()
                with open(path, "w") as fh:
                    fh.write(m.source)
                _drop_bytecode(path)
                log = os.path.join(scratch, f"w{slot}.log")
                pid = fork_pytest(copies[slot], PYTEST_ARGS + tests, log)
                timeout = 30.0 + timeout_factor * expect
                active[pid] = (slot, m, time.monotonic(), timeout, len(tests))
            pid, status = os.waitpid(-1, os.WNOHANG) if active else (0, 0)
            now = time.monotonic()
            if pid:
                slot, m, t0, _, n = active.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                with open(os.path.join(scratch, f"w{slot}.log"), errors="replace") as fh:
                    st = _status(code, fh.read(4000))
                if st == "error":
                    keep = os.path.join(scratch, f"error-{len(results)}.log")
                    shutil.copy(os.path.join(scratch, f"w{slot}.log"), keep)
                    print(f"error (exit {code}) in {m.id}: see {keep}", flush=True)
                record(m, st, now - t0, n)
                restore(slot, m.module)
                free.append(slot)
                continue
            for pid, (slot, m, t0, timeout, n) in list(active.items()):
                if now - t0 > timeout:
                    _kill(pid)
                    active.pop(pid)
                    record(m, "timeout", now - t0, n)
                    restore(slot, m.module)
                    free.append(slot)
            time.sleep(0.02)
    finally:
        for pid, (slot, m, *_rest) in list(active.items()):
            _kill(pid)
            restore(slot, m.module)
    return results


def _drop_bytecode(path: str) -> None:
    d = os.path.join(os.path.dirname(path), "__pycache__")
    stem = os.path.splitext(os.path.basename(path))[0] + "."
    if os.path.isdir(d):
        for f in os.listdir(d):
            if f.startswith(stem):
                os.remove(os.path.join(d, f))


# ------------------------------------------------------------------------------------ report
def load_equivalent(path: str) -> List[Tuple[str, int, str, str]]:
    """Entries ``- `module:line` `original` -> `mutated`: reason`` of the survivors file."""
    out = []
    if not os.path.exists(path):
        return out
    pat = re.compile(r"^\s*[-*]\s*`([^`]+?):(\d+)`\s*`(.*?)`\s*->\s*`(.*?)`")
    with open(path) as fh:
        for line in fh:
            hit = pat.match(line)
            if hit:
                out.append((hit.group(1), int(hit.group(2)), hit.group(3), hit.group(4)))
    return out


def _match_equivalent(results: List[Dict], entries) -> Set[str]:
    """Ids of survivors listed as equivalent: same module, original and mutated text, at the
    listed line or, when the line moved, the only such survivor."""
    marked: Set[str] = set()
    surv = [r for r in results if r["status"] in ("survived", "no_tests")]
    for module, line, orig, mut in entries:
        same = [r for r in surv if r["module"] == module and r["original"] == orig
                and r["mutated"] == mut]
        exact = [r for r in same if r["line"] == line]
        pick = exact or (same if len(same) == 1 else [])
        marked.update(r["id"] for r in pick)
    return marked


def summarize(results: List[Dict], equivalent: Set[str]) -> Dict[str, Dict]:
    per: Dict[str, Dict] = {}
    for r in results:
        s = per.setdefault(r["module"], dict(mutants=0, killed=0, timeout=0, survived=0,
                                             no_tests=0, error=0, equivalent=0))
        s["mutants"] += 1
        s[r["status"]] += 1
        if r["id"] in equivalent:
            s["equivalent"] += 1
    tot = {k: sum(s[k] for s in per.values()) for k in
           ("mutants", "killed", "timeout", "survived", "no_tests", "error", "equivalent")}
    for s in [*per.values(), tot]:
        valid = s["mutants"] - s["error"]
        dead = s["killed"] + s["timeout"]
        s["kill_rate"] = dead / valid if valid else None
        s["kill_rate_non_equivalent"] = (dead / (valid - s["equivalent"])
                                         if valid - s["equivalent"] else None)
    per["TOTAL"] = tot
    return per


def print_summary(summary: Dict[str, Dict]) -> None:
    print(f"\n{'module':28s} {'mutants':>7s} {'killed':>6s} {'t/o':>4s} {'surv':>5s} "
          f"{'no-test':>7s} {'err':>4s} {'equiv':>5s} {'kill%':>6s} {'kill% ne':>8s}")
    for mod, s in summary.items():
        rate = "-" if s["kill_rate"] is None else f"{100 * s['kill_rate']:.1f}"
        rate2 = "-" if s["kill_rate_non_equivalent"] is None \
            else f"{100 * s['kill_rate_non_equivalent']:.1f}"
        print(f"{mod:28s} {s['mutants']:7d} {s['killed']:6d} {s['timeout']:4d} "
              f"{s['survived']:5d} {s['no_tests']:7d} {s['error']:4d} {s['equivalent']:5d} "
              f"{rate:>6s} {rate2:>8s}")
    print("(kill% ne: equivalent survivors of bench/mutation_survivors.md left out)")


def _resolve_modules(names: Optional[Sequence[str]]) -> List[str]:
    if not names:
        return list(TARGETS)
    out = []
    for name in names:
        n = name.replace("\\", "/")
        n = n[len(PACKAGE) + 1:] if n.startswith(PACKAGE + "/") else n
        hits = [k for k in TARGETS if k == n or k.endswith("/" + n) or k.startswith(n)]
        if not hits:
            raise SystemExit(f"unknown module {name!r}; targets: {', '.join(TARGETS)}")
        out.extend(h for h in hits if h not in out)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", nargs="+", help="targets (default: all), e.g. energy/model.py")
    ap.add_argument("--jobs", type=int, default=2, help="test runs at once (one copy each)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "mutation_report.json"))
    ap.add_argument("--max-mutants", type=int, default=None,
                    help="sample at most N mutants per module (default: the module's cap)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    ap.add_argument("--only-survivors", metavar="REPORT",
                    help="re-run only the survivors of REPORT, and merge the results into it")
    ap.add_argument("--timeout-factor", type=float, default=4.0,
                    help="timeout = 30 s + factor x the covering tests' traced seconds")
    ap.add_argument("--no-coverage", action="store_true",
                    help="run every mapped test file for each mutant (slow)")
    ap.add_argument("--equivalent", default=os.path.join(ROOT, "bench", "mutation_survivors.md"))
    ap.add_argument("--scratch", default=None, help="scratch directory (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--list", action="store_true", help="count the mutants and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every mutant")
    args = ap.parse_args(argv)

    previous = None
    if args.only_survivors:
        with open(args.only_survivors) as fh:
            previous = json.load(fh)
        again = {(r["id"], r["original"], r["mutated"]): r["module"]
                 for r in previous["mutants"] if r["status"] in ("survived", "no_tests")}
        modules = sorted(set(again.values()))
        if args.modules:
            modules = [m for m in _resolve_modules(args.modules) if m in modules]
    else:
        modules = _resolve_modules(args.modules)

    rng = random.Random(args.seed)
    mutants: List[Mutant] = []
    for mod in modules:
        with open(os.path.join(ROOT, PACKAGE, mod)) as fh:
            text = fh.read()
        ms = generate(mod, text, TARGETS[mod].get("functions"))
        if previous is not None:
            ms = [m for m in ms if m.key() in again]
            gone = sum(1 for k, mod_of in again.items() if mod_of == mod) - len(ms)
            if gone:
                print(f"warning: {gone} survivor(s) of {mod} are not in its current source "
                      f"(edited since?): run the full report again", file=sys.stderr)
        else:
            cap = args.max_mutants if args.max_mutants is not None else TARGETS[mod].get("cap")
            if cap is not None and len(ms) > cap:
                ms = sorted(rng.sample(ms, cap), key=lambda m: (m.line, m.col, m.kind))
        print(f"{mod:28s} {len(ms):5d} mutants", flush=True)
        mutants.extend(ms)
    print(f"{'all':28s} {len(mutants):5d} mutants", flush=True)
    if args.list or not mutants:
        return 0

    if PACKAGE in sys.modules:
        raise SystemExit(f"{PACKAGE} is already imported: the forks would not import the copies")
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    assert PACKAGE not in sys.modules, f"a preloaded module imported {PACKAGE}"

    def _terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)

    scratch = args.scratch or tempfile.mkdtemp(prefix="photonic-mutation-")
    os.makedirs(scratch, exist_ok=True)
    t0 = time.monotonic()
    try:
        copies = [make_copy(os.path.join(scratch, f"w{i}")) for i in range(max(1, args.jobs))]
        print(f"copies: {', '.join(copies)}", flush=True)
        cov = None if args.no_coverage else measure_coverage(copies[0], modules, scratch)
        sources = {}
        for mod in TARGETS:
            with open(os.path.join(copies[0], PACKAGE, mod)) as fh:
                sources[mod] = fh.read()
        picker = TestPicker(cov, references(sources), copies[0])
        results = run_mutants(mutants, copies, picker, scratch, args.timeout_factor,
                              args.verbose)
    finally:
        if not args.keep and not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    fresh = [asdict(r) for r in results]
    if previous is not None:
        redone = {(r["id"], r["original"], r["mutated"]): r for r in fresh}
        merged = []
        for r in previous["mutants"]:
            k = (r["id"], r["original"], r["mutated"])
            merged.append(redone.pop(k) if k in redone and r["status"] in ("survived", "no_tests")
                          else r)
        merged.extend(redone.values())
        fresh = merged
    equivalent = _match_equivalent(fresh, load_equivalent(args.equivalent))
    summary = summarize(fresh, equivalent)
    print_summary(summary)
    survivors = [dict(id=r["id"], module=r["module"], line=r["line"], original=r["original"],
                      mutated=r["mutated"], status=r["status"],
                      equivalent=r["id"] in equivalent)
                 for r in fresh if r["status"] in ("survived", "no_tests")]
    report = dict(
        command=" ".join([os.path.relpath(sys.argv[0], ROOT)] + list(argv or sys.argv[1:])),
        seed=args.seed, jobs=args.jobs, seconds=round(time.monotonic() - t0, 1),
        summary=summary, survivors=survivors, mutants=fresh)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"report: {args.out} ({len(survivors)} survivors, "
          f"{sum(s['equivalent'] for s in survivors)} listed as equivalent; "
          f"{time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
