"""Emulated monotonic counter: an RTC backup register kept by the RTC's battery.

Follows the ``MonotonicCounter`` contract: the value only goes up, survives power cuts of the
meter (it is not on the flash), and is kept in ``<state dir>/counter.bin`` when the board has a
state directory, else in RAM. Like the redundant counters of real parts the register holds the
32-bit count and its complement (8 bytes, big-endian), so a flipped bit is a ``CounterFault``
on ``read()``, not a different count. ``writes`` counts register writes.
"""
from __future__ import annotations

from pathlib import Path

from sumame.hal.errors import ConfigurationError, CounterFault

MASK = 0xFFFF_FFFF


def _encode(value: int) -> bytes:
    return value.to_bytes(4, "big") + (value ^ MASK).to_bytes(4, "big")


class EmulatedBackupCounter:
    """A 32-bit battery-backed counter register with a complement copy."""

    max_value = MASK

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.writes = 0
        self._raw = _encode(0)
        if self.path is not None and self.path.exists():
            raw = self.path.read_bytes()
            self._raw = raw[:8] if len(raw) >= 8 else _encode(0)

    def read(self) -> int:
        value, check = int.from_bytes(self._raw[:4], "big"), int.from_bytes(self._raw[4:8], "big")
        if value ^ check != MASK:
            raise CounterFault(f"monotonic counter register fails its complement check "
                               f"({self._raw.hex()})")
        return value

    def advance_to(self, value: int) -> None:
        if value > self.max_value:
            raise ConfigurationError(f"counter value {value} exceeds the register's {self.max_value}")
        if value <= self.read():
            return
        self._write(value)

    def reseat(self, value: int) -> None:
        """Rewrite a register whose check failed (``read()`` raised CounterFault)."""
        if value > self.max_value:
            raise ConfigurationError(f"counter value {value} exceeds the register's {self.max_value}")
        self._write(value)

    def _write(self, value: int) -> None:
        self._raw = _encode(value)
        self.writes += 1
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(self._raw)

    def set_for_test(self, value: int) -> None:
        """Bench access (a programmer on the part), not a firmware call."""
        self._raw = _encode(value)
