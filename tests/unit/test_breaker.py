"""Breaker state machine: limits, commands, persistence, boot without relay operation."""
import pytest

from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig, BreakerMode
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.firmware.core.events import EventLog, Severity
from sumame.firmware.core.state import MemoryStateStore
from sumame.firmware.switchgear.trip_curve import ThermalAccumulator, TripCurve
from sumame.hal.errors import PowerCut
from sumame.hal.relay import ContactState, Relay

A = CommandSource.A_ROUTE
T0 = 1_750_000_000.0


class Meter:
    def __init__(self, config=None, relay=None, store=None, supply=True):
        self.clock = VirtualClock(T0)
        self.relay = relay if relay is not None else EmulatedRelay()
        self.store = store or MemoryStateStore()
        self.events = EventLog(self.clock)
        self.supply = supply
        self.breaker = Breaker(self.relay, self.store, self.events, self.clock,
                               config or BreakerConfig(limit_a=30),
                               supply_ok=lambda: self.supply)
        self.breaker.boot()

    def reboot(self):
        return Meter(self.breaker.config, self.relay, self.store, self.supply)

    def kinds(self):
        return [e.kind for e in self.events]


def test_emulated_relay_satisfies_contract():
    assert isinstance(EmulatedRelay(), Relay)


def test_curve_values_documented():
    c = TripCurve()
    assert c.trip_time_s(1.0) == float("inf")
    assert c.trip_time_s(1.5) == pytest.approx(10.0)
    assert c.trip_time_s(2.0) == pytest.approx(12.5 / 3)
    assert c.trip_time_s(3.0) == 0.0


def test_accumulator_never_trips_early_on_constant_current():
    acc = ThermalAccumulator(TripCurve())
    assert not acc.add(0.0, 1.5)
    t = 0.0
    while not acc.add(t, 1.5):
        t += 0.25
    assert 10.0 <= t < 10.25


def test_allowed_limits_and_board_steps():
    cfg = BreakerConfig(limit_a=30, extra_steps_a=(80, 100, 120))
    assert cfg.allowed_limits == (10, 15, 20, 30, 40, 50, 60, 80, 100, 120)
    with pytest.raises(ValueError, match="outside"):
        BreakerConfig(extra_steps_a=(150,))
    with pytest.raises(ValueError, match="not in"):
        BreakerConfig(limit_a=35)


@pytest.mark.parametrize("bad", [35, 0, 130, 30.0, "30", True, None])
def test_unknown_limits_refused_and_logged(bad):
    m = Meter(BreakerConfig(limit_a=30, extra_steps_a=(120,)))
    out = m.breaker.command_set_limit(bad, A)
    assert not out.ok and "not a contract step" in out.reason
    assert m.breaker.limit_a == 30 and m.kinds()[-1] == "switch-refused"


def test_remote_limit_change_persists():
    m = Meter(BreakerConfig(limit_a=30, extra_steps_a=(120,)))
    assert m.breaker.command_set_limit(120, A).action == "limit-set"
    assert m.reboot().breaker.limit_a == 120
    assert m.relay.operations == 0     # a limit change is not a relay operation


def test_remote_open_close_with_read_back():
    m = Meter()
    out = m.breaker.command_open(A)
    assert out.ok and out.action == "opened" and out.status.contact == "open"
    assert m.relay.contact is ContactState.OPEN
    assert m.breaker.command_open(A).action == "no-op"      # idempotent, no stroke
    assert m.relay.operations == 1
    out = m.breaker.command_close(A)
    assert out.ok and m.relay.contact is ContactState.CLOSED
    assert [e.source for e in m.events.of_kind("switch-open", "switch-close")] == ["a-route"] * 2


@pytest.mark.parametrize("source", [s for s in CommandSource if s is not CommandSource.A_ROUTE])
def test_non_a_route_sources_refused(source):
    m = Meter()
    for command in (lambda: m.breaker.command_open(source),
                    lambda: m.breaker.command_close(source),
                    lambda: m.breaker.command_set_limit(40, source),
                    lambda: m.breaker.command_reset_lockout(source)):
        out = command()
        assert not out.ok and "A-route only" in out.reason
    assert m.relay.operations == 0 and m.breaker.limit_a == 30
    assert m.events.counts["security"] == 4


def test_hv_meter_has_no_switch():
    clock = VirtualClock(T0)
    events = EventLog(clock)
    b = Breaker(None, MemoryStateStore(), events, clock)
    b.boot()
    for out in (b.command_open(A), b.command_close(A), b.command_set_limit(40, A)):
        assert not out.ok and "has no switch" in out.reason
    assert not b.sample(T0, (500.0, 500.0))
    assert b.status().rows() == [("switch", "none (HV meter)")]


def test_stuck_contact_alarm_and_mode_unchanged():
    m = Meter()
    m.relay.stick(ContactState.CLOSED)
    out = m.breaker.command_open(A)
    assert not out.ok and "stuck" in out.reason
    assert m.breaker.mode is BreakerMode.CLOSED and out.status.stuck_alarm
    (alarm,) = m.events.of_kind("switch-stuck")
    assert alarm.severity is Severity.ALARM and "contact reads closed" in alarm.detail
    m.relay.unstick()
    assert m.breaker.command_open(A).ok and not m.breaker.status().stuck_alarm


def test_worn_out_relay_welds_and_is_detected():
    m = Meter(relay=EmulatedRelay(wear_limit=3))
    assert m.breaker.command_open(A).ok
    assert m.breaker.command_close(A).ok
    assert m.breaker.command_open(A).ok
    out = m.breaker.command_close(A)        # 4th stroke: welded open
    assert not out.ok and m.relay.worn_out and m.events.counts["switch-stuck"] == 1


def test_no_stroke_while_supply_is_down():
    m = Meter()
    m.supply = False
    out = m.breaker.command_open(A)
    assert not out.ok and "brown-out" in out.reason and m.relay.operations == 0
    assert m.breaker.command_set_limit(40, A).ok      # a setting, not a stroke


def test_boot_without_record_adopts_sensed_contact_without_driving():
    relay = EmulatedRelay(ContactState.OPEN)
    m = Meter(relay=relay)
    assert m.breaker.mode is BreakerMode.OPEN_REMOTE and relay.drive_log == []


def test_boot_restores_mode_without_relay_operation():
    m = Meter()
    m.breaker.command_open(A)
    ops = m.relay.operations
    m2 = m.reboot()
    assert m2.breaker.mode is BreakerMode.OPEN_REMOTE
    assert m2.relay.operations == ops and len(m2.relay.drive_log) == 1
    assert "switch-boot" in m2.kinds()


@pytest.mark.parametrize("moved, expect_mode", [(True, BreakerMode.OPEN_REMOTE),
                                                (False, BreakerMode.CLOSED)])
def test_power_cut_during_stroke_is_resolved_at_boot(moved, expect_mode):
    m = Meter()
    m.relay.cut_power_on_next_drive(moved=moved)
    with pytest.raises(PowerCut):
        m.breaker.command_open(A)
    strokes = len(m.relay.drive_log)
    m2 = m.reboot()
    assert m2.breaker.mode is expect_mode
    assert m2.breaker.mode.contact is m2.relay.contact          # consistent with the contact
    assert len(m2.relay.drive_log) == strokes                   # no stroke at boot
    boot = m2.events.of_kind("switch-boot")[-1].detail
    assert ("completed before the power loss" if moved else "interrupted by power loss") in boot
    assert m2.reboot().breaker.mode is expect_mode              # and it stays resolved


def test_mismatch_at_boot_raises_alarm_without_operation():
    m = Meter()
    m.relay.contact = ContactState.OPEN          # someone moved it while we were off
    m2 = m.reboot()
    assert m2.breaker.status().stuck_alarm and m2.events.counts["switch-mismatch"] == 1
    assert m2.relay.drive_log == []


def test_corrupt_record_adopts_contact():
    m = Meter()
    m.store.save("breaker", b"\xff\x00garbage")
    m2 = m.reboot()
    assert m2.breaker.mode is BreakerMode.CLOSED and m2.events.counts["switch-state-corrupt"] == 1


def test_lockout_commands():
    m = Meter(BreakerConfig(limit_a=30, lockout_trips=2, reclose_delay_s=15))
    t = T0
    for _ in range(2):
        m.breaker.sample(t, (100.0, 0.0))           # > 3 x limit: instantaneous
        t += 20
        m.clock.advance_to(t)
        m.breaker.reclose_if_due(t)
    assert m.breaker.mode is BreakerMode.LOCKED_OUT and m.relay.contact is ContactState.OPEN
    for out in (m.breaker.command_close(A), m.breaker.command_open(A)):
        assert not out.ok and "locked out" in out.reason
    assert m.breaker.command_set_limit(40, A).ok     # settings still accepted
    assert not m.breaker.reclose_if_due(t + 1000)    # no auto-reclose in lockout
    m = m.reboot()                                   # a reboot does not clear the lockout
    assert m.breaker.mode is BreakerMode.LOCKED_OUT and not m.breaker.reclose_if_due(t + 9999)
    out = m.breaker.command_reset_lockout(A)
    assert out.ok and m.relay.contact is ContactState.CLOSED
    assert not m.breaker.command_reset_lockout(A).ok  # not locked out any more


def test_stroke_count_persists_across_reboots_including_interrupted_ones():
    m = Meter()
    m.breaker.command_open(A)
    m.breaker.command_close(A)
    m.relay.cut_power_on_next_drive(moved=False)
    with pytest.raises(PowerCut):
        m.breaker.command_open(A)
    assert m.reboot().breaker.status().operations == 3 == m.relay.operations
