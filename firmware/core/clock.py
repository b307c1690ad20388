"""Clocks for the scheduler: virtual (deterministic) and real (wall clock, optional ratio).

This is the only module of the firmware that reads the host's clock; everything else asks the
clock object it was given. Times are seconds since the Unix epoch (UTC) as floats.
"""
from __future__ import annotations

import selectors
from time import monotonic as _host_monotonic
from time import sleep as _host_sleep
from time import time as _host_epoch

JST_OFFSET_S = 9 * 3600
"""Japan Standard Time is UTC+9 all year (no daylight saving)."""


class VirtualClock:
    """Time that only moves when the scheduler advances it.

    ``now()`` stays put while tasks run; when every task waits, the scheduler jumps straight to
    the next deadline. Same start and same task set give the same sequence of times.
    """

    virtual = True

    def __init__(self, start_epoch_s: float):
        self._now = float(start_epoch_s)

    def now(self) -> float:
        return self._now

    def advance_to(self, epoch_s: float) -> None:
        if epoch_s > self._now:
            self._now = epoch_s

    def wait(self, selector: selectors.BaseSelector | None, deadline: float | None):
        """Poll file descriptors without blocking; jump to ``deadline`` when nothing is ready.

        Returns the ready selector events. With fds but no deadline it blocks on the fds
        (time does not move while the emulation waits for the outside world).
        """
        events = []
        if selector is not None and selector.get_map():
            events = selector.select(timeout=0 if deadline is not None else None)
        if not events and deadline is not None:
            self.advance_to(deadline)
        return events


class RealClock:
    """Wall-clock time, optionally running ``ratio`` times faster than the host clock.

    ``start_epoch_s`` sets what ``now()`` reads at construction (default: the host's time), so
    an emulation can start at any date and still run in real time.
    """

    virtual = False

    def __init__(self, start_epoch_s: float | None = None, ratio: float = 1.0):
        if ratio <= 0:
            raise ValueError(f"clock ratio must be > 0, got {ratio}")
        self.ratio = ratio
        self._start = _host_epoch() if start_epoch_s is None else float(start_epoch_s)
        self._mono0 = _host_monotonic()

    def now(self) -> float:
        return self._start + (_host_monotonic() - self._mono0) * self.ratio

    def wait(self, selector: selectors.BaseSelector | None, deadline: float | None):
        """Block until an fd is readable or ``deadline`` (clock time) is reached."""
        timeout = None if deadline is None else max(0.0, (deadline - self.now()) / self.ratio)
        if selector is not None and selector.get_map():
            return selector.select(timeout=timeout)
        if timeout:
            _host_sleep(timeout)
        return []

