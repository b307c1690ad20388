"""Conditions of the A-route medium in the emulator: latency and loss, seeded.

The real A-route medium (920 MHz multi-hop mesh, 1:N cellular, PLC) belongs to the utility's
comms unit; the emulator's transports apply these conditions to what they carry so a head-end
sees a plausible network. On a real board both are 0.

* ``latency_s``: one-way delay added to every message (each direction), plus ``jitter_s`` x
  uniform[0, 1);
* ``loss``: probability that a datagram (UDP, in-process) is lost. A TCP stream does not lose
  data: a lost segment costs a retransmission instead (``rto_s`` more delay, doubling for each
  further loss of the same segment).

Decisions come from ``random.Random(seed)``, so a run with the same seed and traffic loses the
same messages.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class LinkConditions:
    latency_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0
    rto_s: float = 1.0
    seed: int = 1
    _random: random.Random | None = field(default=None, init=False, repr=False)
    lost: int = field(default=0, init=False)
    passed: int = field(default=0, init=False)

    def __post_init__(self):
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f"loss must be in [0, 1), got {self.loss}")
        if self.latency_s < 0 or self.jitter_s < 0:
            raise ValueError("latency and jitter must be >= 0")

    @property
    def _rng(self) -> random.Random:
        """The seeded generator, made at the first draw (an ideal link never draws: a fleet
        meter does not carry its 2.5 KiB Mersenne Twister state for nothing)."""
        rng = self._random
        if rng is None:
            rng = self._random = random.Random(self.seed)
        return rng

    @property
    def ideal(self) -> bool:
        return not (self.latency_s or self.jitter_s or self.loss)

    def delay(self) -> float:
        """One-way delay of one message, s."""
        return self.latency_s + (self._rng.random() * self.jitter_s if self.jitter_s else 0.0)

    def datagram(self) -> float | None:
        """Delay of one datagram, or None when it is lost."""
        if self.loss and self._rng.random() < self.loss:
            self.lost += 1
            return None
        self.passed += 1
        return self.delay()

    def stream(self) -> float:
        """Delay of one chunk of a TCP stream, retransmissions included."""
        delay, rto = self.delay(), self.rto_s
        while self.loss and self._rng.random() < self.loss:
            self.lost += 1
            delay += rto
            rto *= 2
        self.passed += 1
        return delay
