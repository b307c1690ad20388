"""Compact emulated NOR flash for fleets: pages kept in one shared file arena, not in RAM.

Same ``Nvm`` contract as ``flash.EmulatedFlash`` (erase to 0xFF with wear counting, program
clears bits only, no page crossing, PowerCut without supply), chosen by the board with
``[storage] driver = "compact-nvm"``. The difference is where the bytes live: every meter of a
process gets a region of one arena file (``NvmArena``), read and written with ``pread`` /
``pwrite``, so the page cache — not the Python heap — holds them and a meter's resident
memory does not grow with its retention; the per-page erase counters sit in the arena too
(after the region's pages, uint32 little-endian), read and written only at an erase. Pages never programmed since their last erase are
not read at all (a one-byte-per-page map answers 0xFF), and the file stays sparse where a
page was never written.

Not modelled here (use the full-fidelity flash for those proofs): torn writes at a chosen
operation, the operation log, bit flips at rest.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from array import array
from pathlib import Path

from sumame.hal.errors import NvmAddressError, NvmProgramError, NvmWornOut, PowerCut


class NvmArena:
    """One sparse file holding the flash regions of many meters (``allocate`` hands them out).

    path: the arena file; None = an anonymous temporary file (removed when the arena closes)
    """

    def __init__(self, path: str | Path | None = None):
        if path is None:
            fd, name = tempfile.mkstemp(prefix="sumame-nvm-", suffix=".arena")
            os.unlink(name)   # private: nobody else can open it, it vanishes with the process
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.fd = fd
        self.path = path
        self.size = os.fstat(fd).st_size
        self._lock = threading.Lock()

    def allocate(self, size: int) -> int:
        """Reserve ``size`` bytes (reading as 0 until written); returns their offset."""
        with self._lock:
            base = self.size
            self.size += size
            os.ftruncate(self.fd, self.size)
            return base

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_default: NvmArena | None = None


def default_arena() -> NvmArena:
    """The process-wide anonymous arena the fleet boards share."""
    global _default
    if _default is None or _default.fd < 0:
        _default = NvmArena()
    return _default


class CompactNvm:
    """Nvm on a region of an ``NvmArena``. New flash reads erased (0xFF) everywhere."""

    def __init__(self, *, page_size: int = 4096, page_count: int = 512, endurance: int = 100_000,
                 arena: NvmArena | None = None, reopen: bool = False):
        """reopen: ``arena`` is this meter's own file (a state directory): take the region it
        already holds — pages, erase counters and which pages hold data — instead of a new one
        at its end, so a restart finds what was stored (a file of another geometry starts over
        blank)."""
        if page_size < 256 or page_size & (page_size - 1):
            raise ValueError(f"page size must be a power of two >= 256, got {page_size}")
        self.page_size, self.page_count, self.endurance = page_size, page_count, endurance
        self.size = page_size * page_count
        self.arena = arena or default_arena()
        region = self.size + 5 * page_count
        self._persist = reopen
        if reopen and self.arena.size != region:
            os.ftruncate(self.arena.fd, 0)   # empty, or not a region of this geometry
            self.arena.size = 0
        self._base = 0 if reopen and self.arena.size == region else self.arena.allocate(region)
        self._wear_at = self._base + self.size   # erase counters (uint32 LE per page) in the arena too
        self._map_at = self._wear_at + 4 * page_count
        """then one byte per page, kept only for a reopened arena: 0 = erased (a sparse file
        reads 0), 1 = programmed since its last erase"""
        self._fd = self.arena.fd
        self._erased = bytearray(b"\x01" * page_count)   # 1 = all 0xFF, nothing stored
        if reopen:
            stored = os.pread(self._fd, page_count, self._map_at)
            for page, used in enumerate(stored):
                if used:
                    self._erased[page] = 0
        self.ops = 0
        self.warnings: list[str] = []
        self.powered = lambda: True
        """The supply feeding the chip; an operation without power raises PowerCut."""
        self._shift = page_size.bit_length() - 1

    # ------------------------------------------------------------------ Nvm contract
    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise NvmAddressError(f"read of {length} bytes at {offset:#x} outside 0..{self.size:#x}")
        if length == 0:
            return b""
        first, last = offset >> self._shift, (offset + length - 1) >> self._shift
        if first == last:
            return self._read_in_page(first, offset, length)
        parts, pos, end = [], offset, offset + length
        while pos < end:
            page = pos >> self._shift
            stop = min((page + 1) << self._shift, end)
            parts.append(self._read_in_page(page, pos, stop - pos))
            pos = stop
        return b"".join(parts)

    def _read_in_page(self, page: int, offset: int, length: int) -> bytes:
        if self._erased[page]:
            return b"\xff" * length
        return os.pread(self._fd, length, self._base + offset)

    def program(self, offset: int, data: bytes) -> None:
        n = len(data)
        if offset < 0 or offset + n > self.size:
            raise NvmAddressError(f"program of {n} bytes at {offset:#x} outside 0..{self.size:#x}")
        page = offset >> self._shift
        if n and page != (offset + n - 1) >> self._shift:
            raise NvmAddressError(f"program of {n} bytes at {offset:#x} crosses a page boundary")
        if not self.powered():
            raise PowerCut("flash program without supply")
        self.ops += 1
        if not n:
            return
        if self._erased[page]:
            old = (1 << (8 * n)) - 1
        else:
            old = int.from_bytes(os.pread(self._fd, n, self._base + offset), "big")
        new = int.from_bytes(data, "big")
        if old & new != new:
            raise NvmProgramError(f"program at {offset:#x} needs a 0->1 bit change; erase first")
        if self._erased[page]:   # first write since erase: give the page its erased bytes
            self._erased[page] = 0
            os.pwrite(self._fd, b"\xff" * self.page_size, self._base + (page << self._shift))
            if self._persist:
                os.pwrite(self._fd, b"\x01", self._map_at + page)
        os.pwrite(self._fd, bytes(data), self._base + offset)

    def erase(self, page: int) -> None:
        if not 0 <= page < self.page_count:
            raise NvmAddressError(f"erase of page {page} outside 0..{self.page_count - 1}")
        wear = self.erase_count(page)
        if wear >= self.endurance:
            raise NvmWornOut(f"page {page} passed its {self.endurance} erase cycles")
        if not self.powered():
            raise PowerCut("flash erase without supply")
        self.ops += 1
        self._erased[page] = 1
        os.pwrite(self._fd, (wear + 1).to_bytes(4, "little"), self._wear_at + 4 * page)
        if self._persist:
            os.pwrite(self._fd, b"\x00", self._map_at + page)

    def erase_count(self, page: int) -> int:
        return int.from_bytes(os.pread(self._fd, 4, self._wear_at + 4 * page), "little")

    def _wear(self) -> array:
        wear = array("I", os.pread(self._fd, 4 * self.page_count, self._wear_at))
        if wear.itemsize != 4:
            raise RuntimeError("array('I') is not 32-bit on this platform")
        if sys.byteorder == "big":
            wear.byteswap()
        return wear

    # ------------------------------------------------------------------ inspection
    def image(self) -> bytes:
        return self.read(0, self.size)

    def load_image(self, data: bytes) -> None:
        if len(data) != self.size:
            raise ValueError("image size does not match the geometry")
        ps = self.page_size
        for page in range(self.page_count):
            chunk = data[page * ps:(page + 1) * ps]
            erased = chunk.count(0xFF) == ps
            self._erased[page] = 1 if erased else 0
            if not erased:
                os.pwrite(self._fd, chunk, self._base + page * ps)
            if self._persist:
                os.pwrite(self._fd, b"\x00" if erased else b"\x01", self._map_at + page)

    def wear_summary(self) -> tuple[int, int, float]:
        wear = self._wear()
        return min(wear), max(wear), sum(wear) / len(wear)

    def close(self) -> None:
        """The region stays in the arena (the arena owns the file)."""
