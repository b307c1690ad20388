"""When a quirk acts: always, from ``at`` on, in windows every ``every_s``, or with a seeded
probability per frame (``prob``). Times are epoch seconds of the meter's clock."""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Schedule:
    at: float | None = None          # first start (epoch s); None = from switch-on
    every_s: float | None = None     # period of the windows; None = one window
    duration_s: float | None = None  # length of a window; None = unbounded
    prob: float = 1.0                # chance a frame inside a window is affected
    seed: int = 0

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.start = self.at

    def arm(self, now: float) -> None:
        if self.start is None:
            self.start = now

    def window(self, now: float) -> bool:
        """True while a window is open at ``now``."""
        if self.start is None or now < self.start:
            return False
        if self.duration_s is None:
            return True
        since = now - self.start
        if self.every_s:
            since %= self.every_s
        elif since >= self.duration_s:
            return False
        return since < self.duration_s

    def hit(self, now: float) -> bool:
        """A frame at ``now`` is affected (window open and the dice say so)."""
        return self.window(now) and (self.prob >= 1.0 or self.rng.random() < self.prob)
