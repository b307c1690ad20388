"""The metering chip's IRQ output on a Raspberry Pi GPIO, as a file descriptor.

gpiozero calls ``when_activated`` on its own thread; the firmware's scheduler is single-threaded
and waits on file descriptors. So the callback only writes one byte to a pipe, and a scheduler
task waiting for the pipe to be readable runs the chip driver's ``handle_irq()`` on the
scheduler's thread (``tools/emulate/hardware.py`` spawns it, like the emulated IRQ line).
"""
from __future__ import annotations

import os

from gpiozero import DigitalInputDevice, GPIOZeroError

from sumame.hal.errors import ConfigurationError


class GpioIrqLine:
    """pin: BCM number of the chip's IRQ0 output (active high, pulled down on the input)."""

    def __init__(self, pin: int, *, pin_factory=None):
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        try:
            self._input = DigitalInputDevice(pin, pull_up=False, pin_factory=pin_factory)
        except GPIOZeroError as exc:
            os.close(self._r)
            os.close(self._w)
            raise ConfigurationError(f"cannot claim the metering chip's IRQ pin {pin}: {exc}") from None
        self._input.when_activated = self._fire
        self.raised = 0

    def _fire(self) -> None:          # gpiozero's thread: only signal the scheduler
        try:
            os.write(self._w, b"!")
        except BlockingIOError:
            pass                      # already signalled and not yet drained

    def fileno(self) -> int:
        return self._r

    def drain(self) -> int:
        """Take the pending signals (scheduler thread); how many edges arrived."""
        try:
            n = len(os.read(self._r, 4096))
        except BlockingIOError:
            n = 0
        self.raised += n
        return n

    def close(self) -> None:
        self._input.close()
        os.close(self._r)
        os.close(self._w)
