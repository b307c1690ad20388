"""Fault injection of the emulated Wi-SUN dongles (SKSTACK and J11): dropped input chunks,
dropped or corrupted output chunks, a fixed delay."""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class DongleFaults:
    """Fault injection. Probabilities per output chunk / input chunk; delay in s."""

    drop_output: float = 0.0
    corrupt_output: float = 0.0
    drop_input: float = 0.0
    delay_s: float = 0.0
    seed: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self):
        self.rng = random.Random(self.seed)

    def input_lost(self, stats) -> bool:
        """True if this input chunk is dropped (counted in ``stats``)."""
        if self.drop_input and self.rng.random() < self.drop_input:
            stats["fault-dropped-input"] += 1
            return True
        return False

    def output(self, data: bytes, stats) -> bytes | None:
        """The output chunk as it leaves the module: None if dropped, else maybe one octet
        corrupted (bit 0x20 flipped); both counted in ``stats``."""
        if self.drop_output and self.rng.random() < self.drop_output:
            stats["fault-dropped-output"] += 1
            return None
        if self.corrupt_output and self.rng.random() < self.corrupt_output and data:
            i = self.rng.randrange(len(data))
            data = data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:]
            stats["fault-corrupted-output"] += 1
        return data
