"""Clock (class 8): the meter's time in JST (deviation -540 min, no daylight saving).

The time itself is the request time (``ctx.now``, epoch s, from the meter clock). Setting it
(attribute 2) and shift_time (method 6) call ``set_time(epoch)``; without that callback the clock
is read-only. ``status_fn()`` returns the clock status byte (0x01 invalid, 0x02 doubtful ...).
"""
from __future__ import annotations

from typing import Callable

from .. import axdr
from ..axdr import DataType
from ..cosem_time import JST_DEVIATION, CosemDateTime, epoch_to_octets
from ..descriptors import DataAccessResult
from ..errors import AxdrError
from .base import CosemError, CosemObject, expect_type

CLOCK_BASE_CRYSTAL = 1
_NO_DST = b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x80\x00\xFF"   # all wildcards


_TIME_ATTR = frozenset({2})


class Clock(CosemObject):
    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 8, 0, 9, 6
    __slots__ = ("set_time", "status_fn", "deviation", "clock_base")

    @property
    def WRITABLE(self) -> frozenset:   # noqa: N802 (the time is writable when it can be set)
        return _TIME_ATTR if self.set_time is not None else frozenset()

    def __init__(self, logical_name="0.0.1.0.0.255", *, set_time: Callable[[float], None] | None = None,
                 status_fn: Callable[[], int] = lambda: 0, deviation: int = JST_DEVIATION,
                 clock_base: int = CLOCK_BASE_CRYSTAL, **levels):
        super().__init__(logical_name, **levels)
        self.set_time = set_time
        self.status_fn = status_fn
        self.deviation = deviation
        self.clock_base = clock_base

    def get_attribute(self, attr, ctx, access):
        if attr == 2:
            return axdr.octet_string(epoch_to_octets(ctx.now, self.deviation, self.status_fn()))
        if attr == 3:
            return axdr.long(self.deviation)
        if attr == 4:
            return axdr.unsigned(self.status_fn())
        if attr in (5, 6):
            return axdr.octet_string(_NO_DST)
        if attr == 7:
            return axdr.integer(0)
        if attr == 8:
            return axdr.boolean(False)
        return axdr.enum(self.clock_base)

    def set_attribute(self, attr, value, ctx):
        raw = expect_type(value, DataType.OCTET_STRING, DataType.DATE_TIME, what="time")
        try:
            epoch = CosemDateTime.from_bytes(raw).to_epoch(self.deviation)
        except AxdrError as exc:
            raise CosemError(DataAccessResult.OTHER_REASON, f"time: {exc}") from None
        self.set_time(epoch)

    def invoke_method(self, method, params, ctx):
        if method != 6 or self.set_time is None:
            raise CosemError(DataAccessResult.READ_WRITE_DENIED, f"clock method {method} not supported")
        shift = expect_type(params or axdr.null(), DataType.LONG, what="shift_time")
        if not -900 <= shift <= 900:
            raise CosemError(DataAccessResult.OTHER_REASON, f"shift_time {shift} s outside ±900 s")
        self.set_time(ctx.now + shift)
        return None
