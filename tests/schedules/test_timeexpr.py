"""The --since/--until grammar, --at and --schedule parsing, zone lookup."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cfy_local.errors import ValidationError
from cfy_local import timegrammar
from cfy_local.timegrammar import parse_at, parse_one_shot_time, parse_time_expression

UTC = timezone.utc
NOW = datetime(2026, 1, 31, 10, 17, 42, 123456, tzinfo=UTC)


@pytest.mark.parametrize("expr, expected", [
    ("+2 hours", datetime(2026, 1, 31, 12, 17, tzinfo=UTC)),
    ("+30 minutes", datetime(2026, 1, 31, 10, 47, tzinfo=UTC)),
    ("+1day+10min", datetime(2026, 2, 1, 10, 27, tzinfo=UTC)),
    ("+1d+10min", datetime(2026, 2, 1, 10, 27, tzinfo=UTC)),
    ("+1w +1d", datetime(2026, 2, 8, 10, 17, tzinfo=UTC)),
    ("+25 hours+119min", datetime(2026, 2, 1, 13, 16, tzinfo=UTC)),
    # Jan 31 + 1 month: roll the month, then add the day-of-month offset from the 1st.
    ("+1mo", datetime(2026, 3, 3, 10, 17, tzinfo=UTC)),
    ("+13mo", datetime(2027, 3, 3, 10, 17, tzinfo=UTC)),
    ("+2y", datetime(2028, 1, 31, 10, 17, tzinfo=UTC)),
])
def test_relative_expressions_from_utc_now_with_seconds_zeroed(expr, expected):
    assert parse_time_expression(expr, "Asia/Tokyo", NOW) == expected  # the zone plays no part


@pytest.mark.parametrize("expr, message", [
    ("+rez", "+rez is not a legal time delta"),
    ("+1D", "+1D is not a legal time delta"),
    ("+ 2 hours", "+ 2 hours is not a legal time delta"),
    ("+10 dobosh", "10 dobosh is not a legal time delta"),
    ("+90s", "90s is not a legal time delta"),
])
def test_relative_errors_golden(expr, message):
    with pytest.raises(ValidationError) as err:
        parse_time_expression(expr, "UTC", NOW)
    assert str(err.value) == message


@pytest.mark.parametrize("expr", ["blah", "15:33:18", "99:99", "2000/1/1 09:17", "-1 min", ""])
def test_absolute_errors_golden(expr):
    with pytest.raises(ValidationError) as err:
        parse_time_expression(expr, "UTC", NOW)
    assert str(err.value) == f"{expr} is not a legal time format. accepted formats are YYYY-MM-DD HH:MM | HH:MM"


def test_absolute_times_are_read_in_their_zone():
    assert parse_time_expression("12:00", "EST", NOW) == datetime(2026, 1, 31, 17, 0, tzinfo=UTC)
    assert parse_time_expression("22:00", "Asia/Shanghai", NOW) == datetime(2026, 1, 31, 14, 0, tzinfo=UTC)
    assert parse_time_expression("1905-6-13 12:00", "UTC", NOW) == datetime(1905, 6, 13, 12, 0, tzinfo=UTC)
    # A July time typed in January uses July's offset (BST), not today's.
    assert parse_time_expression("2026-07-01 09:00", "Europe/London", NOW) == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    # A wall time inside the spring-forward gap moves forward by the gap instead of failing.
    assert parse_time_expression("2026-03-29 01:30", "Europe/London", NOW) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_unknown_zone_golden():
    with pytest.raises(ValidationError) as err:
        parse_time_expression("12:00", "Mars/Olympus", NOW)
    assert str(err.value) == "Mars/Olympus is not a recognized timezone"


def test_local_zone_name_follows_tz_variable(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    assert timegrammar.local_zone_name() == "America/New_York"
    monkeypatch.setenv("TZ", ":Europe/Paris")
    assert timegrammar.local_zone_name() == "Europe/Paris"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert timegrammar.get_zone(timegrammar.local_zone_name())  # falls back to a real zone


def test_at_accepts_plain_and_iso_forms():
    assert parse_at("2026-03-05 09:00") == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert parse_at("2026-03-05 09:00:30") == datetime(2026, 3, 5, 9, 0, 30, tzinfo=UTC)
    assert parse_at("2026-03-05T10:00:00+01:00") == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert parse_at("2026-03-05T09:00:00.500Z") == datetime(2026, 3, 5, 9, 0, 0, 500000, tzinfo=UTC)
    with pytest.raises(ValidationError):
        parse_at("tomorrow")


HINT = ("\nExpected format: YYYYMMDDHHMM+HHMM or YYYYMMDDHHMM-HHMM i.e: 201801012230-0500 "
        "(Jan-01-18 10:30pm EST)")


def test_one_shot_times_golden():
    assert parse_one_shot_time("202602011230-0500", NOW) == datetime(2026, 2, 1, 17, 30, tzinfo=UTC)
    with pytest.raises(ValidationError) as err:
        parse_one_shot_time("202602011230", NOW)
    assert str(err.value) == f"Date `202602011230` missing timezone information, please provide valid date. {HINT}"
    with pytest.raises(ValidationError) as err:
        parse_one_shot_time("201801012230-0500", NOW)
    assert str(err.value) == f"Date `201801012230-0500` has already passed, please provide valid date. {HINT}"


@pytest.mark.parametrize("expr, zone", [("+99999999999y", "UTC"), ("+999999999999mo", "UTC"), ("+8000y", "UTC"),
                                        ("0001-01-01 00:00", "Pacific/Kiritimati"), ("0999-12-31 23:59", "UTC"),
                                        ("9999-12-31 23:59", "Asia/Tokyo")])
def test_dates_out_of_range_are_refused_cleanly(expr, zone):
    with pytest.raises(ValidationError) as err:
        parse_time_expression(expr, zone, NOW)
    assert str(err.value) == f"{expr} is beyond the range of supported dates (years 1000 to 9998)"
