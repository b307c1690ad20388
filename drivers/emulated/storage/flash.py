"""Emulated NOR flash: a file (or RAM) with page erase / program semantics and wear counters.

Implements the ``Nvm`` contract exactly as the real part behaves:
* erase sets a whole page to 0xFF and counts one cycle of wear for that page;
* program can only clear bits; asking for a 0 -> 1 transition raises NvmProgramError;
* a program may not cross a page boundary.

The image is a plain file of ``page_count * page_size`` bytes (hexdump it), memory-mapped, with
the per-page erase counters in a sidecar ``<file>.wear``. A truncated or oversized image is
reported in ``warnings`` and fitted to the geometry (missing bytes read as erased) so the meter
can start with whatever survived.

Fault injection
* ``cut_power_at(n, torn=...)``: operation number ``n`` (1-based, counting programs and erases)
  is torn and PowerCut is raised. ``torn`` is either a fraction (a prefix of the program / of
  the erase happens) or ``nor_tear(seed)``: the NOR bit-level model — a cut program clears a
  random (seeded) subset of the bits it was to clear (so a one-byte commit flag can be left
  with only some bits cleared), a cut erase sets a random subset of the page's 0 bits back to 1
  (a partially erased page). Either way a torn program never clears a bit the data keeps at 1,
  so programming the same data again completes it, as on the real part.
* ``flip_bit(offset, bit)``: bit rot or tampering at rest.
* ``op_log``: when ``record_ops`` is True every operation is logged, so a test can rebuild the
  exact image at any operation index (power cut at every operation).
"""
from __future__ import annotations

import logging
import mmap
import os
import random
from pathlib import Path

from sumame.hal.errors import NvmAddressError, NvmWornOut, PowerCut
from sumame.hal.nvm import check_program

log = logging.getLogger("sumame.flash")


class EmulatedFlash:
    """NOR flash emulation. ``path=None`` keeps the image in RAM."""

    def __init__(self, path: str | Path | None, *, page_size: int = 4096, page_count: int = 512,
                 endurance: int = 100_000, record_ops: bool = False):
        if page_size < 256 or page_size & (page_size - 1):
            raise ValueError(f"page size must be a power of two >= 256, got {page_size}")
        self.page_size, self.page_count, self.endurance = page_size, page_count, endurance
        self.size = page_size * page_count
        self.path = Path(path) if path is not None else None
        self.warnings: list[str] = []
        self.ops = 0
        self.record_ops = record_ops
        self.op_log: list[tuple] = []
        self._cut_at: int | None = None
        self.powered = lambda: True
        """The supply feeding the chip; an operation without power raises PowerCut."""
        self._torn = 0.5
        self._file = None
        self._map: mmap.mmap | bytearray
        if self.path is None:
            self._map = bytearray(b"\xff" * self.size)
            self._wear = [0] * page_count
        else:
            self._open_file()

    # ------------------------------------------------------------------ image file
    def _open_file(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        actual = os.fstat(fd).st_size
        if fresh or actual == 0:
            os.ftruncate(fd, self.size)
            os.pwrite(fd, b"\xff" * self.size, 0)
        elif actual != self.size:
            what = "truncated" if actual < self.size else "longer than the board's flash"
            self.warnings.append(
                f"{self.path}: flash image is {actual} bytes, expected {self.size} "
                f"({self.page_count} pages x {self.page_size}); {what} — "
                + ("missing bytes read as erased" if actual < self.size else "extra bytes ignored"))
            log.warning(self.warnings[-1])
            if actual < self.size:
                os.ftruncate(fd, self.size)
                os.pwrite(fd, b"\xff" * (self.size - actual), actual)
            else:
                os.ftruncate(fd, self.size)
        self._file = fd
        self._map = mmap.mmap(fd, self.size)
        self._wear = self._load_wear()

    def _wear_path(self) -> Path:
        return self.path.with_name(self.path.name + ".wear")

    def _load_wear(self) -> list[int]:
        try:
            raw = self._wear_path().read_bytes()
        except FileNotFoundError:
            return [0] * self.page_count
        counts = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw) - 3, 4)]
        if len(counts) != self.page_count:
            self.warnings.append(f"{self._wear_path()}: wear file does not match the geometry; reset")
            return [0] * self.page_count
        return counts

    def _save_wear(self, page: int) -> None:
        if self.path is None:
            return
        try:
            with open(self._wear_path(), "r+b") as fh:
                fh.seek(page * 4)
                fh.write(self._wear[page].to_bytes(4, "little"))
        except FileNotFoundError:
            self._wear_path().write_bytes(b"".join(c.to_bytes(4, "little") for c in self._wear))

    def close(self) -> None:
        if self._file is not None:
            self._map.flush()
            self._map.close()
            os.close(self._file)
            self._file = None

    # ------------------------------------------------------------------ Nvm contract
    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise NvmAddressError(f"read of {length} bytes at {offset:#x} outside 0..{self.size:#x}")
        return bytes(self._map[offset:offset + length])

    def program(self, offset: int, data: bytes) -> None:
        n, m, page_size = len(data), self._map, self.page_size
        end = offset + n
        if offset < 0 or end > self.size or (n and offset // page_size != (end - 1) // page_size) or \
                int.from_bytes(m[offset:end], "big") & (new := int.from_bytes(data, "big")) != new:
            check_program(self.size, page_size, offset, data, lambda o, k: m[o:o + k])   # raises the HAL error
        if self.record_ops or self._cut_at is not None or "_operation" in self.__dict__ or "apply" in self.__dict__:
            self._operation(("program", offset, bytes(data)))   # logged, torn or observed: the full path
            return
        if not self.powered():
            raise PowerCut("flash program without supply")
        self.ops += 1
        m[offset:end] = data   # only 1 -> 0 changes (checked): old & data is data

    def erase(self, page: int) -> None:
        if not 0 <= page < self.page_count:
            raise NvmAddressError(f"erase of page {page} outside 0..{self.page_count - 1}")
        if self._wear[page] >= self.endurance:
            raise NvmWornOut(f"page {page} passed its {self.endurance} erase cycles")
        self._operation(("erase", page))

    def erase_count(self, page: int) -> int:
        return self._wear[page]

    # ------------------------------------------------------------------ operations
    def _operation(self, op: tuple) -> None:
        if not self.powered():
            raise PowerCut(f"flash {op[0]} without supply")
        self.ops += 1
        if self._cut_at is not None and self.ops >= self._cut_at:
            self._cut_at = None
            self.apply(op, torn=self._torn)
            raise PowerCut(f"power cut during flash operation #{self.ops} ({op[0]})")
        self.apply(op)

    def apply(self, op: tuple, torn: "float | tuple | None" = None) -> None:
        """Carry out one logged operation; ``torn`` = what happened before a cut: a fraction
        (prefix) or ``nor_tear(seed)`` (random subset of the bit changes, see module doc)."""
        if self.record_ops:
            self.op_log.append(op if torn is None else op + (torn,))
        rng = random.Random(torn[1]) if isinstance(torn, tuple) else None
        if op[0] == "program":
            _, offset, data = op
            if torn is not None and rng is None:
                data = data[:int(len(data) * torn)]
            n = len(data)
            old = int.from_bytes(self._map[offset:offset + n], "big")
            new = old & int.from_bytes(data, "big")
            if rng is not None:  # clear only a random subset of the bits that were to clear
                new = old & ~((old & ~new) & _tear_mask(rng, 8 * n))
            self._map[offset:offset + n] = new.to_bytes(n, "big")
        else:
            page = op[1]
            start = page * self.page_size
            if rng is not None:  # partially erased: a random subset of the 0 bits is back at 1
                n = self.page_size
                old = int.from_bytes(self._map[start:start + n], "big")
                self._map[start:start + n] = (old | _tear_mask(rng, 8 * n)).to_bytes(n, "big")
            else:
                length = self.page_size if torn is None else int(self.page_size * torn)
                self._map[start:start + length] = b"\xff" * length
            self._wear[page] += 1
            self._save_wear(page)

    def cut_power_at(self, op_number: int, torn: "float | tuple" = 0.5) -> None:
        """Tear operation ``op_number`` (counted from the start of this object) and raise PowerCut;
        ``torn``: a fraction (prefix done) or ``nor_tear(seed)`` (bit-level NOR model)."""
        self._cut_at, self._torn = op_number, torn

    def flip_bit(self, offset: int, bit: int) -> None:
        """Invert one bit at rest (no wear, no operation count): bit rot or tampering."""
        self._map[offset] ^= 1 << bit

    def image(self) -> bytes:
        return bytes(self._map)

    def load_image(self, data: bytes) -> None:
        if len(data) != self.size:
            raise ValueError("image size does not match the geometry")
        self._map[:] = data

    def wear_summary(self) -> tuple[int, int, float]:
        """(min, max, mean) erase cycles over all pages."""
        return min(self._wear), max(self._wear), sum(self._wear) / len(self._wear)


def nor_tear(seed: int) -> tuple:
    """The ``torn`` value of a bit-level NOR tear drawn from ``seed`` (reproducible)."""
    return ("nor", seed)


def _tear_mask(rng: random.Random, bits: int) -> int:
    """Which of ``bits`` bit changes a cut operation got done: one of several shapes — a random
    subset of a random density (1/16 .. 15/16), or a prefix done followed by a random subset
    (the part was programming/erasing from the first byte on when the supply went)."""
    if bits == 0:
        return 0
    k = rng.randint(1, 4)
    mask = rng.getrandbits(bits)
    for _ in range(k - 1):
        mask &= rng.getrandbits(bits)
    if rng.random() < 0.5:
        mask = ~mask & ((1 << bits) - 1)          # densities 1/2 .. 15/16 as well as 1/16 .. 1/2
    if rng.random() < 0.3:                        # prefix shape: leading bits all done
        done = rng.randrange(bits + 1)
        head = ((1 << done) - 1) << (bits - done)
        mask = head | (mask & ((1 << (bits - done)) - 1) & rng.getrandbits(bits))
    return mask
