"""REST benchmark for ``cfy serve`` (not a test): prints figures and their ratio to the targets.

A state dir with 100 finished executions; ``cfy serve`` as its own process; 8 client
processes, each on one keep-alive connection as ``requests.Session`` keeps it, for a few
seconds per endpoint:

1. ``GET /api/v3.1/executions/<id>`` (target ≥ 1,000 requests/s in total)
2. ``GET /api/v3.1/executions`` listing the 100 (target ≥ 300 requests/s in total), once
   while all have ended (the server reuses its answer while the records do not change) and
   once while one of them runs (every request scans the records)

Usage: ``.venv/bin/python bench/bench_rest.py [--seconds S] [--clients N]``
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cfy_local.executions.api import record_system_execution  # noqa: E402
from cfy_local.store.paths import Home  # noqa: E402

PASSWORD = "bench"
HEADERS = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
           "Tenant": "default_tenant", "Content-Type": "application/json"}
TARGETS = {"get": 1000.0, "list": 300.0}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(port: int, path: str, seconds: float, start_at: float, out) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    done = errors = 0
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    while time.time() < end:
        conn.request("GET", path, headers=HEADERS)
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            done += 1
        else:
            errors += 1
    conn.close()
    out.put((done, errors))


def measure(port: int, path: str, clients: int, seconds: float) -> tuple[float, int]:
    queue = multiprocessing.Queue()
    start_at = time.time() + 0.5
    procs = [multiprocessing.Process(target=_client, args=(port, path, seconds, start_at, queue))
             for _ in range(clients)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join()
    return sum(r[0] for r in results) / seconds, sum(r[1] for r in results)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cfy-bench-rest-"))
    home = tmp / "home"
    ids = [record_system_execution(Home(str(home)), "install", f"dep{i % 10}", "bp", "terminated")["id"]
           for i in range(100)]
    port = _free_port()
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    server = subprocess.Popen([sys.executable, "-m", "cfy_local", "serve", "--port", str(port), "--password", PASSWORD],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    failed = False
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v3.1/executions", headers=HEADERS)
                listed = json.loads(conn.getresponse().read())
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("cfy serve did not start")
                time.sleep(0.05)
        assert listed["metadata"]["pagination"]["total"] == 100, listed["metadata"]
        plan = [("get", f"/api/v3.1/executions/{ids[0]}", ""),
                ("list", "/api/v3.1/executions", " (all ended: the answer is reused while nothing changes)"),
                ("list", "/api/v3.1/executions", " (one of them running: every request scans)")]
        for step, (name, path, note) in enumerate(plan):
            if step == 2:
                # A run with no worker pid: reconcile leaves it alone, and lists scan every time.
                record_system_execution(Home(str(home)), "install", "dep0", "bp", "started")
            rate, errors = measure(port, path, args.clients, args.seconds)
            target = TARGETS[name]
            print(f"GET {path.replace(ids[0], '<id>')}{note}: {rate:,.0f} requests/s from {args.clients} clients "
                  f"(target >= {target:,.0f}; ratio {rate / target:.2f}){'; ERRORS: ' + str(errors) if errors else ''}")
            failed |= bool(errors)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
