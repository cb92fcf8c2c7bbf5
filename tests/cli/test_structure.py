"""How the CLI is built: commands return results that one renderer prints; no command
reaches into the core's private functions; one table maps end statuses to exit codes."""
from __future__ import annotations

import ast
from pathlib import Path

from cfy_local.cli.result import EXIT_CODE_BY_END_STATUS, exit_code_for
from cfy_local.errors import ExitCode

CLI = Path(__file__).resolve().parents[2] / "cfy_local" / "cli"
PRINTING = {"print", "echo", "secho", "print_json", "print_ndjson", "print_table", "print_details"}


def _modules():
    for path in sorted(CLI.glob("*.py")):
        yield path, ast.parse(path.read_text())


def test_only_the_renderer_prints():
    offenders = []
    for path, tree in _modules():
        if path.name == "render.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name in PRINTING or (name == "write" and "stdout" in ast.unparse(func)):
                    offenders.append(f"{path.name}:{node.lineno} {ast.unparse(func)}")
    assert offenders == []


def test_no_cli_module_uses_a_private_core_function():
    offenders = []
    for path, tree in _modules():
        core_names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cfy_local") \
                    and not (node.module or "").startswith("cfy_local.cli"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        offenders.append(f"{path.name}: imports {node.module}.{alias.name}")
                    core_names.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in core_names and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                offenders.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert offenders == []


def test_one_table_of_exit_codes_for_waited_runs():
    assert EXIT_CODE_BY_END_STATUS == {"terminated": ExitCode.OK, "failed": ExitCode.ERROR,
                                       "cancelled": ExitCode.CANCELLED}
    assert exit_code_for("failed") == 1 and exit_code_for("cancelled") == 3 and exit_code_for("terminated") == 0
    sources = {path.name: path.read_text() for path, _ in _modules()}
    assert [name for name, text in sources.items() if "ExitCode.CANCELLED" in text] == ["result.py"]
