"""Switch control: A-route only, authenticated, replay-protected, with read-back."""
import pytest

from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.firmware.switchgear.control import SwitchControl, seal
from sumame.firmware.core.events import EventLog
from sumame.firmware.net.switch_command import SwitchCommand, SwitchOp
from sumame.firmware.core.state import MemoryStateStore
from sumame.hal.relay import ContactState

T0 = 1_750_000_000
KEY = bytes(range(32))
SERIAL = "SM0000000042"
A = CommandSource.A_ROUTE


class Rig:
    def __init__(self, relay=True, store=None, relay_obj=None):
        self.clock = VirtualClock(T0)
        self.events = EventLog(self.clock)
        self.store = store or MemoryStateStore()
        self.relay = relay_obj or (EmulatedRelay() if relay else None)
        self.supply = True
        self.breaker = Breaker(self.relay, self.store, self.events, self.clock,
                               BreakerConfig(limit_a=30, extra_steps_a=(120,)),
                               supply_ok=lambda: self.supply)
        self.breaker.boot()
        self.control = SwitchControl(self.breaker, {1: KEY}, self.store, self.events, self.clock,
                                     meter_serial=SERIAL)

    def envelope(self, op, counter, arg=0, *, key=KEY, key_id=1, serial=SERIAL, nb=T0 - 10,
                 na=T0 + 600):
        return seal(SwitchCommand(key_id, counter, nb, na, serial, op, arg), key)


def test_authentic_open_close_and_limit_with_read_back():
    rig = Rig()
    r = rig.control.execute(rig.envelope(SwitchOp.OPEN, 1), A)
    assert r.executed and r.outcome.status.contact == "open"
    assert rig.relay.contact is ContactState.OPEN
    assert rig.control.execute(rig.envelope(SwitchOp.CLOSE, 2), A).executed
    r = rig.control.execute(rig.envelope(SwitchOp.SET_LIMIT, 3, 120), A)
    assert r.executed and rig.breaker.limit_a == 120


@pytest.mark.parametrize("source", [CommandSource.B_ROUTE, CommandSource.IOT_ROUTE,
                                    CommandSource.LOCAL, CommandSource.BREAKER,
                                    CommandSource.BOOT])
def test_valid_envelope_from_any_other_source_is_refused(source):
    rig = Rig()
    r = rig.control.execute(rig.envelope(SwitchOp.OPEN, 1), source)
    assert not r.accepted and "A-route only" in r.reason
    assert rig.relay.operations == 0 and rig.control.last_counter(1) is None
    (event,) = rig.events.of_kind("security")
    assert event.source == source.value


def test_replay_refused_even_after_reboot():
    rig = Rig()
    env = rig.envelope(SwitchOp.OPEN, 7)
    assert rig.control.execute(env, A).executed
    r = rig.control.execute(env, A)
    assert not r.accepted and "replayed" in r.reason
    rebooted = Rig(store=rig.store, relay_obj=rig.relay)
    assert not rebooted.control.execute(env, A).accepted
    assert not rebooted.control.execute(rig.envelope(SwitchOp.CLOSE, 6), A).accepted
    assert rebooted.control.execute(rig.envelope(SwitchOp.CLOSE, 8), A).executed


@pytest.mark.parametrize("tamper, words", [
    (lambda rig: rig.envelope(SwitchOp.OPEN, 1, key=bytes(32)), "MAC check failed"),
    (lambda rig: rig.envelope(SwitchOp.OPEN, 1, key_id=9), "unknown key id 9"),
    (lambda rig: rig.envelope(SwitchOp.OPEN, 1, serial="SM0000000099"), "addressed to meter"),
    (lambda rig: rig.envelope(SwitchOp.OPEN, 1, nb=T0 - 900, na=T0 - 1), "expired"),
    (lambda rig: rig.envelope(SwitchOp.OPEN, 1, nb=T0 + 1000, na=T0 + 2000), "not valid yet"),
    (lambda rig: rig.envelope(SwitchOp.OPEN, 1, nb=T0, na=T0 + 86400), "window"),
    (lambda rig: rig.envelope(SwitchOp.OPEN, 1)[:-1], "malformed"),
    (lambda rig: bytes([0x02]) + rig.envelope(SwitchOp.OPEN, 1)[1:], "version"),
    (lambda rig: (lambda e: e[:5] + bytes([e[5] ^ 1]) + e[6:])(rig.envelope(SwitchOp.OPEN, 1)),
     "MAC check failed"),
])
def test_bad_envelopes_refused_and_logged(tamper, words):
    rig = Rig()
    r = rig.control.execute(tamper(rig), A)
    assert not r.accepted and words in r.reason
    assert rig.relay.operations == 0 and rig.events.counts["security"] == 1
    assert rig.control.refused == 1


def test_counter_spent_before_the_stroke_so_a_power_cut_cannot_enable_a_replay():
    from sumame.hal.errors import PowerCut
    rig = Rig()
    rig.relay.cut_power_on_next_drive(moved=False)
    env = rig.envelope(SwitchOp.OPEN, 5)
    with pytest.raises(PowerCut):
        rig.control.execute(env, A)
    rebooted = Rig(store=rig.store, relay_obj=rig.relay)
    assert rebooted.control.last_counter(1) == 5
    assert not rebooted.control.execute(env, A).accepted


def test_hv_meter_refuses_authentic_commands_with_reason():
    rig = Rig(relay=False)
    r = rig.control.execute(rig.envelope(SwitchOp.OPEN, 1), A)
    assert r.accepted and not r.executed and "has no switch" in r.reason


def test_brown_out_refuses_and_does_not_queue():
    rig = Rig()
    rig.supply = False
    r = rig.control.execute(rig.envelope(SwitchOp.OPEN, 1), A)
    assert not r.executed and "brown-out" in r.reason
    rig.supply = True
    rig.clock.advance_to(T0 + 60)
    assert rig.relay.operations == 0 and rig.relay.contact is ContactState.CLOSED


def test_short_keys_rejected():
    rig = Rig()
    with pytest.raises(ValueError, match="shorter"):
        SwitchControl(rig.breaker, {1: b"short"}, rig.store, rig.events, rig.clock,
                      meter_serial=SERIAL)
