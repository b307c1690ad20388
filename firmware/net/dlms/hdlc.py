"""HDLC frames of IEC 62056-46 (reference §3.1): format, addresses, control, HCS/FCS.

``7E | A0 len | dest | src | control | HCS | information | FCS | 7E``. HCS/FCS are CRC-16/X-25
(crcmod) sent LSB first; HCS only when an information field follows. Addresses carry 7 bits per
byte, bit 0 = 1 on the last byte. Client address: 1 byte. Server address: 1, 2 or 4 bytes
(upper = logical device, lower = physical device).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import crcmod.predefined

from .errors import HdlcError
from .reader import Reader

FLAG = 0x7E
FORMAT_TYPE3 = 0xA000
SEGMENT_BIT = 0x0800
MAX_FRAME_LENGTH = 0x07FF
PF = 0x10
LLC_REQUEST = b"\xE6\xE6\x00"    # client -> server
LLC_RESPONSE = b"\xE6\xE7\x00"   # server -> client

crc16_x25 = crcmod.predefined.mkCrcFun("x-25")


class FrameKind(Enum):
    I = "I"          # noqa: E741 (HDLC name)
    RR = "RR"
    RNR = "RNR"
    SNRM = "SNRM"
    UA = "UA"
    DISC = "DISC"
    DM = "DM"
    FRMR = "FRMR"
    UI = "UI"


_U_CODES = {0x83: FrameKind.SNRM, 0x63: FrameKind.UA, 0x43: FrameKind.DISC, 0x0F: FrameKind.DM,
            0x87: FrameKind.FRMR, 0x03: FrameKind.UI}
_U_VALUES = {v: k for k, v in _U_CODES.items()}


@dataclass(frozen=True)
class HdlcAddress:
    """``upper`` (client SAP, or server logical device), ``lower`` (server physical address or
    None) and ``size`` in bytes on the wire (1, 2 or 4)."""

    upper: int
    lower: int | None = None
    size: int = 1

    def encode(self) -> bytes:
        if self.size == 1:
            if not 0 <= self.upper <= 0x7F or self.lower is not None:
                raise ValueError("1-byte HDLC address holds 7 bits and no lower part")
            return bytes(((self.upper << 1) | 1,))
        bits = 7 if self.size == 2 else 14
        lower = self.lower or 0
        if not 0 <= self.upper < (1 << bits) or not 0 <= lower < (1 << bits):
            raise ValueError(f"HDLC address part exceeds {bits} bits")
        groups = []
        for part in (self.upper, lower):
            if bits == 14:
                groups += [(part >> 7) & 0x7F, part & 0x7F]
            else:
                groups.append(part & 0x7F)
        out = bytearray(g << 1 for g in groups)
        out[-1] |= 1
        return bytes(out)

    @classmethod
    def read(cls, r: Reader) -> "HdlcAddress":
        groups = []
        while True:
            b = r.u8("address byte")
            groups.append(b >> 1)
            if b & 1:
                break
            if len(groups) >= 4:
                raise r.fail("HDLC address longer than 4 bytes")
        if len(groups) == 1:
            return cls(groups[0], None, 1)
        if len(groups) == 2:
            return cls(groups[0], groups[1], 2)
        if len(groups) == 4:
            return cls((groups[0] << 7) | groups[1], (groups[2] << 7) | groups[3], 4)
        raise r.fail("HDLC address must be 1, 2 or 4 bytes, got 3")


def server_address(logical: int = 1, physical: int | None = None, size: int | None = None) -> HdlcAddress:
    if physical is None:
        return HdlcAddress(logical, None, 1)
    if size is None:
        size = 2 if logical < 0x80 and physical < 0x80 else 4
    return HdlcAddress(logical, physical, size)


def client_address(sap: int = 0x10) -> HdlcAddress:
    return HdlcAddress(sap, None, 1)


@dataclass(frozen=True)
class HdlcFrame:
    """One frame. ``control`` is the raw control byte; ``kind``, ``ns``, ``nr`` and ``pf`` decode it."""

    destination: HdlcAddress
    source: HdlcAddress
    control: int
    information: bytes = b""
    segmented: bool = False

    @property
    def kind(self) -> FrameKind:
        c = self.control
        if c & 1 == 0:
            return FrameKind.I
        if c & 3 == 1:
            return FrameKind.RR if c & 0x0F == 0x01 else FrameKind.RNR if c & 0x0F == 0x05 else None
        return _U_CODES.get(c & ~PF & 0xFF)

    @property
    def pf(self) -> bool:
        return bool(self.control & PF)

    @property
    def ns(self) -> int:
        return (self.control >> 1) & 7

    @property
    def nr(self) -> int:
        return (self.control >> 5) & 7

    def encode(self) -> bytes:
        head = self.destination.encode() + self.source.encode() + bytes((self.control,))
        length = 2 + len(head) + 2 + (len(self.information) + 2 if self.information else 0)
        if length > MAX_FRAME_LENGTH:
            raise ValueError(f"HDLC frame of {length} bytes exceeds {MAX_FRAME_LENGTH}")
        fmt = FORMAT_TYPE3 | (SEGMENT_BIT if self.segmented else 0) | length
        body = fmt.to_bytes(2, "big") + head
        body += crc16_x25(body).to_bytes(2, "little")
        if self.information:
            body += self.information
            body += crc16_x25(body).to_bytes(2, "little")
        return bytes((FLAG,)) + body + bytes((FLAG,))

    @classmethod
    def decode(cls, raw: bytes) -> "HdlcFrame":
        """Decode one frame including both flags. Raises HdlcError (bad CRC, length, ...)."""
        raw = bytes(raw)
        if len(raw) < 9 or raw[0] != FLAG or raw[-1] != FLAG:
            raise HdlcError("frame must start and end with 0x7E and hold at least 7 bytes")
        body = raw[1:-1]
        r = Reader(body, error=HdlcError)
        fmt = r.u16("frame format")
        if fmt & 0xF000 != FORMAT_TYPE3:
            raise HdlcError(f"frame format type 0x{fmt >> 12:X} is not 0xA", 1)
        if fmt & MAX_FRAME_LENGTH != len(body):
            raise HdlcError(f"frame length field {fmt & MAX_FRAME_LENGTH} != {len(body)} bytes", 1)
        if crc16_x25(body[:-2]).to_bytes(2, "little") != body[-2:]:
            raise HdlcError("FCS mismatch", len(raw) - 3)
        dest = HdlcAddress.read(r)
        src = HdlcAddress.read(r)
        control = r.u8("control")
        info = b""
        if r.pos + 2 < len(body):   # HCS + information + FCS follow
            hcs = r.take(2, "HCS")
            if crc16_x25(body[:r.pos - 2]).to_bytes(2, "little") != hcs:
                raise HdlcError("HCS mismatch", r.pos - 1)
            info = body[r.pos:-2]
        elif r.pos + 2 != len(body):
            raise HdlcError("frame too short for its FCS")
        frame = cls(dest, src, control, info, bool(fmt & SEGMENT_BIT))
        if frame.kind is None:
            raise HdlcError(f"unknown control field 0x{control:02X}")
        return frame


def control_i(ns: int, nr: int, pf: bool = True) -> int:
    return ((nr & 7) << 5) | (PF if pf else 0) | ((ns & 7) << 1)


def control_rr(nr: int, pf: bool = True) -> int:
    return ((nr & 7) << 5) | (PF if pf else 0) | 0x01


def control_u(kind: FrameKind, pf: bool = True) -> int:
    return _U_VALUES[kind] | (PF if pf else 0)


# ---------------------------------------------------------------- SNRM / UA parameters

@dataclass(frozen=True)
class LinkParameters:
    """HDLC negotiation: max information field lengths (bytes) and window sizes (frames).
    In a UA they are the server's view (its tx = the client's rx)."""

    max_info_tx: int = 128
    max_info_rx: int = 128
    window_tx: int = 1
    window_rx: int = 1

    def encode(self) -> bytes:
        def param(pid, value, size=None):
            size = size or (1 if value < 0x100 else 2)
            return bytes((pid, size)) + value.to_bytes(size, "big")
        body = param(5, self.max_info_tx) + param(6, self.max_info_rx) \
            + param(7, self.window_tx, 4) + param(8, self.window_rx, 4)
        return bytes((0x81, 0x80, len(body))) + body

    @classmethod
    def decode(cls, raw: bytes) -> "LinkParameters":
        if not raw:
            return cls()
        r = Reader(raw, error=HdlcError)
        if r.u8("format id") != 0x81 or r.u8("group id") != 0x80:
            raise HdlcError("HDLC parameters must start 81 80", 0)
        body = Reader(r.take(r.u8("group length"), "parameters"), error=HdlcError)
        values = {}
        while not body.at_end():
            pid = body.u8("parameter id")
            size = body.u8("parameter length")
            if not 1 <= size <= 4:
                raise body.fail(f"parameter {pid} length {size} invalid")
            values[pid] = int.from_bytes(body.take(size, "parameter value"), "big")
        d = cls()
        return cls(values.get(5, d.max_info_tx), values.get(6, d.max_info_rx),
                   values.get(7, d.window_tx), values.get(8, d.window_rx))


# ---------------------------------------------------------------- byte stream -> frames

class FrameSplitter:
    """Cuts a byte stream (serial port, TCP) into candidate frames using the flag and the
    frame length field; junk between frames is skipped and counted in ``discarded``."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.discarded = 0
        self._after_frame = False

    def feed(self, data: bytes) -> list[bytes]:
        if self._after_frame and not self._buf and data and data[0] != FLAG:
            self._buf.append(FLAG)      # the previous closing flag opens this frame
        self._after_frame = False
        self._buf += data
        frames = []
        buf = self._buf
        while True:
            start = buf.find(FLAG)
            if start < 0:
                self.discarded += len(buf)
                buf.clear()
                break
            if start:
                self.discarded += start
                del buf[:start]
            # skip repeated flags (a closing flag may double as the next opening flag)
            while len(buf) >= 2 and buf[1] == FLAG:
                del buf[0]
            if len(buf) < 3:
                break
            fmt = (buf[1] << 8) | buf[2]
            if fmt & 0xF000 != FORMAT_TYPE3 or (fmt & MAX_FRAME_LENGTH) < 7:
                self.discarded += 1
                del buf[0]
                continue
            total = (fmt & MAX_FRAME_LENGTH) + 2
            if len(buf) < total:
                break
            if buf[total - 1] != FLAG:
                self.discarded += 1
                del buf[0]
                continue
            frames.append(bytes(buf[:total]))
            del buf[:total]
            if buf and buf[0] != FLAG:
                buf[0:0] = bytes((FLAG,))   # the closing flag was shared with the next frame
            self._after_frame = not buf
        return frames
