"""Helpers for the CLI tests: a small script blueprint, a live-looking execution, and
``cfy`` run on a pseudo-terminal (what a person at a terminal sees)."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from cfy_local.executions import records
from cfy_local.store.paths import Home

BLUEPRINT = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  marker_dir:
    type: string
node_templates:
  web:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/hold.sh
          inputs:
            MARKER_DIR: { get_input: marker_dir }
  broken:
    type: cloudify.nodes.Root
    relationships:
      - type: cloudify.relationships.depends_on
        target: web
    interfaces:
      cloudify.interfaces.lifecycle:
        configure:
          implementation: scripts/broken.sh
          inputs:
            MARKER_DIR: { get_input: marker_dir }
workflows:
  hello:
    mapping: scripts/hello.sh
    parameters:
      port:
        type: integer
        default: 80
        constraints:
          - in_range: [1, 100]
"""
# hold.sh waits (bounded) for a `release` file when a `hold` file exists; broken.sh fails
# with exit code 3 and a last stderr line when a `fail` file exists.
HOLD = """\
#!/bin/bash
if [ -f "$MARKER_DIR/hold" ]; then
  for i in $(seq 1 1200); do [ -f "$MARKER_DIR/release" ] && break; sleep 0.05; done
fi
echo "web created"
"""
BROKEN = """\
#!/bin/bash
if [ -f "$MARKER_DIR/fail" ]; then
  echo "connecting" >&2
  echo "psql: could not connect to server" >&2
  exit 3
fi
"""


def write_blueprint(folder: Path) -> Path:
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    (folder / "blueprint.yaml").write_text(BLUEPRINT)
    for name, text in (("hold.sh", HOLD), ("broken.sh", BROKEN), ("hello.sh", "#!/bin/bash\necho hello\n")):
        path = folder / "scripts" / name
        path.write_text(textwrap.dedent(text))
        path.chmod(0o755)
    return folder / "blueprint.yaml"


def deploy(cfy, tmp_path: Path, deployment_id: str = "dep") -> Path:
    """Upload the blueprint and create ``deployment_id``; returns the marker folder."""
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    if not (tmp_path / "bp").exists():
        assert cfy("blueprints", "upload", str(write_blueprint(tmp_path / "bp")), "-b", "bp").exit_code == 0
    created = cfy("deployments", "create", deployment_id, "-b", "bp", "-i", f"marker_dir={markers}")
    assert created.exit_code == 0, created
    return markers


def live_record(home_path, *, deployment_id="dep", status="started", **extra) -> dict:
    """An execution that looks active: its worker is this test process (alive)."""
    home = Home.open(str(home_path))
    record = records.new_record(workflow_id="install", deployment_id=deployment_id, blueprint_id="bp",
                                status=status, worker_pid=os.getpid(),
                                worker_create_time=psutil.Process().create_time(), **extra)
    records.save(home, record)
    return record


def cfy_tty(home_path, *args: str, env: dict | None = None, columns: int = 80, timeout: float = 60,
            answer: str | None = None) -> tuple[int, str]:
    """Run ``cfy`` with stdout and stderr on a pseudo-terminal ``columns`` wide (stdin too
    when ``answer`` is given: it is typed once the command asks); returns (exit code,
    everything written, escape codes included)."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    full_env = dict(os.environ, CFY_LOCAL_HOME=str(home_path), TERM="xterm")
    full_env.pop("NO_COLOR", None)
    full_env.pop("COLUMNS", None)
    full_env.update(env or {})
    proc = subprocess.Popen([sys.executable, "-m", "cfy_local", *args],
                            stdin=slave if answer is not None else subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=full_env, close_fds=True)
    os.close(slave)
    chunks = []
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
            if answer is not None and b"[y/N]" in b"".join(chunks):
                os.write(master, answer.encode() + b"\n")
                answer = None
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode("utf-8", "replace")


def put_record(home_path, *, workflow_id="install", deployment_id="dep", status="pending", **extra) -> dict:
    """An execution record saved straight into the state dir (as admission leaves it)."""
    home = Home.open(str(home_path))
    record = records.new_record(workflow_id=workflow_id, deployment_id=deployment_id, blueprint_id="bp",
                                status=status, **extra)
    records.save(home, record)
    return record
