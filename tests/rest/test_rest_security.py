"""`cfy serve` refuses what it must: missing or wrong credentials, other tenants, archives
that escape the blueprint folder, oversized bodies, malformed JSON; and nothing on disk
changes on a refused request. Also the password file, the in-thread server, the stop."""
from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cloudify_oracle import oracle_cfy
from polling import wait_for
from rest_support import multipart

from cfy_local.rest.server import serve_in_thread
from cfy_local.store.paths import Home

PASSWORD = "sec-test-pw"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}
BLUEPRINT = (Path(__file__).resolve().parent / "blueprint" / "blueprint.yaml").read_bytes()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("rest-security") / "home"
    running = serve_in_thread(Home(str(root)), token="fixed-token", password=PASSWORD)
    yield running, root
    running.stop()


def call(running, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def tree(root: Path) -> dict[str, int]:
    """Every file under the state dir except lock files and derived caches, with its size."""
    out = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(("locks/", "cache/")):
            out[rel] = path.stat().st_size
    return out


def error(body: bytes) -> dict:
    data = json.loads(body)
    assert set(data) == {"message", "error_code", "server_traceback"}
    return data


def test_missing_or_wrong_credentials_get_401_and_nothing_else(served):
    running, _ = served
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"admin:nope").decode()},
                    {"Authorization": "Bearer x"}, {"Authentication-Token": "not-issued"}):
        status, kind, body = call(running, "GET", "/api/v3.1/blueprints", headers=headers)
        assert status == 401 and kind == "application/json"
        assert error(body)["error_code"] == "unauthorized_error"
    # Unknown routes are not revealed to an unauthenticated client either.
    assert call(running, "GET", "/api/v3.1/nope")[0] == 401


def test_tokens_open_the_api(served):
    running, _ = served
    assert call(running, "GET", "/api/v3.1/status", headers={"Authentication-Token": "fixed-token"})[0] == 200
    assert call(running, "GET", "/api/v3.1/status", headers={"Execution-Token": "fixed-token"})[0] == 200
    assert call(running, "GET", "/api/v3.1/status", headers={"Execution-Token": "other"})[0] == 401
    status, _, body = call(running, "GET", "/api/v3.1/tokens", headers=BASIC)
    assert status == 200
    token = json.loads(body)["value"]
    assert call(running, "GET", "/api/v3.1/blueprints", headers={"Authentication-Token": token})[0] == 200


def test_another_tenant_is_refused_and_nothing_changes(served):
    running, root = served
    before = tree(root)
    status, _, body = call(running, "PUT", "/api/v3.1/secrets/k", body=json.dumps({"value": "v"}),
                           headers=dict(BASIC, Tenant="other_tenant"))
    assert status == 403 and error(body)["error_code"] == "forbidden_error"
    assert tree(root) == before
    assert call(running, "GET", "/api/v3.1/secrets/k", headers=BASIC)[0] == 404


@pytest.mark.parametrize("members,links", [
    ({"blueprint.yaml": BLUEPRINT, "../escaped.txt": b"x"}, None),
    ({"blueprint.yaml": BLUEPRINT, "/tmp/absolute-escape.txt": b"x"}, None),
    ({"blueprint.yaml": BLUEPRINT}, {"scripts/passwd": "/etc/passwd"}),
    ({"blueprint.yaml": BLUEPRINT}, {"up": "../../.."}),
], ids=["dotdot", "absolute", "symlink-out", "symlink-up"])
def test_archives_escaping_the_blueprint_folder_are_refused(served, tmp_path, members, links):
    running, root = served
    before = tree(root)
    body, kind = multipart(members, links=links)
    status, _, answer = call(running, "PUT", "/api/v3.1/blueprints/evil", body=body,
                             headers=dict(BASIC, **{"Content-Type": kind}))
    assert status == 400, answer
    assert "blueprint archive" in error(answer)["message"].lower()
    assert tree(root) == before
    assert not (root / "blueprints" / "evil").exists()
    assert not Path("/tmp/absolute-escape.txt").exists()


def test_a_safe_archive_uploads(served):
    running, root = served
    body, kind = multipart({"blueprint.yaml": BLUEPRINT, "scripts/create.sh": b"#!/bin/bash\n",
                            "scripts/configure.sh": b"#!/bin/bash\n"})
    status, _, answer = call(running, "PUT", "/api/v3.1/blueprints/good", body=body,
                             headers=dict(BASIC, **{"Content-Type": kind}))
    assert status == 201, answer
    data = json.loads(answer)
    assert data["state"] == "uploaded" and data["upload_execution"]["id"]
    assert (root / "blueprints" / "good" / "resources" / "scripts" / "create.sh").is_file()


def test_oversized_bodies_are_refused_unread(served):
    running, root = served
    before = tree(root)
    with socket.create_connection(("127.0.0.1", running.port), timeout=30) as sock:
        sock.sendall(b"POST /api/v3.1/executions HTTP/1.1\r\nHost: x\r\nAuthorization: "
                     + BASIC["Authorization"].encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert error(body)["error_code"] == "request_too_large_error"
    assert tree(root) == before


def _raw(port: int, request: bytes) -> tuple[bytes, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_chunked_bodies_are_read_within_the_limit_and_malformed_ones_refused(served):
    running, root = served
    before = tree(root)
    auth = b"Authorization: " + BASIC["Authorization"].encode() + b"\r\n"
    start = b"POST /api/v3.1/plugins HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n"
    head, body = _raw(running.port, start + b"zz\r\nabc\r\n0\r\n\r\n")      # not a size
    assert head.startswith(b"HTTP/1.1 400") and error(body)["error_code"] == "bad_request_error"
    head, body = _raw(running.port, start + b"%x\r\n" % (200 * 1024 * 1024))  # past the limit, unread
    assert head.startswith(b"HTTP/1.1 400")
    head, body = _raw(running.port, start + b"3\r\nabc\r\n0\r\n\r\n")       # read, then refused: no zip
    assert head.startswith(b"HTTP/1.1 400") and "archive" in error(body)["message"]
    assert tree(root) == before


def test_malformed_json_unknown_routes_and_methods_answer_json(served):
    running, root = served
    before = tree(root)
    status, kind, body = call(running, "POST", "/api/v3.1/executions", body="{not json", headers=BASIC)
    assert status == 400 and kind == "application/json" and error(body)["error_code"] == "bad_parameters_error"
    status, kind, body = call(running, "PUT", "/api/v3.1/secrets/x", body="[1, 2]", headers=BASIC)
    assert status == 400 and kind == "application/json"
    status, kind, body = call(running, "GET", "/api/v3.1/no/such/thing", headers=BASIC)
    assert status == 404 and error(body)["error_code"] == "not_found_error"
    status, kind, body = call(running, "DELETE", "/api/v3.1/status", headers=BASIC)
    assert status == 405 and kind == "application/json"
    with socket.create_connection(("127.0.0.1", running.port), timeout=30) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400") and b"<html" not in answer.lower()
    assert tree(root) == before


def test_keep_alive_serves_many_requests_on_one_connection(served):
    running, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
    try:
        for _ in range(5):
            conn.request("GET", "/api/v3.1/executions", headers=BASIC)
            response = conn.getresponse()
            data = json.loads(response.read())
            assert response.status == 200 and data["metadata"]["pagination"]["total"] == 0
    finally:
        conn.close()


def _serve(home: Path, *args: str, env_extra: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, CFY_LOCAL_HOME=str(home), **(env_extra or {}))
    env.pop("CFY_LOCAL_REST_PASSWORD", None)
    return subprocess.Popen([sys.executable, "-m", "cfy_local", "serve", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_generated_password_is_kept_0600_and_shown(tmp_path):
    home = tmp_path / "home"
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    env.pop("CFY_LOCAL_REST_PASSWORD", None)
    shown = subprocess.run([sys.executable, "-m", "cfy_local", "serve", "--show-password"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    password = shown.stdout.strip()
    stored = home / "rest" / "password"
    assert stored.read_text().strip() == password and len(password) >= 16
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    again = subprocess.run([sys.executable, "-m", "cfy_local", "serve", "--show-password"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == password
    from_env = subprocess.run([sys.executable, "-m", "cfy_local", "serve", "--show-password"],
                              env=dict(env, CFY_LOCAL_REST_PASSWORD="from-env"), capture_output=True, text=True,
                              timeout=60)
    assert from_env.stdout.strip() == "from-env"


def test_real_cli_with_a_wrong_password_and_a_clean_stop_on_sigterm(tmp_path):
    home = tmp_path / "home"
    port = _free_port()
    proc = _serve(home, "--port", str(port), "--password", PASSWORD)
    try:
        def up():
            assert proc.poll() is None, proc.stderr.read()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        wait_for(up, timeout=30, message="cfy serve listening")
        env = dict(os.environ, HOME=str(tmp_path / "user"), CFY_WORKDIR=str(tmp_path / "workdir"))
        wrong = subprocess.run([oracle_cfy(), "profiles", "use", "127.0.0.1", "--rest-port", str(port), "-u", "admin",
                                "-p", "wrong", "-t", "default_tenant"], env=env, capture_output=True, text=True,
                               timeout=120)
        assert wrong.returncode == 1
        assert "Can't use manager" in wrong.stdout + wrong.stderr and "401" in wrong.stdout + wrong.stderr
        other_tenant = subprocess.run([oracle_cfy(), "profiles", "use", "127.0.0.1", "--rest-port", str(port), "-u",
                                       "admin", "-p", PASSWORD, "-t", "other"], env=env, capture_output=True,
                                      text=True, timeout=120)
        assert other_tenant.returncode == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped" in out


def test_another_host_prints_a_warning(tmp_path):
    proc = _serve(tmp_path / "home", "--host", "0.0.0.0", "--port", str(_free_port()), "--password", PASSWORD)
    try:
        # The first line comes once the socket is bound (or is empty if the process died).
        assert "Serving Cloudify's REST API" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert "Warning: listening on 0.0.0.0" in err
    assert proc.returncode == 0

