"""IEEE 802.15.4 MAC frames as route-B Wi-SUN uses them: codec, FCS and CCM* security.

What is covered (pure: bytes in, typed objects out and back; no I/O, no clocks):

* data frames with 64-bit (or 16-bit broadcast) destination, 64-bit source and PAN ID
  compression, frame version 2003/2006; the optional auxiliary security header with key-id
  mode 1 (one key-index octet) and the levels 1-7 (ENC-MIC-32 = 5 is what route B uses here);
* beacon frames (superframe spec, no GTS, no pending addresses, free payload carrying the
  route-B pairing ID) and the beacon-request MAC command;
* the 2-octet FCS (ITU-T CRC-16, "KERMIT", little-endian on air) that linktype 195 expects.

Addresses: EUI-64 values are ``bytes`` of 8 in written (big-endian) order, as SKSTACK prints
them (``001D129012345678``); on air they are reversed (little-endian). PAN IDs are ints.

CCM* nonce = source EUI-64 (written order) || frame counter (4, big-endian) || level (1);
AAD = MAC header up to and including the auxiliary security header; the MIC follows the
(encrypted) payload. ``secure()``/``unsecure()`` apply that with a 16-octet AES key.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, replace

import crcmod.predefined
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

_crc16 = crcmod.predefined.mkCrcFun("kermit")

FRAME_BEACON, FRAME_DATA, FRAME_ACK, FRAME_COMMAND = 0, 1, 2, 3
ADDR_NONE, ADDR_SHORT, ADDR_LONG = 0, 2, 3
BROADCAST_SHORT = 0xFFFF
BROADCAST_PAN = 0xFFFF
CMD_BEACON_REQUEST = 0x07

MIC_LENGTH = {0: 0, 1: 4, 2: 8, 3: 16, 4: 0, 5: 4, 6: 8, 7: 16}
"""MIC octets per security level."""

PAIRING_MAGIC = b"RBID"
"""Beacon payload prefix: the 8 ASCII characters of the pairing ID (S0A) follow."""


class FrameError(ValueError):
    """A MAC frame that cannot be decoded (too short, bad FCS, unsupported field)."""


class SecurityError(FrameError):
    """A secured frame whose MIC does not verify, or whose key is unknown."""


@dataclass(frozen=True)
class AuxSecurity:
    """Auxiliary security header. level 1-7; counter 32-bit; key_index 1 octet (key-id mode 1)."""

    level: int = 5
    counter: int = 0
    key_index: int = 1

    def encode(self) -> bytes:
        return bytes([self.level | (1 << 3)]) + struct.pack("<I", self.counter) + bytes([self.key_index])


@dataclass(frozen=True)
class MacFrame:
    """One MAC frame (without FCS).

    frame_type: FRAME_BEACON / FRAME_DATA / FRAME_COMMAND
    dst: EUI-64 (8 bytes), a 16-bit short address (int) or None
    src: EUI-64 (8 bytes) or None
    payload: MAC payload as sent (ciphertext + MIC when ``security`` is set)
    """

    frame_type: int
    seq: int
    pan_id: int
    dst: bytes | int | None
    src: bytes | None
    payload: bytes = b""
    security: AuxSecurity | None = None
    ack_request: bool = False
    src_pan_id: int | None = None  # only when the frame carries it (no PAN ID compression)

    @property
    def is_broadcast(self) -> bool:
        return self.dst == BROADCAST_SHORT


def _addr_mode(addr) -> int:
    if addr is None:
        return ADDR_NONE
    if isinstance(addr, int):
        return ADDR_SHORT
    if len(addr) != 8:
        raise FrameError(f"64-bit address must be 8 octets, got {len(addr)}")
    return ADDR_LONG


def _addr_bytes(addr) -> bytes:
    if addr is None:
        return b""
    if isinstance(addr, int):
        return struct.pack("<H", addr)
    return bytes(reversed(addr))


def header_bytes(frame: MacFrame) -> bytes:
    """MAC header (FCF, seq, addressing, auxiliary security header)."""
    dmode, smode = _addr_mode(frame.dst), _addr_mode(frame.src)
    compress = dmode != ADDR_NONE and smode != ADDR_NONE and frame.src_pan_id is None
    version = 1 if frame.security is not None else 0
    fcf = (frame.frame_type | (0x08 if frame.security else 0) | (0x20 if frame.ack_request else 0)
           | (0x40 if compress else 0) | (dmode << 10) | (version << 12) | (smode << 14))
    out = struct.pack("<HB", fcf, frame.seq & 0xFF)
    if dmode:
        out += struct.pack("<H", frame.pan_id) + _addr_bytes(frame.dst)
    if smode:
        if not compress:
            src_pan = frame.pan_id if frame.src_pan_id is None else frame.src_pan_id
            out += struct.pack("<H", src_pan)
        out += _addr_bytes(frame.src)
    if frame.security is not None:
        out += frame.security.encode()
    return out


def fcs(data: bytes) -> bytes:
    """2-octet FCS (CRC-16/KERMIT), little-endian."""
    return struct.pack("<H", _crc16(data))


def encode(frame: MacFrame, *, with_fcs: bool = True) -> bytes:
    """Frame bytes as on air (PSDU), FCS appended unless ``with_fcs`` is False."""
    body = header_bytes(frame) + frame.payload
    return body + fcs(body) if with_fcs else body


def decode(data: bytes, *, with_fcs: bool = True) -> MacFrame:
    """Parse a PSDU; checks the FCS when ``with_fcs``. Raises FrameError."""
    data = bytes(data)
    if with_fcs:
        if len(data) < 5:
            raise FrameError(f"frame too short for FCF+seq+FCS: {len(data)} octets")
        if fcs(data[:-2]) != data[-2:]:
            raise FrameError("bad FCS")
        data = data[:-2]
    if len(data) < 3:
        raise FrameError(f"frame too short: {len(data)} octets")
    fcf, seq = struct.unpack_from("<HB", data)
    ftype = fcf & 0x7
    if ftype not in (FRAME_BEACON, FRAME_DATA, FRAME_COMMAND):
        raise FrameError(f"unsupported frame type {ftype}")
    secured, ack_req, compress = bool(fcf & 0x08), bool(fcf & 0x20), bool(fcf & 0x40)
    dmode, version, smode = (fcf >> 10) & 3, (fcf >> 12) & 3, (fcf >> 14) & 3
    if fcf & 0x0380:
        raise FrameError("IE-present / sequence-suppression bits are not supported")
    if version > 1:
        raise FrameError(f"frame version {version} not supported")
    if dmode == 1 or smode == 1:
        raise FrameError("reserved addressing mode")
    pos = 3

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise FrameError(f"frame truncated at octet {pos} (need {n} more)")
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    def addr(mode: int):
        if mode == ADDR_SHORT:
            return struct.unpack("<H", take(2))[0]
        if mode == ADDR_LONG:
            return bytes(reversed(take(8)))
        return None

    pan_id = src_pan = None
    dst = src = None
    if dmode:
        pan_id = struct.unpack("<H", take(2))[0]
        dst = addr(dmode)
    if smode:
        if not (compress and dmode):
            src_pan = struct.unpack("<H", take(2))[0]
        src = addr(smode)
    if compress and not (dmode and smode):
        raise FrameError("PAN ID compression needs both addresses")
    if pan_id is None:
        pan_id, src_pan = src_pan if src_pan is not None else BROADCAST_PAN, None
    security = None
    if secured:
        ctl = take(1)[0]
        level, key_mode = ctl & 7, (ctl >> 3) & 3
        if key_mode != 1:
            raise FrameError(f"key-id mode {key_mode} not supported (route B uses 1)")
        counter = struct.unpack("<I", take(4))[0]
        security = AuxSecurity(level, counter, take(1)[0])
        if len(data) - pos < MIC_LENGTH[level]:
            raise FrameError("secured frame shorter than its MIC")
    if ftype == FRAME_COMMAND and len(data) <= pos:
        raise FrameError("command frame without command identifier")
    return MacFrame(ftype, seq, pan_id, dst, src, data[pos:], security, ack_req,
                    src_pan if (dmode and smode and not compress) else None)


# --------------------------------------------------------------------------- security


def _nonce(src: bytes, counter: int, level: int) -> bytes:
    return bytes(src) + struct.pack(">IB", counter, level)


def secure(frame: MacFrame, key: bytes, security: AuxSecurity) -> MacFrame:
    """Encrypt/authenticate ``frame.payload`` (plaintext) with CCM* at ``security.level``.

    Levels 1-3 (MIC only) and 5-7 (ENC-MIC) are supported; 4 (ENC only) is not used here.
    """
    if frame.src is None or isinstance(frame.src, int):
        raise SecurityError("CCM* needs the 64-bit source address for the nonce")
    level = security.level
    if level in (0, 4):
        raise SecurityError(f"security level {level} not supported")
    out = replace(frame, security=security, payload=b"")
    aad = header_bytes(out)
    aead = AESCCM(key, tag_length=MIC_LENGTH[level])
    nonce = _nonce(frame.src, security.counter, level)
    if level >= 5:
        payload = aead.encrypt(nonce, frame.payload, aad)
    else:
        payload = frame.payload + aead.encrypt(nonce, b"", aad + frame.payload)
    return replace(out, payload=payload)


def unsecure(frame: MacFrame, key: bytes) -> MacFrame:
    """Verify and decrypt a secured frame; returns it with the plaintext payload and
    ``security`` kept (so callers can check the counter). Raises SecurityError."""
    sec = frame.security
    if sec is None:
        raise SecurityError("frame is not secured")
    if frame.src is None or isinstance(frame.src, int):
        raise SecurityError("secured frame without 64-bit source")
    level = sec.level
    if level in (0, 4):
        raise SecurityError(f"security level {level} not supported")
    mic = MIC_LENGTH[level]
    aad = header_bytes(replace(frame, payload=b""))
    aead = AESCCM(key, tag_length=mic)
    nonce = _nonce(frame.src, sec.counter, level)
    try:
        if level >= 5:
            plain = aead.decrypt(nonce, frame.payload, aad)
        else:
            body = frame.payload[:-mic]
            aead.decrypt(nonce, frame.payload[-mic:], aad + body)
            plain = body
    except InvalidTag:
        raise SecurityError("MIC check failed") from None
    return replace(frame, payload=plain)


# --------------------------------------------------------------------------- beacons


@dataclass(frozen=True)
class Beacon:
    """What a beacon tells a scanner: PAN ID, coordinator EUI-64, pairing ID (8 chars or None)."""

    pan_id: int
    coordinator: bytes
    pairing_id: str | None


_SUPERFRAME = struct.pack("<H", 0xCFFF)  # BO=SO=15 (non-beacon), final CAP 15, PAN coord, assoc permit


def beacon_frame(seq: int, pan_id: int, coordinator: bytes, pairing_id: str | None) -> MacFrame:
    payload = _SUPERFRAME + b"\x00\x00"
    if pairing_id is not None:
        payload += PAIRING_MAGIC + pairing_id.encode("ascii")
    return MacFrame(FRAME_BEACON, seq, pan_id, None, coordinator, payload, src_pan_id=None)


def parse_beacon(frame: MacFrame) -> Beacon:
    """Beacon contents; FrameError when ``frame`` is not a beacon of the shape we send."""
    if frame.frame_type != FRAME_BEACON or not isinstance(frame.src, bytes):
        raise FrameError("not a beacon from a 64-bit coordinator")
    p = frame.payload
    if len(p) < 4:
        raise FrameError("beacon payload shorter than superframe/GTS/pending fields")
    if p[2] & 0x07 or p[3] & 0x77:
        raise FrameError("beacons with GTS or pending addresses are not supported")
    rest = p[4:]
    pairing = None
    if rest.startswith(PAIRING_MAGIC) and len(rest) == len(PAIRING_MAGIC) + 8:
        try:
            pairing = rest[len(PAIRING_MAGIC):].decode("ascii")
        except UnicodeDecodeError:
            raise FrameError("pairing ID is not ASCII") from None
    return Beacon(frame.pan_id, frame.src, pairing)


def beacon_request_frame(seq: int) -> MacFrame:
    """Beacon request MAC command to the broadcast address on the broadcast PAN."""
    return MacFrame(FRAME_COMMAND, seq, BROADCAST_PAN, BROADCAST_SHORT, None,
                    bytes([CMD_BEACON_REQUEST]))


def is_beacon_request(frame: MacFrame) -> bool:
    return frame.frame_type == FRAME_COMMAND and frame.payload[:1] == bytes([CMD_BEACON_REQUEST])


def pan_from_mac(mac_hex: str) -> tuple[int, int]:
    """(channel, PAN ID) a meter picks for its route-B PAN: PAN ID = the low 16 bits of its
    MAC, as in every real capture; the channel from the MAC too, one of the 14 odd channels
    33-59 (0x21-0x3B): every real capture shows an odd one (reference skstack-ip.md §6.2), and
    they are the only ones a BP35C0-J11 dongle can tune (its channels 4-17, §11)."""
    mac = int(mac_hex, 16)
    return 33 + 2 * ((mac >> 16) % 14), mac & 0xFFFF
