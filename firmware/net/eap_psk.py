"""EAP (RFC 3748) framing and EAP-PSK (RFC 4764): codec, key hierarchy, server and peer.

Pure state machines: packets in, packets out. Randomness comes from the ``random_bytes``
callable handed in (``os.urandom`` by default; tests pass a seeded one). AES, AES-CMAC and
AES-CTR come from ``cryptography``; EAX is built from CMAC + CTR (``cryptography`` has no EAX).

Key hierarchy (16-octet PSK, AES-128 throughout)::

    AK  = E(PSK, E(PSK, 0) ^ c1)      KDK = E(PSK, E(PSK, 0) ^ c2)
    B   = E(KDK, RAND_P)              TEK = E(KDK, B ^ c1)
    MSK = E(KDK, B ^ c2) .. E(KDK, B ^ c5)   (64 octets)
    MAC_P = CMAC(AK, ID_P | ID_S | RAND_S | RAND_P)      MAC_S = CMAC(AK, ID_S | RAND_P)

The route-B PSK comes from the 12-character password through a ``PskDerivation`` strategy.
The governing text (TTC JJ-300.10) was not available, so the default is RFC 4764 Appendix A
(P16 = password zero-padded; salt = ID_S[:12] ^ ID_P[:12]; PBKDF2-HMAC-SHA1, 5000 iterations,
16 octets) with ID_S = ID_P = the route-B ID. ``RawPsk`` is the SKSETPSK override. Swap the
strategy in one place (``DEFAULT_DERIVATION``) when a real capture settles the question.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Protocol

from cryptography.hazmat.primitives import cmac as _cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

EAP_REQUEST, EAP_RESPONSE, EAP_SUCCESS, EAP_FAILURE = 1, 2, 3, 4
EAP_TYPE_PSK = 47
R_CONT, R_DONE_SUCCESS, R_DONE_FAILURE = 1, 2, 3


class EapError(ValueError):
    """A malformed EAP / EAP-PSK packet."""


class EapAuthError(EapError):
    """A well-formed packet that fails a cryptographic check (MAC_P, MAC_S, PCHANNEL tag)."""


# --------------------------------------------------------------------------- crypto


def aes_block(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    c = _cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def _omac(key: bytes, t: int, data: bytes) -> bytes:
    return aes_cmac(key, bytes(15) + bytes([t]) + data)


def eax_encrypt(key: bytes, nonce: bytes, header: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """AES-EAX (Bellare-Rogaway-Wagner): returns (ciphertext, 16-octet tag)."""
    n, h = _omac(key, 0, nonce), _omac(key, 1, header)
    c = _ctr(key, n, plaintext)
    return c, _xor(_xor(n, h), _omac(key, 2, c))


def eax_decrypt(key: bytes, nonce: bytes, header: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    n, h = _omac(key, 0, nonce), _omac(key, 1, header)
    expect = _xor(_xor(n, h), _omac(key, 2, ciphertext))
    if not hmac.compare_digest(expect[:len(tag)], tag) or len(tag) != 16:
        raise EapAuthError("PCHANNEL tag does not verify")
    return _ctr(key, n, ciphertext)


def _c(i: int) -> bytes:
    return bytes(15) + bytes([i])


def derive_ak_kdk(psk: bytes) -> tuple[bytes, bytes]:
    if len(psk) != 16:
        raise EapError(f"PSK must be 16 octets, got {len(psk)}")
    e0 = aes_block(psk, bytes(16))
    return aes_block(psk, _xor(e0, _c(1))), aes_block(psk, _xor(e0, _c(2)))


def derive_session_keys(kdk: bytes, rand_p: bytes) -> tuple[bytes, bytes, bytes]:
    """(TEK 16, MSK 64, EMSK 64)."""
    b = aes_block(kdk, rand_p)
    blocks = [aes_block(kdk, _xor(b, _c(i))) for i in range(1, 10)]
    return blocks[0], b"".join(blocks[1:5]), b"".join(blocks[5:9])


# --------------------------------------------------------------------------- PSK derivation


class PskDerivation(Protocol):
    """Strategy: the 16-octet PSK from route-B credentials and the server ID."""

    def derive(self, rbid: str, password: str, id_s: bytes) -> bytes: ...


@lru_cache(maxsize=32)
def _appendix_a(password: bytes, id_s: bytes, id_p: bytes) -> bytes:
    if len(password) < 16:
        p16 = password.ljust(16, b"\x00")
    else:  # Matyas-Meyer-Oseas hash of the password (long-password branch)
        h = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
        padded = password + bytes(-len(password) % 16)
        for i in range(0, len(padded), 16):
            blk = padded[i:i + 16]
            h = _xor(aes_block(h, blk), blk)
        p16 = h
    salt = _xor(id_s[:12].ljust(12, b"\x00"), id_p[:12].ljust(12, b"\x00"))
    return hashlib.pbkdf2_hmac("sha1", p16, salt, 5000, 16)


class Rfc4764AppendixA:
    """RFC 4764 App. A password-to-PSK with ID_P = the route-B ID (ASCII)."""

    def derive(self, rbid: str, password: str, id_s: bytes) -> bytes:
        return _appendix_a(password.encode("ascii"), bytes(id_s), rbid.encode("ascii"))


@dataclass(frozen=True)
class RawPsk:
    """A PSK set directly (SKSETPSK); ignores the credentials."""

    psk: bytes

    def derive(self, rbid: str, password: str, id_s: bytes) -> bytes:
        return self.psk


DEFAULT_DERIVATION: PskDerivation = Rfc4764AppendixA()


# --------------------------------------------------------------------------- EAP codec


@dataclass(frozen=True)
class EapPacket:
    code: int
    identifier: int
    eap_type: int | None = None
    data: bytes = b""

    def encode(self) -> bytes:
        if self.code in (EAP_SUCCESS, EAP_FAILURE):
            return struct.pack(">BBH", self.code, self.identifier, 4)
        return struct.pack(">BBHB", self.code, self.identifier, 5 + len(self.data),
                           self.eap_type) + self.data


def decode_eap(data: bytes) -> EapPacket:
    data = bytes(data)
    if len(data) < 4:
        raise EapError(f"EAP packet shorter than 4 octets ({len(data)})")
    code, ident, length = struct.unpack_from(">BBH", data)
    if code not in (1, 2, 3, 4):
        raise EapError(f"unknown EAP code {code}")
    if length != len(data):
        raise EapError(f"EAP length field {length} != {len(data)} octets received")
    if code in (EAP_SUCCESS, EAP_FAILURE):
        if length != 4:
            raise EapError("EAP Success/Failure must be 4 octets")
        return EapPacket(code, ident)
    if length < 5:
        raise EapError("EAP Request/Response without a type")
    return EapPacket(code, ident, data[4], data[5:])


@dataclass(frozen=True)
class PskMessage:
    """One EAP-PSK message body. ``t`` = message number - 1 (0..3)."""

    t: int
    rand_s: bytes
    rand_p: bytes = b""
    mac: bytes = b""           # MAC_P (t=1) or MAC_S (t=2)
    ident: bytes = b""         # ID_S (t=0) or ID_P (t=1)
    pchannel: bytes = b""      # nonce(4) | tag(16) | encrypted R/E octet(s) (t=2, 3)

    def body(self) -> bytes:
        flags = bytes([self.t << 6])
        if self.t == 0:
            return flags + self.rand_s + self.ident
        if self.t == 1:
            return flags + self.rand_s + self.rand_p + self.mac + self.ident
        if self.t == 2:
            return flags + self.rand_s + self.mac + self.pchannel
        return flags + self.rand_s + self.pchannel


def decode_psk(packet: EapPacket) -> PskMessage:
    if packet.eap_type != EAP_TYPE_PSK:
        raise EapError(f"EAP type {packet.eap_type} is not EAP-PSK (47)")
    d = packet.data
    if len(d) < 17:
        raise EapError("EAP-PSK body shorter than Flags + RAND_S")
    if d[0] & 0x3F:
        raise EapError("EAP-PSK reserved flag bits set")
    t, rand_s, rest = d[0] >> 6, d[1:17], d[17:]
    want_req = t in (0, 2)
    if (packet.code == EAP_REQUEST) != want_req:
        raise EapError(f"EAP-PSK message {t + 1} in the wrong direction")
    if t == 0:
        if not rest:
            raise EapError("EAP-PSK-1 without ID_S")
        return PskMessage(0, rand_s, ident=rest)
    if t == 1:
        if len(rest) < 33:
            raise EapError("EAP-PSK-2 too short")
        return PskMessage(1, rand_s, rand_p=rest[:16], mac=rest[16:32], ident=rest[32:])
    if t == 2:
        if len(rest) < 16 + 21:
            raise EapError("EAP-PSK-3 too short")
        return PskMessage(2, rand_s, mac=rest[:16], pchannel=rest[16:])
    if len(rest) < 21:
        raise EapError("EAP-PSK-4 too short")
    return PskMessage(3, rand_s, pchannel=rest)


def psk_packet(code: int, ident: int, msg: PskMessage) -> bytes:
    return EapPacket(code, ident, EAP_TYPE_PSK, msg.body()).encode()


def _pchannel(tek: bytes, packet_head: bytes, nonce: int, result: int) -> bytes:
    n = struct.pack(">I", nonce)
    ct, tag = eax_encrypt(tek, bytes(12) + n, packet_head[:22], bytes([result << 6]))
    return n + tag + ct


def _open_pchannel(tek: bytes, packet: bytes, pchannel: bytes, expect_nonce: int) -> int:
    n, tag, ct = pchannel[:4], pchannel[4:20], pchannel[20:]
    if struct.unpack(">I", n)[0] != expect_nonce:
        raise EapAuthError(f"PCHANNEL nonce {n.hex()} != expected {expect_nonce}")
    plain = eax_decrypt(tek, bytes(12) + n, packet[:22], ct, tag)
    if plain[0] & 0x20:
        raise EapError("PCHANNEL extensions are not supported")
    return plain[0] >> 6


# --------------------------------------------------------------------------- server / peer


@dataclass
class EapPskServer:
    """Authenticator side (the meter). ``start()`` gives PSK-1; ``handle()`` consumes each
    Response and returns the next packet (PSK-3, Success or Failure). ``done`` / ``success`` /
    ``msk`` tell the result; ``failure_reason`` says why it failed."""

    psk: bytes
    id_s: bytes
    expected_id_p: bytes | None = None
    random_bytes: Callable[[int], bytes] = os.urandom
    first_identifier: int = 1
    done: bool = False
    success: bool = False
    msk: bytes | None = None
    failure_reason: str = ""
    _ident: int = 0
    _rand_s: bytes = b""
    _rand_p: bytes = b""
    _tek: bytes = b""
    _state: int = 0
    _ak: bytes = field(default=b"", repr=False)
    _kdk: bytes = field(default=b"", repr=False)
    _msk: bytes = field(default=b"", repr=False)

    def start(self) -> bytes:
        self._ak, self._kdk = derive_ak_kdk(self.psk)
        self._rand_s = self.random_bytes(16)
        self._ident = self.first_identifier & 0xFF
        self._state = 1
        return psk_packet(EAP_REQUEST, self._ident, PskMessage(0, self._rand_s, ident=self.id_s))

    def _fail(self, reason: str) -> bytes:
        self.done, self.success, self.failure_reason = True, False, reason
        return EapPacket(EAP_FAILURE, self._ident).encode()

    def handle(self, data: bytes) -> bytes | None:
        """Next packet to send, or None when ``data`` is silently discarded (wrong id, stray)."""
        if self.done:
            return None
        packet = decode_eap(data)
        if packet.code != EAP_RESPONSE or packet.identifier != self._ident:
            return None
        msg = decode_psk(packet)
        if msg.rand_s != self._rand_s:
            return None
        if self._state == 1 and msg.t == 1:
            if self.expected_id_p is not None and msg.ident != self.expected_id_p:
                return self._fail("unknown peer identity")
            mac_p = aes_cmac(self._ak, msg.ident + self.id_s + self._rand_s + msg.rand_p)
            if not hmac.compare_digest(mac_p, msg.mac):
                return self._fail("MAC_P does not verify (wrong PSK or password)")
            self._rand_p = msg.rand_p
            self._tek, msk, _ = derive_session_keys(self._kdk, msg.rand_p)
            self._msk = msk
            mac_s = aes_cmac(self._ak, self.id_s + msg.rand_p)
            self._ident = (self._ident + 1) & 0xFF
            head = struct.pack(">BBHBB", EAP_REQUEST, self._ident, 5 + 1 + 16 + 16 + 21, EAP_TYPE_PSK,
                               0x80) + self._rand_s
            pch = _pchannel(self._tek, head, 0, R_DONE_SUCCESS)
            self._state = 3
            return psk_packet(EAP_REQUEST, self._ident, PskMessage(2, self._rand_s, mac=mac_s, pchannel=pch))
        if self._state == 3 and msg.t == 3:
            try:
                result = _open_pchannel(self._tek, data, msg.pchannel, 1)
            except EapAuthError as exc:
                return self._fail(str(exc))
            if result != R_DONE_SUCCESS:
                return self._fail(f"peer reported result {result}")
            self.done, self.success, self.msk = True, True, self._msk
            return EapPacket(EAP_SUCCESS, self._ident).encode()
        return None


@dataclass
class EapPskPeer:
    """Peer side (the HEMS dongle). ``handle(request)`` returns the Response or None (drop);
    after Success ``success`` is True and ``msk`` holds the 64-octet MSK."""

    psk: bytes
    id_p: bytes
    random_bytes: Callable[[int], bytes] = os.urandom
    done: bool = False
    success: bool = False
    msk: bytes | None = None
    failure_reason: str = ""
    _last: tuple[bytes, bytes] | None = None
    _rand_s: bytes = b""
    _rand_p: bytes = b""
    _id_s: bytes = b""
    _pending_msk: bytes | None = None

    def handle(self, data: bytes) -> bytes | None:
        packet = decode_eap(data)
        if self._last is not None and self._last[0] == bytes(data):
            return self._last[1]  # retransmitted request: same answer
        if packet.code == EAP_SUCCESS:
            if self._pending_msk is None:
                return None
            self.done, self.success, self.msk = True, True, self._pending_msk
            return None
        if packet.code == EAP_FAILURE:
            self.done, self.success = True, False
            self.failure_reason = self.failure_reason or "server sent EAP-Failure"
            return None
        if packet.code != EAP_REQUEST:
            return None
        msg = decode_psk(packet)
        ak, kdk = derive_ak_kdk(self.psk)
        if msg.t == 0:
            self._rand_s, self._id_s = msg.rand_s, msg.ident
            self._rand_p = self.random_bytes(16)
            mac_p = aes_cmac(ak, self.id_p + self._id_s + self._rand_s + self._rand_p)
            reply = psk_packet(EAP_RESPONSE, packet.identifier,
                               PskMessage(1, self._rand_s, self._rand_p, mac_p, self.id_p))
        elif msg.t == 2:
            if msg.rand_s != self._rand_s:
                return None
            if not hmac.compare_digest(aes_cmac(ak, self._id_s + self._rand_p), msg.mac):
                self.failure_reason = "MAC_S does not verify (server does not know the PSK)"
                return None
            tek, msk, _ = derive_session_keys(kdk, self._rand_p)
            try:
                result = _open_pchannel(tek, data, msg.pchannel, 0)
            except EapAuthError as exc:
                self.failure_reason = str(exc)
                return None
            if result != R_DONE_SUCCESS:
                self.failure_reason = f"server reported result {result}"
            self._pending_msk = msk if result == R_DONE_SUCCESS else None
            head = struct.pack(">BBHBB", EAP_RESPONSE, packet.identifier, 5 + 1 + 16 + 21,
                               EAP_TYPE_PSK, 0xC0) + self._rand_s
            pch = _pchannel(tek, head, 1, result)
            reply = psk_packet(EAP_RESPONSE, packet.identifier, PskMessage(3, self._rand_s, pchannel=pch))
        else:
            return None
        self._last = (bytes(data), reply)
        return reply
