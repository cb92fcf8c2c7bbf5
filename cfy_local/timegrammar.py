"""The time grammar of ``cfy deployments schedule`` and of blueprints' default schedules,
and the zone helpers. Pure (no state): the blueprint parser and the schedules service
both read times through it.

``--since`` / ``--until`` take an absolute ``YYYY-MM-DD HH:MM`` or ``HH:MM`` (in the
schedule's zone), or a relative ``+2 hours`` / ``+1d+10min`` / ``+13mo`` (from UTC now with
seconds zeroed; the zone plays no part). Results are aware UTC datetimes.

Unlike cfy, which subtracts the machine's *current* UTC offset, an absolute time is read in
its zone with that zone's rules for the target date (so a July time typed in January is
not an hour off).
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cfy_local.errors import ValidationError
from cfy_local.timefmt import parse_iso

UTC = timezone.utc

_RELATIVE_TOKEN = re.compile(r"\+(\d+ ?[a-z]+) ?")
_DELTA = re.compile(r"^(\d+) ?(min|minute|h|hour|d|day|w|week|mo|month|y|year)s?$")
_ABSOLUTE_FORMAT_ERROR = "{} is not a legal time format. accepted formats are YYYY-MM-DD HH:MM | HH:MM"
_SCHEDULE_HINT = ("\nExpected format: YYYYMMDDHHMM+HHMM or YYYYMMDDHHMM-HHMM i.e: 201801012230-0500 "
                  "(Jan-01-18 10:30pm EST)")


_RECURRENCE = re.compile(r"(?<![\d.])(\d+) ?(sec|second|min|minute|h|hour|d|day|w|week|mo|month|y|year)s?$")


def recurrence_parts(expression: str) -> tuple[str, int]:
    """``2 weeks`` → ("week", 2): the unit as written (short or long form) and the count.
    Searched at the end of the string, as Cloudify does."""
    match = _RECURRENCE.search(expression) if isinstance(expression, str) else None
    if not match:
        raise ValidationError(
            f"`{expression}` is not a legal recurrence expression. Supported format is: "
            f"<number> seconds|minutes|hours|days|weeks|months|years")
    return match.group(2), int(match.group(1))


def local_zone_name() -> str:
    """The machine's zone name: ``$TZ`` if it names a zone, else the ``/etc/localtime``
    link target, else ``/etc/timezone``, else ``UTC``."""
    candidates = []
    env_tz = os.environ.get("TZ", "").strip()
    if env_tz:
        candidates.append(env_tz.lstrip(":"))
    try:
        target = os.path.realpath("/etc/localtime")
        marker = "/zoneinfo/"
        if marker in target:
            candidates.append(target.split(marker, 1)[1])
    except OSError:
        pass
    try:
        with open("/etc/timezone", encoding="utf-8") as fh:
            candidates.append(fh.read().strip())
    except OSError:
        pass
    for name in candidates:
        if name and _zone_or_none(name) is not None:
            return name
    return "UTC"


def _zone_or_none(name: str) -> ZoneInfo | None:
    if not name or name.startswith("/") or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def get_zone(name: str) -> ZoneInfo:
    """The zone called ``name``, or cfy's error."""
    zone = _zone_or_none(name)
    if zone is None:
        raise ValidationError(f"{name} is not a recognized timezone")
    return zone


def to_utc(local_naive: datetime, zone: ZoneInfo) -> datetime | None:
    """A wall-clock time in ``zone`` as UTC; None if that wall time does not exist there
    (the hour skipped when clocks go forward). An ambiguous time takes its first instant."""
    aware = local_naive.replace(tzinfo=zone, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != local_naive:
        return None
    return utc


def _local_to_utc_lenient(local_naive: datetime, zone: ZoneInfo) -> datetime:
    """Like :func:`to_utc`, but a nonexistent wall time moves forward by the gap (as a
    clock on the wall would show it), so a typed ``since`` is never refused."""
    exact = to_utc(local_naive, zone)
    if exact is not None:
        return exact
    return local_naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _add_months(base: datetime, months: int) -> datetime:
    # cfy's arithmetic: roll the month over the year, then add the original day-of-month
    # as a day offset from the 1st (Jan 31 + 1mo lands in early March).
    month_index = base.month - 1 + months
    first = base.replace(year=base.year + month_index // 12, month=month_index % 12 + 1, day=1)
    return first + timedelta(days=base.day - 1)


def _add_years(base: datetime, years: int) -> datetime:
    first = base.replace(year=base.year + years, day=1)
    return first + timedelta(days=base.day - 1)


FIRST_YEAR, LAST_YEAR = 1000, 9998


def _out_of_range(expression) -> str:
    return f"{expression} is beyond the range of supported dates (years {FIRST_YEAR} to {LAST_YEAR})"


def _in_range(value: datetime, expression) -> datetime:
    """Keep times inside years whose ISO text is four digits and whose arithmetic cannot
    overflow when a rule steps forward from them."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(_out_of_range(expression))
    return value


def parse_relative(expression: str, now: datetime) -> datetime:
    """``+<n>[ ]<unit>[s]...`` applied in order to ``now`` (UTC, seconds zeroed)."""
    tokens = _RELATIVE_TOKEN.findall(expression)
    if not tokens:
        raise ValidationError(f"{expression} is not a legal time delta")
    result = now.astimezone(UTC).replace(second=0, microsecond=0)
    for token in tokens:
        match = _DELTA.match(token)
        if not match:
            raise ValidationError(f"{token} is not a legal time delta")
        try:
            result = _shift(result, int(match.group(1)), match.group(2))
        except (OverflowError, ValueError):
            raise ValidationError(_out_of_range(expression)) from None
    return _in_range(result, expression)


def _shift(result: datetime, amount: int, unit: str) -> datetime:
    if unit in ("min", "minute"):
        result += timedelta(minutes=amount)
    elif unit in ("h", "hour"):
        result += timedelta(hours=amount)
    elif unit in ("d", "day"):
        result += timedelta(days=amount)
    elif unit in ("w", "week"):
        result += timedelta(weeks=amount)
    elif unit in ("mo", "month"):
        result = _add_months(result, amount)
    else:
        result = _add_years(result, amount)
    return result


def validate_relative(expression: str) -> None:
    """Check a relative expression without resolving it (blueprint parse time)."""
    parse_relative(expression, datetime(2000, 1, 1, tzinfo=UTC))


def parse_time_expression(expression: str, tz_name: str, now: datetime) -> datetime:
    """``--since`` / ``--until`` text → aware UTC datetime, as cfy reads them."""
    text = expression.strip() if isinstance(expression, str) else expression
    if not isinstance(text, str) or not text:
        raise ValidationError(_ABSOLUTE_FORMAT_ERROR.format(expression))
    if text.startswith("+"):
        return parse_relative(text, now)
    zone = get_zone(tz_name)
    try:
        local = datetime.strptime(text, "%Y-%m-%d %H:%M")
    except ValueError:
        try:
            clock_time = datetime.strptime(text, "%H:%M")
        except ValueError:
            raise ValidationError(_ABSOLUTE_FORMAT_ERROR.format(expression)) from None
        # HH:MM is today (in the schedule's zone), even if already past — as cfy does.
        today = now.astimezone(zone).date()
        local = datetime.combine(today, clock_time.time())
    try:
        return _in_range(_local_to_utc_lenient(local, zone), expression)
    except (OverflowError, ValueError):
        raise ValidationError(_out_of_range(expression)) from None


def parse_at(text: str) -> datetime:
    """``scheduler run --at``: ``YYYY-MM-DD HH:MM[:SS]`` or ISO 8601; naive means UTC."""
    value = text.strip()
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        return parse_iso(value)
    except ValueError:
        raise ValidationError(
            f"{text} is not a legal time for --at. Accepted formats are YYYY-MM-DD HH:MM[:SS] "
            f"or ISO 8601 (UTC unless an offset is given)") from None


def parse_one_shot_time(text: str, now: datetime) -> datetime:
    """``executions start --schedule``: a date with a UTC offset, in the future."""
    from dateutil import parser

    try:
        parsed = parser.parse(text)
    except (ValueError, OverflowError):
        raise ValidationError(f"Date `{text}` is not a valid date, please provide valid date. {_SCHEDULE_HINT}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValidationError(f"Date `{text}` missing timezone information, please provide valid date. {_SCHEDULE_HINT}")
    try:
        parsed = _in_range(parsed.astimezone(UTC), text)
    except (OverflowError, ValueError):
        raise ValidationError(_out_of_range(text)) from None
    if parsed < now:
        raise ValidationError(f"Date `{text}` has already passed, please provide valid date. {_SCHEDULE_HINT}")
    return parsed
