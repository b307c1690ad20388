"""JST boundaries: whole-day alignment at 15:00 UTC, leap days, grids."""
from datetime import datetime, timedelta

from hypothesis import given, strategies as st

from sumame.hal.jst import (JST, floor_boundary, format_jst, from_jst, is_boundary, jst_midnight,
                            next_boundary, parse_jst)


def test_jst_midnight_is_1500_utc_of_the_previous_day():
    t = from_jst(2026, 4, 1, 0, 0)
    assert datetime.utcfromtimestamp(t) == datetime(2026, 3, 31, 15, 0)
    assert jst_midnight(t + 86399) == t
    assert jst_midnight(t - 1) == t - 86400


def test_leap_day_29_february():
    feb29 = from_jst(2028, 2, 29)
    assert jst_midnight(feb29 + 12 * 3600) == feb29
    assert next_boundary(feb29 + 86400 - 1, 24 * 60) == from_jst(2028, 3, 1)
    assert format_jst(feb29 + 23 * 3600 + 30 * 60) == "2028-02-29 23:30:00 JST"


def test_parse_and_format_round_trip():
    assert parse_jst("2026-02-28T21:00") == from_jst(2026, 2, 28, 21)
    assert parse_jst("2026-02-28T12:00+00:00") == from_jst(2026, 2, 28, 21)


@given(st.integers(min_value=1_600_000_000, max_value=2_100_000_000), st.sampled_from([1, 5, 15, 30, 60, 1440]))
def test_boundaries_are_aligned_to_jst_wall_time(t, minutes):
    b = floor_boundary(t, minutes)
    local = datetime.fromtimestamp(b, JST)
    assert b <= t < b + minutes * 60
    assert (local.hour * 60 + local.minute) % minutes == 0 and local.second == 0
    assert is_boundary(b, minutes)
    assert next_boundary(t, minutes) == b + minutes * 60


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 12, 31)))
def test_midnight_matches_the_calendar(dt):
    t = dt.replace(tzinfo=JST).timestamp()
    m = datetime.fromtimestamp(jst_midnight(t), JST)
    assert (m.year, m.month, m.day, m.hour, m.minute) == (dt.year, dt.month, dt.day, 0, 0)
    assert jst_midnight(t) + 86400 == jst_midnight(t + 86400) or (dt + timedelta(days=1)).year > 2040
