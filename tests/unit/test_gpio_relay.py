"""gpiozero latching-relay driver against MockFactory pins (pin state history)."""
import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from sumame.drivers.gpio_relay import GpioLatchingRelay
from sumame.firmware.switchgear.breaker import Breaker, BreakerMode
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.firmware.core.events import EventLog
from sumame.firmware.core.state import MemoryStateStore
from sumame.hal.errors import ConfigurationError
from sumame.hal.relay import ContactState, Relay

SET, RESET, AUX = 17, 27, 22
PULSE = 0.02
SLACK = 0.25   # scheduling slack allowed on a loaded host (the pulse must not be shorter)


class CoilPin(MockPin):
    """A coil output that moves the relay's auxiliary contact (the aux pin) on each pulse."""

    def __init__(self, factory, info, aux=None, closes=True):
        super().__init__(factory, info)
        self.aux, self.closes, self.jammed = aux, closes, False

    def _change_state(self, value):
        changed = super()._change_state(value)
        if changed and value and not self.jammed and self.aux is not None:
            self.aux.drive_high() if self.closes else self.aux.drive_low()
        return changed


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.reset()


def _relay_with_physics(factory, aux_level=True):
    aux = factory.pin(AUX)
    set_pin = factory.pin(SET, pin_class=CoilPin, aux=aux, closes=True)
    reset_pin = factory.pin(RESET, pin_class=CoilPin, aux=aux, closes=False)
    relay = GpioLatchingRelay(SET, RESET, AUX, pulse_s=PULSE, settle_s=0.0, min_interval_s=0.0,
                              pin_factory=factory)
    aux.drive_high() if aux_level else aux.drive_low()
    return relay, set_pin, reset_pin, aux


def _pulses(pin):
    """[(width s)] of each high period in the pin's history."""
    widths, states = [], pin.states
    for before, after in zip(states, states[1:]):
        if before.state and not after.state:
            widths.append(after.timestamp)
    return widths


def test_contract(factory):
    relay, *_ = _relay_with_physics(factory)
    assert isinstance(relay, Relay)


def test_no_glitch_at_setup(factory):
    relay, set_pin, reset_pin, _ = _relay_with_physics(factory)   # keep relay referenced
    assert [s.state for s in set_pin.states] == [False]
    assert [s.state for s in reset_pin.states] == [False]
    assert set_pin.function == "output" and reset_pin.function == "output"


def test_open_pulses_reset_coil_only_with_the_configured_width(factory):
    relay, set_pin, reset_pin, aux = _relay_with_physics(factory)
    set_pin.clear_states()
    reset_pin.clear_states()
    relay.drive(ContactState.OPEN)
    (width,) = _pulses(reset_pin)
    assert PULSE <= width < PULSE + SLACK
    assert [s.state for s in set_pin.states] == [False]      # the other coil never rose
    assert reset_pin.state is False                          # pulse, not hold
    assert relay.sensed() is ContactState.OPEN and relay.operations == 1


def test_close_pulses_set_coil(factory):
    relay, set_pin, reset_pin, _ = _relay_with_physics(factory, aux_level=False)
    reset_pin.clear_states()
    relay.drive(ContactState.CLOSED)
    assert len(_pulses(set_pin)) == 1 and _pulses(reset_pin) == []
    assert relay.sensed() is ContactState.CLOSED


def test_inverted_aux_contact(factory):
    aux = factory.pin(AUX)
    relay = GpioLatchingRelay(SET, RESET, AUX, pulse_s=PULSE, aux_closed_level=False,
                              pin_factory=factory)
    aux.drive_low()
    assert relay.sensed() is ContactState.CLOSED


def test_minimum_interval_between_pulses(factory):
    waits = []
    relay = GpioLatchingRelay(SET, RESET, AUX, pulse_s=PULSE, settle_s=0.0, min_interval_s=0.5,
                              pin_factory=factory, sleep=waits.append,
                              monotonic=lambda: 100.0)
    relay.drive(ContactState.OPEN)
    relay.drive(ContactState.CLOSED)
    assert waits == [PULSE, 0.0, pytest.approx(0.5), PULSE, 0.0]


def test_pins_claimed_once(factory):
    relay, *_ = _relay_with_physics(factory)
    with pytest.raises(ConfigurationError, match="cannot claim"):
        GpioLatchingRelay(SET, 5, 6, pin_factory=factory)
    with pytest.raises(ConfigurationError, match="must differ"):
        GpioLatchingRelay(5, 5, 6, pin_factory=factory)
    relay.release()
    GpioLatchingRelay(SET, RESET, AUX, pin_factory=factory).release()


def test_breaker_over_gpio_relay_detects_a_jammed_contact(factory):
    relay, set_pin, reset_pin, aux = _relay_with_physics(factory)
    clock = VirtualClock(1_750_000_000.0)
    events = EventLog(clock)
    breaker = Breaker(relay, MemoryStateStore(), events, clock)
    breaker.boot()
    assert breaker.command_open(CommandSource.A_ROUTE).ok
    assert breaker.command_close(CommandSource.A_ROUTE).ok
    reset_pin.jammed = True
    out = breaker.command_open(CommandSource.A_ROUTE)
    assert not out.ok and breaker.mode is BreakerMode.CLOSED
    assert len(_pulses(reset_pin)) == 2 and events.counts["switch-stuck"] == 1
