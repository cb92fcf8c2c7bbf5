"""Starting workers with posix_spawn: a detached session, the worker log, and no zombies
left behind by a long-lived starter (the scheduler loop, the TUI, a draining worker)."""
from __future__ import annotations

import os

from cfy_local.executions import spawn
from cfy_local.store.paths import Home
from polling import wait_for


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_workers_run_in_their_own_session_and_are_reaped_by_the_next_spawn(tmp_path):
    home = Home.open(str(tmp_path / "home"))
    # Unknown execution ids: each worker finds nothing to run and exits at once.
    first, _ = spawn.spawn(home, "no-such-execution-1")
    second, created = spawn.spawn(home, "no-such-execution-2")
    assert created is not None
    for pid in (first, second):
        wait_for(lambda pid=pid: _state(pid) == "Z", timeout=30, message=f"worker {pid} to exit")
    assert os.getsid(first) == first  # it leads its own session (and process group)
    assert (tmp_path / "home" / "runs" / "no-such-execution-1" / "worker.log").is_file()
    third, _ = spawn.spawn(home, "no-such-execution-3")
    assert _state(first) is None and _state(second) is None  # reaped, not zombies
    wait_for(lambda: _state(third) == "Z", timeout=30, message="the third worker to exit")
    os.waitpid(third, 0)
    spawn._unreaped.discard(third)


def _holding(markers) -> bool:
    return any(markers.glob("holding-*"))


def _held_worker(home, markers):
    """The install run's record, once its operation is held."""
    from cfy_local.executions import records

    wait_for(lambda: _holding(markers), timeout=60, message="the operation to be held")
    [record] = [r for r in records.load_all(Home(str(home))) if r["workflow_id"] == "install"]
    return record


def test_a_waited_start_runs_its_worker_in_a_standby_detached_as_a_spawned_worker(home, tmp_path):
    """A waited `executions start` forks its worker as a standby before admission: it must
    be the worker the record names (its start time is the one reconcile checks), lead its
    own session, read /dev/null, write the run's log, and hold none of the command's
    descriptors (its output pipe, above all)."""
    import psutil

    from cfy_local.executions import records
    from cfy_local.executions.reconcile import worker_alive
    from exec_helpers import deploy
    from process_support import cfy_running

    markers = tmp_path / "markers"
    markers.mkdir()
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    with cfy_running(home, "executions", "start", "install", "-d", "dep") as proc:
        try:
            record = _held_worker(home, markers)
            pid = record["worker_pid"]
            assert record["status"] == "started"
            assert worker_alive(pid, record["worker_create_time"]) is True
            assert abs(psutil.Process(pid).create_time() - record["worker_create_time"]) < 0.05
            assert os.getsid(pid) == pid and os.getpgid(pid) == pid
            assert os.readlink(f"/proc/{pid}/fd/0") == os.devnull
            log = os.path.realpath(os.path.join(Home(str(home)).run_dir(record["id"]), "worker.log"))
            assert os.readlink(f"/proc/{pid}/fd/1") == os.readlink(f"/proc/{pid}/fd/2") == log
            command_output = {os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in (1, 2)}
            held = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")
                    if os.path.exists(f"/proc/{pid}/fd/{fd}")}
            assert not command_output & held
            # A fork of the command, not a new interpreter running the worker's entry.
            assert "cfy_local.worker_process" not in " ".join(psutil.Process(pid).cmdline())
        finally:
            (markers / "release").touch()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert records.load(Home(str(home)), record["id"])["status"] == "terminated"


def test_a_no_wait_start_spawns_its_worker(home, tmp_path):
    """`--no-wait` returns as soon as the run is admitted, and a caller reading its output
    reads to the end then: no fork of the command may hold that pipe open."""
    import psutil

    from exec_helpers import deploy
    from process_support import cfy_popen

    markers = tmp_path / "markers"
    markers.mkdir()
    deploy(home, markers, "dep")
    (markers / "hold").touch()
    proc = cfy_popen(home, "executions", "start", "install", "-d", "dep", "--no-wait")
    try:
        out, err = proc.communicate(timeout=60)  # EOF although the worker still runs
        assert proc.returncode == 0, err
        record = _held_worker(home, markers)
        assert record["id"] == out.strip().splitlines()[-1]
        assert "cfy_local.worker_process" in " ".join(psutil.Process(record["worker_pid"]).cmdline())
    finally:
        (markers / "release").touch()


def test_a_refused_start_leaves_no_standby_and_nothing_on_disk(home):
    import psutil

    from process_support import cfy_popen

    Home.open(str(home))
    proc = cfy_popen(home, "executions", "start", "install", "-d", "no-such-deployment")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "no-such-deployment" in err

    def standbys():
        found = []
        for p in psutil.process_iter(["cmdline"]):
            if "no-such-deployment" in (p.info["cmdline"] or []):
                found.append(p.pid)
        return found

    wait_for(lambda: not standbys(), timeout=30, message="the discarded standby to exit")
    for folder in (os.path.join(str(home), "runs"), Home(str(home)).executions_dir):
        assert not os.path.isdir(folder) or os.listdir(folder) == []


def test_the_console_entry_forks_the_standby_only_for_a_start_it_follows():
    """`cfy` forks the standby before loading click when the command line starts a run and
    follows it; a guess that misses only means the command forks it later itself."""
    from cfy_local.console import follows_a_run

    follows = [
        ["executions", "start", "install", "-d", "web"],
        ["--home", "/tmp/h", "-v", "executions", "start", "install", "-d", "web"],
        ["--json", "--home=/tmp/h", "exec", "start", "install", "-d", "web", "--dry-run"],
        ["install", "blueprint.yaml", "-b", "bp"],
        ["-vv", "install"],
    ]
    does_not = [
        ["executions", "start", "install", "-d", "web", "--no-wait"],
        ["executions", "start", "install", "-d", "web", "--schedule", "202701010000+0000"],
        ["executions", "start", "install", "-d", "web", "--schedule=202701010000+0000"],
        ["executions", "start", "--help"],
        ["executions", "list"],
        ["events", "start"],  # `e` prefixes are not executions
        ["e", "start"],
        ["--home", "executions", "start"],  # the home is named `executions`: the words are `start`
        ["uninstall", "web"],
        ["deployments", "create", "install"],
        [],
        ["-V"],
    ]
    assert [argv for argv in follows if not follows_a_run(argv)] == []
    assert [argv for argv in does_not if follows_a_run(argv)] == []
