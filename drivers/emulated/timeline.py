"""Timeline: the one timer queue the emulated radio world (air + dongles) runs on.

Callbacks are scheduled at clock times (epoch s). ``run_due()`` runs what is due at the clock's
``now()``; ``advance(until, stop)`` moves a *virtual* clock from deadline to deadline (running
callbacks) until ``until`` or until ``stop()`` returns True; with a real clock it sleeps.
Not thread-safe: one thread (the test's, or the ``EmulationRunner``'s) drives it.
"""
from __future__ import annotations

import heapq
import itertools
import time
from typing import Callable


class WallClock:
    """Host wall-clock time (epoch s) for emulated hardware served in real time. The firmware's
    own clocks live in sumame.firmware.core.clock; anything with ``now()`` works here."""

    virtual = False
    ratio = 1.0

    def now(self) -> float:
        return time.time()


class TimerHandle:
    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable, args: tuple):
        self.when, self.callback, self.args, self.cancelled = when, callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


class Timeline:
    """Timer queue over a clock (``VirtualClock`` or ``RealClock`` from sumame.firmware.core.clock,
    or anything with ``now()`` and, when virtual, ``advance_to()``)."""

    def __init__(self, clock):
        self.clock = clock
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()

    @property
    def virtual(self) -> bool:
        return bool(getattr(self.clock, "virtual", False))

    def now(self) -> float:
        return self.clock.now()

    def call_at(self, when: float, callback: Callable, *args) -> TimerHandle:
        handle = TimerHandle(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._seq), handle))
        return handle

    def call_later(self, delay_s: float, callback: Callable, *args) -> TimerHandle:
        return self.call_at(self.now() + max(0.0, delay_s), callback, *args)

    def next_deadline(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def run_due(self) -> int:
        """Run every callback due now (including ones they schedule for now). Returns how many."""
        n = 0
        now = self.now()
        while self._heap and self._heap[0][0] <= now:
            _, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            handle.callback(*handle.args)
            n += 1
            now = self.now()
        return n

    def advance(self, until: float, stop: Callable[[], bool] | None = None) -> bool:
        """Run the world up to ``until`` (clock time). Returns True if ``stop()`` became true.

        Virtual clock: jumps between deadlines. Real clock: sleeps until the next deadline.
        """
        while True:
            self.run_due()
            if stop is not None and stop():
                return True
            now = self.now()
            if now >= until:
                return False
            deadline = self.next_deadline()
            target = until if deadline is None else min(deadline, until)
            if self.virtual:
                self.clock.advance_to(target)
            else:
                ratio = getattr(self.clock, "ratio", 1.0)
                time.sleep(max(0.0, min(target - now, 0.05)) / ratio)
