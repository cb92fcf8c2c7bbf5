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


# --- the operations view -----------------------------------------------------------------

import pytest  # noqa: E402

import tui_state  # noqa: E402

SIZES = [(80, 24), (120, 35)]


def open_run(execution_id, *keys):
    async def run_before(pilot):
        from cfy_local.tui.table import VirtualTable

        pilot.app.screen.query_one(VirtualTable).move_to_key(execution_id)
        await pilot.press("enter", *keys)
        await pilot.pause()
        still(pilot.app)

    return run_before


@pytest.fixture
def runs(state):
    tui_state.add_operation_runs(state)
    return state


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_operations_tree_of_a_failed_run(runs, snap_compare, size):
    assert snap_compare(CfyTui(runs, live=False), run_before=open_run(tui_state.FAILED_RUN), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_operations_timeline(runs, snap_compare, size):
    keys = ("t", "home") if size[0] < 120 else ("plus", "home")
    assert snap_compare(CfyTui(runs, live=False), run_before=open_run(tui_state.FAILED_RUN, *keys), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_retrying_run_header(runs, snap_compare, size):
    assert snap_compare(CfyTui(runs, live=False), run_before=open_run(tui_state.RETRYING_RUN), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_queued_run_header(runs, snap_compare, size):
    assert snap_compare(CfyTui(runs, live=False), run_before=open_run(tui_state.QUEUED_RUN), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x35"])
def test_replay_of_a_finished_run(runs, snap_compare, size):
    keys = ("home", "right", "right", "right", "right", "right", "s")
    assert snap_compare(CfyTui(runs, live=False), run_before=open_run(tui_state.FAILED_RUN, *keys), terminal_size=size)


def test_executions_list_with_why_line(runs, snap_compare):
    async def run_before(pilot):
        from cfy_local.tui.table import VirtualTable

        pilot.app.screen.query_one(VirtualTable).move_to_key(tui_state.RETRYING_RUN)
        await pilot.pause()

    assert snap_compare(CfyTui(runs, live=False), run_before=run_before, terminal_size=(80, 24))


def test_deployment_screen(runs, snap_compare):
    async def run_before(pilot):
        await pilot.press("colon", *"dep", "enter")
        await pilot.pause()
        from cfy_local.tui.table import VirtualTable

        pilot.app.screen.query_one(VirtualTable).move_to_key("shop")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(CfyTui(runs, live=False), run_before=run_before, terminal_size=(80, 24))
