"""Rules and occurrences (docs/cloudify-behaviour.md, "Execution schedules"): golden errors, Cloudify's
tested examples, DST behaviour, and hypothesis properties of previews."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cfy_local.errors import ValidationError
from cfy_local.schedules.rules import Occurrences, build_rule, split_weekdays

UTC = timezone.utc


def occ(rule, since, until=None, tz="UTC"):
    return Occurrences(rule, since, until, tz)


# --- validation, golden texts ---------------------------------------------------------------

RECURRENCE_ERROR = ("`{}` is not a legal recurrence expression. Supported format is: "
                    "<number> seconds|minutes|hours|days|weeks|months|years")


@pytest.mark.parametrize("good", ["2 weeks", "30 min", "1d", "1h", "2mo", "3 months", "10 seconds", "5 minutes",
                                  "every 2 weeks"])
def test_legal_recurrences(good):
    assert build_rule(recurrence=good)["recurrence"] == good


@pytest.mark.parametrize("bad", ["weekly", "2 Weeks", "2 weeks ", "hourly", "1.5 h"])
def test_illegal_recurrence_golden(bad):
    with pytest.raises(ValidationError) as err:
        build_rule(recurrence=bad)
    assert str(err.value) == RECURRENCE_ERROR.format(bad)


def test_rrule_exclusive_and_invalid_golden():
    with pytest.raises(ValidationError) as err:
        build_rule(rrule="RRULE:FREQ=DAILY", count=3)
    assert str(err.value) == "`rrule` cannot be provided together with `recurrence`, `weekdays` or `count`."
    with pytest.raises(ValidationError) as err:
        build_rule(rrule="RRULE:FREQ=SOMETIMES")
    assert str(err.value).startswith("invalid RRULE string provided: ")


def test_count_needs_recurrence_golden():
    for count in (None, 2):
        with pytest.raises(ValidationError) as err:
            build_rule(count=count)
        assert str(err.value) == "recurrence must be specified for execution count larger than 1"
    assert build_rule(count=1) == {"recurrence": None, "count": 1, "weekdays": None}
    with pytest.raises(ValidationError) as err:
        build_rule(recurrence="1d", count="x")
    assert str(err.value) == "invalid parameter, should be int, got: x"


def test_weekdays_golden_and_forms():
    assert build_rule(recurrence="1d", weekdays=["mo, tu", "FR"])["weekdays"] == ["MO", "TU", "FR"]
    assert build_rule(recurrence="1mo", weekdays=["1mo", "l-fr", "L-SU", "4sa"])["weekdays"] == \
        ["1MO", "L-FR", "L-SU", "4SA"]
    with pytest.raises(ValidationError) as err:
        build_rule(recurrence="1d", weekdays=["xx"])
    assert str(err.value) == ("weekdays list contains an invalid weekday `xx`. Valid weekdays are: "
                              "MO|TU|WE|TH|FR|SA|SU or their lowercase values, optionally prefixed by 1-4 or l-/L-.")
    with pytest.raises(ValidationError) as err:
        build_rule(recurrence="1 week", weekdays=["2tu"])
    assert str(err.value) == "complex weekday expression 2tu can only be used with a months|years recurrence, but got weeks."
    assert split_weekdays(("mo,tu", " we ")) == ["mo", "tu", "we"]


def test_update_merges_with_previous_rule():
    previous = build_rule(recurrence="1d", count=5, weekdays=["mo"])
    assert build_rule(count=7, previous=previous) == {"recurrence": "1d", "count": 7, "weekdays": ["MO"]}
    rr = {"rrule": "RRULE:FREQ=DAILY"}
    assert build_rule(previous=rr) == rr
    assert build_rule(recurrence="2h", previous=rr) == {"recurrence": "2h", "count": None, "weekdays": None}


# --- Cloudify's tested examples -------------------------------------------------------------

def test_cloudify_examples():
    since = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)   # a Monday
    assert len(occ(build_rule(recurrence="1 minutes", count=5), since).all()) == 5
    three_weeks = since + timedelta(weeks=3) - timedelta(minutes=1)
    rule = build_rule(recurrence="1 days", weekdays=["mo", "tu", "we", "th"])
    assert len(occ(rule, since, three_weeks).all()) == 12
    assert len(occ(build_rule(recurrence="1 minutes"), since, since + timedelta(hours=1)).all()) == 61
    assert occ(build_rule(count=1), since).all() == [since]
    every3 = occ({"rrule": "RRULE:FREQ=DAILY;INTERVAL=3"}, since, since + timedelta(days=9)).all()
    assert every3 == [since + timedelta(days=d) for d in (0, 3, 6, 9)]


def test_positional_weekdays_and_count_over_the_combined_set():
    since = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    rule = build_rule(recurrence="1mo", weekdays=["1mo", "l-fr"], count=4)
    assert [d.date().isoformat() for d in occ(rule, since).all()] == \
        ["2026-01-05", "2026-01-30", "2026-02-02", "2026-02-27"]


def test_next_occurrence_is_strictly_after_now_and_none_when_exhausted():
    since = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    daily = occ(build_rule(recurrence="1d", count=3), since)
    assert daily.next_after(since) == since + timedelta(days=1)
    assert daily.next_after(since - timedelta(seconds=1)) == since
    assert daily.next_after(since + timedelta(days=2)) is None
    assert occ(build_rule(count=1), since).next_after(since) is None


def test_long_running_rules_reach_now_fast():
    since = datetime(2000, 1, 1, 0, 0, tzinfo=UTC)
    now = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert occ(build_rule(recurrence="1 min"), since).next_after(now) == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert occ(build_rule(recurrence="1d"), since, tz="Europe/London").next_after(now) == \
        datetime(2026, 1, 2, 0, 0, tzinfo=UTC)


# --- DST --------------------------------------------------------------------------------------

def test_daily_keeps_local_wall_clock_across_dst():
    london = ZoneInfo("Europe/London")
    since = datetime(2026, 3, 27, 9, 0, tzinfo=london).astimezone(UTC)
    days = occ(build_rule(recurrence="1d"), since, tz="Europe/London").upcoming(since - timedelta(seconds=1), 4)
    assert [d.astimezone(london).hour for d in days] == [9, 9, 9, 9]
    assert [d.hour for d in days] == [9, 9, 8, 8]


def test_nonexistent_time_is_skipped_and_ambiguous_fires_once():
    ny = ZoneInfo("America/New_York")
    since = datetime(2026, 3, 7, 2, 30, tzinfo=ny).astimezone(UTC)
    spring = occ(build_rule(recurrence="1d"), since, tz="America/New_York").upcoming(since - timedelta(seconds=1), 3)
    # 2026-03-08 02:30 does not exist in New York.
    assert [d.astimezone(ny).day for d in spring] == [7, 9, 10]
    since = datetime(2026, 10, 31, 1, 30, tzinfo=ny).astimezone(UTC)
    autumn = occ(build_rule(recurrence="1d"), since, tz="America/New_York").upcoming(since - timedelta(seconds=1), 3)
    # 2026-11-01 01:30 happens twice; it fires once, at the first instant (EDT).
    assert [d.astimezone(ny).day for d in autumn] == [31, 1, 2]
    assert autumn[1] == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_sub_daily_intervals_are_elapsed_time_across_dst():
    since = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    hours = occ(build_rule(recurrence="1h"), since, tz="Europe/London").upcoming(since - timedelta(seconds=1), 4)
    assert [d - since for d in hours] == [timedelta(hours=h) for h in range(4)]


# --- properties ----------------------------------------------------------------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney"]
RECURRENCES = ["1d", "2 days", "1w", "1mo", "1y", "3h", "30min", "45 seconds"]
DAYS = ["mo", "tu", "we", "th", "fr", "sa", "su"]


@st.composite
def schedules(draw):
    zone = draw(st.sampled_from(ZONES))
    since = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 3 * 365 * 24 * 60)))
    recurrence = draw(st.sampled_from(RECURRENCES))
    weekdays = None
    if recurrence in ("1d", "2 days", "1w") and draw(st.booleans()):
        weekdays = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
    count = draw(st.one_of(st.none(), st.integers(1, 40)))
    until = None
    if draw(st.booleans()):
        until = since + timedelta(hours=draw(st.integers(0, 24 * 400)))
    rule = build_rule(recurrence=recurrence, count=count, weekdays=weekdays)
    now = since + timedelta(minutes=draw(st.integers(-1000, 60 * 24 * 90)))
    return Occurrences(rule, since, until, zone), now


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), st.integers(1, 60))
def test_previews_are_sorted_unique_bounded_and_counted(pair, n):
    occurrences, now = pair
    preview = occurrences.upcoming(now, n)
    assert len(preview) <= n
    assert preview == sorted(set(preview))
    assert all(d > now for d in preview)
    assert all(d >= occurrences.since for d in preview)
    if occurrences.until is not None:
        assert all(d <= occurrences.until for d in preview)
    count = occurrences.rule.get("count")
    if count is not None:
        assert len(occurrences.all()) <= count
        everything = occurrences.all()
        assert preview == [d for d in everything if d > now][:n]


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(ZONES), st.integers(0, 2 * 365), st.integers(0, 23), st.sampled_from([0, 15, 30, 45]),
       st.sampled_from(["1d", "1w", "1mo"]))
def test_wall_clock_time_is_kept_across_dst(zone_name, day_offset, hour, minute, recurrence):
    zone = ZoneInfo(zone_name)
    local = datetime(2025, 1, 1, hour, minute) + timedelta(days=day_offset)
    since = local.replace(tzinfo=zone).astimezone(UTC)
    if since.astimezone(zone).replace(tzinfo=None) != local:
        return  # a wall time that does not exist cannot be a start
    preview = Occurrences(build_rule(recurrence=recurrence), since, None, zone_name).upcoming(
        since - timedelta(seconds=1), 60)
    assert preview
    for value in preview:
        wall = value.astimezone(zone)
        assert (wall.hour, wall.minute) == (hour, minute)
    assert len({v.astimezone(zone).date() for v in preview}) == len(preview)  # once per local day


def test_rules_that_cannot_produce_dates_are_refused():
    for text in ("RRULE:FREQ=DAILY;INTERVAL=-1", "RRULE:FREQ=DAILY;INTERVAL=0", "", "RRULE:FREQ=DAILY;BYDAY=XX"):
        with pytest.raises(ValidationError) as err:
            build_rule(rrule=text)
        assert str(err.value).startswith("invalid RRULE string provided: ")


def test_a_rule_running_into_the_end_of_the_calendar_just_ends():
    since = datetime(9998, 12, 30, 9, 0, tzinfo=UTC)
    for rule in (build_rule(recurrence="1d"), build_rule(recurrence="1y"), build_rule(recurrence="1h"),
                 {"rrule": "RRULE:FREQ=DAILY"}):
        values = occ(rule, since, tz="Europe/London").upcoming(since, 1000)
        assert values and values == sorted(values) and values[-1].year == 9999


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(["1d", "3 days", "1w", "2 weeks", "1h", "30min", "90 seconds"]),
       st.integers(0, 10 * 365 * 24 * 60), st.one_of(st.none(), st.integers(1, 50)),
       st.integers(0, 400 * 24 * 60))
def test_fast_paths_match_dateutil_in_utc(recurrence, start_minutes, count, now_minutes):
    from dateutil import rrule as du

    from cfy_local.schedules.rules import parse_recurrence

    since = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(minutes=start_minutes)
    now = since + timedelta(minutes=now_minutes) - timedelta(days=1)
    freq, interval = parse_recurrence(recurrence)
    reference = du.rrule(freq, interval=interval, dtstart=since, count=count)
    expected = [d for d in reference.xafter(now, count=30) if d > now] if count is None else \
        [d for d in reference if d > now][:30]
    assert occ(build_rule(recurrence=recurrence, count=count), since).upcoming(now, 30) == expected


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["1d", "2 days", "1w", "3 weeks", "1mo", "2mo", "1y"]),
       st.lists(st.sampled_from(DAYS + ["1mo", "2tu", "l-fr", "4su", "L-MO"]), min_size=1, max_size=4, unique=True),
       st.integers(0, 5 * 365 * 24 * 60), st.sampled_from(ZONES))
def test_weekday_rules_equal_one_rule_per_weekday(recurrence, weekdays, start_minutes, zone):
    """Cloudify builds one rule per weekday and merges them; the shortcut gives the same dates."""
    from dateutil import rrule as du

    from cfy_local.schedules.rules import _weekday, parse_recurrence

    freq, interval = parse_recurrence(recurrence)
    if freq not in (du.MONTHLY, du.YEARLY):
        weekdays = [d for d in weekdays if d.lower() in DAYS] or ["mo"]
    since = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(minutes=start_minutes)
    rule = build_rule(recurrence=recurrence, weekdays=weekdays)
    local_start = since.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    reference = du.rruleset()
    for day in rule["weekdays"]:
        byweekday, bysetpos = _weekday(day)
        reference.rrule(du.rrule(freq, interval=interval, dtstart=local_start, byweekday=byweekday,
                                 bysetpos=bysetpos))
    expected = []
    for local in reference:
        value = local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        if value.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == local:
            expected.append(value)
        if len(expected) == 25:
            break
    assert occ(rule, since, tz=zone).upcoming(since - timedelta(seconds=1), 25) == expected
