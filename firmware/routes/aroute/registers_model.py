"""Registers (class 3) bound to MeterReadings: cumulative energy, last-interval energy,
instantaneous power / current / voltage, interval voltage averages. ``None`` from the readings is
sent as null-data (no data), never 0.

Scaler-units: energy per ``scaling.EnergyScale`` (primary Wh / varh); power W (scaler 0);
current 0.1 A (scaler -1, signed with the element's power); voltage 0.1 V (scaler -1).
"""
from __future__ import annotations

from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem.base import Level
from sumame.firmware.net.dlms.cosem.registers import Register, Unit
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


def register_objects(readings, scale: EnergyScale, values: IntervalValues) -> list:
    ident = readings.identity
    r = readings
    energy = dict(scaler=scale.scaler, value_type=scale.value_type, read_level=Level.LOW)
    soft = lambda: r.transmitted_interval_min  # noqa: E731 - the pushed grid decides "last interval"
    objects = [
        Register(oc.ACTIVE_IMPORT, lambda: scale.value(r.cumulative_now(Quantity.FORWARD)), unit=Unit.WH, **energy),
        Register(oc.ACTIVE_IMPORT_INTERVAL, lambda: values.last(Quantity.FORWARD, soft()), unit=Unit.WH, **energy),
        Register(oc.REACTIVE_LAG, lambda: scale.value(r.cumulative_now(Quantity.REACTIVE_LAG)), unit=Unit.VARH,
                 **energy),
        Register(oc.REACTIVE_LAG_INTERVAL, lambda: values.last(Quantity.REACTIVE_LAG, soft()), unit=Unit.VARH,
                 **energy),
    ]
    if ident.has_reverse:
        objects += [
            Register(oc.ACTIVE_EXPORT, lambda: scale.value(r.cumulative_now(Quantity.REVERSE)), unit=Unit.WH,
                     **energy),
            Register(oc.ACTIVE_EXPORT_INTERVAL, lambda: values.last(Quantity.REVERSE, soft()), unit=Unit.WH,
                     **energy)]

    def power(sign: int):
        def value():
            p = r.present().power_w
            return None if p is None else max(0, sign * p)
        return value

    def element(field: str, index: int):
        return lambda: getattr(r.present(), field)[index]

    inst = dict(read_level=Level.LOW)
    objects += [
        Register(oc.POWER_IMPORT, power(1), unit=Unit.W, value_type=DataType.DOUBLE_LONG_UNSIGNED, **inst),
        Register(oc.POWER_EXPORT, power(-1), unit=Unit.W, value_type=DataType.DOUBLE_LONG_UNSIGNED, **inst),
        Register(oc.CURRENT_R, element("current_da", 0), scaler=-1, unit=Unit.A, value_type=DataType.LONG, **inst),
        Register(oc.CURRENT_MAX, lambda: _largest_current(r.present()), scaler=-1, unit=Unit.A,
                 value_type=DataType.LONG_UNSIGNED, **inst),
        Register(oc.VOLTAGE_R, element("voltage_dv", 0), scaler=-1, unit=Unit.V,
                 value_type=DataType.LONG_UNSIGNED, **inst),
        Register(oc.VOLTAGE_R_AVG, lambda: values.voltage_dv(r.latest_boundary(5), 5)[0], scaler=-1,
                 unit=Unit.V, value_type=DataType.LONG_UNSIGNED, **inst),
    ]
    if ident.wiring != "1p2w":
        objects += [
            Register(oc.CURRENT_T, element("current_da", 1), scaler=-1, unit=Unit.A, value_type=DataType.LONG,
                     **inst),
            Register(oc.VOLTAGE_T, element("voltage_dv", 1), scaler=-1, unit=Unit.V,
                     value_type=DataType.LONG_UNSIGNED, **inst),
            Register(oc.VOLTAGE_T_AVG, lambda: values.voltage_dv(r.latest_boundary(5), 5)[1], scaler=-1,
                     unit=Unit.V, value_type=DataType.LONG_UNSIGNED, **inst)]
    return objects
