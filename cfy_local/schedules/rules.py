"""Scheduling rules and their occurrences, as Cloudify computes them (docs/cloudify-behaviour.md,
"Execution schedules").

A rule is stored as Cloudify stores it: ``{"rrule": "<RRULE>"}`` or
``{"recurrence": str|None, "count": int|None, "weekdays": [str]|None}``.

Occurrences are computed with ``dateutil.rrule`` in the schedule's zone and handed out as
aware UTC datetimes: wall-clock rules (daily and longer, weekdays, raw RRULEs) run
on local naive times, so 09:00 stays 09:00 across DST; a wall time that does not exist on a
DST day is skipped and an ambiguous one fires once (its first instant). Rules shorter than a
day without weekdays (``30 min``, ``2h``) are elapsed time and run on UTC, so they neither
pause nor double up when the clocks change.
"""
from __future__ import annotations

import contextlib
import itertools
import re
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

from dateutil import rrule as du

from cfy_local.errors import ValidationError
from cfy_local.timefmt import parse_iso
from cfy_local.timegrammar import get_zone, recurrence_parts, to_utc

UTC = timezone.utc
MAX_PREVIEW = 1000
# Cloudify scans at most this many generated dates when listing upcoming occurrences.
MAX_SCAN = 100_000
# How long validation may search for a raw RRULE's first date before refusing it.
RRULE_SEARCH_SECONDS = 2.0

_WEEKDAY = re.compile(r"^([1-4]|L-)?(SU|MO|TU|WE|TH|FR|SA)")
_DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_FREQ = {
    "sec": du.SECONDLY, "second": du.SECONDLY, "min": du.MINUTELY, "minute": du.MINUTELY,
    "h": du.HOURLY, "hour": du.HOURLY, "d": du.DAILY, "day": du.DAILY, "w": du.WEEKLY,
    "week": du.WEEKLY, "mo": du.MONTHLY, "month": du.MONTHLY, "y": du.YEARLY, "year": du.YEARLY,
}
_FIXED_SECONDS = {du.SECONDLY: 1, du.MINUTELY: 60, du.HOURLY: 3600}
_UNIT_NAME = {du.SECONDLY: "seconds", du.MINUTELY: "minutes", du.HOURLY: "hours", du.DAILY: "days",
              du.WEEKLY: "weeks", du.MONTHLY: "months", du.YEARLY: "years"}

RRULE_EXCLUSIVE = "`rrule` cannot be provided together with `recurrence`, `weekdays` or `count`."
COUNT_WITHOUT_RECURRENCE = "recurrence must be specified for execution count larger than 1"


def parse_recurrence(expression: str) -> tuple[int, int]:
    """``2 weeks`` → (WEEKLY, 2)."""
    unit, count = recurrence_parts(expression)
    return _FREQ[unit], count


def split_weekdays(values: list[str] | tuple[str, ...] | str | None) -> list[str] | None:
    """``--weekdays`` given repeatedly and/or comma-separated; spaces around items are
    allowed (``"mo, tu"``: a deliberate departure from Cloudify, which refuses it, listed in the
    README)."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    items = [part.strip() for value in values for part in str(value).split(",")]
    items = [item for item in items if item]
    return items or None


def validate_weekdays(weekdays: list[str], recurrence: str | None) -> list[str]:
    out = []
    freq = parse_recurrence(recurrence)[0] if recurrence else None
    for raw in weekdays:
        day = str(raw).upper()
        match = _WEEKDAY.match(day)
        if not match:
            raise ValidationError(
                f"weekdays list contains an invalid weekday `{raw}`. Valid weekdays are: "
                f"{'|'.join(_DAY_CODES)} or their lowercase values, optionally prefixed by 1-4 or l-/L-.")
        if match.group(1) and freq not in (du.MONTHLY, du.YEARLY):
            unit = _UNIT_NAME.get(freq, "None") if freq is not None else "None"
            raise ValidationError(
                f"complex weekday expression {raw} can only be used with a months|years recurrence, but got {unit}.")
        out.append(day)
    return out


def _as_count(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"invalid parameter, should be int, got: {value}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid parameter, should be int, got: {value}") from None


def build_rule(*, recurrence: str | None = None, count=None, weekdays=None, rrule: str | None = None,
               previous: dict | None = None) -> dict:
    """Validate scheduling parameters and return the rule to store.

    ``previous`` (on update) supplies the fields not given, as Cloudify merges them; a new
    ``rrule`` replaces the whole rule, and an rrule-based schedule keeps its rrule when no
    rule field is given (Cloudify would refuse that update — a pitfall not copied).
    """
    weekdays = split_weekdays(weekdays)
    if rrule is not None:
        if recurrence is not None or count is not None or weekdays is not None:
            raise ValidationError(RRULE_EXCLUSIVE)
        validate_rrule(rrule)
        return {"rrule": rrule}
    previous = previous or {}
    if "rrule" in previous:
        if recurrence is None and count is None and weekdays is None:
            return {"rrule": previous["rrule"]}
        previous = {}
    recurrence = recurrence if recurrence is not None else previous.get("recurrence")
    count = _as_count(count) if count is not None else previous.get("count")
    weekdays = weekdays if weekdays is not None else previous.get("weekdays")
    if recurrence is not None:
        parse_recurrence(recurrence)
    if weekdays:
        weekdays = validate_weekdays(weekdays, recurrence)
    if recurrence is None and count != 1:
        raise ValidationError(COUNT_WITHOUT_RECURRENCE)
    if count is not None and count < 1:
        raise ValidationError(f"invalid parameter, count must be a positive integer, got: {count}")
    return {"recurrence": recurrence, "count": count, "weekdays": weekdays or None}


class _SearchTooLong(Exception):
    pass


@contextlib.contextmanager
def _time_budget(seconds: float):
    """Interrupt a dateutil search after ``seconds`` (main thread only; elsewhere unbounded).
    dateutil checks UNTIL only on dates that match, so a rule whose filters never match
    (BYMONTHDAY=30 with BYMONTH=2) walks every candidate up to year 9999."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise _SearchTooLong()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def validate_rrule(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"invalid RRULE string provided: {text!r}")
    # dateutil accepts INTERVAL=0 and then never yields a date: refuse it before iterating.
    for part in re.split(r"[;:\n]", text.upper()):
        part = part.strip()
        if part.startswith("INTERVAL=") and (not part[9:].isdigit() or int(part[9:]) < 1):
            raise ValidationError(f"invalid RRULE string provided: INTERVAL must be a positive integer ({part})")
    start = datetime(2000, 1, 1)
    try:
        with _time_budget(RRULE_SEARCH_SECONDS):
            parsed = du.rrulestr(text, dtstart=start, forceset=True, ignoretz=True)
            first = next(iter(parsed), None)
    except _SearchTooLong:
        raise ValidationError(f"invalid RRULE string provided: no date matching the rule was found after "
                              f"{RRULE_SEARCH_SECONDS:g} s of searching (do its BY* parts ever match?)") from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ValidationError(f"invalid RRULE string provided: {exc}") from None
    if first is None:
        raise ValidationError("invalid RRULE string provided: the rule never produces a date")


_UTC_UNTIL = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)


def _utc_stamp_to_local(stamp: str, tz_name: str) -> str:
    """An RRULE ``UNTIL=...Z`` is a UTC instant; the rule runs on local wall time."""
    instant = datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return instant.astimezone(get_zone(tz_name)).strftime("%Y%m%dT%H%M%S")


def _weekday(day: str):
    match = _WEEKDAY.match(day)
    position, code = match.group(1), match.group(2)
    base = getattr(du, code)
    if position is None:
        return base, None
    return base, (-1 if position == "L-" else int(position))


def _until_calendar_ends(values: Iterator[datetime]) -> Iterator[datetime]:
    """A rule running into year 9999 simply has no more occurrences."""
    try:
        yield from values
    except (OverflowError, ValueError):
        return


def _day_steps(dtstart: datetime, step: timedelta, until: datetime | None) -> Iterator[datetime]:
    value = dtstart
    while until is None or value <= until:
        yield value
        value += step


@dataclass(frozen=True)
class Occurrences:
    """The occurrence generator of one schedule (immutable; cheap to build)."""

    rule: dict
    since: datetime            # aware UTC
    until: datetime | None     # aware UTC, inclusive
    tz_name: str

    def _elapsed_step(self) -> timedelta | None:
        """A fixed UTC step for sub-daily recurrences without weekdays, else None."""
        if "rrule" in self.rule or self.rule.get("weekdays") or not self.rule.get("recurrence"):
            return None
        freq, interval = parse_recurrence(self.rule["recurrence"])
        if freq not in _FIXED_SECONDS:
            return None
        return timedelta(seconds=_FIXED_SECONDS[freq] * max(interval, 1))

    def iter_from(self, after: datetime | None = None) -> Iterator[datetime]:
        """Occurrences in order (UTC), only those strictly after ``after`` if given."""
        step = self._elapsed_step()
        inner = self._iter_elapsed(step, after) if step is not None else self._iter_wall_clock(after)
        return _until_calendar_ends(inner)

    def _iter_elapsed(self, step: timedelta, after: datetime | None) -> Iterator[datetime]:
        count = self.rule.get("count")
        index = 0
        if after is not None and after >= self.since:
            index = (after - self.since) // step + 1
        while count is None or index < count:
            value = self.since + step * index
            if self.until is not None and value > self.until:
                return
            yield value
            index += 1

    def _iter_wall_clock(self, after: datetime | None) -> Iterator[datetime]:
        zone = get_zone(self.tz_name)
        dtstart = self.since.astimezone(zone).replace(tzinfo=None)
        count = self.rule.get("count")
        if "rrule" not in self.rule and count is None and after is not None:
            dtstart = self._skip_ahead(dtstart, after.astimezone(zone).replace(tzinfo=None))
        # Local `until` with an hour of slack: the exact inclusive bound is applied in UTC.
        local_until = None
        if self.until is not None:
            local_until = self.until.astimezone(zone).replace(tzinfo=None) + timedelta(hours=3)
        produced = 0
        fixed_utc = self.tz_name == "UTC"
        for local in self._local_dates(dtstart, local_until):
            value = local.replace(tzinfo=UTC) if fixed_utc else to_utc(local, zone)
            if value is None:
                continue  # a wall time skipped by DST does not happen
            if value < self.since:
                continue
            if self.until is not None and value > self.until:
                return
            produced += 1
            if after is None or value > after:
                yield value
            if count is not None and produced >= count:
                return

    def _skip_ahead(self, dtstart: datetime, after_local: datetime) -> datetime:
        """Move DTSTART forward by whole periods of a daily/weekly rule (no count, so no
        occurrence number matters) to avoid generating years of past dates."""
        freq, interval = parse_recurrence(self.rule["recurrence"]) if self.rule.get("recurrence") else (None, 0)
        period_days = {du.DAILY: 1, du.WEEKLY: 7}.get(freq)
        if not period_days or after_local <= dtstart:
            return dtstart
        span = period_days * max(interval, 1)
        periods = (after_local - dtstart).days // span - 1
        if periods <= 0:
            return dtstart
        return dtstart + timedelta(days=periods * span)

    def _local_dates(self, dtstart: datetime, local_until: datetime | None) -> Iterator[datetime]:
        if "rrule" in self.rule:
            text = _UTC_UNTIL.sub(lambda m: "UNTIL=" + _utc_stamp_to_local(m.group(1), self.tz_name), self.rule["rrule"])
            parsed = du.rrulestr(text, dtstart=dtstart, forceset=True, ignoretz=True)
            if local_until is not None:
                members = []
                for member in parsed._rrule:
                    if member._until is None and member._count is None:
                        member = member.replace(until=local_until)
                    members.append(member)
                combined = du.rruleset()
                for member in members:
                    combined.rrule(member)
                for exdate in parsed._exdate:
                    combined.exdate(exdate)
                for rdate in parsed._rdate:
                    combined.rdate(rdate)
                parsed = combined
            return iter(parsed)
        recurrence = self.rule.get("recurrence")
        if recurrence is None:
            return iter([dtstart])  # a one-shot (count 1): exactly `since`
        freq, interval = parse_recurrence(recurrence)
        weekdays = self.rule.get("weekdays")
        if not weekdays and freq in (du.DAILY, du.WEEKLY):
            # Same dates as dateutil's rrule, several times faster: whole-day steps of wall time.
            return _day_steps(dtstart, timedelta(days=max(interval, 1) * (7 if freq == du.WEEKLY else 1)),
                              local_until)
        if not weekdays:
            return iter(du.rrule(freq, interval=max(interval, 1), dtstart=dtstart, until=local_until))
        # One rule per positional weekday (BYSETPOS applies per rule), and one rule for all
        # plain weekdays together: the same dates as Cloudify's one-rule-per-day set, faster.
        plain = [_weekday(day)[0] for day in weekdays if _weekday(day)[1] is None]
        positional = [_weekday(day) for day in weekdays if _weekday(day)[1] is not None]
        members = []
        if plain:
            members.append(du.rrule(freq, interval=max(interval, 1), dtstart=dtstart, until=local_until,
                                    byweekday=tuple(dict.fromkeys(plain))))
        for byweekday, bysetpos in positional:
            members.append(du.rrule(freq, interval=max(interval, 1), dtstart=dtstart, until=local_until,
                                    byweekday=byweekday, bysetpos=bysetpos))
        if len(members) == 1:
            return iter(members[0])
        combined = du.rruleset()
        for member in members:
            combined.rrule(member)
        return iter(combined)

    def next_after(self, now: datetime) -> datetime | None:
        """The first occurrence strictly after ``now``, or None when none remain."""
        return next(self.iter_from(now), None)

    def upcoming(self, now: datetime, limit: int = MAX_PREVIEW) -> list[datetime]:
        return list(itertools.islice(self.iter_from(now), max(0, min(limit, MAX_PREVIEW))))

    def all(self, limit: int = MAX_SCAN) -> list[datetime]:
        return list(itertools.islice(self.iter_from(None), limit))


def occurrences_of(record: dict) -> Occurrences:
    """The occurrences of a stored schedule record's rule."""
    return Occurrences(record["rule"], parse_iso(record["since"]),
                       parse_iso(record["until"]) if record.get("until") else None,
                       record.get("timezone") or "UTC")
