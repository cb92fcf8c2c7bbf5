"""The loop's pacing (fake clock), its singleton lock, signals and ``cfy status``."""
from __future__ import annotations

import json
import signal

from cfy_local.scheduler import status as scheduler_status
from cfy_local.scheduler.loop import SchedulerLoop, next_pass_offset
from polling import wait_for
from process_support import cfy_running


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.waits = []

    def monotonic(self):
        return self.now

    def wait(self, seconds):
        self.waits.append(seconds)
        self.now += seconds


def test_next_pass_offset():
    assert next_pass_offset(0.5, 60) == 60
    assert next_pass_offset(59.9, 60) == 60
    assert next_pass_offset(60, 60) == 120
    assert next_pass_offset(70, 60) == 120
    assert next_pass_offset(130, 60) == 180


def test_overrunning_pass_moves_the_next_to_the_next_whole_interval(store):
    fake = FakeClock()
    durations = iter([10, 70, 5, 130, 1])
    starts = []

    def one_pass():
        starts.append(fake.now - 1000.0)
        fake.now += next(durations)

    loop = SchedulerLoop(store, 60, one_pass, monotonic=fake.monotonic, wait=fake.wait, write_status=False)
    assert loop.run(max_passes=5) == 5
    # 0 (10 s), 60 (70 s: overruns), 180 (5 s), 240 (130 s: overruns twice), 420
    assert starts == [0, 60, 180, 240, 420]


def test_stop_request_ends_after_the_current_pass(store):
    fake = FakeClock()
    loop = SchedulerLoop(store, 60, lambda: loop.request_stop(), monotonic=fake.monotonic, wait=fake.wait,
                         write_status=False)
    assert loop.run() == 1 and fake.waits == []


def test_loop_process_singleton_status_and_sigterm(home, store, cfy_proc):
    with cfy_running(home, "scheduler", "run", "--interval", "1") as proc:
        wait_for(lambda: scheduler_status(store)["running"] and scheduler_status(store)["last_pass"],
                 timeout=20, message="the scheduler loop to hold its lock and finish a pass")
        state = scheduler_status(store)
        assert state["pid"] == proc.pid and state["next_pass"]
        second = cfy_proc("scheduler", "run")
        assert second.exit_code == 1
        assert second.stderr.strip() == (f"A scheduler is already running on {home} (pid {proc.pid}); "
                                         f"only one may run at a time")
        shown = cfy_proc("status", "--json").json
        assert shown["scheduler"]["running"] is True and shown["scheduler"]["pid"] == proc.pid
        text = cfy_proc("status").stdout
        assert f"running (pid {proc.pid})" in text
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopping after the current pass" in err
    assert out.strip().splitlines()[-1].startswith("Scheduler stopped after")
    state = scheduler_status(store)
    assert state["running"] is False and state["pid"] is None and state["last_pass"]
    assert "not running" in cfy_proc("status").stdout
    saved = json.loads(open(store.scheduler_status_file).read())
    assert saved["stopped_at"]


def test_once_with_at_reports_the_pass(cfy):
    result = cfy("scheduler", "run", "--once", "--at", "2026-01-01 10:00")
    assert result.exit_code == 0, result
    assert result.stdout.strip() == "Pass at 2026-01-01T10:00:00.000Z: 0 schedules, 0 due, 0 fired, 0 skipped, 0 disabled"
    assert cfy("scheduler", "run", "--at", "2026-01-01 10:00").exit_code == 2
    bad = cfy("scheduler", "run", "--once", "--at", "soon")
    assert bad.exit_code == 1 and "is not a legal time for --at" in bad.stderr
    data = cfy("scheduler", "run", "--once", "--at", "2026-01-01T10:00:00Z", "--json").json
    assert data["now"] == "2026-01-01T10:00:00.000Z" and data["decisions"] == []


def test_loop_streams_decisions_as_ndjson_with_json(home, store):
    from cfy_local import maintenance
    from cfy_local.schedules import api, records
    from schedule_support import make_deployment

    make_deployment(home, "dep1")
    api.create_schedule(store, "dep1", "backup", since="+1h", recurrence="1d", tz="UTC")
    record = records.load(store, "dep1", "backup")
    records.save(store, dict(record, next_occurrence="2020-01-01T00:00:00.000Z"))  # long overdue
    maintenance.activate(store)
    with cfy_running(home, "scheduler", "run", "--interval", "1", "--json") as proc:
        wait_for(lambda: api.history(store, "dep1", "backup"), timeout=20, message="the maintenance skip")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines and lines[0]["action"] == "skipped" and lines[0]["schedule_id"] == "backup"
    assert lines[0]["reason"].startswith("maintenance mode is activated")
    assert len(api.history(store, "dep1", "backup")) == 1  # recorded once, not once per pass
