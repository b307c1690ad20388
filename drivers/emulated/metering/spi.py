"""A fake SPI bus with the ``spidev.SpiDev`` API, wired to an emulated device.

The real driver talks to ``spidev.SpiDev`` (``open``, ``mode``, ``max_speed_hz``, ``xfer2``,
``close``); this object offers the same surface so the driver runs unchanged against an
emulated chip. Faults can be injected on the wire:

* ``stuck_miso``: MISO reads all ones (chip missing / not powered) -> every word 0xFFFF
* ``flip_bits``:  probability of flipping one bit of each response word (noise), seeded
* ``drop_writes``: writes never reach the chip (broken MOSI)
"""
from __future__ import annotations

import random
from typing import Protocol


class SpiTarget(Protocol):
    """An emulated device on the bus: full-duplex transfer of bytes."""

    def transfer(self, data: bytes) -> bytes: ...


class FakeSpiDev:
    """Stand-in for ``spidev.SpiDev`` (same method names and attributes)."""

    def __init__(self, target: SpiTarget, *, seed: int = 0):
        self._target = target
        self._open = False
        self.mode = 0
        self.max_speed_hz = 500_000
        self.bits_per_word = 8
        self.transfers = 0
        self.stuck_miso = False
        self.flip_bits = 0.0
        self.drop_writes = False
        self._rng = random.Random(seed)

    def open(self, bus: int = 0, device: int = 0) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    def xfer2(self, values: list[int]) -> list[int]:
        if not self._open:
            raise OSError(9, "Bad file descriptor (SPI device not open)")
        self.transfers += 1
        data = bytes(values)
        if not (self.drop_writes or self.stuck_miso or self.flip_bits):   # a healthy wire
            return list(self._target.transfer(data))
        if self.drop_writes and not data[0] & 0x80:
            return [0] * len(data)
        reply = bytearray(self._target.transfer(data))
        if self.stuck_miso:
            return [0xFF] * len(data)
        if self.flip_bits and self._rng.random() < self.flip_bits:
            i = self._rng.randrange(len(reply))
            reply[i] ^= 1 << self._rng.randrange(8)
        return list(reply)

    xfer = xfer2
