"""Fuzz the switch-command envelope decoder and the control path behind it."""
from hypothesis import given, settings
from hypothesis import strategies as st

from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.firmware.switchgear.breaker import Breaker
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.firmware.switchgear.control import SwitchControl, seal
from sumame.firmware.core.events import EventLog
from sumame.firmware.net.switch_command import (
    ENVELOPE_LEN,
    SwitchCommand,
    SwitchCommandError,
    SwitchOp,
    decode,
)
from sumame.firmware.core.state import MemoryStateStore


@settings(max_examples=300, deadline=1500)
@given(st.one_of(st.binary(max_size=60), st.binary(min_size=ENVELOPE_LEN, max_size=ENVELOPE_LEN)))
def test_decoder_raises_only_its_own_errors(data):
    try:
        cmd = decode(data)
    except SwitchCommandError:
        return
    assert cmd.body() + cmd.mac == data


@settings(max_examples=100, deadline=1500)
@given(st.binary(min_size=ENVELOPE_LEN, max_size=ENVELOPE_LEN),
       st.sampled_from(list(CommandSource)))
def test_random_envelopes_never_move_the_relay(data, source):
    clock = VirtualClock(1_750_000_000)
    relay = EmulatedRelay()
    b = Breaker(relay, MemoryStateStore(), EventLog(clock), clock)
    b.boot()
    control = SwitchControl(b, {k: bytes([k]) * 32 for k in range(4)}, MemoryStateStore(),
                            EventLog(clock), clock, meter_serial="SM1")
    assert not control.execute(data, source).accepted
    assert relay.operations == 0


@settings(max_examples=100, deadline=1500)
@given(st.integers(0, 255), st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1), st.text("ABCXYZ0123456789", min_size=1, max_size=12),
       st.sampled_from(list(SwitchOp)), st.integers(1, 0xFFFF))
def test_sealed_commands_round_trip(key_id, counter, nb, span, serial, op, arg):
    na = min(nb + span, 2**32 - 1)
    arg = arg if op is SwitchOp.SET_LIMIT else 0
    cmd = SwitchCommand(key_id, counter, nb, na, serial, op, arg)
    decoded = decode(seal(cmd, b"k" * 32))
    assert (decoded.key_id, decoded.counter, decoded.meter_serial, decoded.op, decoded.argument) \
        == (key_id, counter, serial, op, arg)
