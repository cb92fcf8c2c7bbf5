"""`cfy serve` driven by Cloudify's own clients: the real `cfy` 7.0.5 with a manager profile
pointed at the server, and `CloudifyClient` from cloudify-rest-client, each result checked
through local `cfy` on the same state dir. One server and one profile for the module."""
from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cloudify_oracle import oracle_cfy, run_oracle
from polling import wait_for

BLUEPRINT = Path(__file__).resolve().parent / "blueprint" / "blueprint.yaml"
PASSWORD = "rest-test-pw"
BASIC = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        conn.close()


class Env:
    def __init__(self, tmp: Path, home: Path, port: int, proc: subprocess.Popen):
        self.tmp, self.home, self.port, self.proc = tmp, home, port, proc
        self.cfy_env = dict(os.environ, HOME=str(tmp / "user"), CFY_WORKDIR=str(tmp / "cfy-workdir"))
        self.cfy_env.pop("CFY_LOCAL_HOME", None)

    def remote(self, *args, timeout=120, env=None):
        """The real Cloudify CLI against the server."""
        return subprocess.run([oracle_cfy(), *args], capture_output=True, text=True, timeout=timeout,
                              env=dict(self.cfy_env, **(env or {})), cwd=str(self.tmp))

    def local(self, *args, timeout=120):
        """cfy-local's own CLI on the same state dir."""
        proc = subprocess.run([sys.executable, "-m", "cfy_local", *args], capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ, CFY_LOCAL_HOME=str(self.home)))
        return proc

    def local_json(self, *args):
        proc = self.local("--json", *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def client(self, script: str, *args: str):
        """A CloudifyClient snippet; ``client`` is ready; the last stdout line is JSON."""
        prelude = textwrap.dedent(f"""
            import json, sys, time
            from cloudify_rest_client import CloudifyClient
            PORT = {self.port}
            client = CloudifyClient(host="127.0.0.1", port=PORT, username="admin",
                                    password="{PASSWORD}", tenant="default_tenant")
            def wait(execution_id, statuses, timeout=60):
                deadline = time.monotonic() + timeout
                while True:
                    execution = client.executions.get(execution_id)
                    if execution.status in statuses or time.monotonic() > deadline:
                        return execution
                    time.sleep(0.05)
        """)
        done = run_oracle(prelude + textwrap.dedent(script), *args, timeout=120, cwd=str(self.tmp))
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def deployment(self, name: str) -> Path:
        markers = self.tmp / f"markers-{name}"
        markers.mkdir()
        done = self.remote("deployments", "create", name, "-b", "bp", "-i", f"marker_dir={markers}")
        assert done.returncode == 0, done.stdout + done.stderr
        return markers


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rest")
    home = tmp / "home"
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cfy_local", "serve", "--port", str(port), "--password", PASSWORD],
                            env=dict(os.environ, CFY_LOCAL_HOME=str(home)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def up():
        try:
            return _request(port, "GET", "/api/v3.1/status", headers={"Authorization": BASIC})[0] == 200
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            return False

    wait_for(up, timeout=30, message="cfy serve answering")
    state = Env(tmp, home, port, proc)
    used = state.remote("profiles", "use", "127.0.0.1", "--rest-port", str(port), "-u", "admin", "-p", PASSWORD,
                        "-t", "default_tenant")
    assert used.returncode == 0, used.stdout + used.stderr
    uploaded = state.remote("blueprints", "upload", str(BLUEPRINT), "-b", "bp")
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    yield state
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def _execution_id(text: str) -> str:
    return text.split("cfy events list ")[1].split("'")[0]


# --- Cloudify's CLI ------------------------------------------------------------------------

def test_status_through_the_manager_profile(env):
    done = env.remote("status")
    assert done.returncode == 0, done.stderr
    assert "REST Service" in done.stdout and "Active" in done.stdout


def test_blueprints_upload_list_get_delete(env):
    done = env.remote("blueprints", "upload", str(BLUEPRINT), "-b", "other")
    assert done.returncode == 0, done.stderr
    assert "Blueprint uploaded. The blueprint's id is other" in done.stdout
    assert "other" in {b["id"] for b in env.local_json("blueprints", "list")}
    listed = env.remote("blueprints", "list")
    assert "other" in listed.stdout and "Showing 2 of 2 blueprints" in listed.stdout
    got = env.remote("blueprints", "get", "other")
    assert got.returncode == 0 and "cfy serve tests" in got.stdout
    # The archive was unpacked into the blueprint folder with its scripts.
    assert (env.home / "blueprints" / "other" / "resources" / "scripts" / "configure.sh").is_file()
    assert env.remote("blueprints", "delete", "other").returncode == 0
    assert "other" not in {b["id"] for b in env.local_json("blueprints", "list")}
    missing = env.remote("blueprints", "get", "other")
    assert missing.returncode == 1 and "404" in missing.stdout + missing.stderr


def test_deployments_create_inputs_outputs_delete(env):
    markers = env.deployment("dep")
    assert "dep" in {d["id"] for d in env.local_json("deployments", "list")}
    assert env.local_json("deployments", "inputs", "dep") == {"marker_dir": str(markers), "greeting": "hello"}
    inputs = env.remote("deployments", "inputs", "dep")
    assert inputs.returncode == 0 and str(markers) in inputs.stdout and "hello" in inputs.stdout
    listed = env.remote("deployments", "list")
    assert "dep" in listed.stdout
    refused = env.remote("deployments", "create", "nodep", "-b", "bp")
    assert refused.returncode == 1
    assert "Unable to create deployment" in refused.stdout + refused.stderr
    assert "marker_dir" in refused.stdout + refused.stderr
    assert "nodep" not in {d["id"] for d in env.local_json("deployments", "list")}
    installed = env.remote("executions", "start", "install", "-d", "dep")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    outputs = env.remote("deployments", "outputs", "dep")
    assert outputs.returncode == 0 and "hello from create" in outputs.stdout
    # A deployment with live nodes is deleted only with force.
    refused = env.remote("deployments", "delete", "dep")
    assert refused.returncode == 1 and "active nodes" in refused.stdout + refused.stderr
    deleted = env.remote("deployments", "delete", "dep", "-f")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "dep" not in {d["id"] for d in env.local_json("deployments", "list")}


def test_executions_start_streams_events_and_refuses_bad_parameters(env):
    env.deployment("run")
    started = env.remote("executions", "start", "install", "-d", "run")
    assert started.returncode == 0, started.stdout + started.stderr
    out = started.stdout
    assert "CFY <run> Starting 'install' workflow execution" in out
    assert "INFO: creating with hello" in out
    assert "'install' workflow execution succeeded" in out and "Finished executing workflow install" in out
    execution_id = _execution_id(out)
    assert env.local_json("executions", "get", execution_id)["status"] == "terminated"

    before = len(env.local_json("executions", "list", "--include-system-workflows"))
    refused = env.remote("executions", "start", "install", "-d", "run", "-p", "colour=red")
    assert refused.returncode == 1
    assert 'does not have the following parameters declared: colour' in refused.stdout + refused.stderr
    assert len(env.local_json("executions", "list", "--include-system-workflows")) == before

    with_params = env.remote("executions", "start", "execute_operation", "-d", "run",
                             "-p", "operation=cloudify.interfaces.lifecycle.create")
    assert with_params.returncode == 0, with_params.stdout + with_params.stderr
    record = env.local_json("executions", "get", _execution_id(with_params.stdout))
    assert record["parameters"]["operation"] == "cloudify.interfaces.lifecycle.create"

    got = env.remote("executions", "get", execution_id)
    assert got.returncode == 0 and "completed" in got.stdout
    assert env.remote("executions", "get", "nope").returncode == 1
    listed = env.remote("executions", "list", "-d", "run")
    assert execution_id in listed.stdout and "Showing 2 of 2 executions" in listed.stdout
    events = env.remote("events", "list", execution_id)
    assert events.returncode == 0 and "'install' workflow execution succeeded" in events.stdout
    stored = (env.home / "runs" / execution_id / "events.ndjson").read_text().splitlines()
    assert f"Showing {len(stored)} of {len(stored)} events" in events.stdout
    local_text = env.local("events", "list", execution_id).stdout
    assert "'install' workflow execution succeeded" in local_text
    only_events = env.remote("events", "list", execution_id, "--no-logs")
    assert "LOG <run>" not in only_events.stdout and "CFY <run>" in only_events.stdout


def test_failing_workflow_exits_1_then_resume_finishes_it(env):
    markers = env.deployment("flaky")
    (markers / "fail").touch()
    failed = env.remote("executions", "start", "install", "-d", "flaky")
    assert failed.returncode == 1, failed.stdout
    assert "ERROR: configure told to fail" in failed.stdout
    assert "Execution of workflow install for deployment flaky failed" in failed.stdout + failed.stderr
    execution_id = [e for e in env.local_json("executions", "list", "-d", "flaky")][-1]["id"]
    assert env.local_json("executions", "get", execution_id)["status"] == "failed"
    (markers / "fail").unlink()
    resumed = env.remote("executions", "resume", execution_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    wait_for(lambda: env.local_json("executions", "get", execution_id)["status"] == "terminated",
             timeout=60, message="the resumed execution to finish")


def test_cancel_a_running_execution(env):
    markers = env.deployment("busy")
    (markers / "hold").touch()
    started = env.client("""
        e = client.executions.start("busy", "install")
        print(json.dumps({"id": e.id, "status": e.status}))
    """)
    wait_for(lambda: env.local_json("executions", "get", started["id"])["status"] == "started", timeout=30,
             message="the execution to start")
    cancelled = env.remote("executions", "cancel", started["id"])
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert env.local_json("executions", "get", started["id"])["status"] == "cancelling"
    (markers / "hold").unlink()
    wait_for(lambda: env.local_json("executions", "get", started["id"])["status"] == "cancelled", timeout=60,
             message="the execution to end cancelled")


def test_deployment_schedules(env):
    env.deployment("sched")
    created = env.remote("deployments", "schedule", "create", "sched", "install", "-s", "+1h", "-r", "1 day",
                         "--tz", "Europe/London")
    assert created.returncode == 0, created.stdout + created.stderr
    local = env.local_json("deployments", "schedule", "get", "sched", "install")
    assert local["rule"]["recurrence"] in ("1 day", "1d") and local["enabled"] is True
    listed = env.remote("deployments", "schedule", "list", "sched")
    assert "install" in listed.stdout and "Showing 1 of 1" in listed.stdout
    got = env.remote("deployments", "schedule", "get", "sched", "install")
    assert got.returncode == 0 and "Execution arguments" in got.stdout
    updated = env.remote("deployments", "schedule", "update", "sched", "install", "-r", "2 days", "-u", "+1w")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    local = env.local_json("deployments", "schedule", "get", "sched", "install")
    assert local["rule"]["recurrence"] in ("2 days", "2d") and local["until"]
    assert env.remote("deployments", "schedule", "disable", "sched", "install").returncode == 0
    assert env.local_json("deployments", "schedule", "get", "sched", "install")["enabled"] is False
    assert env.remote("deployments", "schedule", "enable", "sched", "install").returncode == 0
    assert env.local_json("deployments", "schedule", "get", "sched", "install")["enabled"] is True
    assert env.remote("deployments", "schedule", "delete", "sched", "install").returncode == 0
    assert env.local_json("deployments", "schedule", "list", "sched") == []


def test_maintenance_mode(env):
    assert "deactivated" in env.remote("maintenance-mode", "status").stdout
    assert env.remote("maintenance-mode", "activate").returncode == 0
    try:
        assert env.local_json("maintenance-mode", "status")["status"] == "activated"
        again = env.remote("maintenance-mode", "activate")
        assert again.returncode == 1 and "Nothing to modify" in again.stdout + again.stderr
        blocked = env.remote("blueprints", "list")
        assert blocked.returncode == 1 and "maintenance mode" in blocked.stdout + blocked.stderr
        assert "Maintenance mode is activated" in env.remote("status").stdout
    finally:
        assert env.remote("maintenance-mode", "deactivate").returncode == 0
    assert env.local_json("maintenance-mode", "status")["status"] == "deactivated"
    off = env.remote("maintenance-mode", "deactivate")
    assert off.returncode == 1 and "Nothing to modify" in off.stdout + off.stderr


def test_node_instances(env):
    env.deployment("nodes")
    assert env.remote("executions", "start", "install", "-d", "nodes").returncode == 0
    local = env.local_json("node-instances", "list", "-d", "nodes")
    assert len(local) == 1
    listed = env.remote("node-instances", "list", "-d", "nodes")
    assert local[0]["id"] in listed.stdout and "started" in listed.stdout
    got = env.remote("node-instances", "get", local[0]["id"])
    assert got.returncode == 0 and "hello from create" in got.stdout
    assert env.remote("node-instances", "get", "app_nothere").returncode == 1


def test_secrets(env):
    created = env.remote("secrets", "create", "db_pass", "-s", "s3cr3t")
    assert created.returncode == 0, created.stdout + created.stderr
    assert env.local_json("secrets", "get", "db_pass")["value"] == "s3cr3t"
    again = env.remote("secrets", "create", "db_pass", "-s", "other")
    assert again.returncode == 1 and "409" in again.stdout + again.stderr
    assert env.remote("secrets", "create", "db_pass", "-s", "other", "-u").returncode == 0
    got = env.remote("secrets", "get", "db_pass")
    assert got.returncode == 0 and "other" in got.stdout
    assert "db_pass" in env.remote("secrets", "list").stdout
    assert env.remote("secrets", "delete", "db_pass").returncode == 0
    assert env.local("secrets", "get", "db_pass").returncode != 0


def test_plugins_upload_list_get_delete(env):
    """The real `cfy plugins upload WAGON -y YAML` zips both and posts them; the catalog
    installs the wagon offline into its own environment."""
    from plugin_builds import TEST_PLUGIN, test_plugin_wagon

    wagon = test_plugin_wagon()
    uploaded = env.remote("plugins", "upload", str(wagon), "-y", str(TEST_PLUGIN / "plugin.yaml"), timeout=300)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    plugins = env.local_json("plugins", "list")
    assert [p["package_name"] for p in plugins] == ["cfy-local-test-plugin"]
    listed = env.remote("plugins", "list")
    assert listed.returncode == 0 and "cfy-local-test-plugin" in listed.stdout
    got = env.remote("plugins", "get", plugins[0]["id"])
    assert got.returncode == 0 and "1.3.0" in got.stdout
    assert env.remote("plugins", "delete", plugins[0]["id"]).returncode == 0
    assert env.local_json("plugins", "list") == []


# --- CloudifyClient ---------------------------------------------------------------------------

def test_python_client_queue_cancel_resume_and_instance_update(env):
    markers = env.deployment("pyc")
    (markers / "hold").touch()
    first = env.client("""
        e = client.executions.start("pyc", "install")
        wait(e.id, ("started",))
        queued = client.executions.start("pyc", "install", queue=True)
        cancelled = client.executions.cancel(queued.id)
        print(json.dumps({"first": e.id, "queued": queued.id, "status": queued.status,
                          "cancelled": cancelled.status}))
    """)
    assert first["status"] == "queued" and first["cancelled"] == "cancelled"
    assert env.local_json("executions", "get", first["queued"])["status"] == "cancelled"
    (markers / "fail").touch()
    (markers / "hold").unlink()
    result = env.client("""
        first = sys.argv[1]
        failed = wait(first, ("failed",))
        import os
        os.unlink(sys.argv[3])
        resumed = client.executions.resume(first)
        done = wait(first, ("terminated", "failed"))
        listed = client.executions.list(deployment_id="pyc", _include=["id", "status"], sort="created_at")
        instance = client.node_instances.list(deployment_id="pyc")[0]
        updated = client.node_instances.update(instance.id, runtime_properties={"k": "v"},
                                               version=instance.version)
        try:
            client.node_instances.update(instance.id, runtime_properties={"k": "w"}, version=instance.version)
            conflict = None
        except Exception as exc:
            conflict = getattr(exc, "status_code", None)
        client.secrets.create("py_secret", "one")
        client.secrets.update("py_secret", "two")
        secret_value = client.secrets.get("py_secret").value
        token = client.tokens.create().value
        with_token = CloudifyClient(host="127.0.0.1", port=PORT, token=token, tenant="default_tenant")
        token_ok = with_token.deployments.get("pyc").id == "pyc"
        events = client.events.list(execution_id=first, include_logs=True, _size=1000)
        outputs = client.deployments.outputs.get("pyc").outputs
        print(json.dumps({"secret": secret_value, "token_ok": token_ok, "outputs": outputs,
                          "events": events.metadata.pagination.total,
                          "last_event": events.items[-1]["event_type"],
                          "failed": failed.status, "done": done.status,
                          "listed": [[e.id, e.status] for e in listed], "total": listed.metadata.pagination.total,
                          "version": updated.version, "read_version": instance.version, "conflict": conflict,
                          "instance": instance.id}))
    """, first["first"], first["queued"], str(markers / "fail"))
    # The snippet removes the fail marker only once the run failed: the resumed run succeeds.
    assert result["failed"] == "failed"
    assert result["secret"] == "two" and env.local_json("secrets", "get", "py_secret")["value"] == "two"
    assert result["token_ok"] is True
    # The update above replaced the runtime properties, so the output's attribute is gone.
    assert result["outputs"] == {"message": None}
    assert result["last_event"] == "workflow_succeeded" and result["events"] > 10
    assert result["done"] == "terminated", result
    assert result["total"] == 2, result
    assert [first["first"], "terminated"] in result["listed"]
    assert result["version"] == result["read_version"] + 1 and result["conflict"] == 409
    local = env.local_json("node-instances", "get", result["instance"])
    assert local["runtime_properties"] == {"k": "v"}
    assert env.local_json("executions", "get", first["queued"])["status"] == "cancelled"


def test_kill_tail_time_range_and_capabilities(env):
    markers = env.deployment("more")
    capabilities = env.remote("deployments", "capabilities", "more")
    assert capabilities.returncode == 0, capabilities.stdout + capabilities.stderr
    (markers / "hold").touch()
    started = env.client("""
        e = client.executions.start("more", "install")
        wait(e.id, ("started",))
        print(json.dumps({"id": e.id}))
    """)
    killed = env.remote("executions", "cancel", started["id"], "--kill")
    assert killed.returncode == 0, killed.stdout + killed.stderr
    wait_for(lambda: env.local_json("executions", "get", started["id"])["status"] == "cancelled", timeout=60,
             message="the killed execution to end cancelled")
    tail = env.remote("events", "list", started["id"], "--tail")
    assert tail.returncode == 0 and "Finished executing workflow" in tail.stdout
    stored = [json.loads(line) for line in
              (env.home / "runs" / started["id"] / "events.ndjson").read_text().splitlines()]
    middle = stored[len(stored) // 2]["reported_timestamp"]
    later = env.remote("events", "list", started["id"], "--from", middle.rstrip("Z").replace("T", " "))
    expected = sum(1 for e in stored if e["reported_timestamp"] >= middle)
    assert f"Showing {expected} of {expected} events" in later.stdout, later.stdout
