"""Emulated monotonic counter: an RTC backup register kept by the RTC's battery.

Follows the ``MonotonicCounter`` contract: the value only goes up, survives power cuts of the
meter (it is not on the flash), and is kept in ``<state dir>/counter.bin`` (8 bytes, big-endian)
when the board has a state directory, else in RAM. ``writes`` counts register writes.
"""
from __future__ import annotations

from pathlib import Path

from sumame.hal.errors import ConfigurationError


class EmulatedBackupCounter:
    """A 32-bit battery-backed counter register."""

    max_value = 0xFFFF_FFFF

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.writes = 0
        self._value = 0
        if self.path is not None and self.path.exists():
            raw = self.path.read_bytes()
            self._value = int.from_bytes(raw[:8], "big") if len(raw) >= 8 else 0

    def read(self) -> int:
        return self._value

    def advance_to(self, value: int) -> None:
        if value > self.max_value:
            raise ConfigurationError(f"counter value {value} exceeds the register's {self.max_value}")
        if value <= self._value:
            return
        self._value = value
        self.writes += 1
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(value.to_bytes(8, "big"))

    def set_for_test(self, value: int) -> None:
        """Bench access (a programmer on the part), not a firmware call."""
        self._value = value
