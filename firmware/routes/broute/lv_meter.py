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
        super().__init__(Eoj(0x02, 0x88, instance), readings, facts)
        r, ident, sc = readings, readings.identity, readings.scaling
        self.route_b_id = route_b_id or (lambda: ident.route_b_id)
        """The route-B ID in force: C0 follows a renewal from the head-end at once."""
        self.day = 0xFF                                  # E5, initial value
        self.slots = HistorySelector(r, SLOT_S, 12)     # ED
        self.minutes = HistorySelector(r, 60, 10)       # EF
        self._add(0xC0, lambda: route_b_id_property(ident, self.route_b_id()))
        self._add(0xD0, self._one_minute)
        self._add(0xD3, lambda: edt.u32(sc.coefficient))
        self._add(0xD7, lambda: edt.u8(sc.digits))
        self._add(0xE0, lambda: edt.u32(r.cumulative_now(FWD)))
        self._add(0xE1, lambda: edt.u8(sc.unit_code))
        self._add(0xE2, lambda: day_history(r, FWD, self.day))
        self._add(0xE5, lambda: edt.u8(self.day), self._set_day)
        self._add(0xE7, lambda: edt.i32(r.present().power_w))
        self._add(0xE8, self._currents)
        self._add(0xEA, lambda: self._fixed_time(FWD))
        self._add(0xEC, self.slots.history)
        self._add(0xED, self.slots.encode, self.slots.set)
        self._add(0xEE, self.minutes.history)
        self._add(0xEF, self.minutes.encode, self.minutes.set)
        if ident.has_reverse:
            self._add(0xE3, lambda: edt.u32(r.cumulative_now(REV)))
            self._add(0xE4, lambda: day_history(r, REV, self.day))
            self._add(0xEB, lambda: self._fixed_time(REV))
        self.fixed_time_epcs = (0xEA, 0xEB) if ident.has_reverse else (0xEA,)

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
