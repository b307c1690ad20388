"""Code flash layout: boot-control pages and two image slots (A/B) on an ``Nvm``.

Pages of the code flash::

    0 .. 2                 boot control (a snapshot journal, see bootctl.py)
    3 .. 3+S-1             slot A: image pages, then one trailer page
    3+S .. 3+2S-1          slot B: the same

An image is stored from the first byte of its slot. The slot's last page (the *trailer*) holds
the transfer bitmap: bit i of the trailer is cleared (NOR program, 1 -> 0) once block i of an
image transfer is on flash, so a transfer interrupted by a power cut resumes where it stopped
(the standard's image_transferred_blocks_status survives the reboot).
"""
from __future__ import annotations

from dataclasses import dataclass

from sumame.hal.errors import NvmProgramError

from .image import PAYLOAD_OFFSET, ImageError, ImageHeader, decode_header

CONTROL_PAGES = 3


class SlotError(Exception):
    """A write the slot cannot take (outside the slot, or over different data)."""


@dataclass(frozen=True)
class CodeFlashLayout:
    page_size: int
    slot_pages: int
    control_pages: int = CONTROL_PAGES

    @classmethod
    def of(cls, nvm) -> "CodeFlashLayout":
        slot_pages = (nvm.page_count - CONTROL_PAGES) // 2
        if slot_pages < 2:
            raise ValueError(f"code flash of {nvm.page_count} pages is too small for two slots")
        return cls(nvm.page_size, slot_pages)

    @property
    def page_count(self) -> int:
        return self.control_pages + 2 * self.slot_pages

    def slot_first_page(self, index: int) -> int:
        return self.control_pages + index * self.slot_pages

    @property
    def capacity(self) -> int:
        """Largest image a slot holds, bytes."""
        return (self.slot_pages - 1) * self.page_size


class Slot:
    """One image slot (index 0 = A, 1 = B)."""

    def __init__(self, nvm, layout: CodeFlashLayout, index: int):
        self.nvm, self.layout, self.index = nvm, layout, index
        self.name = "AB"[index]
        self.first_page = layout.slot_first_page(index)
        self.page_size = layout.page_size
        self.capacity = layout.capacity
        self.trailer = (self.first_page + layout.slot_pages - 1) * self.page_size

    def _base(self) -> int:
        return self.first_page * self.page_size

    # ------------------------------------------------------------------ image bytes
    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.capacity:
            raise SlotError(f"slot {self.name}: read of {length} bytes at {offset} outside 0..{self.capacity}")
        return self.nvm.read(self._base() + offset, length)

    def header(self) -> ImageHeader:
        """The stored image's header (raises ImageError when there is none or it is damaged)."""
        return decode_header(self.read(0, PAYLOAD_OFFSET))

    def image(self) -> bytes:
        """The stored image, header + payload (raises ImageError when it cannot be complete)."""
        header = self.header()
        if header.total_size > self.capacity:
            raise ImageError("oversized", f"slot {self.name}: header claims {header.total_size} bytes, "
                                          f"the slot holds {self.capacity}")
        return self.read(0, header.total_size)

    def erase_for(self, size: int) -> None:
        """Erase the trailer (no block transferred), then the pages ``size`` bytes need."""
        if size > self.capacity:
            raise SlotError(f"slot {self.name}: {size} bytes do not fit in {self.capacity}")
        self._erase_page(self.trailer // self.page_size)
        pages = -(-size // self.page_size)
        for page in range(self.first_page, self.first_page + pages):
            self._erase_page(page)

    def _erase_page(self, page: int) -> None:
        if self.nvm.read(page * self.page_size, self.page_size) != b"\xff" * self.page_size:
            self.nvm.erase(page)

    def program(self, offset: int, data: bytes) -> None:
        """Program image bytes (may span pages); re-writing the same bytes is allowed."""
        if offset < 0 or offset + len(data) > self.capacity:
            raise SlotError(f"slot {self.name}: write of {len(data)} bytes at {offset} outside the slot")
        pos = 0
        while pos < len(data):
            address = self._base() + offset + pos
            room = self.page_size - address % self.page_size
            chunk = data[pos:pos + room]
            if self.nvm.read(address, len(chunk)) != chunk:
                try:
                    self.nvm.program(address, chunk)
                except NvmProgramError:
                    raise SlotError(f"slot {self.name}: bytes at {offset + pos} were written with "
                                    f"different data") from None
            pos += len(chunk)

    # ------------------------------------------------------------------ transfer bitmap
    @property
    def max_blocks(self) -> int:
        return self.page_size * 8

    def mark_block(self, n: int) -> None:
        if not 0 <= n < self.max_blocks:
            raise SlotError(f"block {n} outside the bitmap")
        address = self.trailer + n // 8
        current = self.nvm.read(address, 1)[0]
        new = current & ~(1 << (n % 8)) & 0xFF
        if new != current:
            self.nvm.program(address, bytes((new,)))

    def blocks_done(self, count: int) -> list[bool]:
        raw = self.nvm.read(self.trailer, -(-count // 8)) if count else b""
        return [not raw[i // 8] >> (i % 8) & 1 for i in range(count)]
