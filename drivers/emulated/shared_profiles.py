"""Load profiles whose day data is shared by a whole fleet (``profile_options.shared_days``).

A fleet of 10^4..10^5 meters cannot hold one generated day (1440 points) per meter. With
``shared_days = K`` a meter's day is one of K days of the base profile (generated once per
process for library seeds 0..K-1), picked per JST day by a hash of the meter's seed, and scaled
by a per-meter factor (0.75..1.25, from the seed) — so meters differ, days differ, and the data
itself is read-only and shared. Deterministic like every profile: same seed, same watts.
"""
from __future__ import annotations

import hashlib

from sumame.hal.jst import DAY_S, JST_OFFSET_S, jst_midnight

from .profiles import LoadPoint, LoadProfile

_LIBRARY: dict[tuple, LoadProfile] = {}


def _unit(*parts: int) -> float:
    """A deterministic number in [0, 1) from integers."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64


class SharedDayProfile(LoadProfile):
    """``factory(seed)`` builds the base profile; ``days``: size K of the shared library."""

    def __init__(self, name: str, factory, *, seed: int, days: int, options: tuple):
        if days < 1:
            raise ValueError("shared_days must be >= 1")
        self.name = f"{name} (shared x{days})"
        self.seed, self.days = seed, days
        self.scale = 0.75 + 0.5 * _unit(seed, 1)
        self._library = [_LIBRARY.setdefault((name, options, j), factory(j)) for j in range(days)]
        self._pick: tuple[int, LoadProfile] | None = None
        self._scaled: tuple[LoadPoint, LoadPoint] | None = None   # (shared point, this meter's)

    def _base(self, midnight: int) -> LoadProfile:
        pick = self._pick
        if pick is None or pick[0] != midnight:
            day_index = (midnight + JST_OFFSET_S) // DAY_S
            j = int(_unit(self.seed, day_index) * self.days)
            pick = self._pick = (midnight, self._library[j])
        return pick[1]

    def _step(self, t: float):
        a, b, p = self._base(jst_midnight(t))._step(t)
        last = self._scaled
        if last is None or last[0] is not p:
            s = self.scale
            last = self._scaled = (p, LoadPoint(p.power_w * s, p.reactive_var * s, p.voltage_v, p.r_share))
        return a, b, last[1]
