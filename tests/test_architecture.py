"""The layer rules of DESIGN.md and the public API, enforced by reading the source."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import mindbank

SRC = Path(mindbank.__file__).resolve().parent

# Layer of each top-level module or package under mindbank/ (higher may import lower).
LAYERS = {
    "records": 0,
    "errors": 0,
    "config": 0,
    "store": 1,
    "vectors": 1,
    "embedders": 1,
    "witness": 1,
    "memory": 2,
    "reasoning": 2,
    "learning": 2,
    "neural": 2,
    "pipeline": 2,
    "bridge": 2,
    "sync": 2,
    "engine": 3,
    "cli": 4,
    "mcp": 4,
    "web": 4,
    "__init__": 5,
    "__main__": 5,
}
INTERFACE_ONLY = {"click", "rich", "mcp"}
# Domain helpers the other domain packages share: the input rules every namespace and key
# obey, and the LRU cache. Nothing else crosses between domain packages.
SHARED_DOMAIN = {"mindbank.memory.validation", "mindbank.memory.cache"}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _part(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_every_module_has_a_layer() -> None:
    unknown = {_part(p) for p in _modules()} - set(LAYERS)
    assert not unknown, f"add these to LAYERS (and to DESIGN.md): {unknown}"


def test_imports_point_downwards() -> None:
    bad = []
    for path in _modules():
        part = _part(path)
        for name in _imports(path):
            top = name.split(".")[0]
            if top in INTERFACE_ONLY and LAYERS[part] < 4:
                bad.append(f"{path.relative_to(SRC)} imports {name} (interfaces only)")
            if top != "mindbank":
                continue
            target = name.split(".")[1] if "." in name else "__init__"
            if target == part:
                continue
            if target == "__init__":
                # Interfaces use the public API; nothing else may import the package root.
                if part not in ("cli", "mcp", "web", "__main__"):
                    bad.append(f"{path.relative_to(SRC)} imports the package root")
                continue
            same_base = LAYERS[target] == LAYERS[part] == 0  # config may use errors
            launches = part == "cli" and target in ("mcp", "web")  # `mindbank mcp serve`
            shared = name in SHARED_DOMAIN and LAYERS[part] == 2
            if (
                LAYERS[target] >= LAYERS[part]
                and not (same_base or launches or shared)
                and part != "__init__"
            ):
                bad.append(f"{path.relative_to(SRC)} ({part}) imports {name} ({target})")
    assert not bad, "\n".join(bad)


def test_no_sql_outside_the_store() -> None:
    for path in _modules():
        if _part(path) == "store":
            continue
        text = path.read_text(encoding="utf-8")
        assert "import sqlite3" not in text, f"{path.relative_to(SRC)} talks to SQLite directly"


def test_public_api_is_sorted_and_complete() -> None:
    exported = mindbank.__all__
    assert exported == sorted(exported), "__all__ must be sorted"
    assert len(set(exported)) == len(exported)
    assert dir(mindbank) == sorted(exported)
    for name in exported:
        assert getattr(mindbank, name) is not None
    from mindbank import engine

    for name in engine.__all__:
        assert name in exported, f"mindbank.engine.{name} is not exported"


def test_every_error_and_record_is_exported() -> None:
    from mindbank import errors, records

    for module in (errors, records):
        for name in module.__all__:
            if name == "JSON":
                continue
            assert name in mindbank.__all__, f"{module.__name__}.{name} is not exported"


def test_every_module_imports_and_has_a_docstring() -> None:
    for info in pkgutil.walk_packages([str(SRC)], prefix="mindbank."):
        if info.name == "mindbank.__main__":
            continue
        module = importlib.import_module(info.name)
        assert module.__doc__, f"{info.name} needs a module docstring"


def test_no_backend_is_guessed_by_duck_typing() -> None:
    """Every database says which it is (``Database.dialect``, ``.witnessed``): nothing asks
    ``getattr(db, "dialect", ...)`` and guesses from the answer."""
    sniffs = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in ("dialect", "witnessed")
            ):
                sniffs.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert sniffs == []


def test_nothing_outside_walindex_maps_or_opens_the_database_files() -> None:
    """The rule of docs/memory-store.md ("One process, many connections"): only
    store/walindex.py maps a file (mmap), since closing a descriptor of the database's files
    drops every lock the process holds on them."""
    users = [
        str(path.relative_to(SRC))
        for path in _modules()
        if "mmap" in _imports(path) and path.name != "walindex.py"
    ]
    assert users == []


_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|PRAGMA|CREATE|DROP|ALTER|BEGIN|WITH)\s")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_all_sql_lives_in_store() -> None:
    """DESIGN: "All SQL lives in store/". No string outside it (docstrings, which show
    examples, aside) is a statement."""
    found = []
    for path in _modules():
        if _part(path) == "store":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and _SQL.match(node.value)
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value[:40]!r}")
    assert found == []


def _import_graph() -> dict[str, set[str]]:
    """Module -> the mindbank modules it imports anywhere in it (at the top, inside functions,
    under TYPE_CHECKING)."""

    def name(path: Path) -> str:
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name(p): p for p in _modules()}
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[mod] = {d for d in deps if d in modules and d not in (mod, "mindbank")}
    return graph


def test_no_import_cycles() -> None:
    """Not even lazy or TYPE_CHECKING ones: a module and what it imports can be read in an
    order, bottom up."""
    graph = _import_graph()
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(mod: str, path: list[str]) -> None:
        if mod in path:
            cycles.append([*path[path.index(mod) :], mod])
            return
        if mod in done:
            return
        for dep in sorted(graph[mod]):
            visit(dep, [*path, mod])
        done.add(mod)

    for mod in sorted(graph):
        visit(mod, [])
    assert cycles == []
