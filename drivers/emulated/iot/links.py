"""Placement and per-link loss of the Enhanced HAN on the virtual air (seeded).

``LinkModel`` is installed as ``Air.link_filter``: a frame from radio A reaches radio B only
if the pair was placed in range (``connect``) and the link's own loss draw passes. Radios the
model does not know (the B-route dongles) hear and are heard as before (no filtering).
"""
from __future__ import annotations

import random
from collections import Counter


class LinkModel:
    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.known: set[bytes] = set()
        self.loss: dict[tuple[bytes, bytes], float] = {}
        self.stats: Counter[str] = Counter()

    def place(self, mac: bytes) -> None:
        self.known.add(bytes(mac))

    def connect(self, a: bytes, b: bytes, loss: float = 0.0) -> None:
        """a and b in range of each other; each direction loses ``loss`` of the frames."""
        self.place(a)
        self.place(b)
        self.loss[(bytes(a), bytes(b))] = self.loss[(bytes(b), bytes(a))] = float(loss)

    def set_loss(self, a: bytes, b: bytes, loss: float) -> None:
        self.connect(a, b, loss)

    def in_range(self, a: bytes, b: bytes) -> bool:
        return (bytes(a), bytes(b)) in self.loss

    def __call__(self, sender, receiver) -> bool:
        a, b = getattr(sender, "mac", None), getattr(receiver, "mac", None)
        if a not in self.known or b not in self.known:
            return a not in self.known and b not in self.known
        loss = self.loss.get((a, b))
        if loss is None:
            self.stats["out-of-range"] += 1
            return False
        if loss and self.rng.random() < loss:
            self.stats["lost"] += 1
            return False
        return True
