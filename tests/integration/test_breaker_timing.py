"""Trip / reclose / lockout timing in virtual time, with the breaker running as a task."""
import pytest
from switch_fakes import LoadAsic

from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig, BreakerMode
from sumame.firmware.switchgear.breaker_task import BreakerTask, CurrentAlarmSource
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.firmware.core.events import EventLog
from sumame.firmware.core.scheduler import Priority, Scheduler, sleep_until
from sumame.firmware.core.state import MemoryStateStore
from sumame.hal.errors import PowerCut
from sumame.hal.relay import ContactState

T0 = 1_750_000_000.0


class Rig:
    def __init__(self, config=None, *, alarm=True, read=True, idle=1.0, store=None, relay=None,
                 start=T0):
        self.clock = VirtualClock(start)
        self.sched = Scheduler(self.clock)
        self.relay = relay or EmulatedRelay()
        self.asic = LoadAsic(self.relay)
        self.events = EventLog(self.clock)
        self.store = store or MemoryStateStore()
        self.supply = True
        self.breaker = Breaker(self.relay, self.store, self.events, self.clock,
                               config or BreakerConfig(limit_a=30),
                               supply_ok=lambda: self.supply)
        self.breaker.boot()
        self.task = BreakerTask(self.breaker, self.clock,
                                read=self.asic.read_instantaneous if read else None,
                                alarm=self.asic if alarm else None, idle_period_s=idle)
        self.sched.spawn(self.task.run(), name="breaker", priority=Priority.CONTROL)

    def at(self, t, action):
        async def scenario():
            await sleep_until(T0 + t)
            action()
        self.sched.spawn(scenario(), name=f"scenario@{t}", priority=Priority.UI)

    def times(self, kind):
        return [e.at - T0 for e in self.events.of_kind(kind)]


def test_fake_asic_offers_the_alarm_protocol():
    assert isinstance(LoadAsic(), CurrentAlarmSource)


@pytest.mark.parametrize("amps, expected", [(45.0, 10.0), (60.0, 12.5 / 3), (36.0, 12.5 / 0.44)])
def test_trip_follows_the_curve_exactly_with_the_alarm(amps, expected):
    rig = Rig(idle=10.0)
    rig.at(100, lambda: rig.asic.set_load(amps))
    rig.sched.run_for(200)
    trip = rig.times("switch-trip")[0]
    assert trip == pytest.approx(100 + expected, abs=1e-6)


def test_trip_at_most_one_idle_period_late_without_alarm():
    rig = Rig(alarm=False, idle=1.0)
    rig.at(100.5, lambda: rig.asic.set_load(45.0))   # between two samples
    rig.sched.run_for(200)
    trip = rig.times("switch-trip")[0]
    assert 110.5 <= trip <= 111.5


def test_instantaneous_trip_on_alarm():
    rig = Rig(idle=30.0)
    rig.at(50.25, lambda: rig.asic.set_load(200.0))
    rig.sched.run_for(60)
    assert rig.times("switch-trip") == [50.25]
    assert rig.task.alarms == 1     # the comparator, not the 30 s periodic sample, caught it


def test_load_below_limit_never_trips_and_samples_slowly():
    rig = Rig(idle=5.0)
    rig.at(10, lambda: rig.asic.set_load(29.9))
    rig.sched.run_for(3600)
    assert rig.times("switch-trip") == [] and rig.task.samples <= 3600 / 5 + 2


def test_short_overload_below_trip_time_does_not_trip():
    rig = Rig(idle=1.0)
    rig.at(100, lambda: rig.asic.set_load(45.0))   # 1.5 x: would trip after 10 s
    rig.at(108, lambda: rig.asic.set_load(10.0))
    rig.sched.run_for(300)
    assert rig.times("switch-trip") == []


def test_auto_reclose_after_delay_then_lockout_after_8_trips():
    rig = Rig(BreakerConfig(limit_a=30, reclose_delay_s=15, lockout_trips=8,
                            lockout_window_s=600))
    rig.at(100, lambda: rig.asic.set_load(45.0))   # a persistent 1.5 x overload
    rig.sched.run_for(1200)
    trips = rig.times("switch-trip")
    recloses = rig.times("switch-reclose")
    assert len(trips) == 8 and len(recloses) == 7
    # cycle: 10 s along the curve, then 15 s open
    assert trips == pytest.approx([100 + 10 + 25 * k for k in range(8)], abs=1e-6)
    assert recloses == pytest.approx([t + 15 for t in trips[:7]], abs=1e-6)
    assert rig.times("switch-lockout") == [trips[-1]]
    assert rig.breaker.mode is BreakerMode.LOCKED_OUT and rig.relay.contact is ContactState.OPEN


def test_trips_spread_beyond_the_window_do_not_lock_out():
    rig = Rig(BreakerConfig(limit_a=30, lockout_trips=3, lockout_window_s=100))
    for k in range(4):
        start = 100 + 200 * k
        rig.at(start, lambda: rig.asic.set_load(200.0))
        rig.at(start + 1, lambda: rig.asic.set_load(5.0))
    rig.sched.run_for(1000)
    assert len(rig.times("switch-trip")) == 4 and rig.times("switch-lockout") == []


def test_reclose_waits_for_the_supply():
    rig = Rig()
    rig.at(100, lambda: rig.asic.set_load(200.0))
    rig.at(101, lambda: (rig.asic.set_load(0.0), setattr(rig, "supply", False)))
    rig.at(160, lambda: setattr(rig, "supply", True))
    rig.sched.run_for(300)
    assert rig.times("switch-trip") == [100]
    (reclose,) = rig.times("switch-reclose")
    assert 160 <= reclose <= 161


def test_limit_change_rearms_the_alarm():
    rig = Rig(BreakerConfig(limit_a=30, extra_steps_a=(120,)), idle=60.0)
    rig.at(10, lambda: rig.breaker.command_set_limit(60, CommandSource.A_ROUTE))
    rig.at(20, lambda: rig.asic.set_load(45.0))    # over 30 A, under 60 A: no alarm any more
    rig.sched.run_for(300)
    assert rig.task.alarms == 0 and rig.times("switch-trip") == []
    assert rig.asic._threshold == 60.0


def test_power_cut_during_trip_then_reboot_is_consistent_and_silent():
    relay = EmulatedRelay()
    store = MemoryStateStore()
    rig = Rig(relay=relay, store=store)
    relay.cut_power_on_next_drive(moved=True)
    rig.at(100, lambda: rig.asic.set_load(200.0))
    with pytest.raises(PowerCut):
        rig.sched.run_for(200)
    strokes = len(relay.drive_log)
    # reboot later (power is back, load still connected but below the limit)
    rig2 = Rig(relay=relay, store=store, start=T0 + 3600)
    rig2.asic.load_a = 5.0
    assert rig2.breaker.mode is BreakerMode.TRIPPED      # the stroke had completed
    assert len(relay.drive_log) == strokes                # boot did not drive
    rig2.sched.run_for(60)
    # the reclose comes a full delay after boot, never at boot
    assert rig2.times("switch-reclose") == [3600 + 15.0]


def test_a_failed_read_after_an_alarm_is_retried_at_the_active_rate_not_an_idle_period_later():
    """The alarm says the current crossed the limit; if the task's own reading then fails (a bus
    error), protection must not wait an idle period (here 1 h) for the next sample."""
    from sumame.hal.errors import HalError

    rig = Rig(idle=3600.0)
    good = rig.asic.read_instantaneous
    failures = {"left": 0}

    def flaky():
        if failures["left"]:
            failures["left"] -= 1
            raise HalError("SPI read failed")
        return good()

    rig.task.read = flaky
    rig.at(100, lambda: (failures.__setitem__("left", 2), rig.asic.set_load(45.0)))
    rig.sched.run_for(400)
    assert rig.task.read_failures == 2
    trip = rig.times("switch-trip")[0]
    assert 100 < trip < 100 + 10.0 + 1.0, trip      # 45 A trips after 10 s on the curve
