"""The whole switch / power subsystem wired the way the app should wire it (reference wiring).

One scheduler, one store, one event log; tasks and priorities as the integration notes say.
"""
from switch_fakes import LoadAsic

from sumame.drivers.emulated import comms_unit
from sumame.drivers.emulated.usb import devices as usb_devices
from sumame.drivers.emulated.power import EmulatedPowerSupply
from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.drivers.emulated.usb.port import EmulatedUsbPort
from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig, BreakerMode
from sumame.firmware.switchgear.breaker_task import BreakerTask
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.firmware.switchgear.comms_manager import CommsManager
from sumame.firmware.switchgear.control import DLMS_HLS_CIPHERED, Authority, SwitchControl, SwitchOp
from sumame.firmware.core.events import EventLog
from sumame.firmware.switchgear.outage import OutageMonitor, OutageTask
from sumame.firmware.switchgear.power_budget import PowerBudget
from sumame.firmware.core.scheduler import Priority, Scheduler, sleep_until
from sumame.firmware.core.state import MemoryStateStore
from sumame.firmware.switchgear.usb_power import UsbPowerManager
from sumame.hal.comms import Medium
from sumame.hal.power import PowerSource
from sumame.hal.relay import ContactState

T0 = 1_750_000_020
HES = "4845530000000001|glo"
LV = PowerSource("mains", capacity_va=10.0, core_draw_va=2.0, hold_up_j=10.0)


def build(store):
    clock = VirtualClock(T0)
    sched = Scheduler(clock)
    events = EventLog(clock)
    relay = EmulatedRelay()
    asic = LoadAsic(relay)
    supply = EmulatedPowerSupply(LV, clock)
    budget = PowerBudget(LV, events, clock, supply=supply)
    outage = OutageMonitor(store, events, clock, hold_up_s=budget.hold_up_s)
    outage.boot()
    breaker = Breaker(relay, store, events, clock, BreakerConfig(limit_a=30),
                      supply_ok=lambda: supply.supply_ok() and not outage.in_outage)
    breaker.boot()
    control = SwitchControl(breaker, store, events, clock)
    port = EmulatedUsbPort()
    usb = UsbPowerManager(port, budget, events, clock)
    comms = CommsManager(budget, events, clock)
    comms.register_route("a-route", {Medium.AROUTE}, lambda u: None, lambda u: None)
    comms.register_route("b-route", {Medium.WISUN, Medium.WIFI}, lambda u: None, lambda u: None)
    sched.spawn(BreakerTask(breaker, clock, read=asic.read_instantaneous, alarm=asic).run(),
                name="breaker", priority=Priority.CONTROL)
    sched.spawn(OutageTask(outage, clock, read=asic.read_instantaneous).run(),
                name="outage", priority=Priority.CONTROL)
    sched.spawn(budget.run(), name="power-budget", priority=Priority.CONTROL)
    usb.start()
    sched.spawn(usb.run(), name="usb", priority=Priority.CONTROL)
    sched.spawn(comms.run(), name="comms", priority=Priority.COMMS)
    comms.request_insert("comms", comms_unit.a_route_wisun())
    return locals()


def test_a_day_in_the_life():
    m = build(MemoryStateStore())
    sched, asic, control, relay = m["sched"], m["asic"], m["control"], m["relay"]

    def at(t, action):
        async def scenario():
            await sleep_until(T0 + t)
            action()
        sched.spawn(scenario(), name=f"at{t}", priority=Priority.UI)

    def command(op, counter, arg=0):
        proof = Authority(DLMS_HLS_CIPHERED, HES, counter, "client 0x30")
        return lambda: m.setdefault("results", []).append(control.command(op, CommandSource.A_ROUTE,
                                                                          proof, arg))

    at(10, lambda: m["port"].plug(usb_devices.bp35c2_like_dongle()))
    at(60, lambda: asic.set_load(45.0))                 # 1.5 x 30 A: trip at 70
    at(75, lambda: asic.set_load(20.0))                 # recloses at 85 onto 20 A
    at(100, command(SwitchOp.SET_LIMIT, 1, 40))
    at(200, lambda: asic.set_volts(0.0))                # outage 200..400
    at(205, command(SwitchOp.OPEN, 2))                  # refused: no stroke without supply
    at(400, lambda: asic.set_volts(101.0))
    at(500, command(SwitchOp.OPEN, 3))
    at(510, lambda: control.command(SwitchOp.CLOSE, CommandSource.B_ROUTE,
                                    Authority(DLMS_HLS_CIPHERED, HES, 4, "client 0x30")))
    sched.run_for(900)

    events = m["events"]
    assert [e.at - T0 for e in events.of_kind("switch-trip")] == [70.0]
    assert [e.at - T0 for e in events.of_kind("switch-reclose")] == [85.0]
    assert m["breaker"].limit_a == 40
    assert [r.executed for r in m["results"]] == [True, False, True]
    assert "brown-out" in m["results"][1].reason
    assert m["breaker"].mode is BreakerMode.OPEN_REMOTE and relay.contact is ContactState.OPEN
    assert events.counts["power-fail"] == 1 and events.counts["power-restore"] == 1
    assert events.counts["usb-attach"] == 1 and events.counts["comms-insert"] == 1
    assert events.counts["security"] == 1
    assert m["budget"].summary().committed_va == 1.5 + 0.625 + 0.625   # unit + port + dongle
