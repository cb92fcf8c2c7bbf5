"""One scheduler pass: a function of (home, now) whose only side effects go through the
schedule records/history and the executions API. The rules are Cloudify's scheduler's
(docs/cloudify-behaviour.md, "The scheduler"), decided under each schedule's lock.

For each enabled schedule whose ``next_occurrence`` is now or earlier, under that schedule's
lock and after re-reading it, every occurrence from ``next_occurrence`` up to now is decided
exactly once, and every decision is a history line:

- occurrences more than ``slip`` minutes + 60 s late are *missed*: recorded ``skipped``
  (one line each, or one line naming the range when there are more than
  ``MAX_MISSED_LINES``) — a scheduler that did not run for days leaves a trace of each;
- the latest occurrence still inside that window is the one due now: skipped if the
  schedule's latest execution has not ended, the schedule disabled if ``stop_on_fail`` and
  that execution failed, else fired through the executions API's ``start(queue=True)`` —
  the same admission as ``cfy executions start``;
- while maintenance mode is activated that occurrence is held (not decided): it fires
  after deactivation if still inside its window, else it is recorded as skipped for
  maintenance by the pass that finds it late.

Crash safety (a pass can be SIGKILLed anywhere): the history line(s) of a decision are one
append, written *before* the advanced record; a fire is preceded by a ``firing`` line. The
next pass repairs whatever a kill cut short — a decision whose record was not advanced is
not decided again (the history says it was), and a ``firing`` line without its outcome is
resolved by looking for the execution the schedule started (recorded ``fired`` if it exists,
fired now if still inside its window, else recorded ``skipped``). So an occurrence is fired
at most once and never left without a line. Two passes at once exclude each other with the
schedule's lock and the re-read.

A clock that went backwards by more than ``CLOCK_JUMP`` since the schedule's last decision
(a pass was run at a wrong future time, or the clock was corrected) makes the schedule
recompute its next occurrence from now, with a history line saying so: otherwise it would
stay silent until the wrong time came round again.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from cfy_local import clock, maintenance_state
from cfy_local.errors import CfyLocalError
from cfy_local.executions import api as executions, index, statuses
from cfy_local.schedules import records
from cfy_local.schedules.api import occurrences_of
from cfy_local.store.event_log import EventWriter
from cfy_local.store.paths import Home
from cfy_local.store.versioned import load_record
from cfy_local.timefmt import iso, parse_iso

FIRED, SKIPPED, DISABLED = "fired", "skipped", "disabled"
# Written before a fire; the outcome line follows it (hidden from `schedule history`).
FIRING = records.FIRING
RECOMPUTED = "recomputed"
MAINTENANCE_REASON = "maintenance mode is activated, schedules won't run"
# The manager's polling period, granted on top of slip.
GRACE = timedelta(seconds=60)
# Missed occurrences listed one line each up to this many; more become one range line.
MAX_MISSED_LINES = 10
# Missed occurrences counted at most this far (a minutely rule after years of downtime).
MAX_MISSED_COUNT = 100_000
# A backward clock step larger than this (since the schedule's last decision) recomputes
# the schedule's next occurrence; smaller ones (NTP slews, passes run a little apart) keep
# what was decided.
CLOCK_JUMP = timedelta(hours=1)
_TICK = timedelta(milliseconds=1)

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

    last_occurrence: str | None = None
    missed: int | None = None

    def history_entry(self) -> dict[str, Any]:
        entry = {"occurrence": self.occurrence, "decided_at": self.decided_at, "action": self.action,
                 "reason": self.reason, "execution_id": self.execution_id}
        if self.last_occurrence is not None:
            entry.update(last_occurrence=self.last_occurrence, missed=self.missed)
        return entry

    def log_line(self) -> str:
        line = (f"{self.decided_at} {self.action} {self.deployment_id}/{self.schedule_id} "
                f"occurrence={self.occurrence} reason={self.reason!r}")
        if self.last_occurrence is not None:
            line += f" last_occurrence={self.last_occurrence} missed={self.missed}"
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
    concurrent passes never interleave; a full disk never leaves half a line)."""
    path = home.scheduler_log_file
    # The log is a report (the history is the record): a full disk or a planted link costs
    # its line, never the pass. The events writer cuts a line a full disk left half-written.
    try:
        append_events_text(path, line)
    except CfyLocalError:
        pass


def append_events_text(path: str, line: str) -> None:
    writer = EventWriter(path)
    try:
        writer.write_lines([("", line)])
    finally:
        writer.close(durable=False)  # a report: not worth an fsync per line


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

    jump_back = iso(now + CLOCK_JUMP)
    due = []
    for record in records.load_all(home, corrupt=report.corrupt):
        report.scanned += 1
        nxt = record.get("next_occurrence")
        # ISO strings of one fixed format compare like the instants they name.
        went_back = (record.get("last_decided_at") or "") > jump_back
        # `firing`: a pass was killed between advancing the record and recording its fire.
        if record.get("enabled", True) and ((nxt and nxt <= now_text) or went_back or record.get("firing")):  # due at its time
            due.append((nxt or "", record["deployment_id"], record["id"]))
    due.sort()
    report.due = len(due)
    if not due:
        return report

    report.maintenance = maintenance_state.current_status(home) == maintenance_state.ACTIVATED
    for _, dep, sched in due:
        try:
            decisions = _process(home, dep, sched, now, fire, held=report.maintenance)
        except CfyLocalError as exc:  # a lock timeout or a corrupt record: the next pass retries
            decisions = [Decision(dep, sched, None, SKIPPED, f"not processed this pass: {exc}", decided_at=now_text)]
        for decision in decisions:
            emit(decision)
    return report


def _latest_execution(home: Home, execution_id: str | None) -> dict | None:
    if not execution_id:
        return None
    try:
        return load_record(home.execution_file(execution_id), "execution")
    except FileNotFoundError:
        return None


def _decided_through(entry: dict | None) -> str | None:
    """The latest occurrence a history line decided (None for lines that decide nothing)."""
    if not entry or entry.get("action") not in (FIRED, SKIPPED, DISABLED):
        return None
    return entry.get("last_occurrence") or entry.get("occurrence")


def _started_by_schedule(home: Home, schedule: dict, since_ns: int) -> dict | None:
    """The execution this schedule started at or after ``since_ns`` (a fire cut short)."""
    for row in index.scan(home, write_back=False):
        if (row.get("deployment_id") == schedule["deployment_id"] and row.get("workflow_id") == schedule["workflow_id"]
                and (row.get("created_ns") or 0) >= since_ns):
            record = _latest_execution(home, row["id"])
            if record is not None and record.get("schedule_id") == schedule["id"]:
                return record
    return None


def _process(home: Home, dep: str, sched: str, now: datetime, fire: FireFn, *, held: bool) -> list[Decision]:
    now_text = iso(now)
    with records.schedule_lock(home, dep, sched):
        current = records.load_or_none(home, dep, sched)
        if current is None:
            return [Decision(dep, sched, None, SKIPPED, "schedule was deleted during the pass", decided_at=now_text)]
        if not current.get("enabled", True):
            return []  # disabled by a concurrent pass or an edit
        out: list[Decision] = []
        rule = occurrences_of(current)
        window = timedelta(minutes=current.get("slip", 0)) + GRACE
        last = records.last_history_entry(home, dep, sched)

        if last and last.get("action") == FIRING:
            decision, current = _finish_interrupted_fire(home, current, last, now, window, fire)
            out.append(decision)
            last = decision.history_entry()
        elif current.get("firing"):
            # Killed after the fire's history line, before the record noted the execution.
            current = dict(current)
            del current["firing"]
            if last and last.get("action") == FIRED and last.get("execution_id"):
                current["latest_execution"] = last["execution_id"]
            records.save(home, current)

        if (current.get("last_decided_at") or "") > iso(now + CLOCK_JUMP):
            # From the start of the window: an occurrence due now still fires in this pass.
            nxt = rule.next_after(now - window - _TICK)
            decision = Decision(dep, sched, None, RECOMPUTED,
                                f"the clock went back: the last decision was made at {current['last_decided_at']}; "
                                f"next occurrence recomputed from now ({now_text}): {iso(nxt) if nxt else None}",
                                decided_at=now_text)
            records.append_history(home, dep, sched, decision.history_entry())
            current = dict(current, next_occurrence=iso(nxt) if nxt else None, last_decided_at=now_text)
            records.save(home, current)
            out.append(decision)
            last = decision.history_entry()

        occurrence = current.get("next_occurrence")
        decided = _decided_through(last)
        if occurrence and decided and occurrence <= decided:
            # A kill after the decision's history line and before the advanced record:
            # the history says it was decided, so it is not decided again.
            after = rule.next_after(parse_iso(decided))
            occurrence = iso(after) if after else None
            current = dict(current, next_occurrence=occurrence)
            records.save(home, current)
        if not occurrence or occurrence > now_text:
            return out
        out.extend(_decide(home, current, rule, parse_iso(occurrence), now, window, fire, held=held))
    return out


def _decide(home: Home, current: dict, rule, first: datetime, now: datetime, window: timedelta,
            fire: FireFn, *, held: bool) -> list[Decision]:
    """Decide every occurrence from ``first`` up to now (caller holds the schedule lock)."""
    dep, sched = current["deployment_id"], current["id"]
    now_text = iso(now)
    window_start = now - window
    # The one due now: the latest occurrence at or before now and inside the window.
    candidate = None
    start = _from(rule, first) if first >= window_start else rule.iter_from(window_start - _TICK)
    for value in itertools.islice(start, MAX_MISSED_COUNT):
        if value > now:
            break
        candidate = value
    missed_before = candidate if candidate is not None else now
    missed = _missed(rule, first, missed_before, now, window, current, held)

    decisions = list(missed)
    lines = [d.history_entry() for d in missed]
    updated = dict(current, last_decided_at=now_text)
    if candidate is None:
        nxt = rule.next_after(now - _TICK)
        updated["next_occurrence"] = iso(nxt) if nxt else None
        _record(home, updated, lines)
        return decisions
    if held:
        # Maintenance: the occurrence due now waits (undecided) for the end of maintenance.
        updated["next_occurrence"] = iso(candidate)
        _record(home, updated, lines)
        return decisions

    occurrence = iso(candidate)
    nxt = rule.next_after(now - _TICK)
    updated["next_occurrence"] = iso(nxt) if nxt else None
    latest = _latest_execution(home, current.get("latest_execution"))
    decision = Decision(dep, sched, occurrence, SKIPPED, "", decided_at=now_text)
    if latest is not None and not statuses.is_end(latest["status"]):
        decision.reason = f"the previous execution {latest['id']} is still {latest['status']}"
    elif latest is not None and current.get("stop_on_fail") and latest["status"] == "failed":
        updated["enabled"] = False
        decision.action = DISABLED
        decision.reason = (f"Disabled schedule {sched} because the execution failed and "
                           f"stop_on_fail is set to true")
    else:
        decision.action = FIRED
    if decision.action != FIRED:
        _record(home, updated, lines + [decision.history_entry()])
        return decisions + [decision]
    intent = {"occurrence": occurrence, "decided_at": now_text, "action": FIRING,
              "reason": "starting the execution", "execution_id": None, "started_ns": time.time_ns()}
    updated["firing"] = {"occurrence": occurrence, "started_ns": intent["started_ns"]}
    _record(home, updated, lines + [intent])
    _fire_and_record(home, current, updated, decision, fire)
    return decisions + [decision]


def _from(rule, first: datetime):
    """``first`` (the stored next occurrence, decided even if an edit of the rule no longer
    produces it) and the rule's occurrences after it."""
    return itertools.chain([first], rule.iter_from(first))


def _missed(rule, first: datetime, before: datetime, now: datetime, window: timedelta, current: dict,
            held: bool) -> list[Decision]:
    """Skip decisions for the occurrences from ``first`` to just before ``before``."""
    dep, sched = current["deployment_id"], current["id"]
    now_text = iso(now)
    values = []
    count = 0
    last_value = None
    for value in _from(rule, first):
        if value >= before or count >= MAX_MISSED_COUNT:
            break
        count += 1
        last_value = value
        if len(values) <= MAX_MISSED_LINES:
            values.append(value)
    if not count:
        return []
    late_reason = (MAINTENANCE_REASON if held else
                   f"outside the window of slip {current.get('slip', 0)} min + 60 s")

    def why(value: datetime) -> str:
        lateness = now - value
        if lateness <= window:
            return "a later occurrence is due now" if not held else MAINTENANCE_REASON
        return f"{int(lateness.total_seconds())} s late, {late_reason}" if not held else MAINTENANCE_REASON

    if count <= MAX_MISSED_LINES:
        return [Decision(dep, sched, iso(v), SKIPPED, why(v), decided_at=now_text) for v in values]
    more = " or more" if count >= MAX_MISSED_COUNT else ""
    reason = (f"{count}{more} occurrences missed, from {iso(values[0])} to {iso(last_value)}: "
              f"{MAINTENANCE_REASON if held else 'the scheduler did not run within slip + 60 s of them'}")
    return [Decision(dep, sched, iso(values[0]), SKIPPED, reason, decided_at=now_text,
                     last_occurrence=iso(last_value), missed=count)]


def _record(home: Home, updated: dict, lines: list[dict]) -> None:
    """The decision's history lines (one append), then the advanced record."""
    if lines:
        records.append_history_lines(home, updated["deployment_id"], updated["id"], lines)
    records.save(home, updated)


def _fire_and_record(home: Home, current: dict, updated: dict, decision: Decision, fire: FireFn) -> None:
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
    records.append_history(home, current["deployment_id"], current["id"], decision.history_entry())
    updated.pop("firing", None)
    records.save(home, updated)


def _finish_interrupted_fire(home: Home, current: dict, intent: dict, now: datetime, window: timedelta,
                             fire: FireFn) -> tuple[Decision, dict]:
    """A pass was killed after its ``firing`` line: find out whether the execution was
    started, and record the outcome (firing it now if it was not and still may)."""
    dep, sched = current["deployment_id"], current["id"]
    occurrence = intent.get("occurrence")
    decision = Decision(dep, sched, occurrence, FIRED, "", decided_at=iso(now))
    updated = dict(current)
    updated.pop("firing", None)
    execution = _started_by_schedule(home, current, int(intent.get("started_ns") or 0))
    if execution is not None:
        decision.execution_id = execution["id"]
        decision.reason = f"execution {execution.get('status')} (recorded after an interrupted pass)"
        updated["latest_execution"] = execution["id"]
        records.append_history(home, dep, sched, decision.history_entry())
        records.save(home, updated)
        return decision, updated
    if occurrence and now - parse_iso(occurrence) <= window:
        _fire_and_record(home, current, updated, decision, fire)
        return decision, updated
    decision.action = SKIPPED
    decision.reason = "the pass starting it was interrupted and its window has passed"
    records.append_history(home, dep, sched, decision.history_entry())
    records.save(home, updated)
    return decision, updated
