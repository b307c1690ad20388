"""The breaker as a scheduler task: feeds it current samples, fires auto-reclose on time.

Samples come from any mix of three places:
* ``read``: a callable returning ``Instantaneous`` (normally ``asic.read_instantaneous``), called
  every ``idle_period_s`` while the current is below the limit and every ``active_period_s``
  while it is over the limit or the trip integrator is still warm; when the trip curve predicts
  a trip before the next sample, the task samples exactly at that moment;
* ``feed(t, instantaneous)``: samples another task already took (the metering task's polls,
  which take them only while ``wants_feed()``: without an armed comparator or with a reclose
  pending);
* an over-current alarm from the metering chip (``CurrentAlarmSource``; ATM90E32-style
  over-current threshold with an IRQ): armed at the contract limit, it wakes the task at once to
  take a sample. The callback must be called in the scheduler's thread (a driver that gets a GPIO
  IRQ on another thread latches it and signals from its poll).

Priority: ``Priority.CONTROL``.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Protocol, runtime_checkable

from sumame.hal.errors import HalError
from sumame.hal.metering_asic import Instantaneous

from .breaker import Breaker
from ..core.scheduler import Event
from .trip_curve import TRIP_RESOLUTION_S

log = logging.getLogger("sumame.breaker")


@runtime_checkable
class CurrentAlarmSource(Protocol):
    """What the breaker needs from a metering chip with an over-current comparator.

    ``set_current_alarm(threshold_a, callback)``: call ``callback()`` when the RMS current of any
    element rises above ``threshold_a`` (A); ``threshold_a=None`` disarms it.
    """

    def set_current_alarm(self, threshold_a: float | None,
                          callback: Callable[[], None] | None) -> None: ...


class BreakerTask:
    """Spawn ``run()`` with ``Priority.CONTROL``."""

    def __init__(self, breaker: Breaker, clock, *,
                 read: Callable[[], Instantaneous] | None = None,
                 alarm: CurrentAlarmSource | None = None,
                 idle_period_s: float = 1.0, active_period_s: float = 0.2):
        if idle_period_s <= 0 or active_period_s <= 0:
            raise ValueError("sample periods must be > 0")
        self.breaker, self.clock = breaker, clock
        self.read, self.alarm = read, alarm
        self.idle_period_s, self.active_period_s = idle_period_s, active_period_s
        self._wake = Event()
        self._alarm_pending = False
        self._unanswered_alarm = False   # an alarm whose own reading failed: sample at the active rate
        self._armed_at: float | None = None
        self._last_sample = -math.inf
        self._planned_wake = -math.inf   # epoch s the task sleeps until (-inf: running / not yet)
        self.read_failures = 0
        self.samples = 0
        self.alarms = 0
        breaker.listeners.append(self._wake.set)

    # ---------------------------------------------------------------- inputs
    def feed(self, t: float, inst: Instantaneous) -> None:
        """A sample taken elsewhere (epoch s). Wakes the task only when a reclose is pending (a
        reclose deferred for the supply is retried now) or when, with this sample, its next
        sample or predicted trip is due sooner than its planned wake (the sampling period and
        the trip prediction follow the breaker's state, so a sample that makes it warm or over
        the limit always does; an alarm has woken the task already): an idle breaker fed every
        poll does not run every poll."""
        self._take(t, inst)
        if self.breaker.reclose_at is None and self.next_wake(t) >= self._planned_wake:
            return
        self._wake.set()   # re-plan (a trip may be due sooner, or a reclose later)

    def wants_feed(self) -> bool:
        """Whether the metering task's polls must bring current samples: while the chip's
        over-current comparator is not armed (no comparator, an IRQ that goes nowhere, or the task
        has not run yet: the polls are then the breaker's only samples between its own idle ones)
        and while an auto-reclose is pending (a reclose deferred for the supply is retried when
        something wakes the task: each fed poll does, the task itself only ``idle_period_s`` later).

        Not needed, because the task samples on its own at least as often, in these states:
        * over the limit or warm: it reads the chip every ``active_period_s`` (<= the poll's
          sample interval, see assembly.py) and at the moment the curve predicts a trip;
        * an alarm pending: ``_on_alarm`` wakes the task, which samples at once and clears it;
        * the limit changed: the breaker's listener wakes the task at once, which re-arms the
          comparator at the new limit (the chip raises the alarm if the current is already
          above it, see the ATM90E32 OI status) before any later poll.
        """
        b = self.breaker
        if not b.has_switch:
            return False
        return self._armed_at is None or b.reclose_at is not None

    def _on_alarm(self) -> None:
        self.alarms += 1
        self._alarm_pending = True
        self._wake.set()

    def _take(self, t: float, inst: Instantaneous) -> None:
        self.samples += 1
        self._last_sample = t
        self.breaker.sample(t, inst.current_a)

    def _arm(self) -> None:
        if self.alarm is None or self.read is None or not self.breaker.has_switch:
            return   # a comparator the task cannot answer with a sample of its own is no use
        limit = float(self.breaker.limit_a)
        if self._armed_at != limit:
            self.alarm.set_current_alarm(limit, self._on_alarm)
            self._armed_at = limit

    # ---------------------------------------------------------------- task
    def next_sample_at(self) -> float:
        """When the next own sample is due: one period after the last, or earlier at the moment
        the trip curve predicts a trip if the present current holds."""
        b = self.breaker
        period = (self.active_period_s if b.sampling_active or self._unanswered_alarm
                  else self.idle_period_s)
        trip_in = b.time_to_trip_s()
        if 0 < trip_in < period:
            period = max(trip_in, TRIP_RESOLUTION_S)   # the clock must move forward
        return self._last_sample + period

    def next_wake(self, now: float) -> float:
        """Epoch s of the next thing to do (sample, predicted trip, reclose)."""
        candidates = []
        due = self.breaker.reclose_at
        if due is not None:
            candidates.append(due if due > now else now + self.idle_period_s)  # deferred
        if self.read is not None:
            candidates.append(max(now, self.next_sample_at()))
        return min(candidates) if candidates else math.inf

    def _sample(self, now: float) -> bool:
        """One own reading of the chip; an unreadable chip costs this sample, not the task (the
        metering task raises the alarm and restarts the chip). False if the read failed."""
        try:
            sample = self.read()
        except HalError as exc:
            self.read_failures += 1
            self._last_sample = now           # try again one period later, not in a busy loop
            log.warning("breaker: chip unreadable (%s); protection waits for the next sample", exc)
            return False
        self._take(now, sample)
        return True

    async def run(self) -> None:
        if not self.breaker.has_switch:
            return   # HV: nothing to protect
        while True:
            self._arm()
            now = self.clock.now()
            if self.read is not None and (self._alarm_pending or now >= self.next_sample_at()):
                if self._sample(now):
                    self._unanswered_alarm = False
                elif self._alarm_pending or self._unanswered_alarm:
                    self._unanswered_alarm = True   # retried at the active rate until one reads
            self._alarm_pending = False
            if self.breaker.reclose_if_due(now) and self.read is not None:
                self._sample(now)   # watch the load the moment it is reconnected
            self._arm()
            wake = self.next_wake(now)
            self._wake.clear()
            self._planned_wake = wake
            try:
                await self._wake.wait(None if math.isinf(wake) else max(0.0, wake - now))
            finally:
                self._planned_wake = -math.inf
