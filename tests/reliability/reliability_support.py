"""Shared helpers of the reliability suite: tree fingerprints, state scans, bounded runs.

Named ``reliability_support`` (not ``helpers``) because test folders are not packages and
module names must stay unique across tests/.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from polling import wait_for  # noqa: F401  (re-exported for the reliability tests)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = HERE / "corpus"
KILL_HARNESS = HERE / "killharness.py"

# Not state: lock files appear when a lock is first taken (and are never deleted, see
# store/locks.py); cache/ is derived data that is safe to delete.
NON_STATE_DIRS = {"locks", "cache"}


def env_int(name: str, default: int) -> int:
    """Sizes of the heavy tests: small by default, full size through the environment."""
    raw = os.environ.get(name)
    return int(raw) if raw else default


def tree_fingerprint(root: str | os.PathLike) -> dict[str, tuple]:
    """Every path under ``root`` (bar lock files and cache) → (kind, mode, content digest).

    Two equal fingerprints mean nothing a user could see in the state changed.
    """
    root = str(root)
    out: dict[str, tuple] = {}
    if not os.path.exists(root):
        return out
    for folder, dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        if rel_folder == ".":
            dirs[:] = [d for d in dirs if d not in NON_STATE_DIRS]
        for name in sorted(dirs):
            path = os.path.join(folder, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = ("dir", stat.S_IMODE(st.st_mode))
        for name in sorted(files):
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[os.path.relpath(path, root)] = ("link", os.readlink(path))
                continue
            with open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            out[os.path.relpath(path, root)] = ("file", stat.S_IMODE(st.st_mode), digest)
    return out


def fingerprint_diff(before: dict, after: dict) -> list[str]:
    lines = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            lines.append(f"{path}: {before.get(path)} -> {after.get(path)}")
    return lines


@dataclass
class StateScan:
    records: int = 0
    event_lines: int = 0
    problems: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)


def scan_state(root: str | os.PathLike) -> StateScan:
    """Parse every JSON record and every NDJSON log of a state dir (not uploaded resources).

    A problem is: a record that does not parse or has no ``schema_version``, a complete
    NDJSON line that does not parse. Temp files of writers killed mid-write are listed
    apart: they are garbage, never mistaken for records (names start with ``.tmp-``).
    """
    root = str(root)
    scan = StateScan()
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        parts = rel.split(os.sep)
        if parts[0] in NON_STATE_DIRS or "resources" in parts:
            dirs[:] = []
            continue
        for name in files:
            path = os.path.join(folder, name)
            if name.startswith(".tmp-"):
                scan.temp_files.append(path)
                continue
            if name.endswith(".json"):
                try:
                    with open(path, "rb") as fh:
                        data = json.loads(fh.read())
                except ValueError as exc:
                    scan.problems.append(f"{path}: does not parse: {exc}")
                    continue
                scan.records += 1
                if not isinstance(data, dict) or "schema_version" not in data:
                    # graph.json is the engine's working file; everything else is a record.
                    if name != "graph.json":
                        scan.problems.append(f"{path}: no schema_version")
            elif name.endswith(".ndjson"):
                with open(path, "rb") as fh:
                    data = fh.read()
                complete = data[: data.rfind(b"\n") + 1]
                for number, line in enumerate(complete.splitlines(), 1):
                    if not line.strip():
                        continue
                    try:
                        json.loads(line)
                        scan.event_lines += 1
                    except ValueError:
                        scan.problems.append(f"{path}:{number}: line does not parse: {line[:120]!r}")
    return scan


@dataclass
class BoundedResult:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    timed_out: bool


def _limit_memory(megabytes: int):
    def apply() -> None:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def run_cfy_bounded(args: list[str], home: str | os.PathLike, *, timeout: float = 20.0,
                    memory_mb: int = 1024, cwd: str | os.PathLike | None = None,
                    env: dict | None = None, input: str | None = None) -> BoundedResult:
    """``python -m cfy_local ARGS`` as a real process under an address-space limit and a
    wall-clock bound; reports its peak RSS."""
    full_env = dict(os.environ)
    full_env["CFY_LOCAL_HOME"] = str(home)
    full_env.pop("CFY_LOCAL_FAKE_NOW", None)
    if env:
        full_env.update(env)
    with tempfile.TemporaryFile() as out_fh, tempfile.TemporaryFile() as err_fh:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "cfy_local", *args], stdout=out_fh, stderr=err_fh,
                                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                env=full_env, cwd=cwd, preexec_fn=_limit_memory(memory_mb))
        if input is not None:
            proc.stdin.write(input.encode())
            proc.stdin.close()
        timed_out = False
        deadline = start + timeout
        while True:
            # wait4 (not Popen.wait) to read this child's own peak RSS.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                timed_out = True
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_fh.seek(0)
        err_fh.seek(0)
        out, err = out_fh.read(), err_fh.read()
    return BoundedResult(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                         seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, timed_out)


def run_harness(*args: str, timeout: float = 120.0) -> dict:
    """Run killharness.py and return its JSON summary (the last stdout line)."""
    proc = subprocess.run([sys.executable, str(KILL_HARNESS), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(REPO))
    assert proc.returncode == 0, f"kill harness failed: {proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        return f"<exit={self.exit_code} stdout={self.stdout[-1500:]!r} stderr={self.stderr[-1500:]!r}>"


def cfy_run(home: str | os.PathLike, *args: str, timeout: float = 120.0, env: dict | None = None) -> Ran:
    """``cfy ARGS`` as a real process against ``home``."""
    full_env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    full_env.pop("CFY_LOCAL_FAKE_NOW", None)
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-m", "cfy_local", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def must(result: Ran) -> Ran:
    assert result.exit_code == 0, result
    return result


def upload_base(home, blueprint_id: str = "base", main_file: str = "blueprint.yaml") -> None:
    must(cfy_run(home, "blueprints", "upload", str(CORPUS / "base" / main_file), "-b", blueprint_id))


def execution_records(home) -> list[dict]:
    folder = os.path.join(str(home), "executions")
    out = []
    if not os.path.isdir(folder):
        return out
    for name in os.listdir(folder):
        if name.endswith(".json") and not name.startswith("."):
            # A restore running in its worker swaps the executions folder for the snapshot's,
            # so a record listed a moment ago may be gone by the time it is opened.
            try:
                with open(os.path.join(folder, name)) as fh:
                    out.append(json.load(fh))
            except FileNotFoundError:
                continue
    return out


def read_events(home, execution_id: str) -> list[dict]:
    path = os.path.join(str(home), "runs", execution_id, "events.ndjson")
    if not os.path.exists(path):
        return []
    with open(path, "rb") as fh:
        data = fh.read()
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines() if line.strip()]


ACTIVE = {"pending", "started", "cancelling", "force_cancelling", "kill_cancelling"}
END = {"terminated", "failed", "cancelled"}


def wait_quiet(home, timeout: float = 60.0) -> list[dict]:
    """Poll (reconciling through the real CLI) until no execution is active or queued."""
    deadline = time.monotonic() + timeout
    while True:
        must(cfy_run(home, "executions", "list", "--include-system-workflows"))
        records = execution_records(home)
        busy = [r for r in records if r["status"] in ACTIVE or r["status"] == "queued"]
        if not busy:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"still busy after {timeout}s: " + ", ".join(
                f"{r['id']}={r['status']} (worker_pid={r.get('worker_pid')})" for r in busy[:10]))
        time.sleep(0.2)


def held_locks(home) -> list[str]:
    """Lock files some process still holds (none should, once every command ended)."""
    from cfy_local.store import locks

    folder = os.path.join(str(home), "locks")
    if not os.path.isdir(folder):
        return []
    held = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".lock") and locks.is_held(str(home), name[:-5]):
            held.append(name)
    return held


def live_worker(record: dict) -> bool:
    from cfy_local.executions.reconcile import worker_alive

    return bool(worker_alive(record.get("worker_pid"), record.get("worker_create_time")))


