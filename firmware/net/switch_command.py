"""Switch command envelope (A-route → meter): codec only. Pure: bytes in, objects out.

The head-end sends this envelope inside its A-route transport; ``firmware/switchgear/control.py`` checks
the MAC, the target meter, the validity window and the counter before anything moves.

Layout (big-endian, 49 bytes)::

    off len field
     0   1  version        0x01
     1   1  key_id         which of the meter's command keys made the MAC
     2   8  counter        strictly increasing per key (replay protection)
    10   4  not_before     epoch s (UTC); the command is invalid before
    14   4  not_after      epoch s (UTC); ... and after
    18  12  meter_serial   ASCII, NUL-padded: the meter this command is for
    30   1  command        0x01 open, 0x02 close, 0x03 set limit, 0x04 reset lockout
    31   2  argument       amperes for set limit; 0 otherwise
    33  16  mac            HMAC-SHA256(key, bytes 0..32) truncated to 128 bits
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

VERSION = 0x01
BODY = struct.Struct(">BBQII12sBH")
MAC_LEN = 16
ENVELOPE_LEN = BODY.size + MAC_LEN
SERIAL_LEN = 12


class SwitchOp(IntEnum):
    OPEN = 0x01
    CLOSE = 0x02
    SET_LIMIT = 0x03
    RESET_LOCKOUT = 0x04


class SwitchCommandError(ValueError):
    """Malformed envelope; the message says what is wrong."""


class EnvelopeLength(SwitchCommandError):
    pass


class UnsupportedVersion(SwitchCommandError):
    pass


class UnknownOperation(SwitchCommandError):
    pass


class BadField(SwitchCommandError):
    """A field with a value the format does not allow (serial, window, argument)."""


@dataclass(frozen=True)
class SwitchCommand:
    key_id: int
    counter: int
    not_before: int
    not_after: int
    meter_serial: str
    op: SwitchOp
    argument: int = 0
    mac: bytes = b""

    def body(self) -> bytes:
        """The MACed bytes (everything before the MAC)."""
        return BODY.pack(VERSION, self.key_id, self.counter, self.not_before, self.not_after,
                         self.meter_serial.encode("ascii").ljust(SERIAL_LEN, b"\0"),
                         int(self.op), self.argument)

    def encode(self) -> bytes:
        if len(self.mac) != MAC_LEN:
            raise ValueError(f"MAC must be {MAC_LEN} bytes, got {len(self.mac)}")
        return self.body() + self.mac


def decode(data: bytes) -> SwitchCommand:
    """Parse an envelope; raises a SwitchCommandError subclass (and nothing else) if malformed."""
    data = bytes(data)
    if len(data) != ENVELOPE_LEN:
        raise EnvelopeLength(f"switch command must be {ENVELOPE_LEN} bytes, got {len(data)}")
    version, key_id, counter, nb, na, serial, op, arg = BODY.unpack_from(data)
    if version != VERSION:
        raise UnsupportedVersion(f"envelope version 0x{version:02x}, supported 0x{VERSION:02x}")
    try:
        operation = SwitchOp(op)
    except ValueError:
        raise UnknownOperation(f"unknown operation code 0x{op:02x}") from None
    text = serial.rstrip(b"\0")
    if not text or b"\0" in text or any(b < 0x20 or b > 0x7E for b in text):
        raise BadField(f"meter serial {serial!r} is not printable NUL-padded ASCII")
    if na < nb:
        raise BadField(f"validity window ends ({na}) before it starts ({nb})")
    if operation is SwitchOp.SET_LIMIT and arg == 0:
        raise BadField("set-limit needs a current in amperes")
    if operation is not SwitchOp.SET_LIMIT and arg != 0:
        raise BadField(f"{operation.name.lower()} takes no argument (got {arg})")
    return SwitchCommand(key_id, counter, nb, na, text.decode("ascii"), operation, arg,
                         data[BODY.size:])
