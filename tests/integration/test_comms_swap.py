"""Hot swap of the comms unit under B-route load, with metering keeping its schedule."""
import pytest

from sumame.drivers.emulated import comms_unit
from sumame.drivers.emulated.power import EmulatedPowerSupply
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.switchgear.comms_manager import CommsManager, load_class
from sumame.firmware.core.events import EventLog
from sumame.firmware.switchgear.power_budget import LoadClass, PowerBudget
from sumame.firmware.core.scheduler import Priority, Scheduler, sleep, sleep_until
from sumame.hal.comms import CommsUnit, Medium
from sumame.hal.power import PowerSource

T0 = 1_750_000_020.0      # 00:07:00 JST
LV = PowerSource("mains", capacity_va=8.0, core_draw_va=2.0)
HV = PowerSource("instrument-transformer", capacity_va=15.0, core_draw_va=4.0)


class FakeBRoute:
    """A route application: it serves requests only while up on a unit that is powered."""

    def __init__(self, init_s=5.0):
        self.unit = None
        self.init_s = init_s
        self.ups = []

    async def up(self, unit):
        await sleep(self.init_s)          # modem reset, scan, PANA: takes virtual time
        self.unit = unit
        self.ups.append(unit.descriptor.model)

    async def down(self, unit):
        self.unit = None
        await sleep(0.5)

    def request(self):
        return self.unit is not None and self.unit.attached


class Rig:
    def __init__(self, source=LV):
        self.clock = VirtualClock(T0)
        self.sched = Scheduler(self.clock)
        self.events = EventLog(self.clock)
        self.supply = EmulatedPowerSupply(source, self.clock)
        self.budget = PowerBudget(source, self.events, self.clock, supply=self.supply)
        self.manager = CommsManager(self.budget, self.events, self.clock)
        self.broute = FakeBRoute()
        self.manager.register_route("b-route", {Medium.WISUN, Medium.WIFI, Medium.ETHERNET},
                                    self.broute.up, self.broute.down)
        self.metering_ticks = []
        self.intervals = []
        self.polls = []
        self.sched.spawn(self.manager.run(), name="comms", priority=Priority.COMMS)
        self.sched.spawn(self.budget.run(), name="budget", priority=Priority.CONTROL)

    def start_metering(self):
        async def metering():
            t = T0
            while True:
                await sleep_until(t)
                self.metering_ticks.append(self.clock.now())
                if self.clock.now() % 60 == 0:
                    self.intervals.append(self.clock.now())
                t += 1.0
        self.sched.spawn(metering(), name="metering", priority=Priority.METERING)

    def start_hems(self, period=10.0):
        async def hems():
            t = T0 + period
            while True:
                await sleep_until(t)
                self.polls.append((self.clock.now() - T0, self.broute.request()))
                t += period
        self.sched.spawn(hems(), name="hems", priority=Priority.ROUTE)

    def at(self, t, action):
        async def scenario():
            await sleep_until(T0 + t)
            action()
        self.sched.spawn(scenario(), name=f"at{t}", priority=Priority.UI)


def test_descriptors_satisfy_the_contract_and_map_to_classes():
    assert isinstance(comms_unit.wisun_b_route(), CommsUnit)
    assert load_class(comms_unit.a_route_wisun().descriptor.media) is LoadClass.A_ROUTE
    assert load_class(comms_unit.usb_port_unit().descriptor.media) is LoadClass.USB
    assert load_class(comms_unit.ethernet_wisun_b_route().descriptor.media) is LoadClass.B_ROUTE


def test_hot_swap_under_b_route_load_keeps_metering_on_schedule():
    rig = Rig()
    rig.start_metering()
    rig.start_hems(period=10.0)
    old, new = comms_unit.wisun_b_route("1.0.0"), comms_unit.wisun_wifi_b_route("2.0.0")
    rig.manager.request_insert("comms", old)
    rig.at(95, lambda: rig.manager.request_swap("comms", new))
    rig.sched.run_for(600)

    # metering: one tick every second, none late, none missing; every minute boundary closed
    assert rig.metering_ticks == [T0 + k for k in range(601)]
    assert rig.intervals == [T0 + 60 * k for k in range(11)]
    # the HEMS client was served before and after the swap; only the poll during it failed
    failed = [t for t, ok in rig.polls if not ok]
    assert failed == [100.0]
    assert all(ok for t, ok in rig.polls if t >= 110)
    assert rig.broute.ups == ["wi-sun b-route", "wi-sun + wi-fi b-route"]
    assert old.detach_count == 1 and not old.attached and new.attached
    kinds = [e.kind for e in rig.events if e.kind.startswith("comms-")]
    assert kinds == ["comms-insert", "comms-route-up", "comms-route-down", "comms-remove",
                     "comms-insert", "comms-route-up", "comms-swap"]
    swap = rig.events.of_kind("comms-swap")[0]
    assert "wi-sun b-route -> wi-sun + wi-fi b-route: done in 5.5 s" in swap.detail
    assert "fw 2.0.0" in rig.events.of_kind("comms-insert")[1].detail
    assert rig.budget.summary().loads[0]["declared_va"] == pytest.approx(2.8)


def test_unit_too_big_for_hv_budget_is_never_attached_and_old_routes_stay_down():
    rig = Rig(HV)
    hog = comms_unit.power_hog()
    rig.manager.request_insert("comms", hog)
    rig.sched.run_for(10)
    assert hog.attach_count == 0 and rig.manager.unit() is None
    (result,) = rig.manager.results
    assert not result.ok and "25.00 VA" in result.reason and "11.00 VA" in result.reason
    assert rig.events.counts["comms-refused"] == 1 and rig.events.counts["load-refused"] == 1


def test_failed_swap_leaves_the_slot_empty_and_logged():
    rig = Rig()
    rig.manager.request_insert("comms", comms_unit.wisun_b_route())
    bad = comms_unit.wisun_wifi_b_route()
    bad.fail_attach = True
    rig.at(20, lambda: rig.manager.request_swap("comms", bad))
    rig.sched.run_for(60)
    assert rig.manager.unit() is None and rig.budget.committed_va() == 0
    assert "FAILED" in rig.events.of_kind("comms-swap")[0].detail
    assert rig.events.counts["comms-fault"] == 1


def test_route_without_its_medium_stays_down_with_a_warning():
    rig = Rig()
    rig.manager.request_insert("comms", comms_unit.usb_port_unit())
    rig.sched.run_for(10)
    assert rig.manager.routes_up() == {} and "no medium for b-route" in \
        rig.events.of_kind("comms-route-down")[0].detail


def test_brown_out_sheds_the_unit_and_brings_routes_back():
    rig = Rig()
    rig.start_hems(period=10.0)
    rig.manager.request_insert("comms", comms_unit.wisun_b_route())
    rig.at(30, lambda: rig.supply.derate(2.5))         # 0.5 VA for loads: the unit must go
    rig.at(60, rig.supply.restore_capacity)
    rig.sched.run_for(200)
    assert [ok for t, ok in rig.polls if 40 <= t <= 60] == [False] * 3
    assert all(ok for t, ok in rig.polls if t >= 90)
    assert rig.broute.ups == ["wi-sun b-route"] * 2
    assert rig.events.counts["load-shed"] == 1 and rig.events.counts["load-restore"] == 1
