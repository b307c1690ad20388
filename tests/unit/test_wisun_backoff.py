"""The route-B Wi-SUN task retries a missing dongle with back-off: 2 s doubling to 5 min."""
from __future__ import annotations

from types import SimpleNamespace

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.routes.broute.wisun import WisunBRoute
from sumame.firmware.core.scheduler import Scheduler
from sumame.hal.errors import HalError


class _Events:
    def __init__(self):
        self.kinds = []

    def record(self, kind, **_):
        self.kinds.append(kind)


def test_missing_dongle_is_retried_with_doubling_back_off_capped_at_five_minutes():
    clock = VirtualClock(1000)
    scheduler = Scheduler(clock)
    tries = []

    def absent():
        tries.append(clock.now())
        raise HalError("no dongle on /dev/ttyUSB0")

    events = _Events()
    route = WisunBRoute(SimpleNamespace(media={}), events, scheduler, clock, absent,
                        rbid="0" * 32, password="x" * 12)
    route.start()
    scheduler.run_for(2000.0)
    gaps = [round(b - a, 3) for a, b in zip(tries, tries[1:])]
    assert gaps[:8] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    assert gaps[8:] and all(g == 300.0 for g in gaps[8:])
    assert events.kinds == ["wisun-fault"]          # one event per outage, not one per try
    assert route.counters["faults"] == len(tries)
