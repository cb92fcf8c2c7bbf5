"""What a terminal shows: tables fitted to its width, colour, the live status line — and
none of that when the output is piped or NO_COLOR is set."""
from __future__ import annotations

import re

import pytest

from cli_support import cfy_tty, deploy, put_record

ESC = "\x1b["
WIDE_COLUMNS = ["id", "workflow_id", "status", "is_dry_run", "deployment_id", "created_at", "started_at",
                "scheduled_for"]


def _header(text: str) -> list[str]:
    line = next(line for line in text.splitlines() if "workflow_id" in line)
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_list_fits_an_80_column_terminal_and_wide_shows_all(home, cfy):
    put_record(home, deployment_id="a-rather-long-deployment-name", status="failed", error="boom")
    put_record(home, deployment_id="b", status="terminated")
    code, out = cfy_tty(home, "executions", "list", env={"NO_COLOR": "1"})
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    # Columns leave in the documented order: scheduled_for, is_dry_run, started_at, created_at.
    assert _header(out) == ["id", "workflow_id", "status", "deployment_id"]
    assert ("(left out to fit 80 columns: scheduled_for, is_dry_run, started_at, created_at; --wide shows all)"
            in " ".join(out.split()))
    code, wide = cfy_tty(home, "executions", "list", "--wide", env={"NO_COLOR": "1"})
    assert _header(wide) == WIDE_COLUMNS and "left out" not in wide
    assert _header(cfy_tty(home, "executions", "list", env={"NO_COLOR": "1"}, columns=200)[1]) == WIDE_COLUMNS
    piped = cfy("executions", "list")  # a script reading the output gets every column
    assert _header(piped.stdout) == WIDE_COLUMNS


def test_get_shows_the_whole_error_and_list_last(home, cfy):
    long_error = "Task failed: " + "x" * 300 + "\nTraceback (most recent call last):\n  line two"
    failed = put_record(home, status="failed", error=long_error)
    for _ in range(3):
        put_record(home, status="terminated")
    shown = cfy("executions", "get", failed["id"])
    assert "Error:\n" + long_error in shown.stdout
    assert "N/A" not in shown.stdout.split("Execution Parameters:")[0]
    rows = cfy("executions", "list", "--last", "2", "--json").json
    everything = cfy("executions", "list", "--json").json
    assert [r["id"] for r in rows] == [r["id"] for r in everything[-2:]]
    assert "Showing 2 of 4 executions" in cfy("executions", "list", "--last", "2").stdout


def test_colour_on_a_terminal_only(home, cfy):
    put_record(home, status="failed")
    put_record(home, status="terminated")
    code, out = cfy_tty(home, "executions", "list")
    assert f"{ESC}31mfailed{ESC}0m" in out and f"{ESC}32mcompleted{ESC}0m" in out
    assert ESC not in cfy_tty(home, "executions", "list", env={"NO_COLOR": "1"})[1]
    assert ESC not in cfy("executions", "list").stdout


@pytest.mark.slow
def test_live_status_line_while_waiting_on_a_terminal(home, cfy, cfy_proc, tmp_path):
    deploy(cfy, tmp_path)
    code, out = cfy_tty(home, "executions", "start", "install", "-d", "dep")
    assert code == 0, out
    # The status line is drawn (and cleared before each event line): progress, elapsed time.
    drawn = re.findall(r"\r\x1b\[K(?:\x1b\[90m)?(install on dep · [^\r\n\x1b]*)", out)
    assert drawn and any(re.search(r"\d+/\d+ operations", d) or "preparing" in d for d in drawn), out
    assert all(d.rstrip().endswith(" s") for d in drawn)
    assert "Finished executing workflow install on deployment dep" in out
    piped = cfy_proc("executions", "start", "uninstall", "-d", "dep")
    assert piped.exit_code == 0 and "\r" not in piped.stdout and ESC not in piped.stdout
