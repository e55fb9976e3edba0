"""The allowed arrows between the layers (docs/architecture.md), read from the
imports of every module with `ast`: no module is imported or run.

- faces/, pages/, dashboard.py, app.py: no `sportello.store`, no SQLAlchemy,
  and no `.store` attribute (they call services only).
- domain/: nothing from `sportello` outside `domain/`; no SQLAlchemy,
  FastAPI, Starlette, Gradio, Streamlit.
- services/: no faces, FastAPI, Starlette, Gradio, Streamlit.
- answering/: no store, services, sinks or faces.
- store/: no services, faces or answering.
- sinks/: no services, faces, store or answering.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sportello"

UI_LIBRARIES = ("fastapi", "starlette", "gradio", "streamlit")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module `source` imports, anywhere in it (also inside functions),
    with relative imports resolved against `module`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            found.add(target)
            # `from sportello import store` imports the module sportello.store
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def store_attributes(source: str) -> list[int]:
    """Lines where `<something>.store` is read."""
    return [
        node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Attribute) and node.attr == "store"
    ]


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def modules(*roots: Path) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        out += [root] if root.is_file() else sorted(root.rglob("*.py"))
    assert out, roots
    return out


def imported_by(path: Path) -> set[str]:
    return imports(path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py")


def bad_imports(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in imported_by(path) if within(name, forbidden))


FACES = modules(PACKAGE / "faces", ROOT / "pages", ROOT / "dashboard.py", ROOT / "app.py")
DOMAIN = modules(PACKAGE / "domain")
SERVICES = modules(PACKAGE / "services")
ANSWERING = modules(PACKAGE / "answering")
STORE = modules(PACKAGE / "store")
SINKS = modules(PACKAGE / "sinks")


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("path", FACES, ids=ids(FACES))
def test_faces_call_services_only(path):
    assert bad_imports(path, ("sportello.store", "sportello.sinks", "sportello.answering", "sqlalchemy")) == []
    assert store_attributes(path.read_text(encoding="utf-8")) == [], "a face reads .store: call a service instead"


@pytest.mark.parametrize("path", DOMAIN, ids=ids(DOMAIN))
def test_domain_depends_on_nothing(path):
    outside = sorted(n for n in imported_by(path) if within(n, ("sportello",)) and not within(n, ("sportello.domain",)))
    assert outside == []
    assert bad_imports(path, ("sqlalchemy", *UI_LIBRARIES)) == []


@pytest.mark.parametrize("path", SERVICES, ids=ids(SERVICES))
def test_services_know_no_face(path):
    assert bad_imports(path, ("sportello.faces", *UI_LIBRARIES)) == []


@pytest.mark.parametrize("path", ANSWERING, ids=ids(ANSWERING))
def test_answering_knows_no_store_service_sink_or_face(path):
    assert bad_imports(path, ("sportello.store", "sportello.services", "sportello.sinks", "sportello.faces")) == []


@pytest.mark.parametrize("path", STORE, ids=ids(STORE))
def test_store_knows_no_service_face_or_answerer(path):
    assert bad_imports(path, ("sportello.services", "sportello.faces", "sportello.answering", *UI_LIBRARIES)) == []


@pytest.mark.parametrize("path", SINKS, ids=ids(SINKS))
def test_sinks_know_only_the_domain(path):
    forbidden = ("sportello.services", "sportello.faces", "sportello.store", "sportello.answering", *UI_LIBRARIES)
    assert bad_imports(path, forbidden) == []


def test_the_checks_see_a_violation():
    """The checker itself: each kind of import that breaks a rule is found."""
    face = "import sqlalchemy\nfrom sportello.store.tables import sessions\ndef f(rt):\n    return rt.store\n"
    names = imports(face, "sportello.faces.api")
    assert "sqlalchemy" in names
    assert "sportello.store.tables" in names
    assert store_attributes(face) == [4]
    assert "sportello.store" in imports("from sportello import store\n", "pages.tickets")
    assert "sportello.store.database" in imports("from ..store import database\n", "sportello.faces.admin")
    assert "sportello.services.chat" in imports("from ..services.chat import X\n", "sportello.domain.errors")
    assert "sportello.domain.states" in imports("from .states import State\n", "sportello.domain", is_package=True)
    inner = "def f():\n    import streamlit as st\n    return st\n"
    assert "streamlit" in imports(inner, "sportello.services.tickets")


def test_store_imports_neither_sinks_nor_services():
    """The store keeps tables and queries: the sheet layout and the delivery worker live elsewhere."""
    found = {ids([p])[0]: bad_imports(p, ("sportello.sinks", "sportello.services")) for p in STORE}
    assert {k: v for k, v in found.items() if v} == {}


def test_sinks_import_no_store():
    found = {ids([p])[0]: bad_imports(p, ("sportello.store",)) for p in SINKS}
    assert {k: v for k, v in found.items() if v} == {}


def import_graph() -> dict[str, set[str]]:
    """sportello module -> the sportello modules it imports (function-level imports included).
    `from sportello.x import name` counts as importing sportello.x.name only when that is a module."""
    paths = modules(PACKAGE)
    names = {module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        me = module_name(path)
        graph[me] = {n for n in imported_by(path) if n in names and n != me}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: one per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    """No two sportello modules import each other, directly or through others (a package's
    __init__ importing its own modules is not counted: none of them imports it back)."""
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def environ_reads(source: str) -> list[int]:
    """Lines where `os.environ` or `os.getenv` / `os.putenv` is used."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            if node.attr in ("environ", "getenv", "putenv", "unsetenv"):
                found.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(a.name in ("environ", "getenv", "putenv", "unsetenv") for a in node.names):
                found.append(node.lineno)
    return found


ALL_MODULES = modules(PACKAGE, ROOT / "pages", ROOT / "dashboard.py", ROOT / "app.py")


@pytest.mark.parametrize("path", ALL_MODULES, ids=ids(ALL_MODULES))
def test_only_config_reads_the_environment(path):
    """Settings come from sportello/config.py (the environment or .env); nothing else reads os.environ."""
    if path == PACKAGE / "config.py":
        return
    assert environ_reads(path.read_text(encoding="utf-8")) == [], "read a Settings field instead"


def test_the_environ_check_sees_a_read():
    assert environ_reads("import os\nx = os.environ.get('A')\n") == [2]
    assert environ_reads("import os\nos.getenv('A')\n") == [2]
    assert environ_reads("from os import environ\n") == [1]
    assert environ_reads("import os\nos.path.join('a')\n") == []
