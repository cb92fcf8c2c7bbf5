"""One scheduler pass with an explicit "now" — no waiting."""
from __future__ import annotations

import multiprocessing
import os
from datetime import timedelta

import pytest

from cfy_local import maintenance
from cfy_local.executions import records as execution_records
from cfy_local.scheduler.passes import run_pass
from cfy_local.schedules import api
from schedule_support import at, make_deployment, record_fire

START = at("2026-03-02 09:00")


def no_reconcile(home):
    return None


def run(store, now, fire=record_fire):
    lines = []
    report = run_pass(store, now, fire=fire, reconcile=no_reconcile, log=lines.append)
    return report, lines


@pytest.fixture
def daily(store):
    make_deployment(store.root, "dep1")
    return api.create_schedule(store, "dep1", "backup", since="2026-03-02 09:00", tz="UTC", recurrence="1d",
                               now=START - timedelta(days=1))


def history(store, sched="backup"):
    return api.history(store, "dep1", sched)


def test_due_schedule_fires_and_advances(store, daily):
    report, lines = run(store, START + timedelta(seconds=5))
    assert report.count("fired") == 1
    [entry] = history(store)
    assert entry["action"] == "fired" and entry["occurrence"] == "2026-03-02T09:00:00.000Z"
    assert entry["decided_at"] == "2026-03-02T09:00:05.000Z" and entry["execution_id"]
    execution = execution_records.load(store, entry["execution_id"])
    assert execution["workflow_id"] == "backup" and execution["deployment_id"] == "dep1"
    view = api.get_schedule(store, "dep1", "backup")
    assert view["next_occurrence"] == "2026-03-03T09:00:00.000Z"
    assert view["latest_execution_status"] == "pending"
    assert len(lines) == 1 and "fired dep1/backup" in lines[0]
    assert open(store.scheduler_log_file).read().strip() == lines[0]
    # Not due (next is tomorrow): nothing happens.
    report, lines = run(store, START + timedelta(minutes=5))
    assert report.due == 0 and lines == [] and len(history(store)) == 1


def test_nothing_due_before_the_occurrence(store, daily):
    report, _ = run(store, START - timedelta(milliseconds=1))
    assert report.due == 0 and history(store) == []


def test_an_occurrence_is_due_at_its_time(store, daily):
    report, _ = run(store, START)  # next_occurrence <= now: a pass at exactly that time fires it
    assert report.due == 1 and [e["action"] for e in history(store)] == ["fired"]


@pytest.mark.parametrize("late, action", [(60, "fired"), (61, "skipped")])
def test_slip_zero_edges(store, daily, late, action):
    run(store, START + timedelta(seconds=late))
    [entry] = history(store)
    assert entry["action"] == action
    if action == "skipped":
        assert entry["reason"] == "61 s late, outside the window of slip 0 min + 60 s"
        assert entry["execution_id"] is None
    assert api.get_schedule(store, "dep1", "backup")["next_occurrence"] == "2026-03-03T09:00:00.000Z"


def test_slip_minutes_widen_the_window(store, daily):
    api.update_schedule(store, "dep1", "backup", slip=2, now=START - timedelta(hours=1))
    run(store, START + timedelta(seconds=180))
    assert history(store)[-1]["action"] == "fired"


def test_overlap_skip_while_last_run_is_active(store, daily):
    run(store, START + timedelta(seconds=1))
    first = history(store)[0]["execution_id"]
    run(store, START + timedelta(days=1, seconds=1))
    second = history(store)[-1]
    assert second["action"] == "skipped"
    assert second["reason"] == f"the previous execution {first} is still pending"
    execution_records.set_status(store, first, "started")
    execution_records.set_status(store, first, "terminated")
    run(store, START + timedelta(days=2, seconds=1))
    assert history(store)[-1]["action"] == "fired"


def test_stop_on_fail_disables(store, daily):
    api.update_schedule(store, "dep1", "backup", stop_on_fail=True, now=START - timedelta(hours=1))
    run(store, START + timedelta(seconds=1))
    execution_records.set_status(store, history(store)[0]["execution_id"], "failed")
    report, lines = run(store, START + timedelta(days=1, seconds=1))
    entry = history(store)[-1]
    assert entry["action"] == "disabled"
    assert entry["reason"] == "Disabled schedule backup because the execution failed and stop_on_fail is set to true"
    view = api.get_schedule(store, "dep1", "backup")
    assert view["enabled"] is False and view["latest_execution_status"] == "failed"
    report, _ = run(store, START + timedelta(days=5))
    assert report.due == 0  # disabled schedules are not looked at


def test_cancelled_is_not_a_failure_for_stop_on_fail(store, daily):
    api.update_schedule(store, "dep1", "backup", stop_on_fail=True, now=START - timedelta(hours=1))
    run(store, START + timedelta(seconds=1))
    execution_records.set_status(store, history(store)[0]["execution_id"], "cancelled")
    run(store, START + timedelta(days=1, seconds=1))
    assert history(store)[-1]["action"] == "fired"


def test_maintenance_holds_the_due_occurrence_until_it_ends(store, daily):
    """While maintenance is activated the occurrence due now is not decided: it fires after
    deactivation if still inside its window, and nothing is recorded twice."""
    maintenance.activate(store)
    report, _ = run(store, START + timedelta(seconds=1))
    assert report.maintenance and report.count("fired") == 0
    assert history(store) == []
    assert api.get_schedule(store, "dep1", "backup")["next_occurrence"] == "2026-03-02T09:00:00.000Z"
    maintenance.deactivate(store)
    run(store, START + timedelta(seconds=50))  # still inside the window: it runs after all
    assert [e["action"] for e in history(store)] == ["fired"]


def test_maintenance_past_the_window_records_one_skip(store, daily):
    maintenance.activate(store)
    run(store, START + timedelta(seconds=1))
    run(store, START + timedelta(minutes=2))
    run(store, START + timedelta(minutes=3))
    [entry] = history(store)
    assert entry["action"] == "skipped" and entry["reason"].startswith("maintenance mode is activated")
    assert entry["occurrence"] == "2026-03-02T09:00:00.000Z"
    maintenance.deactivate(store)
    run(store, START + timedelta(days=1, seconds=5))
    assert [e["action"] for e in history(store)] == ["skipped", "fired"]


def test_count_exhaustion_ends_the_schedule(store):
    make_deployment(store.root, "dep1")
    api.create_schedule(store, "dep1", "backup", since="2026-03-02 09:00", tz="UTC", recurrence="1h", count=2,
                        now=START - timedelta(days=1))
    for hours in (0, 1):
        run(store, START + timedelta(hours=hours, seconds=1))
        execution_records.set_status(store, history(store)[-1]["execution_id"], "cancelled")
    assert [e["action"] for e in history(store)] == ["fired", "fired"]
    assert api.get_schedule(store, "dep1", "backup")["next_occurrence"] is None
    report, _ = run(store, START + timedelta(days=3))
    assert report.due == 0


def test_dst_day_occurrence_keeps_local_time(store):
    make_deployment(store.root, "dep1")
    api.create_schedule(store, "dep1", "backup", since="2026-03-27 09:00", tz="Europe/London", recurrence="1d",
                        now=at("2026-03-26 00:00"))
    # 29 March 2026: the clocks go forward; 09:00 local is 08:00 UTC.
    view = api.get_schedule(store, "dep1", "backup", now=at("2026-03-28 12:00"))
    assert view["next_occurrence"] == "2026-03-27T09:00:00.000Z"
    for now in ("2026-03-27 09:00:10", "2026-03-28 09:00:10"):
        run(store, at(now))
        execution_records.set_status(store, history(store)[-1]["execution_id"], "cancelled")
    assert api.get_schedule(store, "dep1", "backup")["next_occurrence"] == "2026-03-29T08:00:00.000Z"
    run(store, at("2026-03-29 08:00:30"))
    assert history(store)[-1]["action"] == "fired"
    assert history(store)[-1]["occurrence"] == "2026-03-29T08:00:00.000Z"


def test_schedule_deleted_mid_pass_is_handled(store, daily):
    deleted = []

    def fire_then_delete_other(home, schedule):
        if not deleted:
            api.delete_schedule(home, "dep1", "zz-other")
            deleted.append(True)
        return record_fire(home, schedule)

    api.create_schedule(store, "dep1", "install", schedule_id="zz-other", since="2026-03-02 09:00", tz="UTC",
                        recurrence="1d", now=START - timedelta(days=1))
    report, lines = run(store, START + timedelta(seconds=1), fire=fire_then_delete_other)
    assert [d.action for d in report.decisions] == ["fired", "skipped"]
    assert report.decisions[1].reason == "schedule was deleted during the pass"


def test_a_failing_start_is_recorded_as_a_skip(store, daily):
    from cfy_local.errors import ConflictError

    def refuse(home, schedule):
        raise ConflictError("Your request was rejected since Cloudify manager is currently in maintenance mode")

    run(store, START + timedelta(seconds=1), fire=refuse)
    entry = history(store)[-1]
    assert entry["action"] == "skipped" and entry["reason"].startswith("could not start the execution: Your request")
    assert api.get_schedule(store, "dep1", "backup")["next_occurrence"] == "2026-03-03T09:00:00.000Z"


# --- two passes at once never fire one occurrence twice --------------------------------------

def fire_finished_run(home, schedule):
    """A run that ends at once, so the overlap rule cannot hide a second firing: only the
    lock + re-read (+ history) stand between two passes and a double fire."""
    record = record_fire(home, schedule)
    execution_records.set_status(home, record["id"], "started")
    return execution_records.set_status(home, record["id"], "terminated")


def _pass_in_child(root, now_text, barrier, out):
    from cfy_local.store.paths import Home
    from cfy_local.timefmt import parse_iso

    barrier.wait()
    report = run_pass(Home(root), parse_iso(now_text), fire=fire_finished_run, reconcile=no_reconcile)
    out.put(report.count("fired"))


@pytest.fixture
def fast_store(tmp_path):
    """A state dir on tmpfs when there is one: the same files and flocks, without the
    thousands of disk fsyncs 20 rounds x 50 firings would otherwise wait for."""
    import shutil
    import tempfile

    from cfy_local.store.paths import Home

    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else str(tmp_path)
    folder = tempfile.mkdtemp(prefix="cfy-h5-", dir=base)
    yield Home.open(os.path.join(folder, "home"))
    shutil.rmtree(folder, ignore_errors=True)


def test_two_concurrent_passes_fire_each_occurrence_once(fast_store):
    store = fast_store
    make_deployment(store.root, "dep1")
    for i in range(50):
        api.create_schedule(store, "dep1", "backup", schedule_id=f"s{i:02d}", since="2026-03-02 09:00", tz="UTC",
                            recurrence="1 min", now=START - timedelta(days=1))
    ctx = multiprocessing.get_context("fork")
    for round_ in range(20):
        now = START + timedelta(minutes=round_, seconds=30)
        barrier, out = ctx.Barrier(2), ctx.Queue()
        children = [ctx.Process(target=_pass_in_child, args=(store.root, now.isoformat(), barrier, out))
                    for _ in range(2)]
        for child in children:
            child.start()
        fired = out.get(timeout=60) + out.get(timeout=60)
        for child in children:
            child.join(timeout=60)
            assert child.exitcode == 0
        assert fired == 50, f"round {round_}: {fired} fired"
    for i in range(50):
        entries = history(store, f"s{i:02d}")
        occurrences = [e["occurrence"] for e in entries if e["action"] == "fired"]
        assert len(occurrences) == 20 == len(set(occurrences))


def test_schedule_edited_mid_pass_is_re_read(store, daily):
    api.create_schedule(store, "dep1", "install", schedule_id="zz-edited", since="2026-03-02 09:00", tz="UTC",
                        recurrence="1d", now=START - timedelta(days=1))

    def fire_then_edit_other(home, schedule):
        if schedule["id"] == "backup":
            # Another command moves the second schedule to the future while the pass runs.
            api.update_schedule(home, "dep1", "zz-edited", since="2026-04-01 09:00", now=START)
        return record_fire(home, schedule)

    report, _ = run(store, START + timedelta(seconds=1), fire=fire_then_edit_other)
    assert report.due == 2 and [d.schedule_id for d in report.decisions] == ["backup"]
    assert history(store, "zz-edited") == []
    assert api.get_schedule(store, "dep1", "zz-edited")["next_occurrence"] == "2026-04-01T09:00:00.000Z"
