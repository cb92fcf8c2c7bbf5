"""The DSL is pure: it parses and evaluates, and reads state only through what its callers
hand it. No module of cfy_local/dsl may import (at module or function level) the state
store or the services above it, nor the schedules' package for its time grammar."""
from __future__ import annotations

import ast
from pathlib import Path

DSL = Path(__file__).resolve().parents[2] / "cfy_local" / "dsl"
FORBIDDEN = ("cfy_local.store", "cfy_local.deployments", "cfy_local.executions", "cfy_local.schedules",
             "cfy_local.secrets", "cfy_local.engine", "cfy_local.scheduler", "cfy_local.maintenance",
             "cfy_local.cli", "cfy_local.tui")


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def test_dsl_modules_import_nothing_above_them():
    offending = [f"{path.name}:{line}: {name}" for path in sorted(DSL.glob("*.py"))
                 for line, name in _imports(path) if name.startswith(FORBIDDEN)]
    assert offending == []


def test_the_check_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from cfy_local.store.paths import Home\n")
    assert _imports(sample) == [(2, "cfy_local.store.paths"), (2, "cfy_local.store.paths.Home")]
