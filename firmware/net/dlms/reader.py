"""Bounds-checked byte reader shared by the DLMS decoders.

Every read past the end raises the error class the caller chose (a :class:`DecodeError`
subclass) with the offset, so truncated input can never raise IndexError or struct.error.
"""
from __future__ import annotations

from .errors import DecodeError


class Reader:
    """Sequential reader over ``data``; ``error`` is the DecodeError subclass to raise."""

    __slots__ = ("data", "pos", "error")

    def __init__(self, data: bytes, pos: int = 0, error: type[DecodeError] = DecodeError):
        self.data = bytes(data)
        self.pos = pos
        self.error = error

    def fail(self, message: str) -> DecodeError:
        return self.error(message, self.pos)

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
        return int.from_bytes(self.take(2, what), "big")

    def u32(self, what: str = "uint32") -> int:
        return int.from_bytes(self.take(4, what), "big")

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
