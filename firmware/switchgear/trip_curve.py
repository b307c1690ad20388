"""Time-current curve of the contract breaker (電流制限器 function of the meter's switch).

The utilities do not publish how long an over-current must last before a smart meter opens
(research note: only "exceeding the contract current opens the switch"), so this curve is our
documented choice, shaped like an inverse-time (thermal) breaker with an instantaneous region:

* ratio r = I / I_limit, where I is the largest |RMS current| of the measured elements (on
  single-phase 3-wire both lines R and T are limited to the contract amperes);
* r <= 1: never trips; accumulated "heat" cools exponentially (time constant ``cool_tau_s``);
* 1 < r < ``instantaneous_ratio``: trips after t(r) = ``k_s`` / (r^2 - 1) seconds of that current
  (I^2 t law). With the default k = 12.5 s: 1.1x -> 59.5 s, 1.25x -> 22.2 s, 1.5x -> 10 s,
  2x -> 4.2 s, 2.9x -> 1.7 s;
* r >= ``instantaneous_ratio`` (default 3): trips at once.

A varying current is integrated with Miner's rule: heat += dt / t(r) for each interval of dt
seconds at ratio r; the breaker trips when heat reaches 1. Each interval is charged with the
current of the sample that *starts* it (sample-and-hold), so the breaker never trips earlier than
the curve says and at most one sample period later.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TripCurve:
    """k_s: I^2 t constant, s; instantaneous_ratio: multiple of the limit that trips at once;
    cool_tau_s: cooling time constant below the limit, s; max_step_s: longest interval charged
    from one sample (a gap in sampling is not taken as sustained over-current), s."""

    k_s: float = 12.5
    instantaneous_ratio: float = 3.0
    cool_tau_s: float = 60.0
    max_step_s: float = 5.0

    def __post_init__(self):
        if self.k_s <= 0 or self.instantaneous_ratio <= 1 or self.cool_tau_s <= 0:
            raise ValueError(f"invalid trip curve {self}")

    def trip_time_s(self, ratio: float) -> float:
        """Seconds a constant current of ``ratio`` x limit takes to trip (inf if it never does)."""
        if ratio <= 1.0:
            return math.inf
        if ratio >= self.instantaneous_ratio:
            return 0.0
        return self.k_s / (ratio * ratio - 1.0)


TRIP_RESOLUTION_S = 1e-3
"""A trip due sooner than this (s) happens at the present sample."""


class ThermalAccumulator:
    """Integrates samples along a TripCurve. ``heat`` is the used fraction of the trip time."""

    def __init__(self, curve: TripCurve):
        self.curve = curve
        self.heat = 0.0
        self._last_t: float | None = None
        self._last_ratio = 0.0

    @property
    def active(self) -> bool:
        """True while over the limit or still warm (the caller samples faster then)."""
        return self._last_ratio > 1.0 or self.heat > 1e-3

    @property
    def last_ratio(self) -> float:
        return self._last_ratio

    def reset(self) -> None:
        self.heat, self._last_t, self._last_ratio = 0.0, None, 0.0

    def add(self, t: float, ratio: float) -> bool:
        """Take a sample (epoch s, current ratio); True when the breaker must trip now."""
        if self._last_t is not None:
            dt = min(max(0.0, t - self._last_t), self.curve.max_step_s)
            held = self._last_ratio
            if held > 1.0:
                trip_after = self.curve.trip_time_s(held)
                self.heat = 1.0 if trip_after == 0 else self.heat + dt / trip_after
            else:
                self.heat *= math.exp(-dt / self.curve.cool_tau_s)
        self._last_t, self._last_ratio = t, ratio
        if ratio >= self.curve.instantaneous_ratio:
            self.heat = 1.0
        # "trips now" also when the rest would take less than TRIP_RESOLUTION_S: epoch-second
        # floats near 1.8e9 resolve ~0.24 us, so the heat can stall a hair below 1.0
        return self.heat >= 1.0 - 1e-9 or self.time_to_trip_s() < TRIP_RESOLUTION_S

    def time_to_trip_s(self) -> float:
        """If the present ratio holds, seconds until the trip (inf if it will not trip)."""
        trip_after = self.curve.trip_time_s(self._last_ratio)
        if math.isinf(trip_after):
            return math.inf
        return max(0.0, (1.0 - self.heat) * trip_after)
