"""Low-voltage smart electric energy meter, class 0x0288 instance 0x01 (MRA Release R, §2).

Every value comes from ``MeterReadings``; raw register values are sent as they are (kWh =
raw x E1 unit x D3). ``None`` from the readings becomes the no-data code (0xFFFFFFFE, E7
0x7FFFFFFE, E8 0x7FFE). The history selectors E5, ED and EF are node state held in RAM
(volatile: a reboot restores their initial values, as the MRA initial values describe).
"""
from __future__ import annotations

from sumame.firmware.net.echonet import Eoj
from sumame.firmware.metrology.readings import Quantity

from . import edt
from .objects import DeviceObject

FWD, REV = Quantity.FORWARD, Quantity.REVERSE
SLOT_S = 1800
HISTORY_DAYS = 100
"""E5 accepts day 0 (today) .. 99."""


def day_history(readings, quantity, day: int) -> bytes:
    """E2/E4 (and HV E7/CE) EDT: u16 day + 48 x u32 raw at 00:00, 00:30 .. 23:30 JST of the day
    ``day`` days ago; 0x00FF + 48 x no-data while the selector holds its initial value 0xFF."""
    if day == 0xFF:
        return edt.u16(0x00FF) + edt.u32(None) * 48
    start = edt.jst_midnight(readings.now(), day)
    return edt.u16(day) + b"".join(
        edt.u32(readings.cumulative_at(quantity, start + k * SLOT_S)) for k in range(48))


def pair_history(readings, start: float | None, count: int, step_s: int) -> bytes:
    """EC/EE items: ``count`` x (normal u32, reverse u32) at start, start-step, ..."""
    if start is None:
        return edt.u32(None) * 2 * count
    out = bytearray()
    for i in range(count):
        t = start - i * step_s
        out += edt.u32(readings.cumulative_at(FWD, t)) + edt.u32(readings.cumulative_at(REV, t))
    return bytes(out)


class HistorySelector:
    """A date-time_6 + count selector (ED: 30-min slots, 1..12; EF: minutes, 1..10)."""

    __slots__ = ("readings", "step_s", "max_count", "start", "count")

    def __init__(self, readings, step_s: int, max_count: int):
        self.readings, self.step_s, self.max_count = readings, step_s, max_count
        self.start: float | None = None   # epoch s; None = initial value (FF..FF)
        self.count = 1

    def encode(self) -> bytes:
        head = edt.UNSET_DATETIME6 if self.start is None else edt.datetime6(self.start)
        return head + bytes((self.count,))

    def set(self, value: bytes) -> bool:
        """Range checks: valid JST date-time on the step grid, count 1..max, not in the future."""
        if len(value) != 7 or not 1 <= value[6] <= self.max_count:
            return False
        t = edt.parse_datetime6(value[:6])
        if t is None or t % self.step_s or t > self.readings.now():
            return False
        self.start, self.count = t, value[6]
        return True

    def history(self) -> bytes:
        return self.encode() + pair_history(self.readings, self.start, self.count, self.step_s)


class LowVoltageMeter(DeviceObject):
    """0x028801. E3/E4/EB exist only when the meter measures reverse energy."""

    CLASS = 0x0288
    SET_WHITELIST = frozenset({0x81, 0xE5, 0xED, 0xEF})

    def __init__(self, readings, instance: int = 0x01, facts=None, route_b_id=None):
        has_reverse = readings.identity.has_reverse
        super().__init__(Eoj(0x02, 0x88, instance), readings, facts, variant=has_reverse)
        self.route_b_id = route_b_id
        """The route-B ID in force (a callable; None: the board's): C0 follows a renewal from
        the head-end at once."""
        self.day = 0xFF                                  # E5, initial value
        self.slots = HistorySelector(readings, SLOT_S, 12)     # ED
        self.minutes = HistorySelector(readings, 60, 10)       # EF
        self.fixed_time_epcs = (0xEA, 0xEB) if has_reverse else (0xEA,)

    @classmethod
    def _properties(cls, has_reverse):
        table = super()._properties(has_reverse) + [
            (0xC0, lambda o: route_b_id_property(o.readings.identity,
                                                 None if o.route_b_id is None else o.route_b_id()), None, False),
            (0xD0, lambda o: o._one_minute(), None, False),
            (0xD3, lambda o: edt.u32(o.readings.scaling.coefficient), None, False),
            (0xD7, lambda o: edt.u8(o.readings.scaling.digits), None, False),
            (0xE0, lambda o: edt.u32(o.readings.cumulative_now(FWD)), None, False),
            (0xE1, lambda o: edt.u8(o.readings.scaling.unit_code), None, False),
            (0xE2, lambda o: day_history(o.readings, FWD, o.day), None, False),
            (0xE5, lambda o: edt.u8(o.day), lambda o, v: o._set_day(v), False),
            (0xE7, lambda o: edt.i32(o.readings.present().power_w), None, False),
            (0xE8, lambda o: o._currents(), None, False),
            (0xEA, lambda o: o._fixed_time(FWD), None, False),
            (0xEC, lambda o: o.slots.history(), None, False),
            (0xED, lambda o: o.slots.encode(), lambda o, v: o.slots.set(v), False),
            (0xEE, lambda o: o.minutes.history(), None, False),
            (0xEF, lambda o: o.minutes.encode(), lambda o, v: o.minutes.set(v), False)]
        if has_reverse:
            table += [
                (0xE3, lambda o: edt.u32(o.readings.cumulative_now(REV)), None, False),
                (0xE4, lambda o: day_history(o.readings, REV, o.day), None, False),
                (0xEB, lambda o: o._fixed_time(REV), None, False)]
        return table

    def _set_day(self, value: bytes) -> bool:
        if len(value) == 1 and value[0] < HISTORY_DAYS:
            self.day = value[0]
            return True
        return False

    def _currents(self) -> bytes:
        r_da, t_da = self.readings.present().current_da
        return edt.i16(r_da) + edt.i16(t_da)   # T is None on 1p2w -> 0x7FFE

    def _fixed_time(self, quantity) -> bytes:
        b = self.readings.latest_boundary(30)
        return edt.datetime7(b) + edt.u32(self.readings.cumulative_at(quantity, b))

    def _one_minute(self) -> bytes:
        b = self.readings.latest_boundary(1)
        r = self.readings
        return edt.datetime7(b) + edt.u32(r.cumulative_at(FWD, b)) + edt.u32(r.cumulative_at(REV, b))


def route_b_id_property(ident, route_b_id: str | None = None) -> bytes:
    """C0 (16 B): 0x00, 3-byte maker code, then the last 12 bytes of the 32-hex-digit route-B ID
    in force (the MRA leaves bytes 4-15 to the maker; zeros if the ID is not hex)."""
    try:
        tail = bytes.fromhex(ident.route_b_id if route_b_id is None else route_b_id)[-12:].rjust(12, b"\x00")
    except ValueError:
        tail = bytes(12)
    return b"\x00" + ident.maker_code.to_bytes(3, "big") + tail
