"""``cfy scheduler run [--interval S] [--once] [--at TIME]`` (SPEC §9)."""
from __future__ import annotations

import os
import signal
import sys
import traceback

import click

from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, wants_json


@click.group("scheduler", cls=AliasedGroup)
def scheduler():
    """Run the loop that fires execution schedules"""


def _log_line(line: str) -> None:
    render.echo(line)
    sys.stdout.flush()


@scheduler.command("run")
@click.option("--interval", type=click.IntRange(min=1), help="Seconds between passes (default: scheduler_interval "
                                                            "from config.yaml, 60)")
@click.option("--once", is_flag=True, help="Run one pass and exit")
@click.option("--at", "at", metavar="TIME", help="Treat TIME (UTC; 'YYYY-MM-DD HH:MM[:SS]' or ISO 8601) as now "
                                                 "for the pass (only with --once)")
@json_option
def run(interval, once, at):
    """Fire due schedules: one pass every --interval seconds until SIGINT/SIGTERM."""
    from cfy_local import clock
    from cfy_local.config import load_config
    from cfy_local.errors import ConflictError
    from cfy_local.scheduler import LOCK
    from cfy_local.scheduler.loop import SchedulerLoop, read_status, write_status
    from cfy_local.scheduler.passes import run_pass
    from cfy_local.timegrammar import parse_at
    from cfy_local.store.locks import try_hold
    from cfy_local.timefmt import iso

    if at and not once:
        raise click.UsageError("'--at' can only be used with '--once'.")
    home = get_home()
    as_json = wants_json()
    log = None if as_json else _log_line

    if once:
        now = parse_at(at) if at else clock.now()
        report = run_pass(home, now, log=log)
        if as_json:
            render.print_json({"now": report.now, "scanned": report.scanned, "due": report.due,
                               "maintenance": report.maintenance,
                               "decisions": [dict(d.history_entry(), deployment_id=d.deployment_id,
                                                  schedule_id=d.schedule_id) for d in report.decisions]})
        else:
            render.echo(f"Pass at {report.now}: {report.scanned} schedules, {report.due} due, "
                        f"{report.count('fired')} fired, {report.count('skipped')} skipped, "
                        f"{report.count('disabled')} disabled")
        return

    held = try_hold(home.root, LOCK)
    if held is None:
        pid = read_status(home).get("pid")
        raise ConflictError(f"A scheduler is already running on {home.root}"
                            + (f" (pid {pid})" if pid else "") + "; only one may run at a time")
    try:
        seconds = interval or load_config(home).scheduler_interval or 60

        def one_pass():
            try:
                report = run_pass(home, log=log)
                if as_json:  # a stream: one JSON object per decision
                    for decision in report.decisions:
                        render.print_ndjson(dict(decision.history_entry(), deployment_id=decision.deployment_id,
                                                 schedule_id=decision.schedule_id))
            except Exception as exc:  # the daemon outlives one bad pass; the next pass retries
                from cfy_local.scheduler.passes import write_log

                line = f"{iso(clock.now())} error pass failed: {exc!r}"
                write_log(home, line + "\n" + traceback.format_exc().rstrip())
                render.warn(line)

        loop = SchedulerLoop(home, seconds, one_pass)

        def stop(signum, _frame):
            render.warn(f"Received {signal.Signals(signum).name}; stopping after the current pass")
            loop.request_stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        if not as_json:
            render.echo(f"Scheduler running on {home.root} (pid {os.getpid()}), a pass every {seconds} s")
            sys.stdout.flush()
        try:
            loop.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            status = read_status(home)
            status.pop("schema_version", None)
            write_status(home, dict(status, next_pass=None, stopped_at=iso(clock.now())))
        if not as_json:
            render.echo(f"Scheduler stopped after {loop.passes} passes")
    finally:
        held.release()
