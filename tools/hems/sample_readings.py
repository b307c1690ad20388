"""SampleReadings: a deterministic MeterReadings with a synthetic household profile and no-data gaps.

For benches, demos and tests of the routes before (and beside) the real registers. Everything is
a pure function of the clock: the same clock time gives the same values on every run.

Profile (per JST minute of day, register scale i.e. the meter's secondary side on HV):
  load  350 W base, +450 W 06:00-09:00 and 17:00-23:00, plus a fixed pseudo-random ripple;
  solar 0 W at night, a half-sine peaking at 2.4 kW at 12:00 (06:00-18:00) when ``solar=True``;
  net = load - solar: positive part accumulates FORWARD, negative part REVERSE;
  reactive (lag) = 30 % of the load.
Retention follows the MeterReadings contract: 30/15-min boundaries 101 days, 5-min 10 days,
1-min 60 minutes; ``None`` before ``installed_at``, after ``now``, and inside ``gaps``.
"""
from __future__ import annotations

import math
from bisect import bisect_right

from sumame.firmware.metrology.readings import MeterIdentity, Present, Quantity, RegisterScaling

JST_S = 9 * 3600
DAY_S = 86400

LV_IDENTITY = MeterIdentity(
    kind="lv", wiring="1p3w", maker_code=0xFFFFFF, serial="SM0000000042",
    route_b_id="00112233445566778899AABBCCDDEEFF", supply_point="0300111234567890123456",
    has_switch=True, has_reverse=True)
HV_IDENTITY = MeterIdentity(
    kind="hv", wiring="3p3w", maker_code=0xFFFFFF, serial="HV0000000007",
    route_b_id="FFEEDDCCBBAA99887766554433221100", supply_point="0300119876543210987654",
    has_switch=False, has_reverse=False)
LV_SCALING = RegisterScaling(unit_kwh=0.1, unit_code=0x01, coefficient=1, multiplier_code=0,
                             digits=6)
HV_SCALING = RegisterScaling(unit_kwh=0.001, unit_code=0x03, coefficient=240, multiplier_code=0,
                             digits=8)


def _minute_profile(solar: bool):
    """(forward W, reverse W, reactive var) for each of the 1440 JST minutes of a day."""
    fwd, rev, var = [], [], []
    for m in range(1440):
        load = 350 + (450 if 360 <= m < 540 or 1020 <= m < 1380 else 0) + (m * 7919) % 97 * 3
        pv = 2400 * math.sin(math.pi * (m - 360) / 720) if solar and 360 <= m < 1080 else 0.0
        net = round(load - pv)
        fwd.append(max(net, 0))
        rev.append(max(-net, 0))
        var.append(round(load * 0.3))
    return fwd, rev, var


class SampleReadings:
    """MeterReadings over a synthetic profile (see the module docstring).

    clock:         anything with ``now()`` (epoch s)
    kind:          "lv" or "hv" (chooses identity and scaling unless given)
    installed_at:  epoch s before which nothing was measured (default: 3 days before now)
    gaps:          [(start, end)] epoch s intervals with no data (outages, lost records)
    base_kwh:      register-scale kWh of FORWARD at ``installed_at``
    """

    def __init__(self, clock, *, kind: str = "lv", identity: MeterIdentity | None = None,
                 scaling: RegisterScaling | None = None, installed_at: float | None = None,
                 gaps=(), base_kwh: float = 12345.6, solar: bool = True,
                 wiring: str | None = None):
        self._clock = clock
        self.identity = identity or (HV_IDENTITY if kind == "hv" else LV_IDENTITY)
        if wiring is not None:
            from dataclasses import replace
            self.identity = replace(self.identity, wiring=wiring)
        self.scaling = scaling or (HV_SCALING if kind == "hv" else LV_SCALING)
        now = clock.now()
        self.installed_at = float(installed_at if installed_at is not None else now - 3 * DAY_S)
        self.gaps = sorted((float(a), float(b)) for a, b in gaps)
        self._gap_starts = [a for a, _ in self.gaps]
        self._base = {Quantity.FORWARD: base_kwh, Quantity.REVERSE: base_kwh / 10,
                      Quantity.REACTIVE_LAG: base_kwh / 3}
        fwd, rev, var = _minute_profile(solar and self.identity.has_reverse)
        self._watts = {Quantity.FORWARD: fwd, Quantity.REVERSE: rev, Quantity.REACTIVE_LAG: var}
        self._prefix = {}
        for q, w in self._watts.items():
            acc, prefix = 0.0, [0.0]
            for p in w:
                acc += p / 60_000.0   # kWh in one minute
                prefix.append(acc)
            self._prefix[q] = prefix
        # JST midnight on or before installation: the integration origin
        self._origin = (self.installed_at + JST_S) // DAY_S * DAY_S - JST_S

    # ------------------------------------------------------------------ helpers
    def in_gap(self, t: float) -> bool:
        i = bisect_right(self._gap_starts, t) - 1
        return i >= 0 and self.gaps[i][0] <= t < self.gaps[i][1]

    def _kwh(self, q: Quantity, t: float) -> float:
        """Register-scale kWh accumulated since the origin, continuous in t."""
        dt = t - self._origin
        days, rem = divmod(dt, DAY_S)
        minute, sec = divmod(rem, 60)
        prefix = self._prefix[q]
        minute = int(minute)
        return (self._base[q] + days * prefix[1440] + prefix[minute]
                + sec * self._watts[q][minute] / 3_600_000.0)

    def _measured(self, q: Quantity, t: float) -> bool:
        if q is Quantity.REVERSE and not self.identity.has_reverse:
            return False
        return self.installed_at <= t <= self._clock.now() and not self.in_gap(t)

    def _raw(self, q: Quantity, t: float) -> int:
        return int(self._kwh(q, t) / self.scaling.unit_kwh + 1e-9) % 10 ** self.scaling.digits

    # ------------------------------------------------------------------ MeterReadings
    def now(self) -> float:
        return self._clock.now()

    def present(self) -> Present:
        t = self._clock.now()
        if self.in_gap(t) or t < self.installed_at:
            return Present(None, (None, None), (None, None), t)
        m = int((t + JST_S) % DAY_S // 60)
        power = self._watts[Quantity.FORWARD][m] - self._watts[Quantity.REVERSE][m]
        two_wire = self.identity.wiring == "1p2w"
        if two_wire:
            return Present(power, (round(power / 10), None), (1010, None), t)
        r = round(power * 0.55 / 10)   # 0.1 A on 100 V legs
        return Present(power, (r, round(power / 10) - r), (1012, 1006), t)

    def cumulative_now(self, quantity: Quantity) -> int | None:
        t = self._clock.now()
        return self._raw(quantity, t) if self._measured(quantity, t) else None

    def cumulative_at(self, quantity: Quantity, boundary: float) -> int | None:
        if boundary % 60 or not self._measured(quantity, boundary):
            return None
        age = self._clock.now() - boundary
        if boundary % 900 == 0:
            keep = 101 * DAY_S
        elif boundary % 300 == 0:
            keep = 10 * DAY_S
        else:
            keep = 3600
        return self._raw(quantity, boundary) if age <= keep else None

    def latest_boundary(self, minutes: int) -> float:
        step = minutes * 60
        return self._clock.now() // step * step

    def interval_energy(self, quantity: Quantity, end: float, minutes: int) -> float | None:
        start = end - minutes * 60
        if not (self._measured(quantity, start) and self._measured(quantity, end)):
            return None
        i = bisect_right(self._gap_starts, end)
        if i and self.gaps[i - 1][1] > start:
            return None
        return self._kwh(quantity, end) - self._kwh(quantity, start)

    def interval_voltage(self, end: float, minutes: int) -> tuple[float | None, float | None]:
        if self.interval_energy(Quantity.FORWARD, end, minutes) is None:
            return (None, None)
        return (101.2, None) if self.identity.wiring == "1p2w" else (101.2, 100.6)

    @property
    def transmitted_interval_min(self) -> int:
        return 30
