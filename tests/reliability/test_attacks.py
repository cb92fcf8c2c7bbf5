"""Attacks found by an adversarial run, each reproduced with real processes: a full disk
(a real tmpfs), SIGKILLs at the windows that matter (found by polling), orphaned operations,
deletes during runs, planted symlinks, hostile output, scheduler gaps and clock jumps.

Each test fails on the code before its fix (see tests/reliability/README.md).
"""
from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reliability_support import (CORPUS, END, cfy_run, execution_records, must, read_events, scan_state,
                                 wait_for, wait_quiet)

ATTACKS = CORPUS / "attacks"
pytestmark = pytest.mark.slow


def _upload(home, blueprint_id="attacks"):
    must(cfy_run(home, "blueprints", "upload", str(ATTACKS / "attacks.yaml"), "-b", blueprint_id))


def _record(home, execution_id) -> dict:
    return json.loads((Path(home) / "executions" / f"{execution_id}.json").read_text())


def _pids_alive(pids) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z":
            alive.append(pid)
    return alive


def _events_file_whole(path) -> list[dict]:
    """Every line of an events file ends with a newline and parses; returns the events."""
    data = Path(path).read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"torn last line: {data[-200:]!r}"
    return [json.loads(line) for line in data.splitlines() if line.strip()]


# --- 1. full disk ---------------------------------------------------------------------------

@pytest.fixture
def small_home(tmp_path):
    """A state dir on a real 1 MB tmpfs (root only)."""
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount_point)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point / "home"
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def _fill(folder) -> Path:
    ballast = Path(folder) / "ballast"
    with open(ballast, "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return ballast


def test_full_disk_never_tears_events_and_names_the_disk(small_home):
    home = small_home
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    # A run that would log over 10 MB on a 1 MB disk.
    started = cfy_run(home, "executions", "start", "chatty", "-d", "d", "-p", "lines=20000", "-p", "size=200",
                      "--timeout", "120")
    assert started.exit_code != 0, started
    run = [r for r in execution_records(home) if r["workflow_id"] == "chatty"][0]
    assert run["status"] == "failed", run
    assert "No space left on device" in run["error"], run["error"]
    events = _events_file_whole(home / "runs" / run["id"] / "events.ndjson")
    assert events[-1]["event_type"] == "workflow_failed", events[-1]
    assert "No space left on device" in events[-1]["message"]["text"]

    # A run killed while the disk is full: read-only commands still answer.
    must(cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=60", "--no-wait"))
    pause = wait_for(lambda: [r for r in execution_records(home) if r["workflow_id"] == "pause"
                              and r["status"] == "started"], timeout=30, message="the pause run to start")[0]
    ballast = _fill(home.parent)
    os.kill(pause["worker_pid"], signal.SIGKILL)
    for args in (["executions", "list"], ["status"], ["events", "list", run["id"]], ["executions", "get", run["id"]]):
        result = cfy_run(home, *args)
        assert result.exit_code == 0, (args, result)
    ballast.unlink()
    wait_quiet(home)
    assert _record(home, pause["id"])["status"] == "failed"
    _events_file_whole(home / "runs" / pause["id"] / "events.ndjson")
    assert scan_state(home).problems == []


def test_a_torn_events_line_is_cut_before_the_next_append(home, tmp_path):
    """A log left ending mid-line (a crash, an old full disk) gets its partial line cut
    before the next event is appended, and a line glued to a torn one is still read."""
    from cfy_local.store import event_log

    path = tmp_path / "events.ndjson"
    path.write_bytes(b'{"a": 1}\n{"type":"cloudify_log","reported_timestam')
    event_log.append_events(str(path), [{"event_type": "workflow_failed"}])
    assert _events_file_whole(path) == [{"a": 1}, {"event_type": "workflow_failed"}]
    glued = tmp_path / "glued.ndjson"
    glued.write_bytes(b'{"a": 1}\n{"type":"cloudify_log","reported_timestam{"event_type":"workflow_failed"}\n')
    assert event_log.read_from(str(glued))[0] == [{"a": 1}, {"event_type": "workflow_failed"}]
    assert event_log.last_event(str(glued)) == {"event_type": "workflow_failed"}


# --- 7. a finished run recorded failed --------------------------------------------------------

def test_worker_killed_after_its_final_event_keeps_the_run_succeeded(home):
    """SIGKILL between the final event and the status write: the status follows the event.

    The window is found by polling the events file in a tight loop and SIGSTOPping the
    worker the moment ``workflow_succeeded`` is visible (the event's fsync and the status
    write still follow); a try that finds the status already written is run again."""
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    for attempt in range(12):
        started = must(cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=0.3",
                               "--no-wait", "--json")).json
        events_path = home / "runs" / started["id"] / "events.ndjson"
        worker = wait_for(lambda: _record(home, started["id"]).get("worker_pid"), timeout=30,
                          message="the worker pid")
        deadline = time.monotonic() + 30
        while b"workflow_succeeded" not in (events_path.read_bytes() if events_path.exists() else b""):
            assert time.monotonic() < deadline, "the run never succeeded"
        os.kill(worker, signal.SIGSTOP)
        in_window = _record(home, started["id"])["status"] == "started"
        os.kill(worker, signal.SIGKILL)
        wait_quiet(home)
        record = _record(home, started["id"])
        last = _events_file_whole(events_path)[-1]
        assert last["event_type"] == "workflow_succeeded", last
        assert record["status"] == "terminated", record
        if in_window:
            break
    else:
        pytest.skip("the kill never landed between the final event and the status write")


# --- 3. orphaned operations ---------------------------------------------------------------------

def _stubborn_pids(markers) -> list[int]:
    path = markers / "stubborn.pids"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_orphaned_sigterm_ignoring_operation_is_killed_and_never_runs_twice(home, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks", "-i", f"marker_dir={markers}"))

    # Reconcile alone (a read) stops the orphan: SIGTERM is ignored, SIGKILL follows the grace.
    run = must(cfy_run(home, "executions", "start", "stubborn_only", "-d", "d", "--no-wait", "--json")).json
    first = wait_for(lambda: _stubborn_pids(markers), timeout=60, message="the operation to start")[0]
    os.kill(_record(home, run["id"])["worker_pid"], signal.SIGKILL)
    wait_for(lambda: _record(home, run["id"])["status"] == "failed"
             if must(cfy_run(home, "executions", "list")) else False, timeout=30, message="reconcile")
    wait_for(lambda: not _pids_alive([first]), timeout=20, message="the orphaned operation to be killed")

    # Resume right after the kill: the previous copy must be gone before the new one starts.
    must(cfy_run(home, "executions", "resume", run["id"]))
    second = wait_for(lambda: _stubborn_pids(markers)[1:], timeout=60, message="the resumed operation")[0]
    os.kill(_record(home, run["id"])["worker_pid"], signal.SIGKILL)
    resumed = cfy_run(home, "executions", "resume", run["id"])
    assert resumed.exit_code == 0, resumed
    assert not _pids_alive([second]), "resume started while the previous copy still ran"
    third = wait_for(lambda: _stubborn_pids(markers)[2:], timeout=60, message="the third copy")[0]
    assert _pids_alive([third])
    (markers / "release").touch()
    wait_for(lambda: _record(home, run["id"])["status"] in END, timeout=60, message="the run to end")
    assert _record(home, run["id"])["status"] == "terminated"


# --- 8. deployments delete -f during a run -----------------------------------------------------

def test_forced_delete_stops_the_deployments_runs_and_frees_the_id(home):
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    running = must(cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=120",
                           "--no-wait", "--json")).json
    queued = must(cfy_run(home, "executions", "start", "pause", "-d", "d", "--queue", "--no-wait", "--json")).json
    worker = wait_for(lambda: _record(home, running["id"]).get("worker_pid")
                      if _record(home, running["id"])["status"] == "started" else None, timeout=30,
                      message="the run to start")
    must(cfy_run(home, "deployments", "delete", "d", "-f"))
    assert _record(home, running["id"])["status"] == "cancelled"
    assert _record(home, queued["id"])["status"] == "cancelled"
    assert not _pids_alive([worker])
    # The id is free: a new deployment of the same id runs at once.
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    must(cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=0.01", "--timeout", "60"))


# --- 9. a symlink planted at a folder -----------------------------------------------------------

def test_symlink_planted_at_a_run_folder_is_never_followed(home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    blocker = must(cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=60",
                           "--no-wait", "--json")).json
    queued = must(cfy_run(home, "executions", "start", "pause", "-d", "d", "--queue", "--no-wait", "--json")).json
    run_dir = home / "runs" / queued["id"]
    for name in os.listdir(run_dir):
        os.rename(run_dir / name, outside / name)
    run_dir.rmdir()
    run_dir.symlink_to(outside)
    before = sorted((p.name, p.stat().st_size) for p in outside.iterdir())
    must(cfy_run(home, "executions", "cancel", blocker["id"], "-f"))
    wait_quiet(home)
    assert sorted((p.name, p.stat().st_size) for p in outside.iterdir()) == before, "written through the link"
    record = _record(home, queued["id"])
    assert record["status"] == "failed" and "symlink" in record["error"], record
    listed = cfy_run(home, "events", "list", queued["id"])
    assert listed.exit_code != 0 and "symlink" in listed.stderr and "Traceback" not in listed.stderr, listed
    # A link at a folder higher up (executions/) is refused by writers and readers alike.
    executions = home / "executions"
    executions.rename(tmp_path / "moved")
    executions.symlink_to(tmp_path / "moved")
    result = cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=0.01")
    assert result.exit_code != 0 and "symlink" in result.stderr, result
    assert len(os.listdir(tmp_path / "moved")) == 3


# --- scheduler: 4 gaps, 5 maintenance, 6 killed passes, 14 a wrong future time ------------------

def _history(home, dep, sched) -> list[dict]:
    path = Path(home) / "schedules" / dep / f"{sched}.history.ndjson"
    return [e for e in _events_file_whole(path) if e["action"] != "firing"] if path.exists() else []


def _pass_at(home, when: str):
    return must(cfy_run(home, "scheduler", "run", "--once", "--at", when))


def _decided(entries) -> list[str]:
    """Every occurrence a history decided, ranges expanded by their count (checked apart)."""
    return [e["occurrence"] for e in entries if e["action"] in ("fired", "skipped", "disabled") and e["occurrence"]]


def test_scheduler_gap_records_missed_occurrences_and_fires_the_one_due_now(home):
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    must(cfy_run(home, "deployments", "schedule", "create", "d", "pause", "-n", "daily", "-s", "2030-01-01 09:00",
                 "--tz", "UTC", "-r", "1d", "-p", "seconds=0.01"))
    _pass_at(home, "2030-01-04 09:00:10")
    entries = _history(home, "d", "daily")
    assert [(e["occurrence"][:10], e["action"]) for e in entries] == [
        ("2030-01-01", "skipped"), ("2030-01-02", "skipped"), ("2030-01-03", "skipped"), ("2030-01-04", "fired")]
    wait_quiet(home)
    # A one-year jump: one line names the missed range, the occurrence due now fires.
    _pass_at(home, "2031-01-04 09:00:10")
    entries = _history(home, "d", "daily")[4:]
    assert len(entries) == 2, entries
    assert entries[0]["action"] == "skipped" and entries[0]["occurrence"].startswith("2030-01-05")
    assert entries[0]["last_occurrence"].startswith("2031-01-03") and entries[0]["missed"] == 364
    assert entries[1]["action"] == "fired" and entries[1]["occurrence"].startswith("2031-01-04")
    schedule = must(cfy_run(home, "deployments", "schedule", "get", "d", "daily", "--json")).json
    assert schedule["next_occurrence"].startswith("2031-01-05")


def test_maintenance_decides_each_occurrence_once_and_fires_the_first_after_it(home):
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    must(cfy_run(home, "deployments", "schedule", "create", "d", "pause", "-n", "minutely", "-s", "2030-01-01 00:00",
                 "--tz", "UTC", "-r", "1min", "-p", "seconds=0.01"))
    must(cfy_run(home, "maintenance-mode", "activate"))
    for second in (30, 90, 150, 210, 270):
        _pass_at(home, f"2030-01-01 00:{second // 60:02d}:{second % 60:02d}")
    must(cfy_run(home, "maintenance-mode", "deactivate"))
    _pass_at(home, "2030-01-01 00:05:05")
    entries = _history(home, "d", "minutely")
    decided = _decided(entries)
    assert len(decided) == len(set(decided)), entries
    assert [o[11:16] for o in decided] == ["00:00", "00:01", "00:02", "00:03", "00:04", "00:05"], entries
    assert [e["action"] for e in entries] == ["skipped"] * 5 + ["fired"]
    assert all("maintenance" in e["reason"] for e in entries[:4]), entries


def _count_executions(home) -> int:
    folder = Path(home) / "executions"
    return sum(1 for n in os.listdir(folder) if n.endswith(".json") and not n.startswith(".")) if folder.exists() else 0


def test_scheduler_passes_killed_mid_way_decide_every_occurrence_exactly_once(home):
    """Each pass is SIGKILLed right after it started its k-th execution (k random; found by
    polling the executions folder), i.e. between a fire and its history line, then passes
    run again at the same time: every occurrence ends fired exactly once or skipped."""
    import random

    from reliability_support import env_int

    schedules = env_int("CFY_RELIABILITY_KILLED_PASS_SCHEDULES", 6)
    minutes = env_int("CFY_RELIABILITY_KILLED_PASS_MINUTES", 5)
    rng = random.Random(int(os.environ.get("CFY_RELIABILITY_SEED", "5")))
    _upload(home)
    for n in range(3):
        must(cfy_run(home, "deployments", "create", f"d{n}", "-b", "attacks"))
    for k in range(schedules):
        must(cfy_run(home, "deployments", "schedule", "create", f"d{k % 3}", "pause", "-n", f"s{k}",
                     "-s", "2030-01-01 00:00", "--tz", "UTC", "-r", "1min", "-p", "seconds=0.01"))
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    landed = 0
    for minute in range(minutes):
        command = [sys.executable, "-m", "cfy_local", "scheduler", "run", "--once", "--at",
                   f"2030-01-01 00:{minute:02d}:20"]
        for _ in range(2):
            before = _count_executions(home)
            target = before + rng.randint(1, schedules)
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while proc.poll() is None and _count_executions(home) < target:
                time.sleep(0.0005)
            if proc.poll() is None:
                proc.kill()
                landed += 1
            proc.wait()
        must(cfy_run(home, *command[3:]))  # a clean pass repairs whatever the kills cut short
    wait_quiet(home, timeout=120)
    fired_total = 0
    for k in range(schedules):
        dep = f"d{k % 3}"
        entries = _history(home, dep, f"s{k}")
        decided = _decided(entries)
        assert sorted(set(decided)) == sorted(decided), f"s{k}: an occurrence decided twice: {entries}"
        assert [o[11:16] for o in sorted(decided)] == [f"00:{m:02d}" for m in range(minutes)], (k, entries)
        assert all(e["reason"] for e in entries)
        fired = [e for e in entries if e["action"] == "fired"]
        started = [r for r in execution_records(home) if r.get("schedule_id") == f"s{k}" and r["deployment_id"] == dep]
        assert sorted(e["execution_id"] for e in fired) == sorted(r["id"] for r in started), (k, entries)
        fired_total += len(fired)
    assert landed > 0
    print(f"killed passes: {landed} kills landed; fired {fired_total} of {schedules * minutes}")


def test_a_pass_at_a_wrong_future_time_does_not_silence_the_schedule(home):
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    must(cfy_run(home, "deployments", "schedule", "create", "d", "pause", "-n", "daily", "-s", "2030-01-01 09:00",
                 "--tz", "UTC", "-r", "1d", "-p", "seconds=0.01"))
    _pass_at(home, "2030-06-01 09:00:10")  # the clock was months ahead
    wait_quiet(home)
    _pass_at(home, "2030-01-02 09:00:10")  # corrected: the occurrence due now still fires
    entries = _history(home, "d", "daily")
    assert entries[-2]["action"] == "recomputed", entries
    assert entries[-1]["action"] == "fired" and entries[-1]["occurrence"].startswith("2030-01-02"), entries
    schedule = must(cfy_run(home, "deployments", "schedule", "get", "d", "daily", "--json")).json
    assert schedule["next_occurrence"].startswith("2030-01-03")


# --- 10. script output without newlines ---------------------------------------------------------

def test_output_without_newlines_is_cut_into_bounded_events(home):
    from reliability_support import env_int, run_cfy_bounded

    size = env_int("CFY_RELIABILITY_NOISE_BYTES", 8 * 1024 * 1024)
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks", "-i", f"noise_bytes={size}"))
    result = run_cfy_bounded(["executions", "start", "noise_only", "-d", "d", "--timeout", "120"], home,
                             timeout=150, memory_mb=2048)
    assert result.exit_code == 0, result.stderr[-2000:]
    run = [r for r in execution_records(home) if r["workflow_id"] == "noise_only"][0]
    data = (home / "runs" / run["id"] / "events.ndjson").read_bytes()
    lines = data.splitlines()
    longest = max(len(line) for line in lines)
    assert longest < 80 * 1024, f"an event of {longest} bytes"
    out = [json.loads(line) for line in lines if b"<out>" in line]
    text = "".join(e["message"]["text"][len("<out> "):].replace(" [line continues]", "") for e in out)
    assert text == "x" * size  # nothing lost, nothing added but the marks
    assert all(e["message"]["text"].endswith("[line continues]") for e in out[:-1])
    # The waiting CLI printed every piece with bounded memory.
    assert result.max_rss_mb < 400, result.max_rss_mb
    print(f"noise {size} bytes: {len(out)} events, longest {longest} bytes, cli {result.seconds:.1f} s "
          f"{result.max_rss_mb:.0f} MB")


# --- 12. uploaded blueprint resources ------------------------------------------------------------

def test_uploaded_resources_are_private_and_escaping_links_are_refused(home, tmp_path):
    import shutil

    source = tmp_path / "bp"
    shutil.copytree(ATTACKS, source)
    for folder, dirs, files in os.walk(source):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o755 if name.endswith(".sh") else 0o644)
    os.symlink("stubborn.sh", source / "scripts" / "inside")  # a link within the folder is fine
    must(cfy_run(home, "blueprints", "upload", str(source / "attacks.yaml"), "-b", "ok"))
    resources = home / "blueprints" / "ok" / "resources"
    for folder, dirs, files in os.walk(resources):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            want = 0o700 if name.endswith(".sh") else 0o600
            assert stat.S_IMODE(os.lstat(path).st_mode) == want, (path, oct(os.lstat(path).st_mode))

    os.symlink("/etc/shadow", source / "scripts" / "shadow")
    refused = cfy_run(home, "blueprints", "upload", str(source / "attacks.yaml"), "-b", "bad")
    assert refused.exit_code != 0 and "scripts/shadow -> /etc/shadow" in refused.stderr, refused
    assert not (home / "blueprints" / "bad").exists()
    (source / "scripts" / "shadow").unlink()
    os.symlink("../../outside", source / "scripts" / "up")
    refused = cfy_run(home, "blueprints", "upload", str(source / "attacks.yaml"), "-b", "bad")
    assert refused.exit_code != 0 and "scripts/up -> ../../outside" in refused.stderr, refused


# --- 13. a dict parameter given as k=v -----------------------------------------------------------

def test_dict_parameter_given_as_key_json_reaches_the_workflow_as_a_dict(home):
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    started = cfy_run(home, "executions", "start", "kwargs", "-d", "d", "-p", 'operation_kwargs={"n":5,"m":"a=b;c"}',
                      "--timeout", "60")
    assert started.exit_code == 0, started
    run = [r for r in execution_records(home) if r["workflow_id"] == "kwargs"][0]
    assert run["parameters"]["operation_kwargs"] == {"n": 5, "m": "a=b;c"}
    assert run["status"] == "terminated" and run["result"] == {"m": "a=b;c", "n": 5}, run
    # cfy's own k=v rules are kept for everything else.
    from cfy_local.inputs import parse_inputs

    assert parse_inputs(["a=b=c;d=1"]) == {"a": "b", "d": "1"}
    assert parse_inputs(["k=[x"]) == {"k": "[x"}


# --- 11. cancel -k killed during its grace -------------------------------------------------------

def test_killing_cancel_kill_during_its_grace_still_kills_the_operation(home, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks", "-i", f"marker_dir={markers}"))
    run = must(cfy_run(home, "executions", "start", "stubborn_only", "-d", "d", "--no-wait", "--json")).json
    operation = wait_for(lambda: _stubborn_pids(markers), timeout=60, message="the operation to start")[0]
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    cancel = subprocess.Popen([sys.executable, "-m", "cfy_local", "executions", "cancel", run["id"], "-k"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The grace has begun once the worker is gone (it records `cancelled` on SIGTERM) while
    # the operation, which ignores SIGTERM, still runs.
    wait_for(lambda: _record(home, run["id"])["status"] == "cancelled" or cancel.poll() is not None,
             timeout=30, interval=0.005, message="the cancel to reach its grace period")
    assert cancel.poll() is None, "cancel -k ended before its grace period"
    cancel.kill()
    cancel.wait()
    assert _pids_alive([operation]), "the operation died before the grace ended"
    wait_for(lambda: not _pids_alive([operation]), timeout=20, message="the operation to be killed anyway")
    assert _record(home, run["id"])["status"] == "cancelled"


# --- the restore race: a restore killed with its staging folder extracted ---------------------------

def test_restore_killed_after_extracting_leaves_no_staging_behind(home):
    must(cfy_run(home, "secrets", "create", "kept", "-s", "v"))
    must(cfy_run(home, "snapshots", "create", "snap1"))
    wait_quiet(home)
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "cfy_local", "snapshots", "restore", "snap1"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        staged, workers = None, []
        deadline = time.monotonic() + 60
        # The window: the archive extracted into the staging folder, not yet swapped in.
        while staged is None and time.monotonic() < deadline and (not workers or _pids_alive(workers)):
            if not workers:
                workers = [r["worker_pid"] for r in execution_records(home)
                           if r["workflow_id"] == "restore_snapshot" and r["status"] not in END and r.get("worker_pid")]
                continue
            staged = next((n for n in os.listdir(home) if n.startswith(".restore-")
                           and os.path.exists(home / n / "snapshot.json")), None)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=60)
        wait_quiet(home)
        assert not [n for n in os.listdir(home) if n.startswith(".restore-")]
        assert scan_state(home).problems == []
        if staged and workers:
            break
    must(cfy_run(home, "snapshots", "restore", "snap1"))
    wait_quiet(home)
    assert [s["key"] for s in must(cfy_run(home, "secrets", "list", "--json")).json] == ["kept"]


# --- own adversarial pass: more full-disk windows --------------------------------------------------

def test_starts_and_scheduler_passes_on_a_full_disk_fail_cleanly_and_recover(small_home):
    home = small_home
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    must(cfy_run(home, "deployments", "schedule", "create", "d", "pause", "-n", "minutely", "-s", "2030-01-01 00:00",
                 "--tz", "UTC", "-r", "1min", "-p", "seconds=0.01"))
    ballast = _fill(home.parent)
    before = {r["id"] for r in execution_records(home)}
    started = cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=0.01")
    assert started.exit_code != 0 and "No space left on device" in started.stderr, started
    assert "Traceback" not in started.stderr
    passed = cfy_run(home, "scheduler", "run", "--once", "--at", "2030-01-01 00:00:20")
    assert "Traceback" not in passed.stderr, passed
    ballast.unlink()
    wait_quiet(home)
    assert not [r for r in execution_records(home) if r["id"] not in before and r["status"] not in END]
    _pass_at(home, "2030-01-01 00:00:30")
    _pass_at(home, "2030-01-01 00:01:20")
    wait_quiet(home)
    entries = _history(home, "d", "minutely")
    decided = _decided(entries)
    assert len(decided) == len(set(decided)), entries
    assert [o[11:16] for o in decided] == ["00:00", "00:01"], entries
    fired = [e["execution_id"] for e in entries if e["action"] == "fired"]
    assert sorted(fired) == sorted(r["id"] for r in execution_records(home) if r.get("schedule_id") == "minutely")
    assert scan_state(home).problems == []


def test_starts_racing_a_forced_delete_never_leave_a_run_of_the_deleted_deployment(home):
    """`executions start` loads the deployment before it takes the state lock; a forced
    delete in between must not leave a run behind for a deployment that is gone."""
    import threading

    _upload(home)
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    leftovers = []
    for round_ in range(2):
        dep = f"r{round_}"
        must(cfy_run(home, "deployments", "create", dep, "-b", "attacks"))
        stop = threading.Event()

        def starter():
            while not stop.is_set():
                subprocess.run([sys.executable, "-m", "cfy_local", "executions", "start", "pause", "-d", dep,
                                "-p", "seconds=30", "--queue", "--no-wait"], env=env, capture_output=True)

        threads = [threading.Thread(target=starter) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: any(r["deployment_id"] == dep for r in execution_records(home)
                                 if r["workflow_id"] == "pause"), timeout=30, message="a run to start")
            deleted = wait_for(lambda: cfy_run(home, "deployments", "delete", dep, "-f").exit_code == 0,
                               timeout=60, interval=0.01, message="the forced delete to win")
            assert deleted
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        wait_quiet(home)
        leftovers += [r for r in execution_records(home) if r["deployment_id"] == dep and r["workflow_id"] == "pause"
                      and r["created_ns"] > 0 and r["status"] not in ("cancelled", "failed")]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("folder, command", [
    ("locks", ["executions", "start", "pause", "-d", "d", "-p", "seconds=0.01"]),
    ("deployments/d", ["deployments", "outputs", "d"]),
    ("deployments/d/node-instances", ["node-instances", "list", "-d", "d", "--json"]),
    ("schedules/d", ["deployments", "schedule", "update", "d", "s", "-r", "2d"]),
    ("secrets", ["secrets", "create", "k2", "-s", "v"]),
])
def test_symlink_planted_at_any_state_folder_is_refused_in_one_line(home, tmp_path, folder, command):
    """Writers and single-record reads refuse in one line; listings leave out what lies
    behind the link. Nothing is read or written through it."""
    import shutil

    from reliability_support import tree_fingerprint

    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    must(cfy_run(home, "deployments", "schedule", "create", "d", "pause", "-n", "s", "-s", "+1h", "-r", "1d"))
    must(cfy_run(home, "secrets", "create", "k", "-s", "v"))
    planted = home / folder
    copy = tmp_path / "copy"
    shutil.copytree(planted, copy, symlinks=True)
    shutil.rmtree(planted)
    planted.symlink_to(copy)
    before = tree_fingerprint(copy)
    result = cfy_run(home, *command)
    assert "Traceback" not in result.stderr, result
    if command[-1] == "--json":
        assert result.exit_code == 0 and result.json == [], result
    else:
        assert result.exit_code != 0, result
        assert "symlink" in result.stderr, result
        assert len(result.stderr.strip().splitlines()) <= 3, result
    assert tree_fingerprint(copy) == before, "written through the link"


def test_forced_delete_killed_after_its_marker_is_finished_by_running_it_again(home):
    _upload(home)
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    must(cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=120", "--no-wait"))
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    marker = home / "deployments" / "d" / ".deleting"
    proc = subprocess.Popen([sys.executable, "-m", "cfy_local", "deployments", "delete", "d", "-f"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: marker.exists() or proc.poll() is not None, timeout=30, interval=0.001,
             message="the delete's marker")
    proc.kill()
    proc.wait()
    if not marker.exists():
        pytest.skip("the delete finished before the kill")
    refused = cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=0.01")
    assert refused.exit_code != 0 and "is being deleted" in refused.stderr and "delete d -f" in refused.stderr
    must(cfy_run(home, "deployments", "delete", "d", "-f"))
    wait_quiet(home)
    assert not [r for r in execution_records(home) if r["deployment_id"] == "d" and r["status"] not in END]
    must(cfy_run(home, "deployments", "create", "d", "-b", "attacks"))
    must(cfy_run(home, "executions", "start", "pause", "-d", "d", "-p", "seconds=0.01", "--timeout", "60"))
