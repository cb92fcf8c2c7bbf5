"""One scheduler pass: a function of (home, now) whose only side effects go through the
schedule records/history and the executions API. The rules are Cloudify's scheduler's
(docs/cloudify-behaviour.md, "The scheduler"), decided under each schedule's lock.

For each enabled schedule whose ``next_occurrence`` is now or earlier, under that schedule's
lock and after re-reading it: advance ``next_occurrence`` (whether it runs or not); skip if
its latest execution has not ended; disable it if ``stop_on_fail`` and that execution
failed; fire only if ``now - occurrence <= slip minutes + 60 s``, through the executions
API's ``start(queue=True)`` — the same admission as ``cfy executions start``.

Why it never fires one occurrence twice, even with two passes at once: the re-read under
the lock sees the ``next_occurrence`` the other pass advanced, and the advanced record is
saved *before* firing (a crash can lose an occurrence but never repeat it); the history is
checked as a last guard.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from cfy_local import clock, maintenance_state
from cfy_local.errors import CfyLocalError
from cfy_local.executions import api as executions, lifecycle
from cfy_local.schedules import records
from cfy_local.schedules.api import occurrences_of
from cfy_local.store.paths import Home
from cfy_local.store.records import load_record
from cfy_local.timefmt import iso, parse_iso

FIRED, SKIPPED, DISABLED = "fired", "skipped", "disabled"
MAINTENANCE_REASON = "maintenance mode is activated, schedules won't run"
# The manager's polling period, granted on top of slip.
GRACE = timedelta(seconds=60)

FireFn = Callable[[Home, dict], dict]
LogFn = Callable[[str], None]


@dataclass
class Decision:
    deployment_id: str
    schedule_id: str
    occurrence: str | None
    action: str
    reason: str
    execution_id: str | None = None
    decided_at: str | None = None

    def history_entry(self) -> dict[str, Any]:
        return {"occurrence": self.occurrence, "decided_at": self.decided_at, "action": self.action,
                "reason": self.reason, "execution_id": self.execution_id}

    def log_line(self) -> str:
        line = (f"{self.decided_at} {self.action} {self.deployment_id}/{self.schedule_id} "
                f"occurrence={self.occurrence} reason={self.reason!r}")
        if self.execution_id:
            line += f" execution={self.execution_id}"
        return line


@dataclass
class PassReport:
    now: str
    due: int = 0
    decisions: list[Decision] = field(default_factory=list)
    maintenance: bool = False
    scanned: int = 0
    corrupt: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for d in self.decisions if d.action == action)


def fire_with_executions_api(home: Home, schedule: dict) -> dict:
    """Start the schedule's workflow through the one admission function, always queueing."""
    arguments = schedule.get("execution_arguments") or {}
    force = bool(arguments.get("force", False))
    dry_run = bool(arguments.get("is_dry_run", False))
    return executions.start(home, schedule["workflow_id"], schedule["deployment_id"], schedule.get("parameters") or {},
                            allow_custom_parameters=bool(arguments.get("allow_custom_parameters", False)),
                            force=force, queue=True, dry_run=dry_run,
                            wait_after_fail=arguments.get("wait_after_fail"), schedule_id=schedule["id"])


def write_log(home: Home, line: str) -> None:
    """Append one line to ``scheduler/scheduler.log`` (one write on O_APPEND: lines from
    concurrent passes never interleave)."""
    path = home.scheduler_log_file
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def run_pass(home: Home, now: datetime | None = None, *, fire: FireFn | None = None,
             reconcile: Callable[[Home], Any] | None = None, log: LogFn | None = None) -> PassReport:
    """One pass over every schedule. ``fire``/``reconcile`` default to the executions API;
    ``log`` receives one line per decision (also appended to ``scheduler.log``)."""
    now = now or clock.now()
    fire = fire or fire_with_executions_api
    reconcile = reconcile or executions.reconcile
    now_text = iso(now)
    report = PassReport(now=now_text)

    def emit(decision: Decision) -> None:
        report.decisions.append(decision)
        line = decision.log_line()
        write_log(home, line)
        if log:
            log(line)

    reconcile(home)

    due = []
    for record in records.load_all(home, corrupt=report.corrupt):
        report.scanned += 1
        nxt = record.get("next_occurrence")
        # ISO strings of one fixed format compare like the instants they name.
        if record.get("enabled", True) and nxt and nxt <= now_text:  # due at its time, not after
            due.append((nxt, record["deployment_id"], record["id"]))
    due.sort()
    report.due = len(due)
    if not due:
        return report

    if maintenance_state.current_status(home) == maintenance_state.ACTIVATED:
        report.maintenance = True
        for occurrence, dep, sched in due:
            decision = _record_maintenance_skip(home, dep, sched, occurrence, now_text)
            if decision is not None:
                emit(decision)
        return report

    for _, dep, sched in due:
        try:
            decision = _process(home, dep, sched, now, fire)
        except CfyLocalError as exc:  # a lock timeout or a corrupt record: the next pass retries
            decision = Decision(dep, sched, None, SKIPPED, f"not processed this pass: {exc}", decided_at=now_text)
        if decision is not None:
            emit(decision)
    return report


def _record_maintenance_skip(home: Home, dep: str, sched: str, occurrence: str, now_text: str) -> Decision | None:
    """Record the skip once per occurrence (the occurrence stays due, as on a manager, and
    may still run after maintenance ends if within its slip window)."""
    with records.schedule_lock(home, dep, sched):
        current = records.load_or_none(home, dep, sched)
        # Re-read under the lock: the due list was read before it, and a concurrent pass
        # (run while maintenance was briefly off) may have handled this occurrence already.
        if current is None or current.get("next_occurrence") != occurrence:
            return None
        last = records.last_history_entry(home, dep, sched)
        if last and last.get("occurrence") == occurrence and last.get("reason") == MAINTENANCE_REASON:
            return None
        decision = Decision(dep, sched, occurrence, SKIPPED, MAINTENANCE_REASON, decided_at=now_text)
        records.append_history(home, dep, sched, decision.history_entry())
    return decision


def _latest_execution(home: Home, execution_id: str | None) -> dict | None:
    if not execution_id:
        return None
    try:
        return load_record(home.execution_file(execution_id), "execution")
    except FileNotFoundError:
        return None


def _process(home: Home, dep: str, sched: str, now: datetime, fire: FireFn) -> Decision | None:
    now_text = iso(now)
    with records.schedule_lock(home, dep, sched):
        current = records.load_or_none(home, dep, sched)
        if current is None:
            return Decision(dep, sched, None, SKIPPED, "schedule was deleted during the pass", decided_at=now_text)
        occurrence = current.get("next_occurrence")
        if not current.get("enabled", True) or not occurrence or occurrence > now_text:
            return None  # edited, disabled or already handled by a concurrent pass
        last = records.last_history_entry(home, dep, sched)
        if last and last.get("occurrence") == occurrence and last.get("action") in (FIRED, DISABLED):
            return None

        new_next = iso(occurrences_of(current).next_after(now))
        updated = dict(current, next_occurrence=new_next)
        latest = _latest_execution(home, current.get("latest_execution"))
        decision = Decision(dep, sched, occurrence, SKIPPED, "", decided_at=now_text)
        lateness = now - parse_iso(occurrence)
        window = timedelta(minutes=current.get("slip", 0)) + GRACE

        if latest is not None and not lifecycle.is_end(latest["status"]):
            decision.reason = f"the previous execution {latest['id']} is still {latest['status']}"
        elif latest is not None and current.get("stop_on_fail") and latest["status"] == "failed":
            updated["enabled"] = False
            decision.action = DISABLED
            decision.reason = (f"Disabled schedule {sched} because the execution failed and "
                               f"stop_on_fail is set to true")
        elif lateness > window:
            decision.reason = (f"{int(lateness.total_seconds())} s late, outside the window of "
                               f"slip {current.get('slip', 0)} min + 60 s")
        else:
            decision.action = FIRED
        # Advance before firing: a crash after this line can lose this occurrence, never repeat it.
        records.save(home, updated)
        if decision.action == FIRED:
            try:
                execution = fire(home, current)
            except CfyLocalError as exc:
                decision.action = SKIPPED
                decision.reason = f"could not start the execution: {exc}"
                updated["latest_execution"] = None
            else:
                decision.execution_id = execution.get("id")
                decision.reason = f"execution {execution.get('status', 'started')}"
                updated["latest_execution"] = execution.get("id")
            records.append_history(home, dep, sched, decision.history_entry())
            records.save(home, updated)
        else:
            records.append_history(home, dep, sched, decision.history_entry())
    return decision
