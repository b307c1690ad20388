"""Japan Standard Time conventions shared by firmware and drivers: boundaries and display.

JST is UTC+9 all year. Interval boundaries (1/5/15/30 min, days) are aligned to JST wall time.
Because 9 h is a whole number of hours, minute grids up to 60 min coincide with UTC grids; the
day boundary (JST midnight = 15:00 UTC) does not, and is what this module gets right.
All times are epoch seconds (UTC).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")
JST_OFFSET_S = 9 * 3600
DAY_S = 86400


def floor_boundary(t: float, minutes: int) -> int:
    """The latest boundary of a ``minutes`` grid at or before ``t`` (epoch s, int)."""
    step = minutes * 60
    local = int(t // 1) + JST_OFFSET_S
    return local - local % step - JST_OFFSET_S


def next_boundary(t: float, minutes: int) -> int:
    """The first boundary of a ``minutes`` grid strictly after ``t``."""
    return floor_boundary(t, minutes) + minutes * 60


def is_boundary(t: float, minutes: int) -> bool:
    return t == floor_boundary(t, minutes)


def jst_midnight(t: float) -> int:
    """00:00 JST of the day containing ``t``."""
    return floor_boundary(t, 24 * 60)


def jst_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, JST)


def from_jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
             second: int = 0) -> int:
    """Epoch seconds of a JST wall time."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=JST).timestamp())


def parse_jst(text: str) -> int:
    """Parse 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM[:SS]' as JST (an explicit offset is honoured)."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=JST)
    return int(dt.timestamp())


def format_jst(t: float, seconds: bool = True) -> str:
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return jst_datetime(t).strftime(fmt) + " JST"
