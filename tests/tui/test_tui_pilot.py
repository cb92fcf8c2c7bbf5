"""Pilot tests: the real app, headless, on a real state dir (no mocks)."""
from __future__ import annotations

import os
from datetime import timedelta

from cfy_local.store.event_log import append_events
from cfy_local.tui.app import CfyTui
from cfy_local.tui.eventpane import EventPane
from cfy_local.tui.screens.detail import ExecutionScreen
from cfy_local.tui.screens.executions import ExecutionsScreen
from cfy_local.tui.screens.help import HelpScreen
from cfy_local.tui.screens.schedules import SchedulesScreen
from cfy_local.tui.table import VirtualTable

import tui_state
from tui_helpers import screen_text

FIRST = "00000001-0000-4000-8000-000000000001"
SEVENTH = "00000007-0000-4000-8000-000000000007"


def app_for(state, **kwargs) -> CfyTui:
    return CfyTui(state, live=False, **kwargs)


def shown_ids(app) -> list[str]:
    return list(app.screen.query_one(VirtualTable).keys)


def test_table_lists_executions_newest_first_without_environment_workflows(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        assert isinstance(app.screen, ExecutionsScreen)
        ids = shown_ids(app)
        assert ids[0] == SEVENTH and ids[-1] == FIRST and len(ids) == 6
        text = screen_text(app)
        assert "00000007 db" in text and "failed" in text and "1/6" in text
        assert "create_deployment_environment" not in text
        await pilot.press("y")
        assert len(shown_ids(app)) == 7

    drive(app, scenario)


def test_filter_as_you_type_then_clear(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("slash", "d", "b")
        await pilot.pause()
        ids = shown_ids(app)
        assert ids and all(app.executions.index.get(i)["deployment_id"] == "db" for i in ids)
        await pilot.press("enter")
        assert app.screen.query_one(VirtualTable).has_focus
        assert "/db" in screen_text(app)
        await pilot.press("escape")
        assert len(shown_ids(app)) == 6
        # the filter matches workflow names and ids too
        await pilot.press("slash", *"deploy_app", "enter")
        assert len(shown_ids(app)) == 2
        await pilot.press("escape", "slash", *"00000004", "enter")
        assert shown_ids(app) == ["00000004-0000-4000-8000-000000000004"]

    drive(app, scenario)


def test_status_filter_keys(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("3")
        assert {app.executions.index.get(i)["status"] for i in shown_ids(app)} == {"failed"}
        await pilot.press("2")
        assert [app.executions.index.get(i)["status"] for i in shown_ids(app)] == ["queued"]
        await pilot.press("1")
        assert shown_ids(app) == []
        assert "no executions match" in screen_text(app)
        await pilot.press("4")
        assert len(shown_ids(app)) == 6

    drive(app, scenario)


def test_sort_keys_cycle_and_reverse(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("o")
        assert shown_ids(app)[0] == FIRST
        await pilot.press("s", "s")  # created -> started -> status
        statuses = [app.executions.index.get(i)["status"] for i in shown_ids(app)]
        assert statuses == sorted(statuses)
        assert "sort: status↑" in screen_text(app)

    drive(app, scenario)


def test_refresh_keeps_cursor_on_its_execution_and_picks_up_changes(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("down", "down")
        table = app.screen.query_one(VirtualTable)
        chosen = table.cursor_key
        # a new execution appears at the top and another one changes status
        tui_state.add_execution(state, 9, deployment="web", workflow="install", status="started",
                                   created=tui_state.NOW - timedelta(seconds=5),
                                   started=tui_state.NOW - timedelta(seconds=4))
        app.tick()
        await pilot.pause()
        assert shown_ids(app)[0].startswith("00000009")
        assert table.cursor_key == chosen
        assert table.cursor == 3
        assert "1:active 1" in screen_text(app)

    drive(app, scenario)


def test_pause_stops_reading_until_resumed(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("p")
        assert "PAUSED" in screen_text(app)
        tui_state.add_execution(state, 10, deployment="db", workflow="install", status="pending",
                                   created=tui_state.NOW)
        app.tick()
        await pilot.pause()
        assert len(shown_ids(app)) == 6
        await pilot.press("p")
        app.tick()
        await pilot.pause()
        assert len(shown_ids(app)) == 7
        assert "PAUSED" not in screen_text(app)

    drive(app, scenario)


def test_detail_shows_record_and_follows_events(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("end", "enter")
        assert isinstance(app.screen, ExecutionScreen)
        text = screen_text(app)
        assert FIRST[:8] in text and "install on web" in text and "4/4" in text
        assert "Starting 'install' workflow execution" in text
        assert "INFO: creating the VM" in text and "noise" not in text  # debug logs hidden
        assert "FOLLOWING" in text
        await pilot.press("l")
        assert "creating the VM" not in screen_text(app)
        assert "no logs" in screen_text(app)
        await pilot.press("l")
        # many more events arrive: the pane stays at the bottom while following
        full = app.executions.index.get(FIRST)
        base = tui_state.NOW
        append_events(state.events_file(FIRST), [
            tui_state.event(full, base + timedelta(seconds=i), f"line {i}", level="info") for i in range(60)])
        app.tick()
        await pilot.pause()
        log = app.screen.query_one(EventPane)
        assert "line 59" in screen_text(app)
        assert log.scroll_y == log.max_scroll_y > 0
        # scrolling up stops following: new events do not move the view
        await pilot.press("tab")  # from the operations tree to the events pane
        assert log.has_focus
        await pilot.press("pageup")
        assert "FOLLOWING" not in screen_text(app)
        position = log.scroll_y
        append_events(state.events_file(FIRST), [
            tui_state.event(full, base + timedelta(minutes=5), "late line", level="info")])
        app.tick()
        await pilot.pause()
        assert log.scroll_y == position
        # scrolling back down to the bottom follows again, as End does
        await pilot.press("pagedown", "pagedown")
        app.tick()
        await pilot.pause()
        assert "FOLLOWING" in screen_text(app)
        await pilot.press("pageup")
        assert "FOLLOWING" not in screen_text(app)
        await pilot.press("end")
        await pilot.pause()
        assert "FOLLOWING" in screen_text(app) and "late line" in screen_text(app)
        assert app.screen.tail.offset == os.path.getsize(state.events_file(FIRST))
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionsScreen)

    drive(app, scenario)


def test_detail_shows_error_of_failed_execution(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("enter")
        text = screen_text(app)
        assert "NonRecoverableError: disk full" in text and "1/6" in text

    drive(app, scenario)


def test_help_is_generated_from_the_bindings(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        # the rows inside the dialog's frame, as [key, words of the description]
        lines = [line.split("█")[1].split() for line in text.splitlines() if line.count("█") >= 2]
        for binding in ExecutionsScreen.BINDINGS:
            row = [app.get_key_display(binding), *binding.description.split()]
            # keys that do not apply to the highlighted run (cancel of an ended one) are marked
            assert row in lines or row + ["(not", "now)"] in lines, binding
        assert ["c", "Cancel", "(not", "now)"] in lines  # the cursor's run has ended
        assert ["p", "Pause"] in lines and ["q", "Quit"] in lines
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionsScreen)

    drive(app, scenario, size=(80, 40))


def test_schedules_screen_toggles_enabled_and_shows_preview_and_history(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("S")
        assert isinstance(app.screen, SchedulesScreen)
        text = screen_text(app)
        assert "nightly" in text and "weekly" in text
        assert "2026-11-28 02:00 UTC" in text  # preview of the next occurrences
        assert "skipped  the previous execution" in text
        await pilot.press("e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        from cfy_local.schedules import api

        assert api.get_schedule(state, "web", "nightly")["enabled"] is False
        assert "cfy deployments schedule disable web nightly" in screen_text(app)
        await pilot.press("e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert api.get_schedule(state, "web", "nightly")["enabled"] is True
        assert "schedule nightly enabled" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionsScreen)

    drive(app, scenario, size=(100, 30))


def test_cancel_asks_first_and_no_means_nothing_sent(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("2", "f")
        assert "cfy executions cancel 00000004-0000-4000-8000-000000000004 --force" in screen_text(app)
        await pilot.press("n")
        assert "not sent" in screen_text(app)
        assert app.executions.index.get("00000004-0000-4000-8000-000000000004")["status"] == "queued"

    drive(app, scenario)


def test_usable_at_80x24_with_a_long_list(state, drive):
    for number in range(20, 80):
        tui_state.add_execution(state, number, deployment="web", workflow="install", status="terminated",
                                   created=tui_state.NOW - timedelta(days=2, minutes=number))
    app = app_for(state)

    async def scenario(pilot):
        table = app.screen.query_one(VirtualTable)
        await pilot.press("pagedown", "pagedown")
        assert table.cursor > 30
        assert table.cursor_key in screen_text(app).replace(" ", "") or table.cursor_key[:8] in screen_text(app)
        await pilot.press("end")
        assert table.cursor_key == shown_ids(app)[-1]
        assert table.cursor_key[:8] in screen_text(app)
        lines = screen_text(app).splitlines()
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)

    drive(app, scenario)


def test_kill_key_reaches_the_screen_from_the_table(state, drive):
    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("2", "k")
        text = screen_text(app)
        assert "Kill execution 00000004-0000-4000-8000-000000000004?" in text
        assert "cfy executions cancel 00000004-0000-4000-8000-000000000004 --kill" in text
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionsScreen)

    drive(app, scenario)


def test_start_form_prefills_defaults_and_refuses_missing_parameters(state, drive):
    from textual.widgets import Input, Select

    from cfy_local.tui.screens.start import StartScreen

    app = app_for(state)

    async def scenario(pilot):
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, StartScreen)
        app.screen.query_one("#deployment", Select).value = "web"
        await pilot.pause()
        app.screen.query_one("#workflow", Select).value = "deploy_app"
        await pilot.pause()
        assert app.screen.query_one("#param-version", Input).value == "1.0"
        assert app.screen.query_one("#param-replicas", Input).value == "2"
        assert app.screen.query_one("#param-target", Input).value == ""
        assert "cfy executions start deploy_app -d web" in screen_text(app)
        app.screen.query_one("#param-replicas", Input).value = "3"
        await pilot.pause()
        assert """-p '{"replicas": 3}'""" in screen_text(app)
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, StartScreen)
        assert "must be provided with the following parameters" in screen_text(app)
        app.refresh_state()
        assert len(app.executions.index) == 7  # nothing was created
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionsScreen)

    drive(app, scenario)


def test_a_refresh_reconciles_an_execution_whose_worker_is_gone(state, drive):
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    tui_state.add_execution(state, 11, deployment="web", workflow="install", status="started",
                               created=tui_state.NOW - timedelta(minutes=1),
                               started=tui_state.NOW - timedelta(minutes=1), worker_pid=gone.pid)
    app = app_for(state)

    async def scenario(pilot):
        record = app.executions.index.get("0000000b-0000-4000-8000-00000000000b")
        assert record["status"] == "failed"
        assert f"Worker process {gone.pid}" in record["error"]
        assert "3:failed 3" in screen_text(app)

    drive(app, scenario)


def test_new_rows_show_at_the_top_and_a_scrolled_view_is_left_alone(state, drive):
    for number in range(20, 60):
        tui_state.add_execution(state, number, deployment="web", workflow="install", status="terminated",
                                created=tui_state.NOW - timedelta(days=2, minutes=number))
    app = app_for(state)

    async def scenario(pilot):
        table = app.screen.query_one(VirtualTable)
        first = table.cursor_key
        tui_state.add_execution(state, 90, deployment="web", workflow="install", status="pending",
                                created=tui_state.NOW)
        app.tick()
        await pilot.pause()
        assert table.cursor_key == first and table.scroll_y == 0
        assert screen_text(app).splitlines()[3].startswith("0000005a")  # the new row, on top
        # scroll the view away from the cursor: refreshes do not pull it back
        table.scroll_to(y=20, animate=False)
        await pilot.pause()
        tui_state.add_execution(state, 91, deployment="web", workflow="install", status="pending",
                                created=tui_state.NOW)
        app.tick()
        await pilot.pause()
        assert table.scroll_y == 20 and table.cursor_key == first

    drive(app, scenario)


def test_status_bar_shows_maintenance_and_a_running_scheduler(state, drive):
    from cfy_local import maintenance
    from cfy_local.store.locks import try_hold

    app = app_for(state)

    async def scenario(pilot):
        assert "maintenance: deactivated  scheduler: stopped" in screen_text(app)
        maintenance.activate(state)  # a queued execution remains: activating
        held = try_hold(state.root, "scheduler")  # what a running `cfy scheduler run` holds
        try:
            app.tick()
            await pilot.pause()
            assert "maintenance: activating  scheduler: running" in screen_text(app)
        finally:
            held.release()
        app.tick()
        await pilot.pause()
        assert "scheduler: stopped" in screen_text(app)

    drive(app, scenario)
