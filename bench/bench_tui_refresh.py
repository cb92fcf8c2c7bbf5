"""`cfy tui` refresh benchmark (issue 8). Prints figures, targets and ratios.

With 10,000 executions in a state dir (targets are CPU time of this process, "work";
wall time is printed beside it):
  first load of the table (every record read once)          (no target; shown)
  idle tick: nothing changed                                 target ≤ 100 ms
  tick after 20 records changed + 1 new                      target ≤ 100 ms
  full tick in the running app (data + redraw of 80x24)      target ≤ 100 ms
  events pane: poll after 100 new events on a 100,000-line log  target ≤ 10 ms
                (vs. re-reading the whole log: ratio shown)

Usage: .venv/bin/python bench/bench_tui_refresh.py [--keep]
"""
from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cfy_local import clock  # noqa: E402
from cfy_local.executions import records  # noqa: E402
from cfy_local.store.events import EventWriter, read_from  # noqa: E402
from cfy_local.store.paths import Home  # noqa: E402
from cfy_local.store.records import save_record  # noqa: E402
from cfy_local.timefmt import iso  # noqa: E402

UTC = timezone.utc
NOW = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
EXECUTIONS = 10_000
STATUSES = ("terminated", "terminated", "terminated", "failed", "cancelled", "queued", "started")


class Span:
    """Wall time and CPU time of this process ("work") of one measured stretch."""

    def __enter__(self) -> "Span":
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = (time.perf_counter() - self.wall0) * 1000
        self.cpu = (time.process_time() - self.cpu0) * 1000


def median_span(fn, repeat=7) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        with Span() as span:
            fn()
        walls.append(span.wall)
        cpus.append(span.cpu)
    return statistics.median(walls), statistics.median(cpus)


def report(label: str, wall: float, cpu: float, target: float | None) -> bool:
    """The target applies to the work done (CPU ms): on a shared, loaded machine wall time
    also counts waiting for a core. Both are printed."""
    line = f"  {label:<52} cpu {cpu:7.1f} ms  wall {wall:7.1f} ms"
    if target is None:
        print(line)
        return True
    ok = cpu <= target
    print(f"{line}  target ≤ {target:.0f} ms  ratio {cpu / target:.2f}  {'OK' if ok else 'SLOW'}")
    return ok


def populate(home: Home) -> list[dict]:
    made = []
    for number in range(EXECUTIONS):
        status = STATUSES[number % len(STATUSES)]
        created = NOW - timedelta(minutes=EXECUTIONS - number)
        record = records.new_record(workflow_id=("install", "uninstall", "heal")[number % 3],
                                    deployment_id=f"dep{number % 200}", blueprint_id="bp", status=status)
        record.update(created_at=iso(created), started_at=iso(created + timedelta(seconds=1)),
                      ended_at=None if status in ("queued", "started") else iso(created + timedelta(seconds=40)),
                      total_operations=8, finished_operations=8 if status == "terminated" else 3)
        # Setup only: skip fsync so 10,000 files are written in seconds.
        save_record(home.execution_file(record["id"]), record, durable=False)
        made.append(record)
    return made


def main(argv: list[str]) -> int:
    root = tempfile.mkdtemp(prefix="bench-tui-")
    ok = True
    try:
        home = Home.open(os.path.join(root, "home"))
        clock.freeze(NOW)
        start = time.perf_counter()
        made = populate(home)
        print(f"setup: {EXECUTIONS} execution records in {time.perf_counter() - start:.1f} s")

        from cfy_local.tui.app import CfyTui

        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        app = CfyTui(home, live=False)
        with Span() as span:
            app.refresh_state()
        report("first load (reads every record)", span.wall, span.cpu, None)

        def idle_tick() -> None:
            app.executions.index._folder_mtime = None  # measure the listing, not the quiet-folder shortcut
            app.refresh_state()

        ok &= report("idle tick (folder listing, nothing changed)", *median_span(idle_tick), 100)
        past = time.time() - 60
        os.utime(home.executions_dir, (past, past))  # nothing written for a minute
        app.refresh_state()
        ok &= report("idle tick, folder quiet for a minute (one stat)", *median_span(app.refresh_state), 100)

        counter = iter(range(10**6))

        def tick_with_changes() -> None:
            round_number = next(counter)
            for record in made[round_number * 20:(round_number + 1) * 20]:
                save_record(home.execution_file(record["id"]), dict(record, error=f"changed {round_number}"),
                            durable=False)
            extra = records.new_record(workflow_id="install", deployment_id="dep1", blueprint_id="bp")
            save_record(home.execution_file(extra["id"]), extra, durable=False)
            with Span() as span:
                app.refresh_state()
            timings.append((span.wall, span.cpu))

        timings: list[tuple[float, float]] = []
        for _ in range(7):
            tick_with_changes()
        ok &= report("tick after 20 changed + 1 new record", statistics.median(t[0] for t in timings),
                     statistics.median(t[1] for t in timings), 100)

        full: list[tuple[float, float]] = []

        async def run_app() -> None:
            live = CfyTui(home, live=False)
            async with live.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                for _ in range(7):
                    live.executions.index._folder_mtime = None  # a full listing every tick
                    with Span() as span:
                        live.tick()
                        await pilot.pause()
                    full.append((span.wall, span.cpu))
                await pilot.press("s", "s", "s", "s", "s")  # sort by duration: re-sorts every tick
                for _ in range(3):
                    live.executions.index._folder_mtime = None
                    with Span() as span:
                        live.tick()
                        await pilot.pause()
                    full.append((span.wall, span.cpu))

        asyncio.run(run_app())
        ok &= report("full tick in the app at 80x24 (data + redraw)", statistics.median(t[0] for t in full),
                     statistics.median(t[1] for t in full), 100)
        report("  worst full tick (incl. sort by duration)", max(t[0] for t in full), max(t[1] for t in full), None)

        # Events pane: incremental reads.
        from cfy_local.tui.model import EventTail

        target = made[-1]
        path = home.events_file(target["id"])
        event = {"type": "cloudify_log", "timestamp": iso(NOW), "reported_timestamp": iso(NOW), "level": "info",
                 "logger": "ctx", "message": {"text": "x" * 80, "arguments": None},
                 "context": {"deployment_id": "dep1", "execution_id": target["id"]}}
        with EventWriter(path, batch=True) as writer:
            for _ in range(100_000):
                writer.write(event)
        tail = EventTail(path)
        with Span() as span:
            tail.poll()
        report("events: open a 100,000-line log (its last 4 MiB)", span.wall, span.cpu, None)
        with EventWriter(path, batch=True) as writer:
            for _ in range(100):
                writer.write(event)
        with Span() as incremental:
            new = tail.poll()
        assert len(new) == 100
        with Span() as whole:
            read_from(path, 0)
        ok &= report("events: poll after 100 new events", incremental.wall, incremental.cpu, 10)
        print(f"  re-reading the whole log instead: cpu {whole.cpu:.1f} ms "
              f"({whole.cpu / max(incremental.cpu, 0.001):.0f}x the incremental read)")
    finally:
        clock.freeze(None)
        if "--keep" in argv:
            print(f"state dir kept at {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
