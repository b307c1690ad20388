"""PANA (RFC 5191) message codec, AUTH computation and key derivation (pure).

Header (16 octets, big-endian): reserved(2) | length(2) | flags(2) | type(2) | session id(4) |
sequence(4), then AVPs: code(2) | flags(2) | length(2, value only) | reserved(2) | [vendor(4)] |
value, zero-padded to 4 octets. The PANA security association uses PRF_HMAC_SHA2_256 (5) and
AUTH_HMAC_SHA2_256_128 (12) as real route-B meters do (16-octet AUTH).
"""
from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

# message types
PCI, PAR, PTR, PNR = 1, 2, 3, 4     # PAR/PAN, PTR/PTA, PNR/PNA share the type; R flag tells
FLAG_R, FLAG_S, FLAG_C, FLAG_A, FLAG_P, FLAG_I = 0x8000, 0x4000, 0x2000, 0x1000, 0x0800, 0x0400

# AVP codes
AVP_AUTH, AVP_EAP, AVP_INTEGRITY_ALG, AVP_KEY_ID, AVP_NONCE, AVP_PRF_ALG = 1, 2, 3, 4, 5, 6
AVP_RESULT_CODE, AVP_SESSION_LIFETIME, AVP_TERMINATION_CAUSE = 7, 8, 9

PRF_HMAC_SHA1, PRF_HMAC_SHA2_256 = 2, 5
AUTH_HMAC_SHA1_160, AUTH_HMAC_SHA2_256_128 = 7, 12
RESULT_SUCCESS, RESULT_AUTHENTICATION_REJECTED, RESULT_AUTHORIZATION_REJECTED = 0, 1, 2
CAUSE_LOGOUT, CAUSE_ADMINISTRATIVE, CAUSE_SESSION_TIMEOUT = 1, 4, 8

AUTH_LENGTH = {AUTH_HMAC_SHA2_256_128: 16, AUTH_HMAC_SHA1_160: 20}
_UNSIGNED32 = {AVP_INTEGRITY_ALG, AVP_KEY_ID, AVP_PRF_ALG, AVP_RESULT_CODE,
               AVP_SESSION_LIFETIME, AVP_TERMINATION_CAUSE}
_NAMES = {(PCI, False): "PCI", (PAR, True): "PAR", (PAR, False): "PAN", (PTR, True): "PTR",
          (PTR, False): "PTA", (PNR, True): "PNR", (PNR, False): "PNA"}


class PanaError(ValueError):
    """A malformed PANA message."""


@dataclass(frozen=True)
class Avp:
    code: int
    value: bytes
    vendor: int | None = None

    def encode(self) -> bytes:
        flags = 0x8000 if self.vendor is not None else 0
        out = struct.pack(">HHHH", self.code, flags, len(self.value), 0)
        if self.vendor is not None:
            out += struct.pack(">I", self.vendor)
        return out + self.value + bytes(-len(self.value) % 4)

    @property
    def u32(self) -> int:
        if len(self.value) != 4:
            raise PanaError(f"AVP {self.code} is not Unsigned32 ({len(self.value)} octets)")
        return struct.unpack(">I", self.value)[0]


def u32(code: int, value: int) -> Avp:
    return Avp(code, struct.pack(">I", value & 0xFFFFFFFF))


@dataclass(frozen=True)
class PanaMessage:
    msg_type: int
    flags: int
    session_id: int
    seq: int
    avps: tuple[Avp, ...] = field(default_factory=tuple)

    @property
    def is_request(self) -> bool:
        return bool(self.flags & FLAG_R)

    @property
    def name(self) -> str:
        base = _NAMES.get((self.msg_type, self.is_request), f"type{self.msg_type}")
        marks = "".join(n for f, n in ((FLAG_S, "S"), (FLAG_C, "C"), (FLAG_A, "A"), (FLAG_P, "P"))
                        if self.flags & f)
        return f"{base}[{marks}]" if marks else base

    def avp(self, code: int) -> Avp | None:
        for a in self.avps:
            if a.code == code:
                return a
        return None

    def all(self, code: int) -> list[Avp]:
        return [a for a in self.avps if a.code == code]

    def encode(self) -> bytes:
        body = b"".join(a.encode() for a in self.avps)
        return struct.pack(">HHHHII", 0, 16 + len(body), self.flags, self.msg_type,
                           self.session_id, self.seq) + body


def decode(data: bytes) -> PanaMessage:
    """Parse one PANA message; raises PanaError with what is wrong."""
    data = bytes(data)
    if len(data) < 16:
        raise PanaError(f"PANA message shorter than its 16-octet header ({len(data)})")
    reserved, length, flags, mtype, sid, seq = struct.unpack_from(">HHHHII", data)
    if reserved != 0:
        raise PanaError("PANA reserved field is not zero")
    if length != len(data):
        raise PanaError(f"PANA length field {length} != {len(data)} octets received")
    if mtype not in (PCI, PAR, PTR, PNR):
        raise PanaError(f"unknown PANA message type {mtype}")
    if mtype == PCI and flags & FLAG_R:
        raise PanaError("PCI with the R flag")
    avps = []
    pos = 16
    while pos < len(data):
        if pos + 8 > len(data):
            raise PanaError(f"truncated AVP header at octet {pos}")
        code, aflags, alen, _ = struct.unpack_from(">HHHH", data, pos)
        pos += 8
        vendor = None
        if aflags & 0x8000:
            if pos + 4 > len(data):
                raise PanaError("truncated Vendor-Id")
            vendor = struct.unpack_from(">I", data, pos)[0]
            pos += 4
        if pos + alen > len(data):
            raise PanaError(f"AVP {code} length {alen} runs past the message end")
        avp = Avp(code, data[pos:pos + alen], vendor)
        if vendor is None and code in _UNSIGNED32 and alen != 4:
            raise PanaError(f"AVP {code} must carry 4 octets, has {alen}")
        avps.append(avp)
        pos += alen + (-alen % 4)
        if pos > len(data):
            raise PanaError(f"AVP {code} padding runs past the message end")
    return PanaMessage(mtype, flags, sid, seq, tuple(avps))


# --------------------------------------------------------------------------- keys and AUTH


def prf_plus(key: bytes, seed: bytes, length: int, digest=hashlib.sha256) -> bytes:
    """IKEv2 prf+ with HMAC-``digest``: T1 = prf(K, S|01), Tn = prf(K, Tn-1|S|n)."""
    out, t, n = b"", b"", 1
    while len(out) < length:
        t = hmac.new(key, t + seed + bytes([n]), digest).digest()
        out += t
        n += 1
    return out[:length]


def auth_key(msk: bytes, i_par: bytes, i_pan: bytes, pac_nonce: bytes, paa_nonce: bytes,
             key_id: int) -> bytes:
    """PANA_AUTH_KEY (32 octets, PRF HMAC-SHA2-256)."""
    seed = b"IETF PANA" + i_par + i_pan + pac_nonce + paa_nonce + struct.pack(">I", key_id)
    return prf_plus(msk, seed, 32)


def with_auth(msg: PanaMessage, key: bytes) -> PanaMessage:
    """``msg`` with an AUTH AVP appended (HMAC-SHA2-256 over the message, cut to 16)."""
    blank = PanaMessage(msg.msg_type, msg.flags, msg.session_id, msg.seq,
                        msg.avps + (Avp(AVP_AUTH, bytes(16)),))
    mac = hmac.new(key, blank.encode(), hashlib.sha256).digest()[:16]
    return PanaMessage(msg.msg_type, msg.flags, msg.session_id, msg.seq,
                       msg.avps + (Avp(AVP_AUTH, mac),))


def verify_auth(msg: PanaMessage, key: bytes) -> bool:
    """True when the message's AUTH AVP verifies under ``key``."""
    auth = msg.avp(AVP_AUTH)
    if auth is None or len(auth.value) != 16:
        return False
    blank_avps = tuple(Avp(a.code, bytes(16), a.vendor) if a.code == AVP_AUTH else a for a in msg.avps)
    blank = PanaMessage(msg.msg_type, msg.flags, msg.session_id, msg.seq, blank_avps)
    mac = hmac.new(key, blank.encode(), hashlib.sha256).digest()[:16]
    return hmac.compare_digest(mac, auth.value)


@dataclass(frozen=True)
class LinkKey:
    """The IEEE 802.15.4 key both ends install after PANA: 16-octet AES key + 8-bit index."""

    key: bytes
    index: int


def link_key_msk_prefix(msk: bytes, key_id: int, session_id: int) -> LinkKey:
    """Documented, swappable MSK -> 802.15.4 key derivation: the first 16 octets of the MSK,
    key index = the low octet of Key-Id (0 mapped to 1). Route B's real formula is not public
    (see reference §4.1); replace this function (``LINK_KEY_DERIVATION``) when it is known."""
    return LinkKey(msk[:16], (key_id & 0xFF) or 1)


LINK_KEY_DERIVATION = link_key_msk_prefix
