"""`cfy tui` refresh benchmark (issue 8). Prints figures, targets and ratios.

With 10,000 executions in a state dir:
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


def median_ms(fn, repeat=7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def report(label: str, ms: float, target: float | None) -> bool:
    if target is None:
        print(f"  {label:<58} {ms:9.1f} ms")
        return True
    ok = ms <= target
    print(f"  {label:<58} {ms:9.1f} ms  target ≤ {target:.0f} ms  ratio {ms / target:.2f}  {'OK' if ok else 'SLOW'}")
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

        app = CfyTui(home, live=False)
        start = time.perf_counter()
        app.refresh_state()
        report("first load (reads every record)", (time.perf_counter() - start) * 1000, None)
        ok &= report("idle tick (stat scan, nothing changed)", median_ms(app.refresh_state), 100)

        counter = iter(range(10**6))

        def tick_with_changes() -> None:
            round_number = next(counter)
            for record in made[round_number * 20:(round_number + 1) * 20]:
                save_record(home.execution_file(record["id"]), dict(record, error=f"changed {round_number}"),
                            durable=False)
            extra = records.new_record(workflow_id="install", deployment_id="dep1", blueprint_id="bp")
            save_record(home.execution_file(extra["id"]), extra, durable=False)
            begin = time.perf_counter()
            app.refresh_state()
            timings.append((time.perf_counter() - begin) * 1000)

        timings: list[float] = []
        for _ in range(7):
            tick_with_changes()
        ok &= report("tick after 20 changed + 1 new record", statistics.median(timings), 100)

        full: list[float] = []

        async def run_app() -> None:
            live = CfyTui(home, live=False)
            async with live.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                for _ in range(7):
                    begin = time.perf_counter()
                    live.tick()
                    await pilot.pause()
                    full.append((time.perf_counter() - begin) * 1000)
                await pilot.press("s", "s", "s", "s", "s")  # sort by duration: re-sorts every tick
                for _ in range(3):
                    begin = time.perf_counter()
                    live.tick()
                    await pilot.pause()
                    full.append((time.perf_counter() - begin) * 1000)

        asyncio.run(run_app())
        ok &= report("full tick in the app at 80x24 (data + redraw)", statistics.median(full), 100)
        report("  worst full tick (incl. sort by duration)", max(full), None)

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
        start = time.perf_counter()
        tail.poll()
        report("events: first read of a 100,000-line log", (time.perf_counter() - start) * 1000, None)
        with EventWriter(path, batch=True) as writer:
            for _ in range(100):
                writer.write(event)
        start = time.perf_counter()
        new = tail.poll()
        incremental = (time.perf_counter() - start) * 1000
        assert len(new) == 100
        start = time.perf_counter()
        read_from(path, 0)
        whole = (time.perf_counter() - start) * 1000
        ok &= report("events: poll after 100 new events (incremental)", incremental, 10)
        print(f"  re-reading the whole log instead would take {whole:.1f} ms "
              f"({whole / max(incremental, 0.001):.0f}x the incremental read)")
    finally:
        clock.freeze(None)
        if "--keep" in argv:
            print(f"state dir kept at {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
