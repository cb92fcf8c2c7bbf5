"""A plugin built with the real ``wagon`` against the real cloudify-common 7.0.5, uploaded with
``cfy plugins upload`` and run by real workers: its operations run in its own virtualenv with
cloudify-common's own dispatch, ctx, exceptions and REST client."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from cfy_local.deployments import api
from cfy_local.store import serve_record
from cfy_local.store.paths import Home
from polling import wait_for
from plugin_builds import TEST_PLUGIN, test_plugin_wagon

BLUEPRINT = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
  - plugin:cfy-local-test-plugin?version=>=1.2&version=<2
node_templates:
  a:
    type: tp.Thing
    properties: {who: alice}
    relationships:
      - type: tp.linked_to
        target: b
  b:
    type: tp.Thing
"""
FAILING = """\
  failing:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: tp.cfy_local_test_plugin.tasks.OPERATION
"""


def _cfy(home, *args):
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "cfy_local", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory):
    """A state dir with the test plugin's wagon uploaded (with both of its YAML files)."""
    root = tmp_path_factory.mktemp("real-plugins")
    home = root / "home"
    wagon = test_plugin_wagon()
    assert _cfy(home, "plugins", "validate", str(wagon)).returncode == 0
    done = _cfy(home, "plugins", "upload", str(wagon), "-y", str(TEST_PLUGIN / "plugin.yaml"),
                "-y", str(TEST_PLUGIN / "plugin_1_4.yaml"))
    assert done.returncode == 0, done.stderr
    assert "from the wagon's wheels (offline)" in done.stdout
    assert _cfy(home, "secrets", "create", "token", "-s", "tok123").returncode == 0
    return root, home


def _deploy(root, home, name, operation=None):
    folder = root / name
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "data.txt").write_text("data-content\n")
    text = BLUEPRINT if operation is None else BLUEPRINT.split("  a:\n")[0] + FAILING.replace("OPERATION", operation)
    (folder / "blueprint.yaml").write_text(text)
    assert _cfy(home, "blueprints", "upload", str(folder / "blueprint.yaml"), "-b", name).returncode == 0
    assert _cfy(home, "deployments", "create", name, "-b", name).returncode == 0


def test_operations_run_in_the_plugins_env_with_real_cloudify_common(uploaded):
    root, home = uploaded
    _deploy(root, home, "ok")
    done = _cfy(home, "executions", "start", "install", "-d", "ok", "--task-retry-interval", "0")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    instances = {i["node_id"]: i for i in api.list_node_instances(Home.open(str(home)), "ok")}
    a, b = instances["a"]["runtime_properties"], instances["b"]["runtime_properties"]
    env = os.path.join(str(home), "plugin-envs", "cfy-local-test-plugin", "1.3.0")
    assert a["python"] == os.path.join(env, "bin", "python")
    assert a["cloudify_file"].startswith(env)             # the real cloudify-common, from the wagon
    assert a["greeting"] == "hi from alice" and a["param"] == "hi" and a["type"] is True
    assert b["greeting"] == "hi from nobody-1-4"          # plugin_1_4.yaml chosen for cloudify_dsl_1_4
    assert a["resource"] == a["resource_bytes"] == "data-content"
    assert a["secret"] == "tok123" and a["deployment"] == "ok" and a["missing"] == 404
    # no cfy serve runs: the worker answers get_rest_client() in-process
    assert a["rest_client"] == "__main__.RestClient"  # the operation host's proxy to the worker
    assert a["listed"] == sorted(i["id"] for i in instances.values())
    assert a["configured_after"] == 2                     # ctx.operation.retry twice, then done
    assert a["theirs"] == 2 and a["mine"] == 1 and a["merged"] is True   # update(on_conflict) merged
    assert a["linked_to"] == instances["b"]["id"] and a["target_who"] == "nobody-1-4"
    assert b["linked_from"] == instances["a"]["id"]
    assert "INFO: created " + instances["a"]["id"] in done.stdout


@pytest.mark.parametrize("operation,kind", [("fail", "NonRecoverableError"), ("boom", "ValueError"),
                                            ("retry_error", "OperationRetry")])
def test_errors_from_cloudify_common_are_classified(uploaded, operation, kind):
    root, home = uploaded
    name = f"err-{operation.replace('_', '-')}"
    _deploy(root, home, name, operation)
    done = _cfy(home, "executions", "start", "install", "-d", name, "--task-retries", "1",
                "--task-retry-interval", "0")
    assert done.returncode == 1
    events = _cfy(home, "events", "list", _last_execution(home, name), "--json")
    failed = [json.loads(line) for line in events.stdout.splitlines() if '"task_failed"' in line]
    assert failed, events.stdout[-2000:]
    causes = failed[-1]["context"].get("task_error_causes") or failed[-1].get("error_causes") or []
    text = json.dumps(failed[-1])
    assert kind in text
    attempts = sum(1 for line in events.stdout.splitlines() if "Task started 'cfy_local_test_plugin" in line)
    # a non-recoverable error is never retried; the others are, once (--task-retries 1)
    assert attempts == (1 if kind == "NonRecoverableError" else 2), causes


def _last_execution(home, deployment):
    rows = json.loads(_cfy(home, "executions", "list", "-d", deployment, "--json").stdout)
    return rows[-1]["id"]


def test_same_wagon_twice_is_refused_and_validate_resolves_plugin_imports(uploaded, tmp_path):
    root, home = uploaded
    wagon = test_plugin_wagon()
    again = _cfy(home, "plugins", "upload", str(wagon), "-y", str(TEST_PLUGIN / "plugin.yaml"))
    assert again.returncode == 1 and "cfy-local-test-plugin 1.3.0" in again.stderr
    assert "already uploaded" in again.stderr and "Traceback" not in again.stderr
    assert len(json.loads(_cfy(home, "plugins", "list", "--json").stdout)) == 1
    (tmp_path / "blueprint.yaml").write_text(BLUEPRINT)
    valid = _cfy(home, "blueprints", "validate", str(tmp_path / "blueprint.yaml"))
    assert valid.returncode == 0, valid.stderr
    (tmp_path / "blueprint.yaml").write_text(BLUEPRINT.replace(">=1.2&version=<2", ">=2"))
    invalid = _cfy(home, "blueprints", "validate", str(tmp_path / "blueprint.yaml"))
    assert invalid.returncode == 1
    assert 'Couldn\'t find plugin "cfy-local-test-plugin" with version >=2 for ' in invalid.stderr


def test_uploaded_plugin_is_served_by_the_rest_api(uploaded):
    """`cfy serve` lists and shows the catalog as a manager does (cloudify-rest-client's
    plugins.list/get read these fields)."""
    import http.client

    from cfy_local.rest.server import serve_in_thread

    _, home = uploaded
    running = serve_in_thread(str(home), token="plugins-test")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
        conn.request("GET", "/api/v3.1/plugins", headers={"Authentication-Token": "plugins-test"})
        listed = json.loads(conn.getresponse().read())
        assert [p["package_name"] for p in listed["items"]] == ["cfy-local-test-plugin"]
        plugin_id = listed["items"][0]["id"]
        conn.request("GET", f"/api/v3.1/plugins/{plugin_id}", headers={"Authentication-Token": "plugins-test"})
        shown = json.loads(conn.getresponse().read())
        assert shown["package_version"] == "1.3.0" and shown["tenant_name"] == "default_tenant"
        conn.close()
    finally:
        running.stop()


def test_get_rest_client_talks_http_to_a_running_cfy_serve(uploaded):
    """With `cfy serve` running on the state dir, cloudify-common's own get_rest_client()
    in the plugin's environment returns the real CloudifyClient pointed at it; the calls
    show in the server's request log. When it stops, its record goes."""
    root, home = uploaded
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "cfy_local", "serve", "--port", str(port), "-v",
                             "--password", "pw-serve-test"],
                            env=dict(os.environ, CFY_LOCAL_HOME=str(home)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    state = Home.open(str(home))
    try:
        record = wait_for(lambda: proc.poll() is None and serve_record.live_server(state), timeout=30,
                          message="the cfy serve record")
        assert record["port"] == port and record["pid"] == proc.pid and record["schema_version"] == 1
        assert oct(os.stat(serve_record.record_path(state)).st_mode & 0o777) == "0o600"
        _deploy(root, home, "served")
        done = _cfy(home, "executions", "start", "install", "-d", "served", "--task-retry-interval", "0")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        _out, log = proc.communicate(timeout=30)
    instances = {i["node_id"]: i for i in api.list_node_instances(state, "served")}
    a = instances["a"]["runtime_properties"]
    assert a["rest_client"] == "cloudify.cluster.CloudifyClusterClient"
    assert a["secret"] == "tok123" and a["deployment"] == "served" and a["missing"] == 404
    assert a["listed"] == sorted(i["id"] for i in instances.values())
    assert a["theirs"] == 2 and a["merged"] is True  # node_instances get/update over HTTP, then the conflict
    assert "GET /api/v3.1/secrets/token " in log
    assert "GET /api/v3.1/secrets/missing-secret " in log
    assert "GET /api/v3.1/deployments/served" in log
    assert "GET /api/v3.1/node-instances?" in log
    assert "PATCH /api/v3.1/node-instances/" in log
    assert proc.returncode == 0
    assert not os.path.exists(serve_record.record_path(state))
    assert serve_record.live_server(state) is None


def test_a_stale_server_record_is_ignored(tmp_path):
    state = Home.open(str(tmp_path / "home"))
    assert serve_record.live_server(state) is None
    serve_record.write(state, host="0.0.0.0", port=4321, token="t")
    live = serve_record.live_server(state)
    assert live["connect_host"] == "127.0.0.1" and live["pid"] == os.getpid()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    with open(serve_record.record_path(state)) as fh:
        record = json.load(fh)
    for stale in (dict(record, pid=dead_pid), dict(record, create_time=record["create_time"] - 3600),
                  dict(record, schema_version=99)):
        with open(serve_record.record_path(state), "w") as fh:
            json.dump(stale, fh)
        assert serve_record.live_server(state) is None, stale
    serve_record.remove(state)  # it names this process, so this process may remove it
    assert not os.path.exists(serve_record.record_path(state))
