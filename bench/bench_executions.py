"""Executions benchmark (not a test): prints figures and their ratio to the targets.

1. ``cfy executions start --no-wait`` latency (target median ≤ 150 ms) and the time from
   its return to the worker's ``started`` (target median ≤ 300 ms).
2. 100 executions on 100 deployments started from 10 concurrent shells: all must end
   ``terminated``, no record lost or unreadable.
3. ``cfy executions list`` with 10,000 executions (target ≤ 0.5 s; warm cache, median), and
   ``executions start --no-wait`` with those 10,000 in the history against an empty history,
   in turns (target ≤ 1.2×: admission reads the index of live executions, not the history).

Usage: ``.venv/bin/python bench/bench_executions.py [--quick]``
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cfy_local.executions import statuses, records  # noqa: E402
from cfy_local.store.paths import Home  # noqa: E402
from cfy_local.timefmt import parse_iso  # noqa: E402

BLUEPRINT = REPO / "tests" / "executions" / "blueprint" / "blueprint.yaml"


def cfy(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CFY_LOCAL_HOME=str(home))
    # Measure an installed cfy-local as users run it: with bytecode caches (this sandbox
    # sets PYTHONDONTWRITEBYTECODE, which makes every process recompile every module).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # The `cfy` console script, as users run it (not `python -m`, which adds runpy).
    script = os.path.join(os.path.dirname(sys.executable), "cfy")
    command = [script] if os.path.exists(script) else [sys.executable, "-m", "cfy_local"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env)


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def deploy(home: Path, markers: Path, count: int) -> list[str]:
    from cfy_local.deployments import api as deployments

    h = Home.open(str(home))
    deployments.upload_blueprint(h, str(BLUEPRINT), "bp")
    ids = [f"dep{i:03d}" for i in range(count)]
    for dep in ids:
        deployments.create_deployment(h, dep, "bp", {"marker_dir": str(markers)})
    return ids


def wait_all_ended(home: Path, ids: list[str], timeout: float = 600) -> None:
    h = Home(str(home))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(statuses.is_end(records.load(h, i)["status"]) for i in ids):
            return
        time.sleep(0.1)
    raise SystemExit("executions did not end in time")


def _start_once(home: Path, dep: str) -> tuple[float, float, float]:
    """One ``start --no-wait``: (seconds to return, seconds from return to ``started``, CPU
    seconds of the command); waits for the run's end so the next start meets an idle home."""
    h = Home(str(home))
    c0 = cpu_of_children()
    t0 = time.time()
    proc = cfy(home, "executions", "start", "install", "-d", dep, "--no-wait")
    t1 = time.time()
    cpu = cpu_of_children() - c0
    if proc.returncode != 0:
        raise SystemExit(f"start failed: {proc.stderr}")
    execution_id = proc.stdout.strip()
    to_started = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        started = records.load(h, execution_id).get("started_at")
        if started:
            to_started = max(0.0, parse_iso(started).timestamp() - t1)
            break
        time.sleep(0.005)
    if to_started is None:
        raise SystemExit(f"execution {execution_id} did not start within 30 s")
    wait_all_ended(home, [execution_id])
    return t1 - t0, to_started, cpu


def bench_start(root: Path, runs: int, home_name: str = "start-home") -> tuple[float, float, float]:
    home, markers = root / home_name, root / f"{home_name}-markers"
    markers.mkdir()
    timings = [_start_once(home, dep) for dep in deploy(home, markers, runs)]
    return tuple(statistics.median(column) for column in zip(*timings))


def bench_start_history(root: Path, runs: int, full_home: str) -> tuple[float, float, float, float]:
    """``start --no-wait`` on a home with an empty history and on ``full_home``, in turns (the
    machine's speed drifts between minutes): medians of (empty, full) return time and CPU."""
    homes = {"empty": root / "empty-history-home", "full": root / full_home}
    deps = {}
    for name, home in homes.items():
        markers = root / f"{home.name}-start-markers"
        markers.mkdir()
        deps[name] = deploy(home, markers, runs)
    taken: dict[str, list] = {"empty": [], "full": []}
    for turn in range(runs):
        for name in ("empty", "full"):
            taken[name].append(_start_once(homes[name], deps[name][turn]))
    return (statistics.median(t[0] for t in taken["empty"]), statistics.median(t[0] for t in taken["full"]),
            statistics.median(t[2] for t in taken["empty"]), statistics.median(t[2] for t in taken["full"]))


def bench_concurrent(root: Path, deployments: int, shells: int) -> tuple[int, int, int, float]:
    home, markers = root / "conc-home", root / "conc-markers"
    markers.mkdir()
    deps = deploy(home, markers, deployments)
    chunks = [deps[i::shells] for i in range(shells)]

    def shell(chunk: list[str]) -> list[str]:
        out = []
        for dep in chunk:
            proc = cfy(home, "executions", "start", "install", "-d", dep, "--no-wait")
            if proc.returncode != 0:
                raise SystemExit(f"start on {dep} failed: {proc.stderr}")
            out.append(proc.stdout.strip())
        return out

    t0 = time.monotonic()
    with ThreadPoolExecutor(shells) as pool:
        ids = [i for chunk in pool.map(shell, chunks) for i in chunk]
    wait_all_ended(home, ids)
    elapsed = time.monotonic() - t0
    h = Home(str(home))
    all_records = records.load_all(h, skip_corrupt=False)  # raises on an unreadable record
    installs = [r for r in all_records if r["workflow_id"] == "install"]
    terminated = sum(1 for r in installs if r["status"] == "terminated")
    return len(ids), len(installs), terminated, elapsed


def bench_list(root: Path, count: int, repeats: int) -> tuple[float, float]:
    from cfy_local.store.atomic import atomic_write_json

    home = root / "list-home"
    h = Home.open(str(home))
    os.makedirs(h.executions_dir, exist_ok=True)
    statuses = ["terminated", "failed", "cancelled"]
    for i in range(count):
        record = records.new_record(workflow_id="install", deployment_id=f"d{i % 200}", blueprint_id="bp",
                                    status=statuses[i % 3])
        record["schema_version"] = 1
        atomic_write_json(h.execution_file(record["id"]), record, durable=False)
    t0 = time.perf_counter()
    cfy(home, "executions", "list")
    cold = time.perf_counter() - t0
    time.sleep(2.1)  # let the folder's mtime settle so the warm path is the one measured
    cfy(home, "executions", "list")
    times, cpu = [], []
    for _ in range(repeats):
        c0 = cpu_of_children()
        t0 = time.perf_counter()
        proc = cfy(home, "executions", "list")
        times.append(time.perf_counter() - t0)
        cpu.append(cpu_of_children() - c0)
        assert f"Showing {count} of {count} executions" in proc.stdout, proc.stdout[-300:]
    return cold, statistics.median(times), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-exec-"))
    try:
        start_runs = 7 if args.quick else 15
        print(load_average())
        returned, started, start_cpu = bench_start(root, start_runs)
        print(f"start --no-wait returns (median of {start_runs}): {returned * 1000:.0f} ms "
              f"(target 150 ms, ratio {returned / 0.150:.2f}); CPU time {start_cpu * 1000:.0f} ms")
        print(f"worker started after return (median):   {started * 1000:.0f} ms "
              f"(target 300 ms, ratio {started / 0.300:.2f})")
        deployments = 30 if args.quick else 100
        started_n, found, terminated, elapsed = bench_concurrent(root, deployments, 10)
        print(f"{started_n} executions on {deployments} deployments from 10 shells: {found} records, "
              f"{terminated} terminated, {found - terminated} not, in {elapsed:.1f} s "
              f"({'OK' if found == terminated == started_n else 'FAIL'})")
        count = 10_000
        cold, warm, list_cpu = bench_list(root, count, 5)
        print(f"executions list with {count} executions: warm median {warm:.3f} s "
              f"(target 0.5 s, ratio {warm / 0.5:.2f}); CPU time {list_cpu:.3f} s; first (cache build) {cold:.3f} s")
        empty, full, empty_cpu, full_cpu = bench_start_history(root, 7, "list-home")
        print(f"start --no-wait with {count} executions in history vs an empty one (in turns, median of 7): "
              f"{full * 1000:.0f} vs {empty * 1000:.0f} ms, {full / empty:.2f}x (target 1.2x); "
              f"CPU time {full_cpu * 1000:.0f} vs {empty_cpu * 1000:.0f} ms")
        print(load_average())
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
