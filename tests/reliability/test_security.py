"""Security: script inputs never reach a shell, the ctx proxy only answers its own
operation's token, the state tree stays private (0700/0600) through real commands."""
from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reliability_support import CORPUS, END, cfy_run, must, scan_state, upload_base, wait_for

REPO = Path(__file__).resolve().parent.parent.parent
CTX_CLIENT = REPO / "cfy_local" / "engine" / "scripts" / "shim" / "_cfy_local_ctx_cli.py"

pytestmark = pytest.mark.slow


def _hostile_payload(tmp_path) -> str:
    return (f"$(touch {tmp_path}/pwned1); `touch {tmp_path}/pwned2`; touch {tmp_path}/pwned3 && "
            f"echo \"dq\" 'sq' | tee {tmp_path}/pwned4 ${{HOME}} %s %n \\ * ?\nsecond line")


def test_script_inputs_are_never_interpreted_by_a_shell(home, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    payload = _hostile_payload(tmp_path)
    upload_base(home, "sec", "security.yaml")
    inputs = json.dumps({"marker_dir": str(markers), "payload": payload})
    must(cfy_run(home, "deployments", "create", "sec", "-b", "sec", "-i", inputs))
    must(cfy_run(home, "executions", "start", "install", "-d", "sec", "--timeout", "120"))

    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pwned")) == []
    assert (markers / "payload.env").read_text() == payload       # environment variable
    assert (markers / "payload.arg").read_text() == payload       # process.args
    assert (markers / "payload.py").read_text() == payload        # Python script, environment
    instances = must(cfy_run(home, "node-instances", "list", "-d", "sec", "--json")).json
    runtime = next(i for i in instances if i["node_id"] == "target")["runtime_properties"]
    assert runtime["payload_seen"] == payload                     # through the ctx command
    assert runtime["payload_seen_py"] == payload
    # get_resource / download-resource never leaves the blueprint folder.
    assert not (markers / "leaked").exists(), (markers / "leaked").read_text()
    assert (markers / "refusals").read_text().strip(), "refused without a message"
    assert (markers / "inside").read_text() == (CORPUS / "base" / "scripts" / "echo_payload.py").read_text()
    # Nor does the deployment's hostile input reach a shell when shown back.
    must(cfy_run(home, "deployments", "inputs", "sec"))
    assert not list(tmp_path.glob("pwned*"))


def _knock(url: str, token: str | None, *args: str) -> subprocess.CompletedProcess:
    """Call a ctx proxy as another local process would, with the token we choose."""
    env = {k: v for k, v in os.environ.items() if k not in ("CTX_SOCKET_URL", "CFY_LOCAL_CTX_TOKEN")}
    if token is not None:
        env["CFY_LOCAL_CTX_TOKEN"] = token
    return subprocess.run([sys.executable, str(CTX_CLIENT), "--socket-url", url, *args], capture_output=True,
                          text=True, env=env, timeout=30)


def test_ctx_proxy_answers_only_its_own_operations_token(home, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    upload_base(home, "proxy", "proxy.yaml")
    must(cfy_run(home, "deployments", "create", "px", "-b", "proxy", "-i", f"marker_dir={markers}"))
    run = must(cfy_run(home, "executions", "start", "install", "-d", "px", "--no-wait", "--json")).json
    wait_for(lambda: (markers / "holder.token").exists(), timeout=60, message="the holding operation to start")
    url = (markers / "holder.url").read_text()
    own = (markers / "holder.token").read_text()
    other = (markers / "earlier.token").read_text()
    assert own and other and own != other

    refusals = {
        "no token": _knock(url, None, "instance", "id"),
        "empty token": _knock(url, "", "instance", "id"),
        "another operation's token": _knock(url, other, "instance", "id"),
        "a random token": _knock(url, secrets.token_hex(16), "instance", "id"),
        "a prefix of the token": _knock(url, own[:-1], "instance", "id"),
        "a write with a stolen token": _knock(url, other, "instance", "runtime-properties", "hijacked", "yes"),
    }
    for what, result in refusals.items():
        assert result.returncode != 0, f"{what}: answered {result.stdout!r}"
        assert "token" in result.stderr, f"{what}: {result.stderr!r}"
    allowed = _knock(url, own, "instance", "id")
    assert allowed.returncode == 0, allowed
    assert allowed.stdout.strip() == (markers / "holder.id").read_text().strip()

    (markers / "release").touch()
    wait_for(lambda: must(cfy_run(home, "executions", "get", run["id"], "--json")).json["status"] in END,
             timeout=60, message="install to end")
    assert must(cfy_run(home, "executions", "get", run["id"], "--json")).json["status"] == "terminated"
    instances = must(cfy_run(home, "node-instances", "list", "-d", "px", "--json")).json
    assert all("hijacked" not in i["runtime_properties"] for i in instances)
    # Once the operation ended its proxy answers no one, not even with the right token.
    assert _knock(url, own, "instance", "id").returncode != 0


def _modes(root: Path) -> list[str]:
    wrong = []
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root).split(os.sep)
        if "resources" in rel:
            dirs[:] = []
            continue
        for name in dirs:
            mode = stat.S_IMODE(os.lstat(os.path.join(folder, name)).st_mode)
            if mode != 0o700 and name != "resources":
                wrong.append(f"{os.path.join(folder, name)} {oct(mode)}")
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                wrong.append(f"{path} is a symlink")
            elif stat.S_IMODE(st.st_mode) != 0o600:
                wrong.append(f"{path} {oct(stat.S_IMODE(st.st_mode))}")
    return wrong


def test_a_full_session_leaves_a_private_tree(home, tmp_path):
    """Every kind of record, written by real commands under a lax umask, is private."""
    old = os.umask(0o022)
    try:
        upload_base(home)
        must(cfy_run(home, "deployments", "create", "web", "-b", "base"))
        must(cfy_run(home, "executions", "start", "install", "-d", "web", "--timeout", "120"))
        must(cfy_run(home, "executions", "start", "pause", "-d", "web", "--timeout", "120"))
        must(cfy_run(home, "deployments", "schedule", "create", "web", "install", "-s", "+1h", "-r", "1d"))
        must(cfy_run(home, "scheduler", "run", "--once"))
        must(cfy_run(home, "secrets", "create", "token", "-s", "hunter2"))
        must(cfy_run(home, "maintenance-mode", "activate"))
        must(cfy_run(home, "maintenance-mode", "deactivate"))
        must(cfy_run(home, "snapshots", "create", "snap1"))
        wait_for(lambda: (home / "snapshots" / "snap1.tar.gz").exists() or
                 not any(r for r in must(cfy_run(home, "executions", "list", "--include-system-workflows",
                                                 "--json")).json if r["status"] not in END),
                 timeout=60, message="the snapshot to finish")
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert _modes(home) == []
    assert scan_state(home).problems == []
    secret = (home / "secrets" / "token.json")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
