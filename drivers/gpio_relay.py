"""Latching (bistable) relay on Raspberry Pi GPIOs through gpiozero.

Wiring: two coil drivers (transistor / H-bridge inputs) on ``set_pin`` (closes the contact) and
``reset_pin`` (opens it), each with a hardware pull-down; the relay's auxiliary contact on
``aux_pin``. ``drive(target)`` pulses one coil for ``pulse_s`` seconds, then waits ``settle_s``
for the contact to stop bouncing before anyone reads it back.

gpiozero pitfalls this driver works around (see the reference notes, §4.1):
* Pins are claimed once, at construction, and kept for the life of the process (gpiozero's
  pin reservation); a second driver on the same pins is refused (ConfigurationError). The
  outputs are never re-created per operation, so no set-up glitch can pulse a coil.
* Outputs are created with ``initial_value=False`` (no "blip" high on set-up); the coil drivers
  still need hardware pull-downs, because gpiozero releases the pins at interpreter exit and on
  lgpio they float afterwards.
* The two coils are interlocked: the other coil is forced off before a pulse, and pulses are
  spaced by ``min_interval_s`` so the coil driver's reservoir capacitor can recharge.
A pulse blocks the calling task for ``pulse_s + settle_s`` (default 70 ms): the scheduler's
watchdog budget must allow that.
"""
from __future__ import annotations

import time
from typing import Callable

from gpiozero import DigitalInputDevice, DigitalOutputDevice, GPIOZeroError

from sumame.hal.errors import ConfigurationError, RelayError
from sumame.hal.relay import ContactState

class GpioLatchingRelay:
    """Relay contract on gpiozero pins (``pin_factory`` None = gpiozero's default factory).

    pulse_s:          coil pulse width, s (latching relays need ~10-100 ms; datasheet value)
    settle_s:         wait after the pulse before the contact may be read, s
    min_interval_s:   shortest time between two pulses, s
    aux_closed_level: aux input level (True = high) when the main contact is closed
    aux_pull_up:      internal pull on the aux input (True up, False down)
    operations:       stroke count so far (the firmware keeps the lifetime total)
    """

    def __init__(self, set_pin, reset_pin, aux_pin, *, pulse_s: float = 0.05,
                 settle_s: float = 0.02, min_interval_s: float = 0.5,
                 aux_closed_level: bool = True, aux_pull_up: bool = False,
                 operations: int = 0, pin_factory=None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic):
        if not 0 < pulse_s <= 1.0:
            raise ConfigurationError(f"coil pulse {pulse_s} s outside 0..1 s")
        self.pulse_s, self.settle_s, self.min_interval_s = pulse_s, settle_s, min_interval_s
        self.aux_closed_level = aux_closed_level
        self.operations = operations
        self._sleep, self._monotonic = sleep, monotonic
        self._last_pulse = -float("inf")
        names = [str(p) for p in (set_pin, reset_pin, aux_pin)]
        if len(set(names)) != 3:
            raise ConfigurationError(f"relay pins must differ, got {names}")
        devices = []
        try:
            self._set = DigitalOutputDevice(set_pin, initial_value=False, pin_factory=pin_factory)
            devices.append(self._set)
            self._reset = DigitalOutputDevice(reset_pin, initial_value=False,
                                              pin_factory=pin_factory)
            devices.append(self._reset)
            self._aux = DigitalInputDevice(aux_pin, pull_up=aux_pull_up, pin_factory=pin_factory)
        except GPIOZeroError as exc:
            for device in devices:
                device.close()
            raise ConfigurationError(f"cannot claim relay pins {names}: {exc}") from None

    def drive(self, target: ContactState) -> None:
        coil, other = ((self._set, self._reset) if target is ContactState.CLOSED
                       else (self._reset, self._set))
        wait = self._last_pulse + self.min_interval_s - self._monotonic()
        if wait > 0:
            self._sleep(wait)
        try:
            other.off()
            coil.on()
            try:
                self._sleep(self.pulse_s)
            finally:
                coil.off()
        except GPIOZeroError as exc:
            raise RelayError(f"coil {'set' if coil is self._set else 'reset'} could not be "
                             f"driven: {exc}") from None
        self._last_pulse = self._monotonic()
        self.operations += 1
        self._sleep(self.settle_s)

    def sensed(self) -> ContactState:
        try:
            level = bool(self._aux.value)
        except GPIOZeroError as exc:
            raise RelayError(f"auxiliary contact unreadable: {exc}") from None
        return ContactState.CLOSED if level == self.aux_closed_level else ContactState.OPEN

    def release(self) -> None:
        """Give the pins back (tests, or a deliberate reconfiguration). Not called at exit."""
        for device in (self._set, self._reset, self._aux):
            device.close()
