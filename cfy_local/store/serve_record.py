"""Where a ``cfy serve`` of this state dir listens: ``rest/server.json``.

The server writes it once it listens and removes it when it stops; a worker reads it to
point the real ``cloudify_rest_client`` of plugin environments at the server, as
operations on a manager talk to its REST service. The record carries the server's pid
and start time, so one left behind by a killed server (or a pid reused since) is ignored.
It also carries a token the server accepts for as long as it runs (the file is 0600, as
every record in the state dir, beside the password kept there).

    {schema_version: 1, pid, create_time, host, port, protocol: "http", token, started_at}
"""
from __future__ import annotations

import os
from typing import Any

from cfy_local.errors import CorruptRecordError
from cfy_local.store import processes
from cfy_local.store.atomic import atomic_write_json, read_json
from cfy_local.store.paths import Home

SCHEMA_VERSION = 1
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def record_path(home: Home) -> str:
    return home.path("rest", "server.json")


def write(home: Home, *, host: str, port: int, token: str, protocol: str = "http", started_at: str | None = None) -> dict:
    """Record this process as the state dir's server (atomically; replaces a stale one)."""
    pid = os.getpid()
    record = {"schema_version": SCHEMA_VERSION, "pid": pid, "create_time": processes.create_time(pid), "host": host,
              "port": int(port), "protocol": protocol, "token": token, "started_at": started_at}
    atomic_write_json(record_path(home), record)
    return record


def remove(home: Home) -> None:
    """Remove the record if it is this process's (another server may have replaced it)."""
    path = record_path(home)
    try:
        record = read_json(path)
    except (FileNotFoundError, CorruptRecordError):
        return
    if isinstance(record, dict) and record.get("pid") == os.getpid():
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def live_server(home: Home) -> dict[str, Any] | None:
    """The record of a server of this state dir that is running now, else None (no record,
    an unknown schema, or a server that is gone). ``connect_host`` is where to reach it."""
    try:
        record = read_json(record_path(home))
    except (FileNotFoundError, CorruptRecordError):
        return None
    if not isinstance(record, dict) or record.get("schema_version") != SCHEMA_VERSION:
        return None
    pid = record.get("pid")
    if not record.get("port") or not record.get("token") or type(pid) is not int:
        return None
    if processes.alive(pid, record.get("create_time")) is not True:
        return None
    host = str(record.get("host") or "")
    return dict(record, connect_host=_WILDCARDS.get(host, host))
