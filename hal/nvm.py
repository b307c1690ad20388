"""Nvm: NOR-flash-like non-volatile memory with page erase and program."""
from typing import Callable, Protocol, runtime_checkable

from .errors import NvmAddressError, NvmProgramError

ERASED = 0xFF
"""Value of every byte after an erase."""


@runtime_checkable
class Nvm(Protocol):
    """Byte-addressed flash divided into equal pages.

    * ``erase(page)`` sets every byte of the page to 0xFF (slow; wears the page).
    * ``program(offset, data)`` can only clear bits (1 -> 0); programming a byte whose new value
      needs a 0 -> 1 transition raises NvmProgramError. A program must not cross a page boundary.
    * A power cut during ``program`` may leave any subset of the bits it was to clear cleared
      (a torn write: a prefix, or a byte with only some of its bits programmed); programming
      the same data again completes it. A cut ``erase`` leaves the page partly erased (any
      subset of its 0 bits back at 1).
    """

    page_size: int
    """Bytes per erase page."""

    page_count: int

    def read(self, offset: int, length: int) -> bytes: ...

    def program(self, offset: int, data: bytes) -> None: ...

    def erase(self, page: int) -> None: ...

    def erase_count(self, page: int) -> int:
        """Erase cycles this page has seen (wear)."""
        ...


def check_program(size: int, page_size: int, offset: int, data: bytes,
                  current: Callable[[int, int], bytes]) -> None:
    """The NOR program rules every Nvm keeps: inside the device, within one page, and only
    1 -> 0 bit changes (``current(offset, n)`` reads what is there). Raises the HAL errors."""
    n = len(data)
    if offset < 0 or offset + n > size:
        raise NvmAddressError(f"program of {n} bytes at {offset:#x} outside 0..{size:#x}")
    if n and offset // page_size != (offset + n - 1) // page_size:
        raise NvmAddressError(f"program of {n} bytes at {offset:#x} crosses a page boundary")
    old, new = int.from_bytes(current(offset, n), "big"), int.from_bytes(data, "big")
    if old & new != new:
        raise NvmProgramError(f"program at {offset:#x} needs a 0->1 bit change; erase first")
