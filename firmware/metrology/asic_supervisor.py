"""Keeps the metering chip configured: starts it at boot, retries with back-off while it does
not answer, and starts it again when it resets (ChipReset) — each with one alarm.

The metering task asks ``ready(now)`` before every poll; while it is False the interval being
measured is no data (the task breaks its measurement session), never zero.
"""
from __future__ import annotations

import logging

from sumame.hal.errors import ChipReset, HalError

from ..core.events import EventLog, Severity

log = logging.getLogger("sumame.metering")


class AsicSupervisor:
    """retry_s: first delay between start attempts, doubled up to max_retry_s (s)."""

    def __init__(self, asic, events: EventLog, *, retry_s: float = 2.0, max_retry_s: float = 60.0):
        self.asic, self.events = asic, events
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self.started = False
        self.starts = 0
        self.resets = 0
        self._next_try = float("-inf")
        self._delay = retry_s
        self._alarmed = False

    def ready(self, now: float) -> bool:
        """True when the chip is configured; otherwise try to start it if a retry is due."""
        if self.started:
            return True
        if now < self._next_try:
            return False
        try:
            self.asic.start()
        except HalError as exc:
            self._next_try = now + self._delay
            if not self._alarmed:
                self._alarmed = True
                self.events.record("asic-fault", source="metering", severity=Severity.ALARM,
                                   detail=f"metering chip did not start: {exc}; retrying every "
                                          f"{self.retry_s:g}-{self.max_retry_s:g} s")
            else:
                log.warning("metering chip still does not start (%s); next try in %.0f s", exc, self._delay)
            self._delay = min(self._delay * 2, self.max_retry_s)
            return False
        self.started = True
        self.starts += 1
        self._delay = self.retry_s
        if self._alarmed or self.starts > 1:
            self.events.record("asic-started", source="metering", severity=Severity.WARNING,
                               detail="metering chip configured again; intervals across the gap are no data")
        self._alarmed = False
        return True

    def failed(self, exc: HalError, now: float) -> bool:
        """A poll raised ``exc``. True when it was a reset: the chip is started again from the
        next poll on (and an alarm says so); False for other errors (the caller handles them)."""
        if not isinstance(exc, ChipReset):
            return False
        self.resets += 1
        self.started = False
        self._next_try = now
        self.events.record("asic-reset", source="metering", severity=Severity.ALARM,
                           detail=f"metering chip reset and lost its calibration: {exc}")
        return True
