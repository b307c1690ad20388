"""Registers (class 3) bound to MeterReadings: cumulative energy, last-interval energy,
instantaneous power / current / voltage, interval voltage averages. ``None`` from the readings is
sent as null-data (no data), never 0.

Scaler-units: energy per ``scaling.EnergyScale`` (primary Wh / varh); power W (scaler 0);
current 0.1 A (scaler -1, signed with the element's power); voltage 0.1 V (scaler -1).
"""
from __future__ import annotations

from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem.base import Level
from sumame.firmware.net.dlms.cosem.registers import Register, Unit, scalar
from sumame.firmware.metrology.readings import Quantity

from . import obis_codes as oc
from .scaling import EnergyScale


class IntervalValues:
    """Interval values on the meter's grids, in DLMS register units (see ``scaling``)."""

    def __init__(self, readings, scale: EnergyScale):
        self.readings, self.scale = readings, scale

    def energy(self, quantity: Quantity, end: float, minutes: int) -> int | None:
        """Energy of (end - minutes, end]: the difference of the register readings at the two
        boundaries; None when the meter marks the interval as not measured."""
        r = self.readings
        if r.interval_energy(quantity, end, minutes) is None:
            return None
        return self.scale.interval(r.cumulative_at(quantity, end - minutes * 60), r.cumulative_at(quantity, end))

    def cumulative(self, quantity: Quantity, boundary: float) -> int | None:
        return self.scale.value(self.readings.cumulative_at(quantity, boundary))

    def voltage_dv(self, end: float, minutes: int) -> tuple[int | None, int | None]:
        vr, vt = self.readings.interval_voltage(end, minutes)
        return (None if vr is None else int(round(vr * 10)), None if vt is None else int(round(vt * 10)))

    def last(self, quantity: Quantity, minutes: int) -> int | None:
        return self.energy(quantity, self.readings.latest_boundary(minutes), minutes)


def _largest_current(present) -> int | None:
    values = [abs(c) for c in present.current_da if c is not None]
    return max(values) if values else None


def _value(values: IntervalValues, spec: tuple):
    """The register value ``spec`` names, read from the live meter (one function for every
    register of every meter: the registers hold data, not closures)."""
    r, kind = values.readings, spec[0]
    if kind == "cumulative":
        return values.scale.value(r.cumulative_now(spec[1]))
    if kind == "last":            # the pushed grid (soft switch) decides "last interval"
        return values.last(spec[1], r.transmitted_interval_min)
    if kind == "power":
        p = r.present().power_w
        return None if p is None else max(0, spec[1] * p)
    if kind == "element":
        return getattr(r.present(), spec[1])[spec[2]]
    if kind == "max-current":
        return _largest_current(r.present())
    return values.voltage_dv(r.latest_boundary(5), 5)[spec[1]]     # "voltage-avg"


_SPECS: dict[tuple, tuple] = {}
"""Register specs interned: every meter's register of a kind holds the same tuple (~60 B each,
15 per meter otherwise). Bounded by the model's own spec list."""


class MeterRegister(Register):
    """A Register whose value is ``_value(values, spec)``."""

    __slots__ = ("_values", "_spec")

    def __init__(self, logical_name, values: IntervalValues, spec: tuple, **kw):
        self._values, self._spec = values, _SPECS.setdefault(spec, spec)   # one tuple per spec in the process
        super().__init__(logical_name, None, **kw)

    @property
    def value_fn(self):
        return lambda: _value(self._values, self._spec)

    @value_fn.setter
    def value_fn(self, fn) -> None:   # Register.__init__ sets it; the spec is the value source
        pass

    def value(self):
        return scalar(_value(self._values, self._spec), self.value_type)


def register_objects(readings, scale: EnergyScale, values: IntervalValues) -> list:
    ident = readings.identity
    energy = dict(scaler=scale.scaler, value_type=scale.value_type, read_level=Level.LOW)
    R = lambda ln, *spec, **kw: MeterRegister(ln, values, spec, **kw)   # noqa: E731
    objects = [
        R(oc.ACTIVE_IMPORT, "cumulative", Quantity.FORWARD, unit=Unit.WH, **energy),
        R(oc.ACTIVE_IMPORT_INTERVAL, "last", Quantity.FORWARD, unit=Unit.WH, **energy),
        R(oc.REACTIVE_LAG, "cumulative", Quantity.REACTIVE_LAG, unit=Unit.VARH, **energy),
        R(oc.REACTIVE_LAG_INTERVAL, "last", Quantity.REACTIVE_LAG, unit=Unit.VARH, **energy),
    ]
    if ident.has_reverse:
        objects += [
            R(oc.ACTIVE_EXPORT, "cumulative", Quantity.REVERSE, unit=Unit.WH, **energy),
            R(oc.ACTIVE_EXPORT_INTERVAL, "last", Quantity.REVERSE, unit=Unit.WH, **energy)]
    inst = dict(read_level=Level.LOW)
    objects += [
        R(oc.POWER_IMPORT, "power", 1, unit=Unit.W, value_type=DataType.DOUBLE_LONG_UNSIGNED, **inst),
        R(oc.POWER_EXPORT, "power", -1, unit=Unit.W, value_type=DataType.DOUBLE_LONG_UNSIGNED, **inst),
        R(oc.CURRENT_R, "element", "current_da", 0, scaler=-1, unit=Unit.A, value_type=DataType.LONG, **inst),
        R(oc.CURRENT_MAX, "max-current", scaler=-1, unit=Unit.A, value_type=DataType.LONG_UNSIGNED, **inst),
        R(oc.VOLTAGE_R, "element", "voltage_dv", 0, scaler=-1, unit=Unit.V,
          value_type=DataType.LONG_UNSIGNED, **inst),
        R(oc.VOLTAGE_R_AVG, "voltage-avg", 0, scaler=-1, unit=Unit.V, value_type=DataType.LONG_UNSIGNED, **inst),
    ]
    if ident.wiring != "1p2w":
        objects += [
            R(oc.CURRENT_T, "element", "current_da", 1, scaler=-1, unit=Unit.A, value_type=DataType.LONG, **inst),
            R(oc.VOLTAGE_T, "element", "voltage_dv", 1, scaler=-1, unit=Unit.V,
              value_type=DataType.LONG_UNSIGNED, **inst),
            R(oc.VOLTAGE_T_AVG, "voltage-avg", 1, scaler=-1, unit=Unit.V, value_type=DataType.LONG_UNSIGNED,
              **inst)]
    return objects
