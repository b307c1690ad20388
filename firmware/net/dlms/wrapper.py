"""IEC 62056-47 wrapper for TCP/UDP (reference §3.2): ``version(2)=0x0001 | source wPort(2) |
destination wPort(2) | length(2) | APDU``, big endian, IANA port 4059.

wPorts are DLMS SAPs: client 0x0010 public, 0x0001 management; server 0x0001 management logical
device. Over TCP, :class:`WrapperStream` re-assembles PDUs from the byte stream.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import WrapperError

DLMS_PORT = 4059
WRAPPER_VERSION = 0x0001
HEADER_LENGTH = 8
_HEADER = struct.Struct(">HHHH").unpack_from


@dataclass(frozen=True)
class WrapperPdu:
    source: int
    destination: int
    apdu: bytes
    version: int = WRAPPER_VERSION

    def encode(self) -> bytes:
        if len(self.apdu) > 0xFFFF:
            raise ValueError("wrapper APDU longer than 65535 bytes")
        return (self.version.to_bytes(2, "big") + self.source.to_bytes(2, "big")
                + self.destination.to_bytes(2, "big") + len(self.apdu).to_bytes(2, "big") + self.apdu)

    @classmethod
    def decode(cls, raw: bytes) -> "WrapperPdu":
        """Decode one complete datagram (UDP) or PDU; the length must match exactly."""
        if type(raw) is not bytes:
            raw = bytes(raw)
        if len(raw) < HEADER_LENGTH:
            raise WrapperError(f"wrapper header needs 8 bytes, got {len(raw)}", 0)
        version, source, dest, length = _HEADER(raw)
        if version != WRAPPER_VERSION:
            raise WrapperError(f"wrapper version 0x{version:04X} is not 0x0001", 0)
        if length != len(raw) - HEADER_LENGTH:
            raise WrapperError(f"wrapper length {length} != {len(raw) - HEADER_LENGTH} APDU bytes", 6)
        return cls(source, dest, raw[HEADER_LENGTH:], version)


class WrapperStream:
    """Re-assembles wrapper PDUs from a TCP byte stream.

    ``feed`` returns complete PDUs; a header with a wrong version raises WrapperError (the stream
    cannot be re-synchronised: the transport should close the connection). ``max_apdu`` bounds
    the memory a peer can make us hold."""

    def __init__(self, max_apdu: int = 0xFFFF):
        self._buf = bytearray()
        self.max_apdu = max_apdu

    def feed(self, data: bytes) -> list[WrapperPdu]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER_LENGTH:
            version = int.from_bytes(self._buf[0:2], "big")
            if version != WRAPPER_VERSION:
                self._buf.clear()
                raise WrapperError(f"wrapper version 0x{version:04X} is not 0x0001", 0)
            length = int.from_bytes(self._buf[6:8], "big")
            if length > self.max_apdu:
                self._buf.clear()
                raise WrapperError(f"wrapper APDU of {length} bytes exceeds {self.max_apdu}", 6)
            if len(self._buf) < HEADER_LENGTH + length:
                break
            out.append(WrapperPdu.decode(bytes(self._buf[:HEADER_LENGTH + length])))
            del self._buf[:HEADER_LENGTH + length]
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)
