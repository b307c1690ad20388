"""Interval profiles (class 7) bound to the interval registers: 30-, 15- and 5-minute data.

Columns (capture objects), per meter kind:

    30 min  clock, +A interval, [-A interval], [+R interval (HV)], +A register, [-A register],
            [+R register (HV)]
    15 min  clock, +A interval, [-A interval], +A register, [-A register]
     5 min  clock, +A interval, +R interval, [V(R) average, V(T) average (LV)]

"interval" columns (D = 29) hold the energy of the row's own period, the difference of the
register readings at its two boundaries; "register" columns (D = 8) the reading at the row's
boundary. A row whose interval the meter did not measure (outage, reboot gap, lost record) has
null-data in its interval columns — never 0; a boundary with no reading has null-data in its
register columns. [-A] only where reverse energy is measured. Rows are made on request from
the registers (nothing is copied): entry 1 is the oldest row kept, capacity is the board's
retention for that grid, and range selection takes the clock column (inclusive bounds).
"""
from __future__ import annotations

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.cosem.base import Level
from sumame.firmware.net.dlms.cosem.profile import CaptureObject, PeriodicProfileSource, ProfileGeneric, capture
from sumame.firmware.net.dlms.cosem_time import epoch_to_octets
from sumame.firmware.metrology.readings import Quantity

from . import obis_codes as oc
from .registers_model import IntervalValues

_CLOCK = capture(8, oc.CLOCK, 2)
_INTERVAL_LN = {Quantity.FORWARD: oc.ACTIVE_IMPORT_INTERVAL, Quantity.REVERSE: oc.ACTIVE_EXPORT_INTERVAL,
                Quantity.REACTIVE_LAG: oc.REACTIVE_LAG_INTERVAL}
_REGISTER_LN = {Quantity.FORWARD: oc.ACTIVE_IMPORT, Quantity.REVERSE: oc.ACTIVE_EXPORT,
                Quantity.REACTIVE_LAG: oc.REACTIVE_LAG}


def profile_columns(identity, minutes: int) -> list[tuple[str, object]]:
    """(kind, what) per column after the clock: ("interval", Quantity), ("register", Quantity),
    ("voltage", element index)."""
    reverse = [Quantity.REVERSE] if identity.has_reverse else []
    if minutes == 5:
        cols = [("interval", Quantity.FORWARD), ("interval", Quantity.REACTIVE_LAG)]
        if identity.kind == "lv":
            cols += [("voltage", 0)] + ([("voltage", 1)] if identity.wiring != "1p2w" else [])
        return cols
    quantities = [Quantity.FORWARD] + reverse
    if minutes == 30 and identity.kind == "hv":
        quantities.append(Quantity.REACTIVE_LAG)
    return [("interval", q) for q in quantities] + [("register", q) for q in quantities]


def _capture(kind: str, what) -> CaptureObject:
    if kind == "interval":
        return capture(3, _INTERVAL_LN[what], 2)
    if kind == "register":
        return capture(3, _REGISTER_LN[what], 2)
    return capture(3, (oc.VOLTAGE_R_AVG, oc.VOLTAGE_T_AVG)[what], 2)


_LAYOUTS: dict[tuple, tuple[tuple, tuple]] = {}


def _layout(identity, minutes: int) -> tuple[tuple, tuple]:
    """(columns, capture objects) of the profile, one shared pair per meter shape."""
    key = (identity.kind, identity.wiring, identity.has_reverse, minutes)
    found = _LAYOUTS.get(key)
    if found is None:
        columns = tuple(profile_columns(identity, minutes))
        found = _LAYOUTS[key] = (columns, (_CLOCK,) + tuple(_capture(k, w) for k, w in columns))
    return found


class _IntervalRows:
    """Makes a profile's rows from the live registers (data, not closures: per meter only the
    values it reads and the grid; the columns are the shared layout)."""

    __slots__ = ("values", "minutes", "columns")

    def __init__(self, values: IntervalValues, minutes: int, columns: tuple):
        self.values, self.minutes, self.columns = values, minutes, columns

    def latest(self) -> float:
        return self.values.readings.latest_boundary(self.minutes)

    def _cell(self, kind: str, what, end: float):
        values, minutes = self.values, self.minutes
        if kind == "interval":
            v = values.energy(what, end, minutes)
        elif kind == "register":
            v = values.cumulative(what, end)
        else:
            v = values.voltage_dv(end, minutes)[what]
            return axdr.null() if v is None else axdr.long_unsigned(v)
        return axdr.null() if v is None else axdr.Data(values.scale.value_type, v)

    def __call__(self, end: float) -> tuple:
        return (axdr.octet_string(epoch_to_octets(end)),) + tuple(self._cell(k, w, end) for k, w in self.columns)


def interval_profile(readings, values: IntervalValues, minutes: int, capacity: int,
                     earliest: float) -> ProfileGeneric:
    columns, captures = _layout(readings.identity, minutes)
    rows = _IntervalRows(values, minutes, columns)
    source = PeriodicProfileSource(minutes * 60, capacity, rows.latest, rows, earliest=earliest)
    return ProfileGeneric(oc.PROFILE_BY_MINUTES[minutes], captures, source, capture_period=minutes * 60,
                          read_level=Level.LOW)
