"""Crashes: a worker killed mid-operation, ``cfy`` killed at random moments, the scheduler
killed mid-pass. Afterwards the state must be whole and usable.

Sizes (environment variables, defaults sized for ``make test`` on 2 cores):
``CFY_RELIABILITY_CLI_KILLS`` (default 200) kills of ``cfy`` spread over ``deployments
create``, ``executions start``, ``schedule create`` and ``schedule update``;
``CFY_RELIABILITY_SCHEDULER_KILLS`` (default 60) kills of ``scheduler run --once``.
The kills are cheap because the harness forks a warm process per attempt (killharness.py).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from reliability_support import (ACTIVE, END, cfy_run, env_int, execution_records, held_locks, live_worker,
                                 must, read_events, run_harness, scan_state, upload_base, wait_for, wait_quiet)

CLI_KILLS = env_int("CFY_RELIABILITY_CLI_KILLS", 200)
SCHEDULER_KILLS = env_int("CFY_RELIABILITY_SCHEDULER_KILLS", 60)
RESTORE_KILLS = env_int("CFY_RELIABILITY_RESTORE_KILLS", 8)

pytestmark = pytest.mark.slow


def _status(home, execution_id):
    return must(cfy_run(home, "executions", "get", execution_id, "--json")).json


def test_worker_killed_mid_operation(tmp_path, home):
    """SIGKILL of a worker while an operation runs → failed; the queue moves on; resume
    finishes the run without re-running what had succeeded."""
    markers = tmp_path / "markers"
    markers.mkdir()
    upload_base(home, "crash", "crash.yaml")
    must(cfy_run(home, "deployments", "create", "c1", "-b", "crash", "-i", f"marker_dir={markers}"))
    install = must(cfy_run(home, "executions", "start", "install", "-d", "c1", "--no-wait", "--json")).json
    wait_for(lambda: (markers / "second.count").exists(), timeout=60, message="the held operation to start")
    queued = must(cfy_run(home, "executions", "start", "pause", "-d", "c1", "--queue", "--json")).json
    assert queued["status"] == "queued"

    record = json.loads((home / "executions" / f"{install['id']}.json").read_text())
    assert record["status"] == "started" and record["worker_pid"]
    os.kill(record["worker_pid"], signal.SIGKILL)
    wait_for(lambda: not live_worker(record), timeout=10, message="the worker to die")

    failed = _status(home, install["id"])  # any read reconciles
    assert failed["status"] == "failed", failed
    assert str(record["worker_pid"]) in failed["error"]
    assert any(e.get("event_type") == "workflow_failed" for e in read_events(home, install["id"]))
    wait_for(lambda: _status(home, queued["id"])["status"] == "terminated", timeout=60,
             message="the queued execution to run after the crash")

    (markers / "release").touch()
    resumed = must(cfy_run(home, "executions", "resume", install["id"], "--json"))
    assert resumed.exit_code == 0
    wait_for(lambda: _status(home, install["id"])["status"] in END, timeout=60, message="the resumed run to end")
    final = _status(home, install["id"])
    assert final["status"] == "terminated", final
    assert (markers / "first.count").read_text().count("run") == 1, "resume re-ran a succeeded operation"
    assert (markers / "second.count").read_text().count("run") == 2
    instances = must(cfy_run(home, "node-instances", "list", "-d", "c1", "--json")).json
    assert {i["node_id"]: i["state"] for i in instances} == {"first": "started", "second": "started"}
    assert scan_state(home).problems == []


def _check_whole(home) -> dict:
    """The invariants after crashes; returns figures for the report."""
    records = wait_quiet(home, timeout=90)
    scan = scan_state(home)
    assert scan.problems == [], scan.problems[:10]
    assert held_locks(home) == []
    stuck = [r for r in records if r["status"] in ACTIVE and not live_worker(r)]
    assert stuck == []
    # A create killed before deployment.json (its commit point) leaves a folder that is
    # not a deployment: invisible to listings, and the same id can be created again.
    listed = {d["id"] for d in must(cfy_run(home, "deployments", "list", "--json")).json}
    uncommitted = []
    deployments = home / "deployments"
    if deployments.is_dir():
        for folder in sorted(deployments.iterdir()):
            committed = (folder / "deployment.json").exists()
            assert committed == (folder.name in listed), folder.name
            if not committed:
                uncommitted.append(folder.name)
    for name in uncommitted[:3]:
        must(cfy_run(home, "deployments", "create", name, "-b", "base"))
        instances = must(cfy_run(home, "node-instances", "list", "-d", name, "--json")).json
        assert sorted(i["node_id"] for i in instances) == ["app", "host"], instances
    return {"records": scan.records, "event_lines": scan.event_lines, "temp_files": len(scan.temp_files),
            "executions": len(records), "uncommitted_deployment_folders": len(uncommitted)}


def test_cfy_killed_at_random_moments(home):
    upload_base(home)
    must(cfy_run(home, "deployments", "create", "web", "-b", "base"))
    must(cfy_run(home, "deployments", "schedule", "create", "web", "install", "-n", "upd", "-s", "+1h", "-r", "1d"))
    commands = [
        ["deployments", "create", "k{n}", "-b", "base"],
        ["executions", "start", "pause", "-d", "web", "--queue", "--no-wait", "-p", "seconds=0.05"],
        ["deployments", "schedule", "create", "web", "install", "-n", "s{n}", "-s", "+1h", "-r", "1d"],
        ["deployments", "schedule", "update", "web", "upd", "-r", "{n}min"],
    ]
    summary = run_harness("cli", str(home), str(CLI_KILLS), "11", json.dumps(commands), timeout=240)
    assert summary["killed"] + summary["finished"] == CLI_KILLS
    assert summary["killed"] >= CLI_KILLS // 4, summary  # kill moments follow measured durations
    figures = _check_whole(home)

    # Nothing blocks later commands: each kind works again on the same home.
    must(cfy_run(home, "deployments", "create", "after", "-b", "base"))
    must(cfy_run(home, "executions", "start", "pause", "-d", "web", "-p", "seconds=0.01", "--timeout", "60"))
    must(cfy_run(home, "deployments", "schedule", "update", "web", "upd", "-r", "2d"))
    listed = must(cfy_run(home, "deployments", "schedule", "list", "--json")).json
    assert all("next_occurrence" in s for s in listed)
    must(cfy_run(home, "deployments", "list", "--json"))
    print(f"cli kills: {summary} state: {figures}")


def test_scheduler_killed_mid_pass_never_fires_twice(home):
    upload_base(home)
    must(cfy_run(home, "deployments", "create", "web", "-b", "base"))
    for n in range(4):
        must(cfy_run(home, "deployments", "create", f"w{n}", "-b", "base"))
    start = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(second=0, microsecond=0)
    since = start.strftime("%Y-%m-%d %H:%M")
    for n in range(4):
        for k in range(2):
            must(cfy_run(home, "deployments", "schedule", "create", f"w{n}", "pause", "-n", f"every{k}",
                         "-s", since, "--tz", "UTC", "-r", "1min", "-p", "seconds=0.01"))
    # Passes that each treat a later minute as now: every schedule has one occurrence due.
    passes = [["scheduler", "run", "--once", "--at", (start + timedelta(minutes=m, seconds=30)).strftime("%Y-%m-%d %H:%M:%S")]
              for m in range(6)]
    commands = [p for p in passes for _ in range(max(1, SCHEDULER_KILLS // len(passes)))]
    summary = run_harness("cli", str(home), str(len(commands) // len(passes) * len(passes)), "5",
                          json.dumps(commands), timeout=240)
    # A clean pass at every minute after the kills: nothing may fire twice.
    for command in passes:
        must(cfy_run(home, *command))
    _check_whole(home)

    fired_by_schedule: Counter = Counter()
    for path in (home / "schedules").glob("*/*.history.ndjson"):
        entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        entries = [e for e in entries if e["action"] != "firing"]  # a pass's note before a start
        occurrences = [e["occurrence"] for e in entries if e["action"] == "fired"]
        assert len(occurrences) == len(set(occurrences)), f"{path.name}: an occurrence fired twice"
        # Every minute's occurrence decided exactly once (a killed pass is repaired).
        decided = sorted(e["occurrence"] for e in entries if e["occurrence"])
        assert len(decided) == len(set(decided)) == len(passes), f"{path}: {entries}"
        fired_by_schedule[(path.parent.name, path.name.split(".")[0])] += len(occurrences)
    by_schedule: Counter = Counter()
    for record in execution_records(home):
        if record.get("schedule_id"):
            by_schedule[(record["deployment_id"], record["schedule_id"])] += 1
    for key, count in by_schedule.items():
        # One execution per fired line: a kill between a fire and its line is repaired.
        assert count <= len(passes), f"{key}: {count} executions for {len(passes)} occurrences"
        assert count == fired_by_schedule[key], key
    print(f"scheduler kills: {summary}; executions per schedule: {dict(by_schedule)}")



def _restore_worker_pids(home) -> list[int]:
    return [r["worker_pid"] for r in execution_records(home)
            if r["workflow_id"] == "restore_snapshot" and r["status"] in ACTIVE and r.get("worker_pid")]


def _visible_state(home) -> dict:
    def ids(*args):
        return sorted(row["id"] for row in must(cfy_run(home, *args, "--json")).json)
    return {"blueprints": ids("blueprints", "list"), "deployments": ids("deployments", "list"),
            "schedules": ids("deployments", "schedule", "list"), "secrets": sorted(
                row.get("key") or row.get("id") for row in must(cfy_run(home, "secrets", "list", "--json")).json)}


def test_restore_killed_mid_way_converges_when_run_again(home):
    """A restore whose worker is SIGKILLed while it swaps the state in leaves records that
    parse, no lock held, and a state that a second restore brings back to the snapshot."""
    upload_base(home)
    for dep in ("a", "b", "c"):
        must(cfy_run(home, "deployments", "create", dep, "-b", "base"))
    must(cfy_run(home, "deployments", "schedule", "create", "a", "install", "-s", "+1h", "-r", "1d"))
    must(cfy_run(home, "secrets", "create", "kept", "-s", "v"))
    must(cfy_run(home, "snapshots", "create", "snap1"))
    wait_quiet(home)
    expected = _visible_state(home)
    must(cfy_run(home, "deployments", "delete", "b"))
    must(cfy_run(home, "deployments", "create", "late", "-b", "base"))
    must(cfy_run(home, "secrets", "create", "later", "-s", "v"))

    rng = random.Random(17)
    landed = 0
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    for _ in range(RESTORE_KILLS):
        proc = subprocess.Popen([sys.executable, "-m", "cfy_local", "snapshots", "restore", "snap1"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The restore has begun once its staging folder exists; kill within the swap.
        wait_for(lambda: any(n.startswith(".restore-") for n in os.listdir(home)) or proc.poll() is not None,
                 timeout=30, interval=0.001, message="the restore to begin")
        deadline = time.monotonic() + rng.uniform(0.0, 0.02)
        while time.monotonic() < deadline:  # the random kill moment under test
            pass
        for pid in _restore_worker_pids(home):
            try:
                os.kill(pid, signal.SIGKILL)
                landed += 1
            except ProcessLookupError:
                pass
        proc.wait(timeout=60)
        wait_quiet(home)
        assert scan_state(home).problems == []
        assert held_locks(home) == []
    must(cfy_run(home, "snapshots", "restore", "snap1"))
    wait_quiet(home)
    assert _visible_state(home) == expected
    print(f"restore kills landed: {landed} of {RESTORE_KILLS}")
