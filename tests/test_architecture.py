"""The house rules, checked by reading the imports of every module of the package:

- no module imports a private name (``_x``) from another module, except within one subpackage
  (``sdesim/exact/ou.py`` may use ``sdesim/exact/_matrix.py``; ``sdesim/sgd/`` may not);
- no module outside ``sdesim/backends/`` imports a name of a backend module that is not in its
  ``__all__`` (the backends' internals stay theirs);
- no import cycles, counting imports inside functions too;
- only ``sdesim/torch/`` and ``sdesim/backends/`` import torch;
- no source module over 500 lines of code (docstrings, comments and blank lines aside).
"""
import ast
import importlib
import io
import tokenize
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "sdesim"
MAX_CODE_LINES = 500


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _package_of(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = _package_of(importer).split(".")
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str):
    """``(target module, imported name or None, lineno)`` for every import in module ``name``."""
    tree = ast.parse(MODULES[name].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # "from . import module"
                    yield sub, None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def _within_one_subpackage(a: str, b: str) -> bool:
    pa, pb = _package_of(a), _package_of(b)
    return pa == pb and pa != "sdesim"


def test_no_private_names_across_modules():
    bad = []
    for name in MODULES:
        for target, imported, line in _imports(name):
            if target in MODULES and imported and imported.startswith("_") \
                    and not imported.startswith("__") and target != name \
                    and not _within_one_subpackage(name, target):
                bad.append(f"{MODULES[name].relative_to(PKG.parent)}:{line} imports "
                           f"{imported} from {target}")
    assert not bad, "\n".join(bad)


def test_backend_internals_stay_in_backends():
    bad = []
    for name in MODULES:
        if name.startswith("sdesim.backends"):
            continue
        for target, imported, line in _imports(name):
            if target.startswith("sdesim.backends.") and target in MODULES and imported:
                public = getattr(importlib.import_module(target), "__all__", ())
                if imported not in public:
                    bad.append(f"{MODULES[name].relative_to(PKG.parent)}:{line} imports "
                               f"{imported} from {target} (not in its __all__)")
    assert not bad, "\n".join(bad)


def _graph() -> dict:
    graph = {}
    for name in MODULES:
        deps = set()
        for target, _, _ in _imports(name):
            # importing a.b.c runs a and a.b first; a package's own children are not its deps
            parts = target.split(".")
            for k in range(1, len(parts) + 1):
                mod = ".".join(parts[:k])
                if mod in MODULES and mod != name and not name.startswith(mod + ".") \
                        and not (MODULES[mod].name == "__init__.py" and mod == _package_of(name)):
                    deps.add(mod)
        graph[name] = deps
    return graph


def _cycles(graph: dict) -> list:
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ re-exports its children: that edge is the package's face, not a cycle
    for name in graph:
        if MODULES[name].name == "__init__.py":
            graph[name] = {d for d in graph[name] if not d.startswith(name + ".")}
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_torch_modules_import_torch():
    bad = [f"{name}:{line}" for name in MODULES
           if not name.startswith(("sdesim.torch", "sdesim.backends"))
           for target, _, line in _imports(name) if target.split(".")[0] in ("torch", "torchsde")]
    assert not bad


def _code_lines(path: Path) -> int:
    """Lines holding code: not blank, not only a comment, not inside a docstring."""
    src = path.read_text()
    doc_lines = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                doc_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    code = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                            tokenize.DEDENT, tokenize.ENDMARKER):
            code.update(ln for ln in range(tok.start[0], tok.end[0] + 1) if ln not in doc_lines)
    return len(code)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    assert _code_lines(MODULES[name]) <= MAX_CODE_LINES, \
        f"{name} has {_code_lines(MODULES[name])} lines of code (> {MAX_CODE_LINES}): split it"
