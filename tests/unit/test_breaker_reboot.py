"""Issue 9, defect 5: the breaker's trip history survives a reboot, so rebooting (or a power
cut) cannot reset the 8-trips lockout window. Clearing the trips at boot must fail here."""
from aroute_helpers import meter

from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig, BreakerMode
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.core.state import MemoryStateStore
from sumame.hal.relay import ContactState

T0 = 1_750_000_000.0


class Box:
    """One meter's breaker; ``reboot()`` builds a new Breaker on the same flash, relay and time."""

    def __init__(self, config: BreakerConfig):
        self.config, self.clock = config, VirtualClock(T0)
        self.store, self.relay = MemoryStateStore(), EmulatedRelay()
        self.reboot()

    def reboot(self) -> Breaker:
        self.events = EventLog(self.clock)
        self.breaker = Breaker(self.relay, self.store, self.events, self.clock, self.config)
        self.breaker.boot()
        return self.breaker

    def trip_and_reclose(self) -> None:
        t = self.clock.now()
        assert self.breaker.sample(t, (100.0, 0.0))          # > 3 x limit: instantaneous trip
        if self.breaker.mode is BreakerMode.TRIPPED:
            self.clock.advance_to(t + self.config.reclose_delay_s + 1)
            assert self.breaker.reclose_if_due(self.clock.now())
        self.clock.advance_to(self.clock.now() + 5)


def test_seven_trips_a_reboot_and_one_more_trip_lock_out():
    box = Box(BreakerConfig(limit_a=30))                       # 8 trips in 600 s
    for _ in range(7):
        box.trip_and_reclose()
    assert box.breaker.status().trips_in_window == 7
    box.clock.advance_to(box.clock.now() + 30)
    b = box.reboot()
    assert b.status().trips_in_window == 7 and b.mode is BreakerMode.CLOSED
    box.trip_and_reclose()
    assert b.mode is BreakerMode.LOCKED_OUT and box.relay.contact is ContactState.OPEN
    assert not b.reclose_if_due(box.clock.now() + 3600)
    assert box.reboot().mode is BreakerMode.LOCKED_OUT         # and the lockout survives too


def test_a_reboot_in_every_gap_still_counts_every_trip():
    box = Box(BreakerConfig(limit_a=30))
    for n in range(1, 9):
        box.trip_and_reclose()
        box.reboot()
        assert box.breaker.status().trips_in_window == n
    assert box.breaker.mode is BreakerMode.LOCKED_OUT


def test_trips_older_than_the_window_are_forgotten_across_a_reboot_too():
    box = Box(BreakerConfig(limit_a=30))
    for _ in range(7):
        box.trip_and_reclose()
    box.clock.advance_to(box.clock.now() + 601)
    box.reboot()
    box.trip_and_reclose()
    assert box.breaker.mode is BreakerMode.CLOSED and box.breaker.status().trips_in_window == 1
    assert box.breaker.status().total_trips == 8


def test_the_real_meter_keeps_its_trip_window_through_a_power_cut():
    rt = meter(overrides={"asic": {"profile": "constant", "profile_options": {"power_w": 12000.0}},
                          "breaker": {"lockout_trips": 2}}, poll=1.0)
    breaker = rt.meter.switchgear.breaker
    for _ in range(600):
        if breaker.status().trips_in_window == 1:
            break
        rt.scheduler.run_for(1)
    assert breaker.status().trips_in_window == 1 and breaker.mode is BreakerMode.TRIPPED
    rt.mains.schedule_outage(rt.clock.now() + 1, 30)
    rt.scheduler.run_for(40)
    assert rt.extras["power"].reboots == 1
    breaker = rt.meter.switchgear.breaker
    for _ in range(300):
        if breaker.status().total_trips == 2:
            break
        rt.scheduler.run_for(1)
    status = breaker.status()
    assert status.total_trips == 2 and status.trips_in_window == 2      # the first trip still counts
    assert breaker.mode is BreakerMode.LOCKED_OUT, status
