"""Supply loss seen by the ASIC's voltage, last gasp on hold-up energy, death and reboot."""
import pytest
from switch_fakes import LoadAsic

from sumame.drivers.emulated.power import EmulatedPowerSupply
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.switchgear.outage import Outage, OutageMonitor, OutageTask, affected_boundaries
from sumame.firmware.switchgear.power_budget import LoadClass, PowerBudget
from sumame.firmware.core.scheduler import Priority, Scheduler, sleep_until
from sumame.firmware.core.state import MemoryStateStore
from sumame.hal.errors import PowerCut
from sumame.hal.power import PowerSource

T0 = 1_750_000_000.0


def boot(store, start, hold_up_j):
    clock = VirtualClock(start)
    events = EventLog(clock)
    source = PowerSource("mains", 10.0, 2.0, hold_up_j=hold_up_j)
    supply = EmulatedPowerSupply(source, clock)
    budget = PowerBudget(source, events, clock, supply=supply)
    budget.request("comms:a-route", LoadClass.A_ROUTE, 4.0, cut=lambda: None)
    asic = LoadAsic()
    monitor = OutageMonitor(store, events, clock, hold_up_s=budget.hold_up_s)
    gasps = []
    monitor.last_gasp_senders.append(gasps.append)
    gap = monitor.boot()
    sched = Scheduler(clock)
    sched.spawn(OutageTask(monitor, clock, read=asic.read_instantaneous, period_s=0.5).run(),
                name="outage", priority=Priority.CONTROL)
    return clock, events, supply, asic, monitor, gasps, gap, sched


def test_last_gasp_then_death_then_reboot_reconciles():
    store = MemoryStateStore()
    clock, events, supply, asic, monitor, gasps, _, sched = boot(store, T0, hold_up_j=12.0)

    async def cut_line():
        await sleep_until(T0 + 100)
        supply.lose_line()
        asic.set_volts(0.0)
        await sleep_until(supply.dies_at())
        supply.check_alive()            # raises PowerCut: the meter stops here

    sched.spawn(cut_line(), name="grid", priority=Priority.UI)
    with pytest.raises(PowerCut):
        sched.run_for(600)
    assert clock.now() == pytest.approx(T0 + 102.0)      # 12 J / (2 + 4) W = 2 s of hold-up
    # the line went at 100.0 just after that second's sample: the first low sample (100.5) is
    # the outage start, detected 1 s later (debounce)
    (gasp,) = gasps
    assert gasp.at == T0 + 100.5 and gasp.hold_up_s == pytest.approx(2.0 - 1.0)
    assert events.of_kind("power-fail")[0].at == T0 + 100.5
    assert "sent" in events.of_kind("last-gasp")[0].detail

    *_, monitor2, _, gap, sched2 = boot(store, T0 + 3600, hold_up_j=12.0)
    sched2.close()
    assert gap == Outage(T0 + 100.5, T0 + 3600, "outage", "voltage")
    assert monitor2.liveness().last_power_fail == T0 + 100.5
    # 30-min intervals ending 00:00 ... 01:00 JST of 1_750_001_400 .. 1_750_005_000 are no data
    assert affected_boundaries(gap, 30, T0 + 3600) == [1_750_001_400.0, 1_750_003_200.0,
                                                         1_750_005_000.0]


def test_no_last_gasp_without_enough_hold_up():
    store = MemoryStateStore()
    clock, events, supply, asic, monitor, gasps, _, sched = boot(store, T0, hold_up_j=1.0)

    async def cut_line():
        await sleep_until(T0 + 10)
        asic.set_volts(0.0)

    sched.spawn(cut_line(), name="grid", priority=Priority.UI)
    sched.run_for(20)
    assert gasps == [] and "not sent: hold-up 0.00 s" in events.of_kind("last-gasp")[0].detail


def test_outage_while_running_marks_intervals_and_restores():
    store = MemoryStateStore()
    clock, events, supply, asic, monitor, gasps, _, sched = boot(store, T0, hold_up_j=0.0)
    ended = []
    monitor.on_end.append(ended.append)

    async def grid():
        await sleep_until(T0 + 200)
        asic.set_volts(0.0)
        await sleep_until(T0 + 500)
        asic.set_volts(101.0)

    sched.spawn(grid(), name="grid", priority=Priority.UI)
    sched.run_for(900)
    (o,) = ended
    assert (o.start, o.end) == (T0 + 200.5, T0 + 500.5)     # first low / first good sample
    assert monitor.no_data(T0 + 300, T0 + 360) and not monitor.no_data(T0 + 600, T0 + 660)
    assert affected_boundaries(o, 5, clock.now()) == [1_750_000_500.0, 1_750_000_800.0]
