"""The firmware's implementation of MeterReadings (see readings.py for the contract)."""
from __future__ import annotations

from sumame.hal.jst import floor_boundary

from .metering import Metering, register_value
from .readings import MeterIdentity, Present, Quantity, RegisterScaling
from .registers import IntervalRegisters


class RegisterReadings:
    """MeterReadings over the live metering counters and the interval registers."""

    def __init__(self, identity: MeterIdentity, scaling: RegisterScaling, metering: Metering,
                 registers: IntervalRegisters, clock):
        self.identity, self.scaling = identity, scaling
        self._metering, self._registers, self._clock = metering, registers, clock

    def now(self) -> float:
        return self._clock.now()

    def present(self) -> Present:
        return self._metering.present

    def _raw(self, counter_mwh: int) -> int:
        return register_value(counter_mwh, self.scaling.unit_kwh, self.scaling.digits)

    def cumulative_now(self, quantity: Quantity) -> int | None:
        if self._metering.session == 0:
            return None
        return self._raw(self._metering.counters[quantity.value])

    def cumulative_at(self, quantity: Quantity, boundary: float) -> int | None:
        snap = self._registers.at(boundary)
        return None if snap is None else self._raw(snap.counter(quantity.value))

    def latest_boundary(self, minutes: int) -> float:
        return float(floor_boundary(self._clock.now(), minutes))

    def interval_energy(self, quantity: Quantity, end: float, minutes: int) -> float | None:
        mwh = self._registers.energy_mwh(quantity.value, end, minutes)
        return None if mwh is None else mwh / 1_000_000

    def interval_voltage(self, end: float, minutes: int) -> tuple[float | None, float | None]:
        return self._registers.voltage(end, minutes)

    @property
    def transmitted_interval_min(self) -> int:
        return self._registers.transmitted_interval_min
