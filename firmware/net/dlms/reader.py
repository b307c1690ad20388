"""Bounds-checked byte reader shared by the DLMS decoders.

Every read past the end raises the error class the caller chose (a :class:`DecodeError`
subclass) with the offset, so truncated input can never raise IndexError or struct.error.
"""
from __future__ import annotations

import struct

from sumame.firmware.net.budget import WorkBudget

from .errors import LIMIT_ERRORS, DecodeError


_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from


class Reader:
    """Sequential reader over ``data``; ``error`` is the DecodeError subclass to raise.

    ``budget`` is the work budget of the request being decoded (see ``firmware/net/budget.py``);
    without one, the reader makes one sized for ``data``. Readers over parts of the input share
    their parent's budget (pass ``budget=r.budget``)."""

    __slots__ = ("data", "pos", "error", "budget")

    def __init__(self, data: bytes, pos: int = 0, error: type[DecodeError] = DecodeError,
                 budget: WorkBudget | None = None):
        self.data = data = data if type(data) is bytes else bytes(data)
        self.pos = pos
        self.error = error
        self.budget = WorkBudget.for_input(len(data)) if budget is None else budget

    def fail(self, message: str) -> DecodeError:
        return self.error(message, self.pos)

    def over(self, message: str) -> DecodeError:
        """The limit error of this reader's error class (a subclass of it and of LimitError
        where ``errors.LIMIT_ERRORS`` has one)."""
        return LIMIT_ERRORS.get(self.error, self.error)(message, self.pos)

    def spend(self, units: int, what: str) -> None:
        """Charge ``units`` of work; raise the limit error when the budget is exhausted."""
        if not self.budget.spend(units):
            raise self.over(f"{what}: work budget of {self.budget.limit} units exhausted")

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def take(self, n: int, what: str = "bytes") -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise self.fail(f"truncated: {what} needs {n} byte(s), {self.remaining} left")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def u8(self, what: str = "byte") -> int:
        if self.pos >= len(self.data):
            raise self.fail(f"truncated: missing {what}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def peek(self, what: str = "byte") -> int:
        if self.pos >= len(self.data):
            raise self.fail(f"truncated: missing {what}")
        return self.data[self.pos]

    def u16(self, what: str = "uint16") -> int:
        pos = self.pos
        if pos + 2 > len(self.data):
            raise self.fail(f"truncated: {what} needs 2 byte(s), {self.remaining} left")
        self.pos = pos + 2
        return _U16(self.data, pos)[0]

    def u32(self, what: str = "uint32") -> int:
        pos = self.pos
        if pos + 4 > len(self.data):
            raise self.fail(f"truncated: {what} needs 4 byte(s), {self.remaining} left")
        self.pos = pos + 4
        return _U32(self.data, pos)[0]

    def length(self, what: str = "length") -> int:
        """A-XDR / BER length: one byte below 0x80, else 0x8n followed by n bytes (n = 1..4)."""
        first = self.u8(what)
        if first < 0x80:
            return first
        n = first & 0x7F
        if n == 0 or n > 4:
            raise self.fail(f"bad {what} form 0x{first:02X}")
        return int.from_bytes(self.take(n, what), "big")

    def rest(self) -> bytes:
        chunk = self.data[self.pos:]
        self.pos = len(self.data)
        return chunk

    def expect_end(self, what: str) -> None:
        if self.pos != len(self.data):
            raise self.fail(f"{self.remaining} trailing byte(s) after {what}")


def encode_length(n: int) -> bytes:
    """A-XDR / BER length field for ``n`` (short form below 128, else 0x81/0x82/0x84 long form)."""
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFF:
        return bytes((0x81, n))
    if n <= 0xFFFF:
        return bytes((0x82, n >> 8, n & 0xFF))
    return b"\x84" + n.to_bytes(4, "big")
