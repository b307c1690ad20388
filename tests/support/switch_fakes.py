"""Small fakes for the switch/power integration tests (not product code)."""
from __future__ import annotations

from sumame.hal.metering_asic import Instantaneous


class LoadAsic:
    """A metering chip seeing a settable load behind an emulated relay, with an over-current
    comparator (CurrentAlarmSource). Current flows only while the relay's contact is closed;
    voltage is measured on the line side (it stays when the switch is open)."""

    def __init__(self, relay=None, *, volts: float = 101.0, elements: int = 2):
        self.relay = relay
        self.load_a = 0.0
        self.volts = volts
        self.elements = elements
        self.reads = 0
        self._threshold = None
        self._callback = None

    def set_current_alarm(self, threshold_a, callback):
        self._threshold, self._callback = threshold_a, callback

    def current(self) -> float:
        connected = self.relay is None or self.relay.load_connected
        return self.load_a if connected and self.volts > 0 else 0.0

    def set_load(self, amps: float) -> None:
        before = self.current()
        self.load_a = amps
        self._check(before)

    def set_volts(self, volts: float) -> None:
        before = self.current()
        self.volts = volts
        self._check(before)

    def _check(self, before: float) -> None:
        now = self.current()
        if self._threshold is not None and self._callback is not None and \
                before <= self._threshold < now:
            self._callback()

    def read_instantaneous(self) -> Instantaneous:
        self.reads += 1
        i = self.current()
        v = self.volts
        if self.elements == 2:
            return Instantaneous(i * v, 0.0, (v, v), (i, i * 0.5), 50.0)
        return Instantaneous(i * v, 0.0, (v, None), (i, None), 50.0)
