"""One customer site behind a receiving point: household load, rooftop PV and an EV charger.

The same model drives the smart meter (``SiteProfile``: the net power at the receiving point X)
and the special meters (``SiteModel.device_w``: the power through each device's own meter A), so
an EV charging session or PV output moves both. Everything is a step function of 1-minute steps
(W, + = drawn from the grid side / − = delivered to it), deterministic for a seed, so energy over
any span is exact (``energy_wh``) and the settlement can be checked independently of the meters.

Devices (power through the special meter, AC input + / AC output −):

* ``ev``: 3 kW charging sessions most evenings (start 21:00–23:00 JST, 1.5–4 h) and, every other
  day, a V2H discharge of 1.5 kW 17:30–19:00 (reverse flow through the special meter);
* ``pv``: the inverter's output (sun curve × the day's weather, up to ``pv_kw``) as AC output,
  and its 6 W night standby as AC input.

The household (everything else, the retailer's share Y) is ``ResidentialProfile`` without PV
(evening peak ``house_peak_w``, so house + EV stay under a 60 A contract).
"""
from __future__ import annotations

import math
import random

from sumame.hal.jst import DAY_S, JST_OFFSET_S, jst_midnight

from ...profiles import LoadPoint, LoadProfile, ResidentialProfile

DEVICES = ("ev", "pv")
PV_STANDBY_W = 6.0


class SiteModel:
    def __init__(self, seed: int = 1, *, pv_kw: float = 4.0, ev_kw: float = 3.0, v2h_kw: float = 1.5,
                 house_peak_w: float = 1500.0):
        self.seed, self.pv_kw, self.ev_kw, self.v2h_kw = seed, pv_kw, ev_kw, v2h_kw
        self.house = ResidentialProfile(seed=seed, pv_kw=0.0, peak_w=house_peak_w)
        self._days: dict[int, dict] = {}
        self.overrides: list[tuple[str, float, float, float]] = []
        """(device, start, end, W): forced device power (a DR event curbing the EV charger)."""

    def _day(self, day: int, variant: str = "") -> dict:
        d = self._days.get((day, variant))
        if d is None:
            rng = random.Random(f"{self.seed}|{day}|{variant}")
            start = 21 * 60 + rng.randrange(0, 121)
            d = {"weather": rng.choice((1.0, 1.0, 0.9, 0.6, 0.3)),
                 "charge": (start, start + rng.randrange(90, 241)) if rng.random() < 0.85 else None,
                 "v2h": (17 * 60 + 30, 19 * 60) if day % 2 == 0 else None}
            if len(self._days) > 64:
                self._days.clear()
            self._days[(day, variant)] = d
        return d

    @staticmethod
    def _minute(t: float) -> tuple[int, int]:
        """(JST day number, minute of the day) of the minute containing ``t``."""
        local = int(t // 60) * 60 + JST_OFFSET_S
        return local // DAY_S, (local % DAY_S) // 60

    def device_w(self, device: str, t: float) -> float:
        """Power through ``device``'s special meter during the minute containing ``t`` (W).
        ``device``: "ev" or "pv", or "ev:N" / "pv:N" for a further device of that kind."""
        for dev, a, b, w in self.overrides:
            if dev == device and a <= t < b:
                return w
        day, minute = self._minute(t)
        kind, _, var = device.partition(":")
        if kind == "ev":
            for d, offset in ((day, 0), (day - 1, 1440)):      # a session may run past midnight
                ch = self._day(d, var)["charge"]
                if ch and ch[0] <= minute + offset < ch[1]:
                    return 1000.0 * self.ev_kw
            v2h = self._day(day, var)["v2h"]
            if v2h and v2h[0] <= minute < v2h[1]:
                return -1000.0 * self.v2h_kw
            return 0.0
        if kind == "pv":
            h = minute / 60
            sun = max(0.0, math.cos((h - 12.0) / 6.5 * math.pi / 2)) if 5.5 <= h <= 18.5 else 0.0
            if sun <= 0.0:
                return PV_STANDBY_W
            wobble = 0.92 + 0.08 * random.Random(f"{self.seed}|{var}|{day * 1440 + minute}").random()
            return -round(1000.0 * self.pv_kw * self._day(day, var)["weather"] * sun ** 1.5 * wobble, 1)
        raise KeyError(device)

    def house_w(self, t: float) -> float:
        return self.house.at(t).power_w

    def net_w(self, t: float, devices=DEVICES) -> float:
        """Power at the receiving point (X): household + every device on the site."""
        return self.house_w(t) + sum(self.device_w(d, t) for d in devices)

    def energy_wh(self, fn, t0: float, t1: float) -> tuple[float, float]:
        """(imported Wh, exported Wh) of the step function ``fn(t) -> W`` over [t0, t1)."""
        imp = exp = 0.0
        t = t0
        while t < t1:
            b = min(t1, (t // 60 + 1) * 60)
            w = fn(t)
            if w >= 0:
                imp += w * (b - t) / 3600.0
            else:
                exp -= w * (b - t) / 3600.0
            t = b
        return imp, exp


class SiteProfile(LoadProfile):
    """What the smart meter's chip sees: the site's net power at the receiving point."""

    name = "site"

    def __init__(self, site: SiteModel, devices=DEVICES):
        self.site, self.devices = site, tuple(devices)

    def _step(self, t: float):
        start = t // 60 * 60
        house = self.site.house.at(t)
        w = house.power_w + sum(self.site.device_w(d, t) for d in self.devices)
        for dev, a, b, _ in self.site.overrides:       # keep steps inside an override's edges
            if start < a < start + 60 or start < b < start + 60:
                raise ValueError("site overrides must start and end on a minute")
        return start, start + 60, LoadPoint(round(w, 1), house.reactive_var, house.voltage_v, house.r_share)


def slot_start(t: float) -> int:
    return int(t // 1800 * 1800)


__all__ = ["SiteModel", "SiteProfile", "DEVICES", "jst_midnight"]
