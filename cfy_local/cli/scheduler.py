"""``cfy scheduler run [--interval S] [--once] [--at TIME]``."""
from __future__ import annotations

import os
import signal
import traceback

import click

from cfy_local import clock
from cfy_local.cli import AliasedGroup, render
from cfy_local.cli.common import get_home, json_option, wants_json
from cfy_local.cli.result import Message, Result
from cfy_local.config import load_config
from cfy_local.errors import ConflictError
from cfy_local.scheduler import LOCK
from cfy_local.scheduler.loop import SchedulerLoop, read_status, write_status
from cfy_local.scheduler.passes import run_pass, write_log
from cfy_local.timegrammar import parse_at
from cfy_local.store.locks import try_hold
from cfy_local.timefmt import iso


@click.group("scheduler", cls=AliasedGroup)
def scheduler():
    """Run the loop that fires execution schedules"""


def _decision(decision) -> dict:
    return dict(decision.history_entry(), deployment_id=decision.deployment_id, schedule_id=decision.schedule_id)


@scheduler.command("run")
@click.option("--interval", type=click.IntRange(min=1), help="Seconds between passes (default: scheduler_interval "
                                                            "from config.yaml, 60)")
@click.option("--once", is_flag=True, help="Run one pass and exit")
@click.option("--at", "at", metavar="TIME", help="Treat TIME (UTC; 'YYYY-MM-DD HH:MM[:SS]' or ISO 8601) as now "
                                                 "for the pass (only with --once)")
@json_option
def run(interval, once, at):
    """Fire due schedules: one pass every --interval seconds until SIGINT/SIGTERM."""
    if at and not once:
        raise click.UsageError("'--at' can only be used with '--once'.")
    home = get_home()
    # A pass logs its decisions as it makes them; the daemon's output is that log (a stream).
    out = render.LiveOutput(wants_json())

    if once:
        now = parse_at(at) if at else clock.now()
        report = run_pass(home, now, log=out.line)
        return Result(
            data={"now": report.now, "scanned": report.scanned, "due": report.due, "maintenance": report.maintenance,
                  "decisions": [_decision(d) for d in report.decisions]},
            after=[Message(f"Pass at {report.now}: {report.scanned} schedules, {report.due} due, "
                           f"{report.count('fired')} fired, {report.count('skipped')} skipped, "
                           f"{report.count('disabled')} disabled")])

    held = try_hold(home.root, LOCK)
    if held is None:
        pid = read_status(home).get("pid")
        raise ConflictError(f"A scheduler is already running on {home.root}"
                            + (f" (pid {pid})" if pid else "") + "; only one may run at a time")
    try:
        seconds = interval or load_config(home).scheduler_interval or 60

        def one_pass():
            try:
                for decision in run_pass(home, log=out.line).decisions:
                    out.record(_decision(decision))  # with --json: one object per decision
            except Exception as exc:  # the daemon outlives one bad pass; the next pass retries
                line = f"{iso(clock.now())} error pass failed: {exc!r}"
                write_log(home, line + "\n" + traceback.format_exc().rstrip())
                out.warn(line)

        loop = SchedulerLoop(home, seconds, one_pass)

        def stop(signum, _frame):
            out.warn(f"Received {signal.Signals(signum).name}; stopping after the current pass")
            loop.request_stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        out.line(f"Scheduler running on {home.root} (pid {os.getpid()}), a pass every {seconds} s")
        try:
            loop.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            status = read_status(home)
            status.pop("schema_version", None)
            write_status(home, dict(status, next_pass=None, stopped_at=iso(clock.now())))
        out.line(f"Scheduler stopped after {loop.passes} passes")
    finally:
        held.release()
