"""EDT value encodings used by the meter objects (MRA Release R), with the no-data codes.

Times are epoch seconds (UTC) shown in JST (UTC+9) as the B-route requires.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")
NO_DATA_U32 = 0xFFFFFFFE
"""Cumulative kWh (and demand) not measured."""
NO_DATA_I32 = 0x7FFFFFFE
"""E7 instantaneous power not measured."""
NO_DATA_I16 = 0x7FFE
"""E8 per-phase current not measured (also T on single-phase 2-wire)."""
UNSET_DATETIME6 = b"\xff" * 6


def u8(v: int) -> bytes:
    return bytes((v & 0xFF,))


def u16(v: int) -> bytes:
    return (v & 0xFFFF).to_bytes(2, "big")


def u32(v: int | None) -> bytes:
    """uint32, None -> 0xFFFFFFFE (no data)."""
    return (NO_DATA_U32 if v is None else v).to_bytes(4, "big")


def i32(v: int | None) -> bytes:
    """int32 clamped to the valid range; None -> 0x7FFFFFFE."""
    if v is None:
        return NO_DATA_I32.to_bytes(4, "big")
    v = max(-2_147_483_647, min(2_147_483_645, v))
    return v.to_bytes(4, "big", signed=True)


def i16(v: int | None) -> bytes:
    """int16 in 0.1 A clamped to -3276.7..3276.5 A; None -> 0x7FFE."""
    if v is None:
        return NO_DATA_I16.to_bytes(2, "big")
    v = max(-32767, min(32765, v))
    return v.to_bytes(2, "big", signed=True)


def jst(t: float) -> datetime:
    return datetime.fromtimestamp(t, JST)


def datetime7(t: float) -> bytes:
    """YYYY(u16) MM DD hh mm ss in JST."""
    d = jst(t)
    return u16(d.year) + bytes((d.month, d.day, d.hour, d.minute, d.second))


def datetime6(t: float) -> bytes:
    """YYYY(u16) MM DD hh mm in JST."""
    return datetime7(t)[:6]


def parse_datetime6(raw: bytes) -> float | None:
    """Epoch s of a date-time_6 EDT (JST); None if the fields are not a valid date/time."""
    if len(raw) != 6:
        return None
    year = int.from_bytes(raw[:2], "big")
    try:
        return datetime(year, raw[2], raw[3], raw[4], raw[5], tzinfo=JST).timestamp()
    except ValueError:
        return None


def jst_midnight(t: float, days_ago: int = 0) -> float:
    """Epoch s of 00:00 JST of the day ``days_ago`` days before the JST day of ``t``."""
    d = jst(t).replace(hour=0, minute=0, second=0, microsecond=0)
    return (d - timedelta(days=days_ago)).timestamp()
