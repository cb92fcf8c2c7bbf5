"""Schedules and scheduler benchmarks (issues 6 and 7). Prints figures, targets and ratios.

  --preview 1000 of a weekdays rule        target ≤ 50 ms
  `schedule list` over 1,000 schedules     target ≤ 0.5 s  (in-process CLI; --json also shown)
  one pass, 1,000 enabled, 100 due         target ≤ 2 s
  idle pass over 1,000                     target ≤ 0.3 s

The pass fires through a stand-in that writes a pending execution record (what admission
writes for an idle deployment) so the figure is the scheduler's own cost, not 100 worker
process spawns. Usage: .venv/bin/python bench/bench_schedules.py [--keep]
"""
from __future__ import annotations

import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def report(name, seconds, target):
    ratio = seconds / target
    verdict = "OK" if ratio <= 1 else "SLOW"
    print(f"{name:<48} {seconds * 1000:9.1f} ms   target {target * 1000:7.0f} ms   ratio {ratio:5.2f}  {verdict}")
    return ratio <= 1


def main(argv):
    root = tempfile.mkdtemp(prefix="bench-schedules-")
    os.environ["CFY_LOCAL_HOME"] = os.path.join(root, "home")
    from cfy_local import clock
    from cfy_local.executions import records as execution_records
    from cfy_local.scheduler.passes import run_pass
    from cfy_local.schedules import api
    from cfy_local.schedules.rules import Occurrences, build_rule
    from cfy_local.store.paths import Home
    from cfy_local.store.versioned import save_record

    home = Home.open(os.environ["CFY_LOCAL_HOME"])
    ok = True
    try:
        rule = build_rule(recurrence="1d", weekdays=["mo", "tu", "we", "th", "fr"])
        occ = Occurrences(rule, NOW, None, "America/New_York")
        best, median = best_of(lambda: occ.upcoming(NOW, 1000), repeat=7)
        ok &= report("preview 1000 (weekdays, America/New_York)", best, 0.050)
        print(f"{'':<48} median {median * 1000:.1f} ms")

        workflows = {w: {"mapping": f"default_workflows.cloudify.plugins.workflows.{w}", "plugin": "default_workflows",
                         "operation": f"cloudify.plugins.workflows.{w}", "parameters": {}} for w in ("install", "backup")}
        for d in range(10):
            save_record(home.deployment_file(f"dep{d}"), {"id": f"dep{d}", "blueprint_id": "bp", "workflows": workflows,
                                                          "default_schedules": {}})
        clock.freeze(NOW - timedelta(days=1))
        for i in range(1000):
            due_soon = i % 10 == 0  # 100 of them come due at 09:00 today
            api.create_schedule(home, f"dep{i % 10}", "backup", schedule_id=f"s{i:04d}",
                                since="2026-03-02 09:00",
                                tz="Europe/London", recurrence="1d" if due_soon else "1w",
                                now=NOW - timedelta(days=1) if due_soon else NOW + timedelta(days=3))
        clock.freeze(None)
        from cfy_local.cli import main as cli_main

        def cli_list(*extra):
            buffer = io.StringIO()
            with redirect_stdout(buffer):
                try:
                    cli_main(["deployments", "schedule", "list", *extra])
                except SystemExit as exc:
                    if exc.code not in (0, None):
                        raise RuntimeError(f"schedule list exited {exc.code}") from None
            return buffer.getvalue()

        list_label = "`cfy deployments schedule list` (1,000)"
        assert "Showing 1000 of 1000" in cli_list()
        best, _ = best_of(cli_list, repeat=3)
        ok &= report(list_label, best, 0.5)
        shutil.rmtree(os.path.join(home.cache_dir, "occurrences"), ignore_errors=True)
        cold, _ = best_of(lambda: cli_list("--json"), repeat=1)
        print(f"{'  --json, all_next_occurrences, cold cache':<48} {cold * 1000:9.1f} ms   (no target)")
        warm, _ = best_of(lambda: cli_list("--json"), repeat=3)
        print(f"{'  --json, all_next_occurrences, warm cache':<48} {warm * 1000:9.1f} ms   (no target)")

        def fire(h, schedule):
            record = execution_records.new_record(workflow_id=schedule["workflow_id"],
                                                  deployment_id=schedule["deployment_id"], blueprint_id="bp")
            execution_records.save(h, record)
            return record

        def no_reconcile(h):
            return None

        idle_at = NOW.replace(hour=8)
        best, _ = best_of(lambda: run_pass(home, idle_at, fire=fire, reconcile=no_reconcile), repeat=5)
        ok &= report("idle pass over 1,000", best, 0.3)

        start = time.perf_counter()
        result = run_pass(home, NOW.replace(hour=9, second=30), fire=fire, reconcile=no_reconcile)
        elapsed = time.perf_counter() - start
        assert result.count("fired") == 100, result.count("fired")
        ok &= report("pass over 1,000 with 100 due (100 fired)", elapsed, 2.0)
    finally:
        if "--keep" in argv:
            print(f"state kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
