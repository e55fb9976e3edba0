"""The README's settings table ("## Configuration") and `Settings` (sportello/config.py) name the same settings.

As datasette's tests/test_docs.py does for its settings: every field of `Settings` is read from an environment
variable in `Settings.from_env`, and one of its variables must be a row of the table; every variable the table
names must be read, by `Settings.from_env` or by the code that reads the few variables kept out of `Settings`
(the first admin's `ADMIN_*`, `LOG_LEVEL`).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from functools import cache
from pathlib import Path

from sportello.config import Settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "sportello" / "config.py"
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*[A-Z0-9]")
# The code that may read an environment variable by name besides config.py.
SOURCES = ("sportello/**/*.py", "app.py", "dashboard.py", "pages/*.py")


def readme_table(readme: str) -> set[str]:
    """The variables named (in backticks) in the first column of the table under "## Configuration"."""
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        first = re.split(r"(?<!\\)\|", line)[1]
        names |= {n for n in re.findall(r"`([^`]+)`", first) if ENV_NAME.fullmatch(n)}
    return names


def _env_reads(node: ast.AST) -> set[str]:
    """Variables read in an expression: `env.get("X", ...)`, `env["X"]`, `_int(env, "X", ...)`, `_float(...)`."""
    names = set()
    for sub in ast.walk(node):
        args: list[ast.expr] = []
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "get":
            if isinstance(sub.func.value, ast.Name) and sub.func.value.id == "env":
                args = sub.args[:1]
        elif isinstance(sub, ast.Call) and sub.args and isinstance(sub.args[0], ast.Name) and sub.args[0].id == "env":
            args = sub.args[1:2]
        elif isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) and sub.value.id == "env":
            args = [sub.slice]
        names |= {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return names


@cache
def settings_env_names() -> dict[str, set[str]]:
    """Each field of `Settings` -> the environment variables `Settings.from_env` reads it from.

    A field is a keyword of the `cls(...)` call or of the `values = dict(...)` built for it; a keyword given
    a local variable is followed to that variable's assignments, and on to the locals they use when they
    read no variable themselves (`kb_path` from `kb` from `KB_PATH`)."""
    tree = ast.parse(CONFIG.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    from_env = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "from_env")
    assigned: dict[str, list[ast.expr]] = {}
    keywords: list[ast.keyword] = []
    for node in ast.walk(from_env):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if (
                isinstance(func, ast.Name)
                and func.id == "dict"
                and any(isinstance(t, ast.Name) and t.id == "values" for t in node.targets)
            ):
                keywords += node.value.keywords
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "cls":
            keywords += [k for k in node.keywords if k.arg]
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and node.value is not None:
                    assigned.setdefault(target.id, []).append(node.value)

    def resolve(expr: ast.expr, seen: frozenset[str]) -> set[str]:
        found = _env_reads(expr)
        if found:
            return found
        for name in {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)} - seen:
            for value in assigned.get(name, []):
                found |= resolve(value, seen | {name})
        return found

    return {k.arg: resolve(k.value, frozenset()) for k in keywords if k.arg}


@cache
def read_outside_settings() -> set[str]:
    """Every string constant shaped like a variable name in the product's code (a variable read by name)."""
    found: set[str] = set()
    for pattern in SOURCES:
        for path in ROOT.glob(pattern):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.fullmatch(node.value):
                    found.add(node.value)
    return found


def test_the_readme_table_is_read():
    names = readme_table((ROOT / "README.md").read_text(encoding="utf-8"))
    assert {"PORT", "HOST", "DATABASE_URL", "TRUSTED_PROXIES"} <= names, sorted(names)


def test_the_field_map_is_read():
    env = settings_env_names()
    assert env["port"] == {"PORT"} and env["default_max_chats"] == {"MAX_CONCURRENT_CHATS"}, env
    assert env["kb_path"] >= {"KB_PATH"} and env["database_url"] >= {"DATABASE_URL"}, env


def test_every_setting_is_in_the_readme():
    documented = readme_table((ROOT / "README.md").read_text(encoding="utf-8"))
    env = settings_env_names()
    missing = [
        f"{field.name} ({' or '.join(sorted(env.get(field.name) or [])) or 'read from no environment variable'})"
        for field in dataclasses.fields(Settings)
        if not env.get(field.name) & documented
    ]
    assert not missing, "Settings fields missing from the README's Configuration table: " + ", ".join(missing)


def test_the_readme_names_no_setting_that_does_not_exist():
    documented = readme_table((ROOT / "README.md").read_text(encoding="utf-8"))
    known = set().union(*settings_env_names().values()) | read_outside_settings()
    extra = sorted(documented - known)
    assert not extra, (
        "the README's Configuration table names variables that no Settings field (sportello/config.py) "
        "and no code reads: " + ", ".join(extra)
    )
