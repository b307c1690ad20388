"""Supply point (供給地点特定番号) and receiving point (受電地点特定番号) numbers: 22 digits.

What is public (reference ``dlms-cosem.md`` §5.4): 22 ASCII digits nationwide since 2016, the
first two the area of the T&D operator (01 Hokkaido … 03 TEPCO … 10 Okinawa), the rest
operator-specific. **No check-digit rule is published** (searched; none found). So sumame uses a
documented scheme of its own for the numbers it makes (``make_number``): the 22nd digit is the
Luhn (mod 10) check digit of the first 21. ``parse`` checks length and area (the public rules)
and tells whether the number also carries sumame's check digit; real numbers need not.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

AREAS = {f"{i:02d}": name for i, name in enumerate(
    ("Hokkaido", "Tohoku", "Tokyo", "Chubu", "Hokuriku", "Kansai", "Chugoku", "Shikoku", "Kyushu", "Okinawa"),
    start=1)}
_DIGITS = re.compile(r"[0-9]{22}")


class NumberError(ValueError):
    """Not a 22-digit supply/receiving point number; the message says why."""


def luhn_digit(digits: str) -> str:
    """The Luhn (mod 10) check digit of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return str((10 - total % 10) % 10)


def make_number(area: int, body: int) -> str:
    """sumame's numbering: 2-digit area + 19-digit body + Luhn check digit (22 digits)."""
    if f"{area:02d}" not in AREAS or not 0 <= body < 10 ** 19:
        raise NumberError(f"area {area} must be 1..10 and body < 10^19")
    head = f"{area:02d}{body:019d}"
    return head + luhn_digit(head)


@dataclass(frozen=True)
class PointNumber:
    text: str
    area: str
    sumame_check_ok: bool
    """True when the last digit is sumame's Luhn check digit (not a published rule)."""


def parse(text: str, what: str = "supply point") -> PointNumber:
    """Check a number against the public rules (22 digits, area 01..10)."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        raise NumberError(f"{what} number must be 22 digits (0-9), got {len(str(text))} character(s)")
    if text[:2] not in AREAS:
        raise NumberError(f"{what} number starts with area {text[:2]}; areas are 01..10")
    return PointNumber(text, AREAS[text[:2]], luhn_digit(text[:21]) == text[21])


def grouped(text: str) -> str:
    """For display: 4-digit groups ("0300 0000 …"), as utilities print them."""
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))
