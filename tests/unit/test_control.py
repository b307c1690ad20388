"""Switch control's gate (``SwitchControl.command``): A-route only, a trusted proof, a rising
counter stored before the breaker acts, every refusal logged as a security event, and the
breaker's own refusals (HV, lockout, brown-out) and contact read-back behind it."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog, Severity
from sumame.firmware.core.state import MemoryStateStore
from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig, BreakerMode
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.firmware.switchgear.control import (AUTHORITY_COUNTERS_KEY, DLMS_HLS_CIPHERED, Authority,
                                                SwitchControl, SwitchOp)
from sumame.hal.relay import ContactState

T0 = 1_750_000_000
A = CommandSource.A_ROUTE
SENDER = "4845530000000001|glo"


def at(counter: int, sender: str = SENDER, scheme: str = DLMS_HLS_CIPHERED) -> Authority:
    return Authority(scheme, sender, counter, "client 0x30")


class Rig:
    def __init__(self, relay=True, store=None, relay_obj=None, **config):
        self.clock = VirtualClock(T0)
        self.events = EventLog(self.clock)
        self.store = store or MemoryStateStore()
        self.relay = relay_obj or (EmulatedRelay() if relay else None)
        self.supply = True
        self.breaker = Breaker(self.relay, self.store, self.events, self.clock,
                               BreakerConfig(limit_a=30, extra_steps_a=(120,), **config),
                               supply_ok=lambda: self.supply)
        self.breaker.boot()
        self.control = SwitchControl(self.breaker, self.store, self.events, self.clock)

    def last(self, sender: str = SENDER) -> int | None:
        return self.control.last_counter(DLMS_HLS_CIPHERED, sender)

    def security(self):
        return list(self.events.of_kind("security"))


def test_authentic_open_close_and_limit_with_read_back():
    rig = Rig()
    r = rig.control.command(SwitchOp.OPEN, A, at(1))
    assert r.executed and r.outcome.status.contact == "open" and r.counter == 1
    assert rig.relay.contact is ContactState.OPEN
    (opened,) = rig.events.of_kind("switch-open")
    assert "contact read back open" in opened.detail and "(IC 1)" in opened.detail
    assert rig.control.command(SwitchOp.CLOSE, A, at(2)).executed
    assert rig.relay.contact is ContactState.CLOSED
    r = rig.control.command(SwitchOp.SET_LIMIT, A, at(3), 120)
    assert r.executed and rig.breaker.limit_a == 120
    assert rig.last() == 3 and rig.security() == [] and rig.control.refused == 0


@pytest.mark.parametrize("source", [CommandSource.B_ROUTE, CommandSource.IOT_ROUTE,
                                    CommandSource.LOCAL, CommandSource.BREAKER,
                                    CommandSource.BOOT])
def test_a_proven_command_from_any_other_source_is_refused_and_logged(source):
    rig = Rig()
    r = rig.control.command(SwitchOp.OPEN, source, at(1))
    assert not r.accepted and "A-route only" in r.reason and r.outcome is None
    assert rig.relay.operations == 0 and rig.relay.contact is ContactState.CLOSED
    assert rig.last() is None and rig.store.load(AUTHORITY_COUNTERS_KEY) is None
    (event,) = rig.security()
    assert event.source == source.value and event.severity is Severity.WARNING
    assert "switch command refused" in event.detail and rig.control.refused == 1


@pytest.mark.parametrize("call, words", [
    (lambda c: c.command(SwitchOp.OPEN, CommandSource.B_ROUTE, at(20)), "A-route only"),
    (lambda c: c.command(SwitchOp.OPEN, A, None), "no authentication"),
    (lambda c: c.command(SwitchOp.OPEN, A, at(20, scheme="dlms-lls")), "dlms-lls is not enough"),
    (lambda c: c.command(SwitchOp.OPEN, A, at(10)), "replayed or stale counter 10"),
    (lambda c: c.command(SwitchOp.OPEN, A, at(3)), "replayed or stale counter 3"),
    (lambda c: c.command(SwitchOp.SET_LIMIT, A, at(20), 0), "set_limit with argument 0"),
    (lambda c: c.command(SwitchOp.OPEN, A, at(20), 40), "open with argument 40"),
])
def test_every_refusal_of_the_gate_is_a_security_event_and_moves_nothing(call, words):
    rig = Rig()
    assert rig.control.command(SwitchOp.SET_LIMIT, A, at(10), 120).executed
    r = call(rig.control)
    assert not r.accepted and words in r.reason
    assert rig.relay.operations == 0 and rig.breaker.limit_a == 120
    assert rig.last() == 10 and json.loads(rig.store.load(AUTHORITY_COUNTERS_KEY)) == {
        f"{DLMS_HLS_CIPHERED}|{SENDER}": 10}
    (event,) = rig.security()
    assert words in event.detail and event.severity is Severity.WARNING
    assert rig.control.refused == 1 and rig.events.counts["security"] == 1


def test_replay_refused_even_after_reboot():
    rig = Rig()
    assert rig.control.command(SwitchOp.OPEN, A, at(7)).executed
    r = rig.control.command(SwitchOp.OPEN, A, at(7))
    assert not r.accepted and "replayed" in r.reason
    rebooted = Rig(store=rig.store, relay_obj=rig.relay)
    assert rebooted.last() == 7
    assert not rebooted.control.command(SwitchOp.CLOSE, A, at(7)).accepted
    assert not rebooted.control.command(SwitchOp.CLOSE, A, at(6)).accepted
    assert rebooted.relay.contact is ContactState.OPEN
    assert rebooted.control.command(SwitchOp.CLOSE, A, at(8)).executed


def test_counter_spent_before_the_stroke_so_a_power_cut_cannot_enable_a_replay():
    from sumame.hal.errors import PowerCut
    rig = Rig()
    rig.relay.cut_power_on_next_drive(moved=False)
    with pytest.raises(PowerCut):
        rig.control.command(SwitchOp.OPEN, A, at(5))
    rebooted = Rig(store=rig.store, relay_obj=rig.relay)
    assert rebooted.last() == 5
    r = rebooted.control.command(SwitchOp.OPEN, A, at(5))
    assert not r.accepted and "replayed" in r.reason


def test_an_older_store_with_sealed_envelope_counters_still_boots_and_keeps_its_counters():
    """Stored-state compatibility: the removed sealed-envelope entry left ``switch-counters``."""
    store = MemoryStateStore()
    store.save("switch-counters", json.dumps({"1": 41}).encode())
    store.save(AUTHORITY_COUNTERS_KEY, json.dumps({f"{DLMS_HLS_CIPHERED}|{SENDER}": 9}).encode())
    rig = Rig(store=store)
    assert rig.last() == 9 and not rig.control.command(SwitchOp.OPEN, A, at(9)).accepted
    assert rig.control.command(SwitchOp.OPEN, A, at(10)).executed
    assert store.load("switch-counters") == json.dumps({"1": 41}).encode()


def test_hv_meter_refuses_authentic_commands_with_reason():
    rig = Rig(relay=False)
    r = rig.control.command(SwitchOp.OPEN, A, at(1))
    assert r.accepted and not r.executed and "has no switch" in r.reason
    (refusal,) = rig.events.of_kind("switch-refused")
    assert refusal.source == "a-route" and rig.security() == []


def test_locked_out_breaker_refuses_open_and_close_until_reset():
    rig = Rig(lockout_trips=2, reclose_delay_s=15)
    t = T0
    for _ in range(2):
        rig.breaker.sample(t, (100.0, 0.0))         # > 3 x limit: instantaneous trip
        t += 20
        rig.clock.advance_to(t)
        rig.breaker.reclose_if_due(t)
    assert rig.breaker.mode is BreakerMode.LOCKED_OUT
    strokes = rig.relay.operations
    for n, op in enumerate((SwitchOp.CLOSE, SwitchOp.OPEN), start=1):
        r = rig.control.command(op, A, at(n))
        assert r.accepted and not r.executed and "locked out" in r.reason
    assert rig.relay.operations == strokes and rig.relay.contact is ContactState.OPEN
    assert rig.control.command(SwitchOp.RESET_LOCKOUT, A, at(3)).executed
    assert rig.breaker.mode is not BreakerMode.LOCKED_OUT


def test_a_stuck_contact_is_read_back_and_alarmed():
    rig = Rig()
    rig.relay.stick(ContactState.CLOSED)
    r = rig.control.command(SwitchOp.OPEN, A, at(1))
    assert r.accepted and not r.executed and "stuck-contact alarm" in r.reason
    (stuck,) = rig.events.of_kind("switch-stuck")
    assert stuck.severity is Severity.ALARM and "contact reads closed" in stuck.detail
    assert rig.breaker.status().stuck_alarm and rig.events.of_kind("switch-open") == []


def test_brown_out_refuses_and_does_not_queue():
    rig = Rig()
    rig.supply = False
    r = rig.control.command(SwitchOp.OPEN, A, at(1))
    assert not r.executed and "brown-out" in r.reason
    rig.supply = True
    rig.clock.advance_to(T0 + 60)
    assert rig.relay.operations == 0 and rig.relay.contact is ContactState.CLOSED


requests = st.tuples(st.sampled_from(list(CommandSource)),
                     st.sampled_from([DLMS_HLS_CIPHERED, "dlms-lls", "", None]),
                     st.sampled_from([SENDER, "4845530000000002|glo"]), st.integers(0, 12),
                     st.sampled_from(list(SwitchOp)), st.sampled_from([0, 40, 120]))


@settings(max_examples=60, deadline=2000)
@given(st.lists(requests, max_size=12))
def test_only_a_route_trusted_fresh_well_formed_commands_pass(seq):
    rig = Rig()
    last: dict[str, int] = {}
    for source, scheme, sender, counter, op, arg in seq:
        authority = None if scheme is None else at(counter, sender, scheme)
        passes = (source is A and scheme == DLMS_HLS_CIPHERED and counter > last.get(sender, -1)
                  and (op is SwitchOp.SET_LIMIT) == bool(arg))
        strokes, security = rig.relay.operations, rig.events.counts["security"]
        r = rig.control.command(op, source, authority, arg)
        assert r.accepted is passes, (source, scheme, sender, counter, op, arg, r.reason)
        if passes:
            last[sender] = counter
        else:
            assert rig.relay.operations == strokes
            assert rig.events.counts["security"] == security + 1
    assert {s: rig.last(s) for s in last} == last
