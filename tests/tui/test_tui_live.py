"""The TUI against really running executions: real worker processes, the real engine, the
executions API behind the keys; and `cfy tui` itself in tmux."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cfy_local.executions import api as executions
from cfy_local.store.event_log import read_from
from cfy_local.store.paths import Home
from cfy_local.tui.app import CfyTui
from cfy_local.tui.screens.detail import ExecutionScreen
from cfy_local.tui.screens.executions import ExecutionsScreen
from cfy_local.tui.table import VirtualTable
from polling import wait_for
from tui_helpers import screen_text

BLUEPRINT = Path(__file__).parent / "blueprint" / "blueprint.yaml"
ENDED = ("terminated", "failed", "cancelled")

pytestmark = pytest.mark.slow


@pytest.fixture
def gate(home, tmp_path):
    """A deployment whose install waits on a release file; yields (Home, release path)."""
    from cfy_local.deployments import api as deployments

    state = Home.open(str(home))
    release = tmp_path / "release"
    deployments.upload_blueprint(state, str(BLUEPRINT), "gate")
    deployments.create_deployment(state, "g1", "gate", {"release": str(release)})
    yield state, release
    release.touch()  # let any run still waiting finish
    for record in executions.list_executions(state, include_system=True):
        if record["status"] not in ENDED:
            try:
                executions.cancel(state, record["id"], kill=True)
            except Exception:  # already ended meanwhile
                pass


def start_waiting_install(state: Home) -> str:
    record = executions.start(state, "install", "g1")

    def waiting() -> bool:
        events, _ = read_from(state.events_file(record["id"]))
        if any("gate waiting" in (e.get("message") or {}).get("text", "") for e in events):
            return True
        current = executions.get(state, record["id"])
        assert current["status"] not in ENDED, f"the install ended before the gate: {current}"
        return False

    try:
        wait_for(waiting, timeout=60, message="the install to reach the gate")
    except AssertionError:
        with open(state.worker_log_file(record["id"]), errors="replace") as log:
            raise AssertionError(f"{executions.get(state, record['id'])}\nworker.log:\n{log.read()[-3000:]}")
    return record["id"]


async def until(pilot, app, predicate, timeout=60.0, message="condition"):
    """Tick the app (re-reading the state dir) until ``predicate()`` holds; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        app.tick()
        await pilot.pause()
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}\n{screen_text(app)}")
        await pilot.pause(0.05)


def test_cancel_a_running_execution_then_resume_it(gate, drive):
    state, release = gate
    execution_id = start_waiting_install(state)
    app = CfyTui(state, live=False)

    async def scenario(pilot):
        assert app.screen.query_one(VirtualTable).cursor_key == execution_id
        assert "1:active 1" in screen_text(app)
        await pilot.press("enter")
        assert isinstance(app.screen, ExecutionScreen)
        await until(pilot, app, lambda: "gate waiting for" in screen_text(app), message="the log line")
        assert "worker pid" in screen_text(app)
        assert str(executions.get(state, execution_id)["worker_pid"]) in screen_text(app)
        await pilot.press("c")
        assert f"cfy executions cancel {execution_id}" in screen_text(app)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await until(pilot, app, lambda: "cancelling" in screen_text(app), message="cancelling")
        assert f"$ cfy executions cancel {execution_id}" in screen_text(app)
        release.unlink(missing_ok=True)
        release.touch()  # the running operation ends; the workflow sees the cancel request
        await until(pilot, app, lambda: "install on g1  cancelled" in screen_text(app)
                    and "workflow execution cancelled" in screen_text(app), message="cancelled")
        assert executions.get(state, execution_id)["status"] == "cancelled"
        # resume runs the rest in the same execution
        await pilot.press("r")
        await app.workers.wait_for_complete()
        assert f"$ cfy executions resume {execution_id}" in screen_text(app)
        await until(pilot, app, lambda: "install on g1  completed" in screen_text(app),
                    message="the resumed run to complete")
        assert executions.get(state, execution_id)["status"] == "terminated"
        await pilot.press("escape")
        assert isinstance(app.screen, ExecutionsScreen)
        assert "completed" in screen_text(app)

    drive(app, scenario, size=(100, 30))


def test_start_form_starts_a_workflow(gate, drive):
    state, release = gate
    release.touch()
    app = CfyTui(state, live=False)

    async def scenario(pilot):
        await pilot.press("n")
        await pilot.pause()
        text = screen_text(app)
        assert "Start a workflow" in text
        assert "cfy executions start install -d g1" in text
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ExecutionsScreen)
        started = [r for r in executions.list_executions(state) if r["workflow_id"] == "install"]
        assert len(started) == 1
        assert app.screen.query_one(VirtualTable).cursor_key == started[0]["id"]
        assert "$ cfy executions start install -d g1" in screen_text(app)
        await until(pilot, app, lambda: executions.get(state, started[0]["id"])["status"] == "terminated",
                    message="the started install to end")

    drive(app, scenario, size=(100, 30))


def run_tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=30).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_cfy_tui_in_tmux_shows_a_running_execution(gate, tmp_path):
    state, release = gate
    execution_id = start_waiting_install(state)
    session = f"cfytui{os.getpid()}"
    socket = str(tmp_path / "tmux.sock")
    env = f"-u COLUMNS -u LINES CFY_LOCAL_HOME={state.root} TERM=xterm-256color"
    command = f"env {env} {sys.executable} -m cfy_local tui"
    run_tmux("-S", socket, "new-session", "-d", "-s", session, "-x", "100", "-y", "30", command)

    def pane() -> str:
        return run_tmux("-S", socket, "capture-pane", "-p", "-t", session)

    try:
        text = wait_for(lambda: execution_id[:8] in pane() and pane(), timeout=30, message="the table")
        assert "started" in text and "g1" in text and "install" in text
        run_tmux("-S", socket, "send-keys", "-t", session, "Enter")
        wait_for(lambda: "gate waiting for" in pane(), timeout=30, message="the events pane")
        assert execution_id in pane()
        release.touch()
        wait_for(lambda: "'install' workflow execution succeeded" in pane() and "completed" in pane(),
                 timeout=60, message="the live events and status to show the end of the run")
        run_tmux("-S", socket, "send-keys", "-t", session, "Escape")
        # wait for the table before `q`: ESC followed at once by q would read as Alt+q
        wait_for(lambda: "4:all" in pane(), timeout=30, message="the executions table again")
        run_tmux("-S", socket, "send-keys", "-t", session, "q")
        wait_for(lambda: subprocess.run(["tmux", "-S", socket, "has-session", "-t", session],
                                        capture_output=True).returncode != 0, timeout=30, message="cfy tui to quit")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- pane ---\n{pane()}") from None
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)


RETRY_BLUEPRINT = Path(__file__).parent / "blueprint" / "retrying.yaml"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_cfy_tui_in_tmux_says_why_runs_retry_and_wait(gate, tmp_path):
    """`cfy tui` in a real terminal beside a running, a retrying and a queued run: the
    why-line and the detail header name the retrying operation with its cause and the run
    a queued one waits behind."""
    from cfy_local.deployments import api as deployments

    state, release = gate
    running = start_waiting_install(state)
    queued = executions.start(state, "install", "g1", queue=True)["id"]
    assert executions.get(state, queued)["status"] == "queued"
    flaky_release = tmp_path / "flaky-release"
    deployments.upload_blueprint(state, str(RETRY_BLUEPRINT), "flaky")
    deployments.create_deployment(state, "f1", "flaky", {"release": str(flaky_release)})
    retrying = executions.start(state, "install", "f1")["id"]

    def retried() -> bool:
        events, _ = read_from(state.events_file(retrying))
        return any(e.get("event_type") == "task_failed" for e in events)

    wait_for(retried, timeout=60, message="the flaky operation to fail once")
    session = f"cfytuiwhy{os.getpid()}"
    socket = str(tmp_path / "tmux.sock")
    # COLUMNS/LINES inherited from the test process would override the pane's real size
    env = f"-u COLUMNS -u LINES CFY_LOCAL_HOME={state.root} TERM=xterm-256color"
    run_tmux("-S", socket, "new-session", "-d", "-s", session, "-x", "120", "-y", "35",
             f"env {env} {sys.executable} -m cfy_local tui")

    def pane() -> str:
        return run_tmux("-S", socket, "capture-pane", "-p", "-t", session)

    def keys(*names: str) -> None:
        run_tmux("-S", socket, "send-keys", "-t", session, *names)

    try:
        # the newest run (the retrying one) is under the cursor: its why-line
        text = wait_for(lambda: "retrying flaky_" in pane() and pane(), timeout=30, message="the why-line")
        flat = " ".join(text.split())
        assert "RecoverableError: backend not reachable until flaky-release exists" in flat
        assert "/60)" in flat and ("next try in" in flat or "trying again now" in flat)
        keys("Enter")
        text = wait_for(lambda: "ops" in pane() and "retrying flaky_" in pane() and pane(), timeout=30,
                        message="the detail header")
        assert "install on f1" in text and "create" in text
        keys("Escape")
        wait_for(lambda: "4:all" in pane(), timeout=30, message="the executions table again")
        keys("Down")
        text = wait_for(lambda: "waits behind" in pane() and pane(), timeout=30, message="the queued why-line")
        assert f"queued 1 of 1: waits behind {running[:8]} (install on g1, started)" in text
        keys("Enter")
        wait_for(lambda: f"waits behind {running[:8]}" in pane() and "uninstall" not in pane()
                 and "install on g1  queued" in pane(), timeout=30, message="the queued detail")
        keys("Escape")
        wait_for(lambda: "4:all" in pane(), timeout=30, message="the executions table again")
        release.touch()
        flaky_release.touch()
        for execution_id in (running, queued, retrying):
            wait_for(lambda: executions.get(state, execution_id)["status"] in ENDED, timeout=90,
                     message=f"{execution_id} to end")
            assert executions.get(state, execution_id)["status"] == "terminated"
        keys("q")
        wait_for(lambda: subprocess.run(["tmux", "-S", socket, "has-session", "-t", session],
                                        capture_output=True).returncode != 0, timeout=30, message="cfy tui to quit")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- pane ---\n{pane()}") from None
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)
