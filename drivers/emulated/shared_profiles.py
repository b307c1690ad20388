"""Load profiles whose day data is shared by a whole fleet (``profile_options.shared_days``).

A fleet of 10^4..10^5 meters cannot hold one generated day (1440 points) per meter. With
``shared_days = K`` a meter's day is one of K days of the base profile (generated once per
process for library seeds 0..K-1), picked per JST day by a hash of the meter's seed, and scaled
by a per-meter factor (0.75..1.25, from the seed) — so meters differ, days differ, and the data
itself is read-only and shared. Deterministic like every profile: same seed, same watts.
"""
from __future__ import annotations

import hashlib
import math

from sumame.hal.jst import DAY_S, JST_OFFSET_S, jst_midnight

from .profiles import LoadPoint, LoadProfile, _MinuteProfile

_LIBRARY: dict[tuple, LoadProfile] = {}
_BOUNDS: dict[tuple, tuple[float, float]] = {}
"""(library day, midnight) -> the day's peak of |S| / V, and of |S| / V x max(|r|, |1 - r|)."""
_BOUNDS_MAX = 4096


def _unit(*parts: int) -> float:
    """A deterministic number in [0, 1) from integers."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64


class SharedDayProfile(LoadProfile):
    """``factory(seed)`` builds the base profile; ``days``: size K of the shared library."""

    fixed_steps = True

    def __init__(self, name: str, factory, *, seed: int, days: int, options: tuple):
        if days < 1:
            raise ValueError("shared_days must be >= 1")
        self.name = f"{name} (shared x{days})"
        self.seed, self.days = seed, days
        self.scale = 0.75 + 0.5 * _unit(seed, 1)
        self._library = [_LIBRARY.setdefault((name, options, j), factory(j)) for j in range(days)]
        self._pick: tuple[int, LoadProfile] | None = None
        self._scaled: tuple | None = None   # (shared point or (midnight, minute), this meter's point)
        self._today: tuple | None = None    # (midnight, next midnight, base, its flat day or None)

    def _base(self, midnight: int) -> LoadProfile:
        pick = self._pick
        if pick is None or pick[0] != midnight:
            day_index = (midnight + JST_OFFSET_S) // DAY_S
            j = int(_unit(self.seed, day_index) * self.days)
            pick = self._pick = (midnight, self._library[j])
        return pick[1]

    def current_bound(self, t0: float, t1: float, two_wire: bool) -> float:
        """An upper bound of the current (A, before the chip's front end) of one element over
        [t0, t1): the peak of the whole JST days it touches, from per-day figures every meter
        picking that library day shares."""
        peak, midnight = 0.0, jst_midnight(t0)
        while midnight < t1:
            base = self._base(midnight)
            key = (id(base), midnight)
            figures = _BOUNDS.get(key)
            if figures is None:
                if len(_BOUNDS) >= _BOUNDS_MAX:
                    _BOUNDS.pop(next(iter(_BOUNDS)))
                figures = _BOUNDS[key] = _day_bounds(base, midnight)
            peak = max(peak, figures[0] if two_wire else figures[1])
            midnight = jst_midnight(midnight + DAY_S + 3600)
        return peak * self.scale

    def _step(self, t: float):
        today = self._today
        if today is None or not today[0] <= t < today[1]:
            midnight = jst_midnight(t)
            base = self._base(midnight)
            flat = base._day(midnight) if type(base)._step_in_day is _MinuteProfile._step_in_day else None
            today = self._today = (midnight, midnight + DAY_S, base, flat)
        midnight, _, base, flat = today
        if flat is None:
            step_in_day = getattr(base, "_step_in_day", None)
            a, b, p = base._step(t) if step_in_day is None else step_in_day(t, midnight)
            last = self._scaled
            if last is None or last[0] is not p:
                s = self.scale
                last = self._scaled = (p, LoadPoint(p.power_w * s, p.reactive_var * s, p.voltage_v, p.r_share))
            return a, b, last[1]
        # a minute profile: read the minute from the shared day (the values the base's own
        # point would hold, so the same floats), scaled once per minute
        minute = int((t - midnight) // 60)
        start = midnight + minute * 60
        last = self._scaled
        key = (midnight, minute)
        if last is None or last[0] != key:
            i, s = 4 * minute, self.scale
            last = self._scaled = (key, LoadPoint(flat[i] * s, flat[i + 1] * s, flat[i + 2], flat[i + 3]))
        return start, start + 60, last[1]


def _day_bounds(profile: LoadProfile, midnight: int) -> tuple[float, float]:
    """Peak |S| / V of one day of ``profile`` (A per unit of r share), without and with the share."""
    whole = share = 0.0
    day = getattr(profile, "_day", None)
    if day is not None:   # a minute profile: its day's flat (W, var, V, r) array, minute by minute
        values = day(midnight)
        points = ((values[i], values[i + 1], values[i + 2], values[i + 3]) for i in range(0, len(values), 4))
    else:
        points = ((p.power_w, p.reactive_var, p.voltage_v, p.r_share) for _, _, p in
                  profile.segments(midnight, jst_midnight(midnight + DAY_S + 3600)))
    hypot = math.hypot
    for w, var, volts, r in points:
        amps = hypot(w, var) / max(volts, 1e-6)
        if amps > whole:
            whole = amps
        amps *= max(abs(r), abs(1 - r))
        if amps > share:
            share = amps
    return whole, share
