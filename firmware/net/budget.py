"""Work budget of one received request (pure; shared by the codecs of ``firmware/net``).

A decoder charges one *unit* per element it builds (an A-XDR value, a property, an AVP ...).
Input bytes bound what a well-formed value can hold, but a crafted value can describe far more
elements than it carries bytes (a compact-array of empty structures); the budget is what stops
it, and it is counted in units, not seconds, so the bound is the same on any CPU and in tests.

Routes create one budget per received request (``WorkBudget.for_input(len(data))``, capped by
``REQUEST_UNITS``) and pass it down; a decoder that runs out raises its typed limit error.
At about 2-4 µs per unit on a desktop CPU, ``REQUEST_UNITS`` costs < 0.1 s: well inside the
scheduler's watchdog budget (250 ms by default) even on a slower board.
"""
from __future__ import annotations

UNITS_PER_BYTE = 8
"""Elements a legitimate value may decode to per input byte (nested compact arrays of tiny
structures reach ~3; anything above 8 is a crafted description)."""
BASE_UNITS = 256
REQUEST_UNITS = 16384
"""Upper bound of one request, whatever its size."""


class WorkBudget:
    """``limit`` units of decoding work; ``used`` so far. ``spend(n)`` is False once over."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int):
        self.limit = int(limit)
        self.used = 0

    @classmethod
    def for_input(cls, size: int, cap: int | None = REQUEST_UNITS) -> "WorkBudget":
        """The budget of a ``size``-byte input: ``UNITS_PER_BYTE`` per byte + ``BASE_UNITS``,
        at most ``cap`` (None = uncapped)."""
        units = UNITS_PER_BYTE * max(0, size) + BASE_UNITS
        return cls(units if cap is None else min(units, cap))

    def spend(self, units: int = 1) -> bool:
        self.used += units
        return self.used <= self.limit

    def affords(self, units: int) -> bool:
        """True when ``units`` more would still fit (check before costly work, spend nothing)."""
        return self.used + units <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def __repr__(self) -> str:
        return f"WorkBudget({self.used}/{self.limit} units)"
