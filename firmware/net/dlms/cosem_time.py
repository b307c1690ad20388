"""COSEM 12-byte date-time (Blue Book 4.1.6.1), with epoch conversion.

Layout: year(2) month day weekday hour minute second hundredths deviation(int16) status.
``deviation`` is minutes from local time to UTC: JST (UTC+9) is -540 (0xFDE4); None = not
specified (0x8000). Wildcard fields are None (0xFF / 0xFFFF). Weekday: 1 = Monday .. 7 = Sunday.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import AxdrError

JST_DEVIATION = -540          # minutes local -> UTC for Japan (no daylight saving)
NOT_SPECIFIED_DEVIATION = 0x8000

# clock status bits
STATUS_INVALID_VALUE = 0x01
STATUS_DOUBTFUL_VALUE = 0x02
STATUS_DIFFERENT_CLOCK_BASE = 0x04
STATUS_INVALID_CLOCK_STATUS = 0x08
STATUS_DAYLIGHT_SAVING_ACTIVE = 0x80

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class CosemDateTime:
    year: int | None
    month: int | None
    day: int | None
    weekday: int | None
    hour: int | None
    minute: int | None
    second: int | None
    hundredths: int | None = 0
    deviation: int | None = None
    status: int | None = None

    # ----------------------------------------------------------- bytes
    def to_bytes(self) -> bytes:
        def b(v):
            return 0xFF if v is None else v
        year = 0xFFFF if self.year is None else self.year
        dev = NOT_SPECIFIED_DEVIATION if self.deviation is None else self.deviation & 0xFFFF
        return bytes((year >> 8, year & 0xFF, b(self.month), b(self.day), b(self.weekday),
                      b(self.hour), b(self.minute), b(self.second), b(self.hundredths),
                      dev >> 8, dev & 0xFF, b(self.status)))

    @classmethod
    def from_bytes(cls, raw: bytes) -> "CosemDateTime":
        if len(raw) != 12:
            raise AxdrError(f"date-time must be 12 bytes, got {len(raw)}")
        year = int.from_bytes(raw[0:2], "big")
        dev = int.from_bytes(raw[9:11], "big")

        def w(v):
            return None if v == 0xFF else v
        month, day, weekday = raw[2], raw[3], raw[4]
        hour, minute, second, hundredths = raw[5], raw[6], raw[7], raw[8]
        if month != 0xFF and not (1 <= month <= 12 or month in (0xFD, 0xFE)):
            raise AxdrError(f"date-time month {month} invalid")
        if day != 0xFF and not (1 <= day <= 31 or day in (0xFD, 0xFE)):
            raise AxdrError(f"date-time day {day} invalid")
        if weekday != 0xFF and not 1 <= weekday <= 7:
            raise AxdrError(f"date-time weekday {weekday} invalid")
        if hour != 0xFF and hour > 23 or minute != 0xFF and minute > 59 or second != 0xFF and second > 59:
            raise AxdrError("date-time hour/minute/second out of range")
        if hundredths != 0xFF and hundredths > 99:
            raise AxdrError(f"date-time hundredths {hundredths} invalid")
        deviation = None if dev == NOT_SPECIFIED_DEVIATION else (dev - 0x10000 if dev & 0x8000 else dev)
        if deviation is not None and not -720 <= deviation <= 840:
            raise AxdrError(f"date-time deviation {deviation} min out of range")
        return cls(None if year == 0xFFFF else year, w(month), w(day), w(weekday), w(hour),
                   w(minute), w(second), w(hundredths), deviation, w(raw[11]))

    # ----------------------------------------------------------- epoch
    @classmethod
    def from_epoch(cls, epoch: float, deviation: int = JST_DEVIATION, status: int | None = 0) -> "CosemDateTime":
        """Local wall time for ``epoch`` (UTC seconds) in the zone ``deviation`` (minutes local->UTC)."""
        local = epoch - deviation * 60
        whole = int(local // 1)
        hundredths = int(round((local - whole) * 100))
        if hundredths == 100:
            whole, hundredths = whole + 1, 0
        t = _EPOCH + timedelta(seconds=whole)
        return cls(t.year, t.month, t.day, t.isoweekday(), t.hour, t.minute, t.second, hundredths,
                   deviation, status)

    def is_fully_specified(self) -> bool:
        return None not in (self.year, self.month, self.day, self.hour, self.minute, self.second) \
            and self.month <= 12 and self.day <= 31

    def to_epoch(self, default_deviation: int = JST_DEVIATION) -> float:
        """UTC epoch seconds. Needs year..second specified; a missing deviation uses the default.

        Raises AxdrError for wildcards or impossible dates (e.g. 31 February)."""
        if not self.is_fully_specified():
            raise AxdrError("date-time with wildcards has no single epoch value")
        deviation = default_deviation if self.deviation is None else self.deviation
        if not 1 <= self.year <= 9999:        # calendar.monthrange raises ValueError for year 0
            raise AxdrError(f"date-time year {self.year} out of range")
        if self.day > calendar.monthrange(self.year, self.month)[1]:
            raise AxdrError(f"date-time {self.year}-{self.month}-{self.day} does not exist")
        local = calendar.timegm((self.year, self.month, self.day, self.hour, self.minute, self.second))
        return local + (self.hundredths or 0) / 100 + deviation * 60


def epoch_to_octets(epoch: float, deviation: int = JST_DEVIATION, status: int | None = 0) -> bytes:
    return CosemDateTime.from_epoch(epoch, deviation, status).to_bytes()


def octets_to_epoch(raw: bytes, default_deviation: int = JST_DEVIATION) -> float:
    return CosemDateTime.from_bytes(raw).to_epoch(default_deviation)
