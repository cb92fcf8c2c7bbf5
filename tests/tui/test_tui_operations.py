"""The operations view of a run, failures first, search, replay, navigation, and the facts
behind "why is it slow or stuck" (executions/insight.py) — on fixture runs written in the
documented formats (graph.json and task events)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from cfy_local import clock
from cfy_local.executions import insight
from cfy_local.store.event_log import read_from
from cfy_local.tui.app import CfyTui
from cfy_local.tui.eventpane import EventPane
from cfy_local.tui.screens.detail import ExecutionScreen
from cfy_local.tui.screens.executions import ExecutionsScreen
from cfy_local.tui.table import VirtualTable

import tui_state
from tui_helpers import screen_text

FAILED, RETRYING, QUEUED = tui_state.FAILED_RUN, tui_state.RETRYING_RUN, tui_state.QUEUED_RUN


@pytest.fixture
def runs(state):
    tui_state.add_operation_runs(state)
    return state


def tracker_of(home, execution_id, until=None):
    tracker = insight.RunTracker(insight.load_graph(home, execution_id), until=until)
    tracker.feed(read_from(home.events_file(execution_id), 0)[0])
    return tracker


def open_run(pilot, app, execution_id):
    table = app.screen.query_one(VirtualTable)
    assert table.move_to_key(execution_id)
    return pilot.press("enter")


# --- the core facts --------------------------------------------------------------------

def test_tracker_ties_events_to_graph_operations(runs):
    tracker = tracker_of(runs, FAILED)
    ops = {op.label + ("/" + op.side if op.side else ""): op for op in tracker.ordered()}
    assert list(ops) == ["vm_aaaaa1.create", "app_bbbbb1.create", "app_bbbbb1.preconfigure/source",
                         "app_bbbbb1.configure"]
    create = ops["app_bbbbb1.create"]
    assert (create.shown_state, create.retries, create.total_retries) == ("succeeded", 2, 5)
    assert create.duration(clock.now()) == 18.0
    assert ops["app_bbbbb1.preconfigure/source"].short == "preconfigure → vm_aaaaa1"
    failed = tracker.first_failed()
    assert failed.label == "app_bbbbb1.configure" and failed.shown_state == "failed"
    assert failed.cause.startswith("NonRecoverableError: config file /etc/app.conf has a syntax error")
    assert tracker.counts()["total"] == 4 and tracker.counts()["done"] == 4
    assert len(failed.events) == 4  # sent, started, its log line, failed


def test_replay_tracker_shows_the_state_at_a_moment(runs):
    start = tui_state.NOW - timedelta(minutes=30)
    tracker = tracker_of(runs, FAILED, until=start + timedelta(seconds=20))
    states = {op.label: op.shown_state for op in tracker.ordered()}
    assert states == {"vm_aaaaa1.create": "succeeded", "app_bbbbb1.create": "rescheduled",
                      "app_bbbbb1.configure": "pending", "app_bbbbb1.preconfigure": "pending"}
    assert tracker.counts()["done"] == 1


def test_retrying_text_has_attempt_next_try_and_cause(runs):
    record = tui_state.records.load(runs, RETRYING)
    tracker = tracker_of(runs, RETRYING)
    [item] = insight.retrying(tracker, insight.retry_intervals(runs, record))
    assert item.text(clock.now()) == ("retrying broken_ddddd1.create (3/60), next try in 13 s: "
                                      "RecoverableError: connection refused by 10.0.0.7:5432")


def test_queue_facts_name_the_blocking_run_maintenance_and_the_cap(runs):
    records = [tui_state.records.load(runs, i) for i in (RETRYING, QUEUED)]
    queued = records[1]
    older = tui_state.records.load(runs, "00000004-0000-4000-8000-000000000004")
    facts = insight.queue_facts(queued, records + [older])
    assert facts.position == 2 and facts.length == 2
    assert facts.text() == "queued 2 of 2: waits behind 00000021 (install on cart, started)"
    assert "maintenance mode is activated" in insight.queue_facts(queued, records, maintenance="activated").reason
    alone = dict(queued, deployment_id="elsewhere")
    assert insight.queue_facts(alone, records, max_concurrent=1).reason == (
        "concurrency cap: 1 of max_concurrent_workflows 1 running")
    assert insight.queue_facts(records[0], records) is None


def test_wait_after_fail_counts_down_from_the_first_final_failure(runs):
    record = dict(tui_state.records.load(runs, FAILED), status="started", wait_after_fail=600)
    tracker = tracker_of(runs, FAILED)
    failed_at = tui_state.NOW - timedelta(minutes=30) + timedelta(seconds=49)
    left = insight.wait_after_fail_left(record, tracker, failed_at + timedelta(seconds=100))
    assert left == 500.0
    assert insight.wait_after_fail_left(dict(record, status="failed"), tracker, failed_at) is None


def test_internal_frames_fold_and_durations_show_milliseconds():
    lines = tui_state.INTERNAL_TRACE.splitlines()
    folded = insight.fold_lines(lines)
    assert folded[1] == (-1, 2)
    assert [lines[i] for i, n in folded if not n][1].strip().startswith('File "/srv/plugins/shop/tasks.py"')
    assert [insight.format_seconds(s) for s in (0.042, 4.25, 65, 7300)] == ["42ms", "4.2s", "1m05s", "2h01m"]


# --- the screens ---------------------------------------------------------------------

def test_failed_run_opens_on_its_failing_operation_with_the_whole_cause(runs, drive):
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, FAILED)
        screen = app.screen
        assert isinstance(screen, ExecutionScreen)
        assert screen.selected.startswith("app_bbbbb1|cloudify.interfaces.lifecycle.configure")
        text = screen_text(app)
        assert "3/4 ops (3 ok, 1 failed)" in text.replace("4/4 ops (3 ok", "3/4 ops (3 ok")
        assert "app_bbbbb1.configure: NonRecoverableError: config file" in text
        # the cause is wrapped, not cut: every word of it is on screen at 80 columns
        await pilot.press("z")
        flat = "".join(screen_text(app).split())  # wrapped lines joined, spaces aside
        assert "".join("unexpected ']' after the value of key 'upstreams' — fix the template and resume".split()) in flat
        assert "⋯2internalframes(xshowsthem)" in flat and "engine/tasks.py" not in flat
        await pilot.press("x")
        assert "engine/tasks.py" in "".join(screen_text(app).split())
        assert all(len(line) <= 80 for line in screen_text(app).splitlines())

    drive(app, scenario)


def test_e_in_the_list_jumps_to_the_first_error(runs, drive):
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await pilot.press("3")  # failed: the newest failed run is the cursor's
        assert app.screen.query_one(VirtualTable).cursor_key == FAILED
        assert "app_bbbbb1.configure: NonRecoverableError" in screen_text(app)  # the why-line
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, ExecutionScreen) and screen.execution_id == FAILED
        assert "configure" in screen.selected
        pane = screen.query_one(EventPane)
        assert pane.entries == screen.tracker.first_failed().events

    drive(app, scenario)


def test_tab_switch_puts_the_cursor_on_the_first_row_of_the_new_list(runs, drive):
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        table = app.screen.query_one(VirtualTable)
        await pilot.press("down", "down", "down")
        assert table.cursor_key == "00000007-0000-4000-8000-000000000007"
        await pilot.press("3")  # the run is failed: it stays under the cursor
        assert table.cursor_key == "00000007-0000-4000-8000-000000000007"
        await pilot.press("4", "end", "2")
        assert table.cursor == 0 and table.cursor_key == QUEUED
        await pilot.press("enter")
        assert app.screen.execution_id == QUEUED

    drive(app, scenario)


def test_errors_only_level_filter_and_search(runs, drive):
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, FAILED)
        screen = app.screen
        await pilot.press("home")  # the run row: all events
        pane = screen.query_one(EventPane)
        assert screen.selected == "run" and len(pane.entries) == 20
        await pilot.press("E")
        assert [pane.source[i]["event_type"] for i in pane.entries] == ["task_failed"] * 3 + ["workflow_failed"]
        assert "level error" in screen_text(app)
        await pilot.press("E", "L")
        assert screen.level == "debug"
        await pilot.press("slash", *"port 80")
        assert screen.hit_positions and len(screen.hit_positions) == 2
        assert "/port 80 1/2" in screen_text(app)
        await pilot.press("enter", "n")
        assert "/port 80 2/2" in screen_text(app)
        await pilot.press("N", "N")
        assert "/port 80 2/2" in screen_text(app)
        await pilot.press("escape")
        assert not screen.needle and isinstance(app.screen, ExecutionScreen)

    drive(app, scenario)


def test_timeline_bars_share_one_axis(runs, drive):
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, FAILED)
        await pilot.press("t", "home")
        screen = app.screen
        width = screen._timeline_width()
        assert width > 20
        cells = {key: screen.row_cells(key)[0]["timeline"] for key in screen.row_keys}
        vm = cells[next(k for k in cells if k.startswith("vm_aaaaa1|"))]
        configure = cells[next(k for k in cells if "configure" in k)]
        assert len(vm) == len(configure) == width
        # the VM's create ran first (seconds 1-11 of 50), configure last (34-49)
        assert vm.index("█") < width // 10 and vm.rstrip()[-1] != " " and len(vm.rstrip()) < width // 3
        assert configure.index("█") > width // 2
        await pilot.press("plus")
        assert screen.zoom == 2
        assert "timeline" not in screen_text(app) or "|0ms" in screen_text(app)

    drive(app, scenario)


def test_replay_steps_plays_and_changes_speed(runs, drive):
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, FAILED)
        screen = app.screen
        await pilot.press("right")  # into replay at the first step: nothing ran yet
        assert screen.replay_at == tui_state.NOW - timedelta(minutes=30)
        assert "REPLAY ⏸ 0ms / 50s ×1" in screen_text(app)
        assert screen.shown.counts()["done"] == 0
        await pilot.press("right", "right")  # 1 s: the VM's create starts; 11 s: it ends
        assert screen.replay_at == tui_state.NOW - timedelta(minutes=30) + timedelta(seconds=11)
        assert screen.shown.counts()["done"] == 1
        await pilot.press("left")
        assert screen.shown.counts()["done"] == 0
        await pilot.press("s", "s")
        assert screen.speed == 100
        await pilot.press("space")
        assert screen.playing and screen._play_timer is not None
        screen._play_timer.pause()  # the ticks below are driven by hand, not by the clock
        screen.set_replay(tui_state.NOW - timedelta(minutes=30) + timedelta(seconds=1))
        screen.play_tick()  # one tick at ×100 moves 10 s on
        assert screen.replay_at == tui_state.NOW - timedelta(minutes=30) + timedelta(seconds=11)
        screen.play_tick(1.0)
        assert not screen.playing and screen.shown.counts()["done"] == 4  # reached the end
        assert "REPLAY ⏸ 50s / 50s" in screen_text(app)
        await pilot.press("escape")  # leaves the replay first
        assert screen.replay_at is None and isinstance(app.screen, ExecutionScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionsScreen)

    drive(app, scenario)


def test_retrying_and_queued_headers_say_why(runs, drive):
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        table = app.screen.query_one(VirtualTable)
        assert "install             started ↻" in screen_text(app)  # marked in the list
        assert "uninstall           queued #2" in screen_text(app)  # behind 00000004 (#1)
        assert "uninstall           queued #1" in screen_text(app)
        assert "started ↻" not in screen_text(app).replace("install             started ↻", "")
        table.move_to_key(RETRYING)
        await pilot.pause()
        assert "retrying broken_ddddd1.create (3/60), next try in 13 s" in screen_text(app)
        await pilot.press("enter")
        text = screen_text(app)
        assert "1/3 ops, 1 retrying" in text and "next try in 13 s: RecoverableError" in text
        assert "r Resume" not in text  # a running run cannot be resumed
        await pilot.press("escape")
        table.move_to_key(QUEUED)
        await pilot.press("enter")
        assert "queued 2 of 2: waits behind 00000021 (install on cart, started)" in screen_text(app)

    drive(app, scenario, size=(100, 30))


def test_navigation_to_a_deployment_its_instances_and_back(runs, drive):
    from cfy_local.tui.screens.resources import DeploymentScreen, DeploymentsScreen, NodesScreen
    from cfy_local.tui.screens.schedules import SchedulesScreen

    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await pilot.press("colon", *"dep", "enter")
        assert isinstance(app.screen, DeploymentsScreen)
        assert "$ cfy deployments list" in screen_text(app)
        assert {"web", "db", "shop", "cart"} <= set(app.screen.query_one(VirtualTable).keys)
        app.screen.query_one(VirtualTable).move_to_key("web")
        await pilot.press("enter")
        assert isinstance(app.screen, DeploymentScreen)
        assert "$ cfy deployments get web" in screen_text(app)
        await pilot.press("x")
        assert isinstance(app.screen, ExecutionsScreen)
        ids = app.screen.query_one(VirtualTable).keys
        assert ids and all(app.executions.index.get(i)["deployment_id"] == "web" for i in ids)
        await pilot.press("escape")
        assert isinstance(app.screen, DeploymentScreen)
        await pilot.press("S")
        assert isinstance(app.screen, SchedulesScreen) and "nightly" in screen_text(app)
        assert "weekly" not in screen_text(app)
        await pilot.press("escape", "escape", "escape")
        assert isinstance(app.screen, ExecutionsScreen)
        assert len(app.screen.query_one(VirtualTable).keys) == 9  # the filter was restored
        await pilot.press("colon", *"nodes", "enter")
        assert isinstance(app.screen, NodesScreen)
        await pilot.press("colon", *"executions", "enter")
        assert isinstance(app.screen, ExecutionsScreen)

    drive(app, scenario)


def test_execution_to_its_deployment(runs, drive):
    from cfy_local.tui.screens.resources import DeploymentScreen

    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, FAILED)
        await pilot.press("d")
        assert isinstance(app.screen, DeploymentScreen) and app.screen.deployment_id == "shop"
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionScreen)

    drive(app, scenario)


def test_empty_state_says_what_to_do(home, drive):
    from cfy_local.store.paths import Home

    app = CfyTui(Home.open(str(home)), live=False)

    async def scenario(pilot):
        assert "press n to start one, or run cfy executions start WORKFLOW -d DEPLOYMENT" in screen_text(app)

    drive(app, scenario, size=(120, 20))


def test_list_shows_milliseconds_failed_progress_and_old_errors_expire(runs, drive):
    from cfy_local.tui.widgets import CommandLine

    start = tui_state.NOW - timedelta(minutes=1)
    tui_state.add_execution(runs, 0x30, deployment="web", workflow="install", status="terminated",
                            created=start, started=start, ended=start + timedelta(milliseconds=420),
                            total=1, finished=1)
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        text = screen_text(app)
        row = next(line for line in text.splitlines() if line.startswith("00000030"))
        assert row.split()[-2:] == ["420ms", "1/1"]  # was 0s
        assert "3/4 ✗1" in text  # the failed run: 3 succeeded of 4, 1 failed (was 4/4)
        app.show_command("cfy executions cancel x", "it went wrong", error=True)
        await pilot.pause()
        assert "it went wrong" in screen_text(app)
        line = app.screen.query_one(CommandLine)
        line.shown_at -= CommandLine.ERROR_SECONDS + 1  # as if shown 16 s ago
        app.tick()
        await pilot.pause()
        assert "it went wrong" not in screen_text(app) and "$ cfy executions cancel x" in screen_text(app)

    drive(app, scenario, size=(100, 30))


def test_zoom_and_pan_move_the_time_axis(runs, drive):
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, FAILED)
        screen = app.screen
        await pilot.press("t")
        whole = screen.axis()
        await pilot.press("plus", "plus")
        zoomed = screen.axis()
        assert zoomed.seconds == pytest.approx(whole.seconds / 4)
        await pilot.press("greater_than_sign", "greater_than_sign")
        assert screen.axis().start > zoomed.start
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign")
        assert screen.axis().start == whole.start
        await pilot.press("minus", "minus", "minus")
        assert screen.zoom == 1

    drive(app, scenario)


@pytest.mark.slow
def test_a_real_retrying_run_in_the_operations_view(home, tmp_path, drive):
    """A real worker: the flaky operation fails (RecoverableError, retry_after 2 s), the
    tree shows it rescheduled with its retry count and cause, then succeeded."""
    import time

    from cfy_local.deployments import api as deployments
    from cfy_local.executions import api as executions
    from cfy_local.store.paths import Home
    from pathlib import Path

    from polling import wait_for

    state = Home.open(str(home))
    release = tmp_path / "flaky-release"
    deployments.upload_blueprint(state, str(Path(__file__).parent / "blueprint" / "retrying.yaml"), "flaky")
    deployments.create_deployment(state, "f1", "flaky", {"release": str(release)})
    execution_id = executions.start(state, "install", "f1")["id"]
    wait_for(lambda: any(e.get("event_type") == "task_failed" for e in read_from(state.events_file(execution_id))[0]),
             timeout=60, message="the first failure")
    app = CfyTui(state, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, execution_id)
        screen = app.screen
        assert isinstance(screen, ExecutionScreen)
        [op] = [row.op for row in screen.rows if row.kind == "op"]
        assert op.label.startswith("flaky_") and op.label.endswith(".create")
        assert op.shown_state in ("rescheduled", "started", "sending")
        assert "backend not reachable until flaky-release exists" in op.cause
        assert "RecoverableError" in screen_text(app)
        release.touch()
        deadline = time.monotonic() + 60
        while not (app.executions.index.get(execution_id) or {}).get("status") == "terminated":
            assert time.monotonic() < deadline, screen_text(app)
            app.tick()
            await pilot.pause(0.1)
        app.tick()
        await pilot.pause()
        [op] = [row.op for row in screen.rows if row.kind == "op"]
        assert op.shown_state == "succeeded" and op.retries >= 1
        assert "1/1 ops" in screen_text(app)

    try:
        drive(app, scenario, size=(100, 30))
    finally:
        release.touch()  # a failed assertion leaves no worker retrying behind


def test_a_resumed_run_ties_its_new_task_ids_to_the_same_operations(runs):
    """A resumed run's worker numbers tasks from 1 again: task 1 of the second run is the
    failed configure it runs again, not the VM's create of the first run."""
    record = tui_state.records.load(runs, FAILED)
    again = tui_state.NOW - timedelta(minutes=5)
    conf = dict(task="1", operation="lifecycle.configure", instance="app_bbbbb1")
    tui_state.append_events(runs.events_file(FAILED), [
        tui_state.event(record, again, "Resuming 'install' workflow execution", "workflow_started"),
        tui_state.op_event(record, again, "sending_task", "Sending task", **conf),
        tui_state.op_event(record, again, "task_started", "Task started", **conf),
        tui_state.op_event(record, again + timedelta(seconds=3), "task_succeeded", "Task succeeded", **conf),
    ])
    tracker = tracker_of(runs, FAILED)
    states = {op.label: op.shown_state for op in tracker.ordered()}
    assert states["app_bbbbb1.configure"] == "succeeded"
    configure = next(op for op in tracker.ordered() if op.label == "app_bbbbb1.configure")
    assert configure.duration(clock.now()) == 3.0 and tracker.first_failed() is None
    vm = next(op for op in tracker.ordered() if op.label == "vm_aaaaa1.create")
    assert len(vm.events) == 4  # none of the resumed run's events


def test_header_counts_down_wait_after_fail(state, drive):
    """An operation failed for good while another still runs: the run waits for it at most
    wait_after_fail seconds, and the header says how long is left."""
    start = tui_state.NOW - timedelta(seconds=100)
    record = tui_state.add_execution(state, 0x41, deployment="web", workflow="install", status="started",
                                     created=start, started=start, worker_pid=1)
    tui_state.write_graph(state, record, {
        f"a_aaaaa1|{tui_state.LC}.create||#0": ("failed", 0),
        f"b_bbbbb1|{tui_state.LC}.create||#0": ("pending", 0),
    })
    a = dict(task="1", operation="lifecycle.create", instance="a_aaaaa1")
    b = dict(task="2", operation="lifecycle.create", instance="b_bbbbb1")
    cause = [{"type": "NonRecoverableError", "message": "disk full", "traceback": ""}]
    tui_state.append_events(state.events_file(record["id"]), [
        tui_state.event(record, start, "Starting 'install' workflow execution", "workflow_started"),
        tui_state.op_event(record, start, "task_started", "Task started", **a),
        tui_state.op_event(record, start, "task_started", "Task started", **b),
        tui_state.op_event(record, start + timedelta(seconds=40), "task_failed", "Task failed -> disk full",
                           causes=cause, **a),
    ])
    app = CfyTui(state, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, record["id"])
        # failed 60 s ago, wait_after_fail 600 s
        assert ("a_aaaaa1.create failed; waiting for the other operations, 9m00s left (wait_after_fail 600 s)"
                in " ".join(screen_text(app).split()))

    drive(app, scenario, size=(120, 35))


def test_operations_known_from_events_before_graph_json_exists(state, drive):
    """graph.json is first written when an operation ends: until then the tree shows the
    operations the events named, and the cursor stays on one when its entry arrives."""
    start = tui_state.NOW - timedelta(seconds=30)
    record = tui_state.add_execution(state, 0x42, deployment="web", workflow="install", status="started",
                                     created=start, started=start, worker_pid=1)
    a = dict(task="1", operation="lifecycle.create", instance="a_aaaaa1")
    tui_state.append_events(state.events_file(record["id"]), [
        tui_state.event(record, start, "Starting 'install' workflow execution", "workflow_started"),
        tui_state.op_event(record, start, "sending_task", "Sending task", **a),
        tui_state.op_event(record, start, "task_started", "Task started", **a),
    ])
    app = CfyTui(state, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, record["id"])
        screen = app.screen
        assert "0/1+ ops (total known once the first one ends)" in screen_text(app)
        assert [row.key for row in screen.rows if row.kind == "op"] == ["~1"]
        await pilot.press("end")
        assert screen.selected == "~1"
        tui_state.write_graph(state, record, {f"a_aaaaa1|{tui_state.LC}.create||#0": ("pending", 0),
                                              f"b_bbbbb1|{tui_state.LC}.create||#0": ("pending", 0)})
        app.tick()
        await pilot.pause()
        key = f"a_aaaaa1|{tui_state.LC}.create||#0"
        assert screen.selected == key and screen.query_one(VirtualTable).cursor_key == key
        assert screen.shown.operations[key].shown_state == "started"
        assert "0/2 ops, 1 running" in screen_text(app)

    drive(app, scenario, size=(100, 30))


def test_the_slowest_operation_stands_out(runs, drive):
    from cfy_local.tui.screens.detail import SLOWEST_STYLE

    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, FAILED)
        screen = app.screen
        slow = [key for key in screen.row_keys if screen.row_cells(key)[2].get("duration") == SLOWEST_STYLE]
        assert len(slow) == 1 and "lifecycle.create" in slow[0] and slow[0].startswith("app_bbbbb1")  # 18 s

    drive(app, scenario)


def test_fold_nodes_and_show_only_failed_or_retrying_operations(runs, drive):
    app = CfyTui(runs, live=False)

    async def scenario(pilot):
        await open_run(pilot, app, FAILED)
        screen = app.screen
        table = screen.query_one(VirtualTable)
        assert len(table.keys) == 9
        await pilot.press("home", "down", "enter")  # fold the vm node
        assert table.keys[:3] == ["run", "n:vm", "n:app"]
        assert "▸ vm" in screen_text(app)
        await pilot.press("enter")
        assert len(table.keys) == 9
        await pilot.press("asterisk")
        assert table.keys == ["run", "n:vm", "n:app"]
        await pilot.press("e")  # the first error unfolds its node
        assert table.cursor_key.startswith("app_bbbbb1|cloudify.interfaces.lifecycle.configure")
        await pilot.press("asterisk", "F")
        assert [screen.row_by_key[k].label for k in table.keys] == ["install (all events)", "app", "app_bbbbb1",
                                                                     "configure"]
        await pilot.press("F")
        assert len(table.keys) == 9

    drive(app, scenario)


def test_target_side_relationship_operations_and_endless_retries(state):
    """A target-side operation's events name both sides like the source side's; retries
    of -1 (forever) never make a failure final."""
    start = tui_state.NOW - timedelta(seconds=30)
    record = tui_state.add_execution(state, 0x43, deployment="web", workflow="install", status="started",
                                     created=start, started=start, worker_pid=1)
    establish = "cloudify.interfaces.relationship_lifecycle.establish"
    tui_state.write_graph(state, record, {
        f"app_aaaaa1|{establish}|source|db_bbbbb1#0": ("succeeded", 0),
        f"db_bbbbb1|{establish}|target|app_aaaaa1#0": ("pending", 0),
    })
    side = dict(operation="relationship_lifecycle.establish", source="app_aaaaa1", target="db_bbbbb1")
    cause = [{"type": "RecoverableError", "message": "db not ready", "traceback": ""}]
    tui_state.append_events(state.events_file(record["id"]), [
        tui_state.op_event(record, start, "task_started", "Task started", task="1", **side),
        tui_state.op_event(record, start, "task_succeeded", "Task succeeded", task="1", **side),
        tui_state.op_event(record, start, "task_started", "Task started", task="2", total=-1, **side),
        tui_state.op_event(record, start, "task_failed", "Task failed", task="2", total=-1, retry=7,
                           causes=cause, **side),
    ])
    tracker = tracker_of(state, record["id"])
    source, target = tracker.ordered()
    assert (source.side, source.instance, source.shown_state) == ("source", "app_aaaaa1", "succeeded")
    assert (target.side, target.instance, target.related, target.shown_state) == (
        "target", "db_bbbbb1", "app_aaaaa1", "rescheduled")
    assert target.short == "establish ← app_aaaaa1"
    [item] = insight.retrying(tracker, 15)
    assert item.text(start + timedelta(seconds=5)) == (
        "retrying db_bbbbb1.establish (8/∞), next try in 10 s: RecoverableError: db not ready")


def test_a_hand_edited_graph_does_not_break_the_view(state):
    graph = {"total_operations": "many", "operations": {
        "x_aaaaa1|cloudify.interfaces.lifecycle.create||#0": {"state": "succeeded", "retries": "two"},
        "bad": "not an entry"}}
    tracker = insight.RunTracker(graph)
    [op] = tracker.ordered()
    assert (op.instance, op.graph_retries, op.shown_state) == ("x_aaaaa1", 0, "succeeded")
    assert tracker.counts()["total"] == 1
    assert insight.RunTracker({"operations": ["nonsense"]}).ordered() == []
