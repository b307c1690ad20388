"""Outage detection from voltage samples, boot reconciliation, liveness, no-data intervals."""
import pytest

from sumame.drivers.emulated.power import EmulatedPowerSupply
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.switchgear.outage import Outage, OutageMonitor, affected_boundaries
from sumame.firmware.core.state import MemoryStateStore
from sumame.hal.errors import PowerBudgetExceeded, PowerCut
from sumame.hal.power import PowerMonitor, PowerSource, PowerSupply

T0 = 1_750_000_020.0     # 2025-06-16 00:07:00 JST


class Rig:
    def __init__(self, store=None, start=T0, **kw):
        self.clock = VirtualClock(start)
        self.events = EventLog(self.clock)
        self.store = store or MemoryStateStore()
        self.mon = OutageMonitor(self.store, self.events, self.clock, **kw)
        self.ended = []
        self.mon.on_end.append(self.ended.append)
        self.gap = self.mon.boot()

    def volts(self, seconds, v, start=None, step=0.5):
        t = self.clock.now() if start is None else start
        end = t + seconds
        while t < end:
            self.clock.advance_to(t)
            self.mon.feed(t, (v, v))
            t += step
        self.clock.advance_to(end)


def test_short_sag_is_not_an_outage():
    rig = Rig()
    rig.volts(10, 101)
    rig.volts(0.9, 20)          # shorter than the 1 s debounce
    rig.volts(10, 101)
    assert rig.mon.outages() == [] and rig.events.counts["power-fail"] == 0


def test_outage_start_end_and_jst_events():
    rig = Rig()
    rig.volts(10, 101)
    rig.volts(30, 0.0)
    assert rig.mon.in_outage and rig.mon.liveness().state == "outage"
    rig.volts(10, 99)
    (o,) = rig.mon.outages()
    assert (o.start, o.end) == (T0 + 10, T0 + 40)
    fail, restore = rig.events.of_kind("power-fail")[0], rig.events.of_kind("power-restore")[0]
    assert fail.at == T0 + 10 and restore.at == T0 + 40
    assert fail.jst == "2025-06-16 00:07:10 JST" and "00:07:10 JST" in fail.detail
    assert rig.ended == [o]


def test_hysteresis_between_thresholds():
    rig = Rig()
    rig.volts(5, 0)
    rig.volts(10, 70)      # above 60 V fail level, below the 85 V restore level
    assert rig.mon.in_outage
    rig.volts(5, 101)
    assert not rig.mon.in_outage


def test_single_phase_loss_is_not_an_outage():
    rig = Rig()
    for k in range(20):
        rig.mon.feed(T0 + k, (101.0, 0.0))
    assert not rig.mon.in_outage


def test_liveness_answer():
    rig = Rig()
    rig.volts(10, 101)
    rig.volts(5, 0)
    rig.volts(5, 101)
    live = rig.mon.liveness().as_dict()
    assert live["state"] == "supplied" and live["last_power_fail"] == T0 + 10
    assert live["last_restore"] == T0 + 15 and live["uptime_s"] == pytest.approx(20)
    assert live["last_power_fail_jst"] == "2025-06-16 00:07:10 JST"


def test_boot_after_unclean_stop_reconstructs_outage_from_last_alive():
    rig = Rig()
    rig.clock.advance_to(T0 + 120)
    rig.mon.heartbeat()
    # the meter dies without warning; it boots again 10 minutes later
    rig2 = Rig(store=rig.store, start=T0 + 720)
    assert rig2.gap == Outage(T0 + 120, T0 + 720, "outage", "boot")
    assert rig2.ended == [rig2.gap]
    assert [e.at for e in rig2.events.of_kind("power-fail")] == [T0 + 120]
    assert rig2.mon.no_data(T0 + 600, T0 + 660) and not rig2.mon.no_data(T0, T0 + 100)


def test_boot_after_detected_failure_uses_the_detected_start():
    rig = Rig()
    rig.volts(30, 101)
    rig.volts(2, 0)            # detected (hold-up kept us alive), then we die
    rig2 = Rig(store=rig.store, start=T0 + 900)
    assert rig2.gap == Outage(T0 + 30, T0 + 900, "outage", "voltage")


def test_clean_shutdown_is_a_restart_gap():
    rig = Rig()
    rig.clock.advance_to(T0 + 50)
    rig.mon.shutdown()
    rig2 = Rig(store=rig.store, start=T0 + 80)
    assert rig2.gap.kind == "restart" and rig2.events.counts["restart"] == 1
    assert rig2.mon.liveness().last_power_fail is None


def test_history_survives_reboots_and_is_bounded():
    rig = Rig(keep=3)
    for _ in range(5):
        rig.volts(5, 0)
        rig.volts(5, 101)
    assert len(rig.mon.outages()) == 3
    rig2 = Rig(store=rig.store, start=rig.clock.now() + 1, keep=3)
    assert len(rig2.mon.outages()) == 3 and rig2.gap.kind == "outage"


def test_corrupt_record_is_reported():
    store = MemoryStateStore()
    store.save("outage", b"{not json")
    rig = Rig(store=store)
    assert rig.gap is None and rig.events.counts["power-state-corrupt"] == 1


@pytest.mark.parametrize("start, end, minutes, expected", [
    (0, 1, 30, [1800]),
    (1790, 1810, 30, [1800, 3600]),
    (1800, 3600, 30, [3600]),
    (1799, 1801, 1, [1800, 1860]),
    (600, 660, 5, [900]),
])
def test_affected_boundaries(start, end, minutes, expected):
    base = 1_749_999_600.0          # a multiple of 3600
    got = affected_boundaries(Outage(base + start, base + end), minutes, base + 10_000)
    assert got == [base + b for b in expected]


def test_emulated_supply_contract_and_hold_up():
    clock = VirtualClock(T0)
    supply = EmulatedPowerSupply(PowerSource("mains", 10.0, 2.0, hold_up_j=20.0), clock)
    assert isinstance(supply, PowerSupply) and isinstance(supply, PowerMonitor)
    supply.admit("comms", 3.0)
    with pytest.raises(PowerBudgetExceeded, match="spare"):
        supply.admit("usb", 6.0)
    supply.lose_line()
    assert not supply.supply_ok() and supply.hold_up_s() == pytest.approx(20.0 / 5.0)
    clock.advance_to(T0 + 2)
    supply.release("comms")        # shedding stretches the rest of the hold-up
    assert supply.hold_up_s() == pytest.approx((20.0 - 10.0) / 2.0)
    clock.advance_to(T0 + 7.01)
    with pytest.raises(PowerCut):
        supply.check_alive()
