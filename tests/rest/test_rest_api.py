"""The REST layer's own contract, over plain HTTP against ``serve_in_thread``: the list
envelope and its query parameters, the manager's error codes and statuses, the odd success
codes the clients expect, events paging, maintenance mode, the in-thread seam, and the
CLI's import isolation."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from polling import wait_for

from cfy_local.executions.api import record_system_execution
from cfy_local.rest.server import serve_in_thread
from cfy_local.store.paths import Home
from cfy_local.store.versioned import save_record
from rest_support import multipart

BLUEPRINT_DIR = Path(__file__).resolve().parent / "blueprint"
TOKEN = {"Authentication-Token": "api-test-token", "Tenant": "default_tenant"}


class Client:
    def __init__(self, running):
        self.conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)

    def __call__(self, method, path, body=None, query=None, headers=None):
        if query:
            path += "?" + urlencode(query, doseq=True)
        data = json.dumps(body) if isinstance(body, (dict, list)) else body
        sent = dict(TOKEN, **{"Content-Type": "application/json"})
        sent.update(headers or {})
        self.conn.request(method, "/api/v3.1" + path, body=data, headers=sent)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else None)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rest-api")
    home = Home(str(tmp / "home"))
    running = serve_in_thread(home, token="api-test-token")
    client = Client(running)
    members = {p.relative_to(BLUEPRINT_DIR).as_posix(): p.read_bytes()
               for p in BLUEPRINT_DIR.rglob("*") if p.is_file()}
    body, kind = multipart(members)
    status, data = client("PUT", "/blueprints/bp", body=body, headers={"Content-Type": kind})
    assert status == 201, data
    markers = tmp / "markers"
    markers.mkdir()
    status, data = client("PUT", "/deployments/dep", {"blueprint_id": "bp", "inputs": {"marker_dir": str(markers)}})
    assert status == 201, data
    yield client, home, running, markers
    running.stop()


def _wait_status(client, execution_id, statuses):
    return wait_for(lambda: client("GET", f"/executions/{execution_id}")[1]["status"] in statuses and True,
                    timeout=60, message=f"execution in {statuses}")


def test_serve_in_thread_gives_url_port_token_and_stops(tmp_path):
    running = serve_in_thread(str(tmp_path / "home"))
    assert running.url == f"http://127.0.0.1:{running.port}" and running.token
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    conn.request("GET", "/api/v3.1/status", headers={"Authentication-Token": running.token})
    assert conn.getresponse().status == 200
    conn.close()
    running.stop()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", running.port, timeout=5).request("GET", "/api/v3.1/status")


def test_importing_the_cli_imports_no_server():
    code = ("import sys, cfy_local.cli; from cfy_local.cli import cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('http.server', 'cfy_local.rest', 'socketserver'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_deployment_input_errors_carry_the_managers_codes(api):
    client, home, _, _ = api
    status, data = client("PUT", "/deployments/x1", {"blueprint_id": "bp"})
    assert (status, data["error_code"]) == (400, "missing_required_deployment_input_error")
    status, data = client("PUT", "/deployments/x2", {"blueprint_id": "bp", "inputs": {"marker_dir": "/", "nope": 1}})
    assert (status, data["error_code"]) == (400, "unknown_deployment_input_error")
    status, data = client("PUT", "/deployments/x3", {"blueprint_id": "nothere", "inputs": {}})
    assert (status, data["error_code"]) == (404, "not_found_error")
    assert not Path(home.deployment_dir("x1")).exists() and not Path(home.deployment_dir("x2")).exists()
    status, data = client("PUT", "/deployments/dep", {"blueprint_id": "bp", "inputs": {"marker_dir": "/"}})
    assert (status, data["error_code"]) == (409, "conflict_error")


def test_a_missing_secret_refuses_deployment_create_with_the_managers_code(api):
    client, home, _, _ = api
    body, kind = multipart({"blueprint.yaml": (
        b"tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\n"
        b"node_templates:\n  n:\n    type: cloudify.nodes.Root\n"
        b"    properties: {resource_id: {get_secret: db_password}}\n")})
    status, data = client("PUT", "/blueprints/secret_bp", body=body, headers={"Content-Type": kind})
    assert status == 201, data
    status, data = client("PUT", "/deployments/sx", {"blueprint_id": "secret_bp"})
    assert (status, data["error_code"]) == (400, "unknown_deployment_secret_error")
    assert "db_password" in data["message"]
    assert not Path(home.deployment_dir("sx")).exists()


def test_execution_errors_carry_the_managers_codes(api):
    client, home, _, markers = api
    status, data = client("POST", "/executions", {"deployment_id": "dep", "workflow_id": "install",
                                                  "parameters": {"x": 1}, "allow_custom_parameters": "false"})
    assert (status, data["error_code"]) == (400, "illegal_execution_parameters_error")
    status, data = client("POST", "/executions", {"deployment_id": "dep", "workflow_id": "nope"})
    assert (status, data["error_code"]) == (400, "nonexistent_workflow_error")
    status, data = client("GET", "/executions/nope")
    assert (status, data["error_code"]) == (404, "not_found_error")
    assert data["message"] == "Requested `Execution` with ID `nope` was not found"
    (markers / "hold").touch()
    try:
        status, first = client("POST", "/executions", {"deployment_id": "dep", "workflow_id": "install",
                                                       "force": "False", "queue": "False", "dry_run": "False"})
        assert status == 201 and first["status"] in ("pending", "started")
        status, data = client("POST", "/executions", {"deployment_id": "dep", "workflow_id": "install"})
        assert (status, data["error_code"]) == (400, "existing_running_execution_error")
        status, queued = client("POST", "/executions", {"deployment_id": "dep", "workflow_id": "install",
                                                        "queue": "True"})
        assert status == 201 and queued["status"] == "queued"
        status, data = client("POST", f"/executions/{queued['id']}", {"action": "cancel"})
        assert status == 200 and data["status"] == "cancelled"
        status, data = client("POST", f"/executions/{first['id']}", {"action": "bogus"})
        assert status == 400
    finally:
        (markers / "hold").unlink()
    _wait_status(client, first["id"], ("terminated",))


def test_environment_creation_not_done_refuses_starts_with_its_codes(api):
    client, home, _, _ = api
    for status_name, code in (("pending", "deployment_environment_creation_pending_error"),
                              ("started", "deployment_environment_creation_in_progress_error")):
        record = record_system_execution(home, "create_deployment_environment", "dep", "bp", status_name)
        try:
            status, data = client("POST", "/executions", {"deployment_id": "dep", "workflow_id": "install"})
            assert (status, data["error_code"]) == (400, code)
            # The CLI then looks the run up, so it must be listed.
            status, data = client("GET", "/executions", query={"deployment_id": "dep", "_include_system_workflows":
                                                              "True", "workflow_id": "create_deployment_environment",
                                                              "_sort": "-created_at"})
            assert data["items"][0]["id"] == record["id"]
        finally:
            Path(home.execution_file(record["id"])).unlink()


def test_lists_page_sort_project_and_count(api):
    client, home, _, _ = api
    for key in ("b_key", "a_key", "c_key"):
        status, data = client("PUT", f"/secrets/{key}", {"value": key, "update_if_exists": False})
        assert status == 200 and "value" not in data
    status, data = client("GET", "/secrets", query={"_sort": "-key", "_offset": 1, "_size": 1})
    assert [s["key"] for s in data["items"]] == ["b_key"]
    assert data["metadata"]["pagination"] == {"total": 3, "size": 1, "offset": 1}
    status, data = client("GET", "/secrets", query={"_include": "key,created_at"})
    assert all(set(i) == {"key", "created_at"} for i in data["items"])
    status, data = client("GET", "/executions", query={"_include_system_workflows": "True", "_include": "id,status",
                                                       "_sort": "created_at"})
    assert data["items"] and all(set(i) == {"id", "status"} for i in data["items"])
    hidden = client("GET", "/executions", query={"_include_system_workflows": "False"})[1]
    assert hidden["metadata"]["pagination"]["total"] < data["metadata"]["pagination"]["total"]
    status, data = client("GET", "/executions", query={"_include": "nope"})
    assert (status, data["error_code"]) == (400, "no_such_include_field_error")
    status, data = client("GET", "/executions", query={"_include_system_workflows": "maybe"})
    assert status == 400
    status, data = client("GET", "/deployments/dep", query={"_include": "inputs"})
    assert set(data) == {"inputs"}
    for key in ("a_key", "b_key", "c_key"):
        assert client("DELETE", f"/secrets/{key}") == (204, None)


def test_events_page_by_offset_in_reported_order_with_every_field(api):
    client, home, _, markers = api
    status, _ = client("PUT", "/deployments/evdep", {"blueprint_id": "bp", "inputs": {"marker_dir": str(markers)}})
    assert status == 201
    status, started = client("POST", "/executions", {"deployment_id": "evdep", "workflow_id": "install"})
    _wait_status(client, started["id"], ("terminated",))
    query = {"execution_id": started["id"], "type": ["cloudify_event", "cloudify_log"], "_sort": "reported_timestamp"}
    status, whole = client("GET", "/events", query=dict(query, _size=1000))
    total = whole["metadata"]["pagination"]["total"]
    assert total == len(whole["items"]) > 5
    paged = []
    while len(paged) < total:
        paged += client("GET", "/events", query=dict(query, _offset=len(paged), _size=3))[1]["items"]
    assert paged == whole["items"]
    recorded = [json.loads(line) for line in Path(home.events_file(started["id"])).read_text().splitlines()]
    assert [e["message"] for e in paged] == [e["message"]["text"] for e in recorded]
    assert [e["reported_timestamp"] for e in paged] == [e["reported_timestamp"] for e in recorded]
    for event in paged:
        for field in ("deployment_id", "execution_id", "node_name", "operation", "workflow_id", "node_instance_id",
                      "message", "error_causes", "type", "reported_timestamp"):
            assert field in event
        assert isinstance(event["message"], str)
        if event["type"] == "cloudify_log":
            assert event["level"]
    assert paged[-1]["event_type"] == "workflow_succeeded"
    only = client("GET", "/events", query=dict(query, type="cloudify_event"))[1]["items"]
    assert only and all(e["type"] == "cloudify_event" for e in only)
    ops = client("GET", "/events", query=dict(query, operation="configure"))[1]["items"]
    assert ops and all("configure" in e["operation"] for e in ops)
    middle = paged[len(paged) // 2]["reported_timestamp"]
    later = client("GET", "/events", query=dict(query, _range=f"@timestamp,{middle},"))[1]["items"]
    assert later and all(e["reported_timestamp"] >= middle for e in later) and len(later) < total


def test_schedules_answer_the_codes_the_client_expects(api):
    client, home, _, _ = api
    body = {"workflow_id": "install", "execution_arguments": {"allow_custom_parameters": False, "force": False,
                                                              "dry_run": False, "wait_after_fail": 600},
            "parameters": {}, "since": "2030-01-01T09:00:00", "until": None, "recurrence": "1 day", "count": None,
            "weekdays": [], "rrule": None, "slip": 0, "stop_on_fail": False, "enabled": True}
    status, data = client("PUT", "/execution-schedules/nightly", body, query={"deployment_id": "dep"})
    assert status == 201 and data["rule"] and data["execution_arguments"]
    assert data["next_occurrence"].startswith("2030-01-01T09:00")
    status, data = client("PATCH", "/execution-schedules/nightly", {"enabled": False, "since": None},
                          query={"deployment_id": "dep"})
    assert status == 201 and data["enabled"] is False
    status, data = client("GET", "/execution-schedules", query={"deployment_id": "dep"})
    assert [s["id"] for s in data["items"]] == ["nightly"]
    assert client("DELETE", "/execution-schedules/nightly", query={"deployment_id": "dep"}) == (204, None)
    status, data = client("GET", "/execution-schedules/nightly", query={"deployment_id": "dep"})
    assert status == 404


def test_maintenance_mode_blocks_like_the_manager(api):
    client, home, _, _ = api
    status, data = client("POST", "/maintenance/activate")
    assert status == 200 and data["status"] == "activated"
    try:
        status, data = client("GET", "/blueprints")
        assert (status, data["error_code"]) == (503, "maintenance_mode_active")
        assert client("GET", "/status")[0] == 200
        assert client("POST", "/maintenance/activate") == (304, None)
    finally:
        status, data = client("POST", "/maintenance/deactivate")
    assert status == 200 and data["status"] == "deactivated" and data["remaining_executions"] is None
    assert client("POST", "/maintenance/deactivate") == (304, None)
    assert client("GET", "/blueprints")[0] == 200


def test_an_invalid_blueprint_is_refused_with_its_error_and_not_stored(api):
    client, home, _, _ = api
    before = sorted(p.name for p in Path(home.blueprints_dir).iterdir())
    bad = (b"tosca_definitions_version: cloudify_dsl_1_4\nnode_templates:\n  x:\n    type: no.Such.Type\n")
    body, kind = multipart({"blueprint.yaml": bad})
    status, data = client("PUT", "/blueprints/broken", body=body, headers={"Content-Type": kind})
    assert (status, data["error_code"]) == (400, "invalid_blueprint_error")
    assert "no.Such.Type" in data["message"]
    assert sorted(p.name for p in Path(home.blueprints_dir).iterdir()) == before
    status, data = client("PUT", "/blueprints/bp", body=multipart({"blueprint.yaml": BLUEPRINT_DIR.joinpath(
        "blueprint.yaml").read_bytes()})[0], headers={"Content-Type": kind})
    assert (status, data["error_code"]) == (409, "conflict_error")


def test_execution_lists_follow_every_change_of_the_records(tmp_path):
    home = Home(str(tmp_path / "home"))
    running = serve_in_thread(home, token="api-test-token")
    try:
        client = Client(running)
        first = [record_system_execution(home, "install", "d1", "bp", "terminated") for _ in range(3)]
        folder = Path(home.executions_dir)

        def settle():  # as if the last change were a minute ago
            past = folder.stat().st_mtime - 60
            os.utime(folder, (past, past))

        def listed():
            return {e["id"]: e["status"] for e in client("GET", "/executions")[1]["items"]}

        settle()
        assert listed() == {r["id"]: "terminated" for r in first}
        assert listed() == {r["id"]: "terminated" for r in first}  # the reused answer
        added = record_system_execution(home, "install", "d1", "bp", "failed")
        assert listed()[added["id"]] == "failed" and len(listed()) == 4
        settle()
        listed()
        records_path = Path(home.execution_file(first[0]["id"]))
        record = json.loads(records_path.read_text())
        record["status"] = "cancelled"
        save_record(str(records_path), record)  # replaced by rename, as every writer does
        assert listed()[first[0]["id"]] == "cancelled"
        settle()
        assert listed()[first[0]["id"]] == "cancelled"
        os.unlink(records_path)
        assert first[0]["id"] not in listed()
    finally:
        running.stop()


def test_a_scheduled_time_makes_a_one_shot_schedule(api):
    client, home, _, _ = api
    status, data = client("POST", "/executions", {"deployment_id": "dep", "workflow_id": "install",
                                                  "scheduled_time": "203001012230+0100"})
    assert status == 201 and data["status"] == "scheduled"
    assert data["scheduled_for"].startswith("2030-01-01T21:30")
    status, listed = client("GET", "/execution-schedules", query={"deployment_id": "dep"})
    assert [s["id"] for s in listed["items"]] == [data["id"]] and listed["items"][0]["rule"]["count"] == 1
    status, refused = client("POST", "/executions", {"deployment_id": "dep", "workflow_id": "install",
                                                     "scheduled_time": "200001012230+0100"})
    assert status == 400 and "already passed" in refused["message"]
    assert client("DELETE", f"/execution-schedules/{data['id']}", query={"deployment_id": "dep"}) == (204, None)


def test_the_scheduler_fires_a_schedule_made_through_rest(api):
    client, home, _, _ = api
    body = {"workflow_id": "install", "since": "2031-03-01T09:00:00", "recurrence": "1 day", "enabled": True}
    assert client("PUT", "/execution-schedules/daily", body, query={"deployment_id": "dep"})[0] == 201
    try:
        fired = subprocess.run([sys.executable, "-m", "cfy_local", "--json", "scheduler", "run", "--once",
                                "--at", "2031-03-01 09:00:30"], capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, CFY_LOCAL_HOME=home.root))
        assert fired.returncode == 0, fired.stderr
        execution_id = json.loads(fired.stdout)["decisions"][0]["execution_id"]
        assert execution_id
        _wait_status(client, execution_id, ("terminated",))
        status, data = client("GET", "/execution-schedules/daily", query={"deployment_id": "dep"})
        assert data["latest_execution"] == execution_id
    finally:
        client("DELETE", "/execution-schedules/daily", query={"deployment_id": "dep"})


def test_what_cfy_local_cannot_store_is_refused_not_dropped(api):
    client, home, _, _ = api
    status, data = client("PUT", "/deployments/labelled", {"blueprint_id": "bp", "inputs": {"marker_dir": "/"},
                                                           "labels": [{"env": "prod"}]})
    assert status == 400 and "labels" in data["message"]
    assert not Path(home.deployment_dir("labelled")).exists()


def test_force_cancel_then_force_resume(api):
    client, home, _, markers = api
    assert client("PUT", "/deployments/fcdep", {"blueprint_id": "bp", "inputs": {"marker_dir": str(markers)}})[0] == 201
    (markers / "hold").touch()
    try:
        status, started = client("POST", "/executions", {"deployment_id": "fcdep", "workflow_id": "install"})
        _wait_status(client, started["id"], ("started",))
        status, data = client("POST", f"/executions/{started['id']}", {"action": "force-cancel"})
        assert status == 200
        _wait_status(client, started["id"], ("cancelled",))
    finally:
        (markers / "hold").unlink()
    status, data = client("POST", f"/executions/{started['id']}", {"action": "force-resume"})
    assert status == 200 and data["reset_operations"] is True
    _wait_status(client, started["id"], ("terminated",))
    instance = client("GET", "/node-instances", query={"deployment_id": "fcdep"})[1]["items"][0]
    assert instance["state"] == "started"


def test_plugins_are_listed_and_a_missing_one_is_not_found(api):
    client, home, _, _ = api
    status, data = client("GET", "/plugins")
    assert status == 200 and data["items"] == [] and data["metadata"]["pagination"]["total"] == 0
    status, data = client("GET", "/plugins/nope")
    assert (status, data["error_code"]) == (404, "not_found_error")
    status, data = client("DELETE", "/plugins/nope", {"force": True})
    assert (status, data["error_code"]) == (404, "not_found_error")
