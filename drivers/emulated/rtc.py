"""Emulated RTC (DS3231-class): follows the scheduler clock, with settable offset and drift."""
from __future__ import annotations


class EmulatedRtc:
    """Rtc contract. ``drift_ppm`` makes it run fast (+) or slow (−) like a real crystal;
    ``lose_power()`` sets the oscillator-stopped flag as a dead backup battery would."""

    def __init__(self, clock, *, offset_s: float = 0.0, drift_ppm: float = 0.0):
        self._clock = clock
        self._offset = offset_s
        self._drift = drift_ppm * 1e-6
        self._t0 = clock.now()
        self._stopped = False

    def read(self) -> float:
        now = self._clock.now()
        return now + self._offset + (now - self._t0) * self._drift

    def write(self, epoch_s: float) -> None:
        now = self._clock.now()
        self._t0 = now
        self._offset = epoch_s - now
        self._stopped = False

    @property
    def oscillator_stopped(self) -> bool:
        return self._stopped

    def lose_power(self) -> None:
        self._stopped = True
