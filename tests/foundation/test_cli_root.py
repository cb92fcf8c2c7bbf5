"""The root command: prefixes, help without heavy imports, exit-code table, renderer."""
import subprocess
import sys

from cfy_local.cli import render
from cfy_local.errors import ExitCode


def test_exit_code_table():
    assert (ExitCode.OK, ExitCode.ERROR, ExitCode.USAGE, ExitCode.CANCELLED,
            ExitCode.TIMEOUT, ExitCode.INTERRUPTED) == (0, 1, 2, 3, 4, 130)


def test_help_lists_commands(cfy):
    result = cfy("--help")
    assert result.exit_code == 0
    for name in ("blueprints", "deployments", "executions", "events", "maintenance-mode", "scheduler", "tui"):
        assert name in result.stdout


def test_ambiguous_and_unknown_prefix_are_usage_errors(cfy):
    ambiguous = cfy("s")  # scheduler, secrets, serve, snapshots, status
    assert ambiguous.exit_code == 2
    assert "Too many matches: scheduler, secrets, serve, snapshots, status" in ambiguous.stderr
    unknown = cfy("blueprintz")
    assert unknown.exit_code == 2
    assert "No such command 'blueprintz'." in unknown.stderr
    assert "Did you mean one of these?" in unknown.stderr


def test_importing_the_cli_does_not_import_textual():
    code = ("import sys, cfy_local.cli; from cfy_local.cli import cli; "
            "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_table_cells_follow_cfy_rules():
    table = render.format_table(
        [{"id": "a", "created_at": "2026-11-27T16:08:01.123Z", "is_dry_run": False, "tags": ["x", "y"], "error": None}],
        ["id", "created_at", "is_dry_run", "tags", "error", "missing"])
    assert "2026-11-27 16:08:01.123" in table and "T16" not in table
    assert "False" in table and "x,y" in table and "N/A" in table
    lines = table.splitlines()
    assert lines[0].startswith("+-") and len({len(line) for line in lines}) == 1
