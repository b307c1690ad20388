"""High-voltage smart electric energy meter, class 0x028A instance 0x01 (MRA Release R, §3).

Scaling (MRA): demand x C5 x D3 x D4; cumulative demand x C7 x D3 x D4; active energy
x E6 x D3 x D4; reactive energy x CD x D3 x D4. Demand is the 30-minute average power: raw =
2 x interval energy (register kWh) / unit. Monthly maxima run from the fixed date (確定日, E0,
a constructor option, 00:00 JST). The day selector E1 is node state in RAM (volatile).
E4 (力測 active energy) serves the forward active register: this meter has no separate
power-factor measurement window.
"""
from __future__ import annotations

from datetime import timedelta

from sumame.firmware.net.echonet import Eoj
from sumame.firmware.metrology.readings import Quantity

from . import edt
from .lv_meter import HISTORY_DAYS, SLOT_S, day_history
from .objects import DeviceObject

FWD, LAG = Quantity.FORWARD, Quantity.REACTIVE_LAG


class HighVoltageMeter(DeviceObject):
    """0x028A01."""

    CLASS = 0x028A
    SET_WHITELIST = frozenset({0x81, 0xE1})

    def __init__(self, readings, instance: int = 0x01, fixed_date: int = 1, facts=None):
        if not 1 <= fixed_date <= 28:
            raise ValueError(f"fixed date must be 1..28, got {fixed_date}")
        super().__init__(Eoj(0x02, 0x8A, instance), readings, facts)
        self.fixed_date = fixed_date
        self.day = 0xFF
        self._demand_cache: dict[float, int | None] = {}
        self.fixed_time_epcs = (0xE3, 0xC3)

    @classmethod
    def _properties(cls, variant):
        unit = lambda o: edt.u8(o.readings.scaling.unit_code)      # noqa: E731
        digits = lambda o: edt.u8(o.readings.scaling.digits)       # noqa: E731
        return super()._properties(variant) + [
            (0xC1, lambda o: edt.u32(o.month_max(o.month_start(o.readings.now()), o.readings.now())), None, False),
            (0xC2, lambda o: o._cumulative_max(), None, False),
            (0xC3, lambda o: o._at_boundary(o.demand), None, False),
            (0xC4, digits, None, False),
            (0xC5, unit, None, False),
            (0xC6, lambda o: o._demand_history(), None, False),
            (0xC7, unit, None, False),
            (0xCA, lambda o: edt.datetime7(o.readings.now() // 1) + edt.u32(o.readings.cumulative_now(LAG)),
             None, False),
            (0xCB, lambda o: o._at_boundary(lambda b: o.readings.cumulative_at(LAG, b)), None, False),
            (0xCC, digits, None, False),
            (0xCD, unit, None, False),
            (0xCE, lambda o: day_history(o.readings, LAG, o.day), None, False),
            (0xD3, lambda o: edt.u32(o.readings.scaling.coefficient), None, False),
            (0xD4, lambda o: edt.u8(o.readings.scaling.multiplier_code), None, False),
            (0xE0, lambda o: edt.u8(o.fixed_date), None, False),
            (0xE1, lambda o: edt.u8(o.day), lambda o, v: o._set_day(v), False),
            (0xE2, lambda o: edt.datetime7(o.readings.now() // 1) + edt.u32(o.readings.cumulative_now(FWD)),
             None, False),
            (0xE3, lambda o: o._at_boundary(lambda b: o.readings.cumulative_at(FWD, b)), None, False),
            (0xE4, lambda o: edt.datetime7(o.readings.now() // 1) + edt.u32(o.readings.cumulative_now(FWD)),
             None, False),
            (0xE5, digits, None, False),
            (0xE6, unit, None, False),
            (0xE7, lambda o: day_history(o.readings, FWD, o.day), None, False)]

    def _set_day(self, value: bytes) -> bool:
        if len(value) == 1 and value[0] < HISTORY_DAYS:
            self.day = value[0]
            return True
        return False

    def _at_boundary(self, value_at) -> bytes:
        b = self.readings.latest_boundary(30)
        return edt.datetime7(b) + edt.u32(value_at(b))

    # ------------------------------------------------------------------ demand
    def demand(self, end: float) -> int | None:
        """Raw 30-min demand of (end - 30 min, end]; None when not measured."""
        if end in self._demand_cache:
            return self._demand_cache[end]
        energy = self.readings.interval_energy(FWD, end, 30)
        value = None if energy is None else round(2 * energy / self.readings.scaling.unit_kwh)
        if end <= self.readings.latest_boundary(30):   # closed interval: cache it
            if len(self._demand_cache) > 48 * 110:
                self._demand_cache.clear()
            self._demand_cache[end] = value
        return value

    def month_start(self, t: float) -> float:
        """00:00 JST of the most recent fixed date at or before ``t``."""
        d = edt.jst(t).replace(hour=0, minute=0, second=0, microsecond=0)
        if d.day < self.fixed_date:
            d = (d.replace(day=1) - timedelta(days=1))
        return d.replace(day=self.fixed_date).timestamp()

    def month_max(self, start: float, end: float) -> int | None:
        """Largest demand of the intervals ending in (start, end]; None if none was measured."""
        values = []
        b = start + SLOT_S
        while b <= end:
            v = self.demand(b)
            if v is not None:
                values.append(v)
            b += SLOT_S
        return max(values) if values else None

    def _cumulative_max(self) -> bytes:
        """C2: sum of the maxima of the completed billing months still in retention."""
        now = self.readings.now()
        end = self.month_start(now)
        total, seen = 0, False
        for _ in range(3):   # ~100 days of retention = 3 completed months
            start = self.month_start(end - 1)
            m = self.month_max(start, end)
            if m is not None:
                total, seen = total + m, True
            end = start
        return edt.u32(total if seen else None)

    def _demand_history(self) -> bytes:
        if self.day == 0xFF:
            return edt.u16(0x00FF) + edt.u32(None) * 48
        start = edt.jst_midnight(self.readings.now(), self.day)
        now = self.readings.now()
        return edt.u16(self.day) + b"".join(
            edt.u32(self.demand(start + k * SLOT_S) if start + k * SLOT_S <= now else None)
            for k in range(48))
