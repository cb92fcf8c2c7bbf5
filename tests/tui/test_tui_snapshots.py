"""SVG snapshots of the screens on the fixture state dir at a frozen clock.

Review changes with the HTML report pytest-textual-snapshot writes on failure; accept them
with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update``.
"""
from __future__ import annotations

from textual.widgets import Input, Select

from cfy_local.tui.app import CfyTui


def still(app) -> None:
    """No blinking cursors in a screenshot."""
    for box in app.screen.query(Input):
        box.cursor_blink = False


def test_executions_80x24(state, snap_compare):
    assert snap_compare(CfyTui(state, live=False), terminal_size=(80, 24))


def test_executions_wide_sorted_by_status(state, snap_compare):
    assert snap_compare(CfyTui(state, live=False), press=["s", "s", "o"], terminal_size=(160, 30))


def test_executions_filtered(state, snap_compare):
    async def run_before(pilot):
        await pilot.press("slash", "w", "e", "b")
        still(pilot.app)

    assert snap_compare(CfyTui(state, live=False), run_before=run_before, terminal_size=(80, 24))


def test_execution_detail_with_events(state, snap_compare):
    assert snap_compare(CfyTui(state, live=False), press=["end", "enter"], terminal_size=(80, 24))


def test_failed_execution_detail(state, snap_compare):
    assert snap_compare(CfyTui(state, live=False), press=["enter"], terminal_size=(80, 24))


def test_schedules(state, snap_compare):
    assert snap_compare(CfyTui(state, live=False), press=["S"], terminal_size=(100, 30))


def test_help(state, snap_compare):
    assert snap_compare(CfyTui(state, live=False), press=["question_mark"], terminal_size=(80, 40))


def test_force_cancel_confirmation(state, snap_compare):
    assert snap_compare(CfyTui(state, live=False), press=["2", "f"], terminal_size=(80, 24))


def test_start_form_with_declared_parameters(state, snap_compare):
    async def run_before(pilot):
        await pilot.press("n")
        await pilot.pause()
        pilot.app.screen.query_one("#deployment", Select).value = "web"
        await pilot.pause()
        pilot.app.screen.query_one("#workflow", Select).value = "deploy_app"
        await pilot.pause()
        pilot.app.screen.query_one("#param-replicas", Input).value = "3"
        await pilot.pause()
        still(pilot.app)

    assert snap_compare(CfyTui(state, live=False), run_before=run_before, terminal_size=(80, 24))
