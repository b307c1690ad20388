"""Security suite 0 (AES-GCM-128) for xDLMS APDUs and HLS-GMAC (reference §1.3, §1.8).

* Security header SH = SC(1) || IC(4, big endian); protected payload = SH || ciphertext || T(12).
* IV = sender system title (8) || IC (4).
* auth+enc: AAD = SC || AK; auth only: AAD = SC || AK || APDU (APDU sent in clear); enc only: no tag.
* glo-xxx tags use the global unicast key, ded-xxx the dedicated key from the InitiateRequest;
  general-glo-ciphering (0xDB) carries the sender system title itself.
* HLS-GMAC f(challenge) = 0x10 || IC || GMAC(SC || AK || challenge) with IV = own title || IC.
"""
from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import ApduError, DecipheringError, EncodeError, ReplayError
from .reader import Reader, encode_length

SC_AUTHENTICATION = 0x10
SC_ENCRYPTION = 0x20
SC_BROADCAST_KEY = 0x40
SC_COMPRESSION = 0x80
SC_AUTH_ENC = SC_AUTHENTICATION | SC_ENCRYPTION
SUITE_0 = 0x00
TAG_LENGTH = 12
TAG_GENERAL_GLO = 0xDB
TAG_GENERAL_DED = 0xDC

# plain service tag -> service-specific global / dedicated ciphered tag
GLO_TAGS = {0x01: 0x21, 0x08: 0x28, 0x0E: 0x2E,
            0xC0: 0xC8, 0xC1: 0xC9, 0xC2: 0xCA, 0xC3: 0xCB,
            0xC4: 0xCC, 0xC5: 0xCD, 0xC7: 0xCF}
DED_TAGS = {0xC0: 0xD0, 0xC1: 0xD1, 0xC2: 0xD2, 0xC3: 0xD3,
            0xC4: 0xD4, 0xC5: 0xD5, 0xC7: 0xD7}
CIPHERED_TAGS = {v: (k, "glo") for k, v in GLO_TAGS.items()} | {v: (k, "ded") for k, v in DED_TAGS.items()}


def _check_key(key: bytes, name: str) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != 16:
        raise EncodeError(f"{name} must be 16 bytes for suite 0")


def _iv(system_title: bytes, ic: int) -> bytes:
    if len(system_title) != 8:
        raise EncodeError("system title must be 8 bytes")
    return bytes(system_title) + ic.to_bytes(4, "big")


def protect(apdu: bytes, *, sc: int, system_title: bytes, invocation_counter: int,
            ek: bytes, ak: bytes) -> bytes:
    """SH || ciphertext-or-APDU || tag, for security control ``sc`` (suite 0)."""
    if sc & 0x0F != SUITE_0 or sc & SC_COMPRESSION:
        raise EncodeError(f"security control 0x{sc:02X}: only suite 0 without compression")
    if not 0 <= invocation_counter <= 0xFFFFFFFF:
        raise EncodeError("invocation counter is 32 bits")
    _check_key(ek, "EK")
    header = bytes((sc,)) + invocation_counter.to_bytes(4, "big")
    enc = Cipher(algorithms.AES(bytes(ek)), modes.GCM(_iv(system_title, invocation_counter))).encryptor()
    if sc & SC_ENCRYPTION:
        if sc & SC_AUTHENTICATION:
            _check_key(ak, "AK")
            enc.authenticate_additional_data(bytes((sc,)) + bytes(ak))
        body = enc.update(apdu) + enc.finalize()
        if sc & SC_AUTHENTICATION:
            return header + body + enc.tag[:TAG_LENGTH]
        return header + body
    if sc & SC_AUTHENTICATION:
        _check_key(ak, "AK")
        enc.authenticate_additional_data(bytes((sc,)) + bytes(ak) + apdu)
        enc.finalize()
        return header + apdu + enc.tag[:TAG_LENGTH]
    raise EncodeError("security control has neither authentication nor encryption")


def read_header(payload: bytes) -> tuple[int, int]:
    """(SC, IC) of a protected payload, without checking anything else."""
    if len(payload) < 5:
        raise DecipheringError("protected payload shorter than its security header")
    return payload[0], int.from_bytes(payload[1:5], "big")


def unprotect(payload: bytes, *, system_title: bytes, ek: bytes, ak: bytes) -> tuple[int, int, bytes]:
    """Verify and decrypt ``SH || ct || T`` sent by ``system_title``; returns (SC, IC, APDU).

    Raises DecipheringError for a bad header, an unsupported suite, or a tag that fails."""
    sc, ic = read_header(payload)
    if sc & 0x0F != SUITE_0:
        raise DecipheringError(f"security suite {sc & 0x0F} not supported")
    if sc & SC_COMPRESSION:
        raise DecipheringError("compression not supported")
    if not sc & (SC_AUTHENTICATION | SC_ENCRYPTION):
        raise DecipheringError("security control without authentication or encryption")
    if len(system_title) != 8:
        raise DecipheringError("sender system title unknown or not 8 bytes")
    body = payload[5:]
    iv = system_title + ic.to_bytes(4, "big")
    try:
        if sc & SC_AUTHENTICATION:
            if len(body) < TAG_LENGTH:
                raise DecipheringError("protected payload shorter than its authentication tag")
            data, tag = body[:-TAG_LENGTH], body[-TAG_LENGTH:]
            dec = Cipher(algorithms.AES(ek), modes.GCM(iv, tag, min_tag_length=TAG_LENGTH)).decryptor()
            if sc & SC_ENCRYPTION:
                dec.authenticate_additional_data(bytes((sc,)) + ak)
                apdu = dec.update(data) + dec.finalize()
            else:
                dec.authenticate_additional_data(bytes((sc,)) + ak + data)
                dec.finalize()
                apdu = data
        else:
            dec = Cipher(algorithms.AES(ek), modes.CTR(iv + b"\x00\x00\x00\x02")).decryptor()
            apdu = dec.update(body) + dec.finalize()
    except InvalidTag:
        raise DecipheringError(f"authentication tag check failed (IC {ic})") from None
    except ValueError as exc:   # bad key length etc.
        raise DecipheringError(f"cannot decipher: {exc}") from None
    return sc, ic, apdu


# ---------------------------------------------------------------- ciphered APDU wrappers

@dataclass(frozen=True)
class CipheredApdu:
    """A ciphered APDU as received: ``tag`` (glo/ded/general), ``payload`` = SH || ct || T,
    ``system_title`` only for general-glo/ded-ciphering."""

    tag: int
    payload: bytes
    system_title: bytes | None = None

    @property
    def plain_tag(self) -> int | None:
        return CIPHERED_TAGS.get(self.tag, (None, None))[0]

    @property
    def key_kind(self) -> str:
        """"glo" (global unicast key) or "ded" (dedicated key)."""
        if self.tag == TAG_GENERAL_DED:
            return "ded"
        return CIPHERED_TAGS.get(self.tag, (None, "glo"))[1]

    def encode(self) -> bytes:
        if self.tag in (TAG_GENERAL_GLO, TAG_GENERAL_DED):
            title = self.system_title or b""
            return bytes((self.tag,)) + encode_length(len(title)) + title \
                + encode_length(len(self.payload)) + self.payload
        return bytes((self.tag,)) + encode_length(len(self.payload)) + self.payload

    @classmethod
    def read(cls, tag: int, r: Reader) -> "CipheredApdu":
        title = None
        if tag in (TAG_GENERAL_GLO, TAG_GENERAL_DED):
            title = r.take(r.length("system-title length"), "system-title")
            if len(title) != 8:
                raise r.fail(f"system title must be 8 bytes, got {len(title)}")
        payload = r.take(r.length("ciphered content length"), "ciphered content")
        if len(payload) < 5:
            raise r.fail("ciphered content shorter than the security header")
        r.expect_end("ciphered APDU")
        return cls(tag, payload, title)


def cipher_apdu(apdu: bytes, *, sc: int, system_title: bytes, invocation_counter: int,
                ek: bytes, ak: bytes, kind: str = "glo") -> bytes:
    """Protect ``apdu`` and wrap it in its service-specific glo-/ded- tag, or in
    general-glo-ciphering when ``kind == "general"`` (the system title then travels along)."""
    payload = protect(apdu, sc=sc, system_title=system_title, invocation_counter=invocation_counter,
                      ek=ek, ak=ak)
    if kind == "general":
        return CipheredApdu(TAG_GENERAL_GLO, payload, bytes(system_title)).encode()
    table = GLO_TAGS if kind == "glo" else DED_TAGS
    try:
        tag = table[apdu[0]]
    except (KeyError, IndexError):
        raise EncodeError(f"no {kind}-ciphered tag for APDU 0x{apdu[:1].hex()}") from None
    return CipheredApdu(tag, payload).encode()


def parse_ciphered(raw: bytes) -> CipheredApdu:
    r = Reader(raw, error=ApduError)
    tag = r.u8("tag")
    if tag not in CIPHERED_TAGS and tag not in (TAG_GENERAL_GLO, TAG_GENERAL_DED):
        raise ApduError(f"0x{tag:02X} is not a ciphered APDU tag", 0)
    return CipheredApdu.read(tag, r)


# ---------------------------------------------------------------- HLS-GMAC (mechanism 5)

def hls_gmac(challenge: bytes, *, system_title: bytes, invocation_counter: int,
             ek: bytes, ak: bytes) -> bytes:
    """f(challenge) = SC(0x10) || IC || GMAC tag(12), computed by the party owning system_title."""
    _check_key(ek, "EK")
    _check_key(ak, "AK")
    if not 0 <= invocation_counter <= 0xFFFFFFFF:
        raise EncodeError("invocation counter is 32 bits")
    enc = Cipher(algorithms.AES(bytes(ek)), modes.GCM(_iv(system_title, invocation_counter))).encryptor()
    enc.authenticate_additional_data(bytes((SC_AUTHENTICATION,)) + bytes(ak) + bytes(challenge))
    enc.finalize()
    return bytes((SC_AUTHENTICATION,)) + invocation_counter.to_bytes(4, "big") + enc.tag[:TAG_LENGTH]


def verify_hls_gmac(reply: bytes, challenge: bytes, *, system_title: bytes, ek: bytes, ak: bytes) -> int:
    """Check f(challenge) sent by ``system_title``; returns its IC or raises DecipheringError."""
    if len(reply) != 5 + TAG_LENGTH or reply[0] != SC_AUTHENTICATION:
        raise DecipheringError("HLS-GMAC reply must be 0x10 || IC(4) || tag(12)")
    sc, ic, _ = unprotect(reply, system_title=system_title, ek=ek, ak=ak + challenge)
    return ic


# ---------------------------------------------------------------- invocation counters

class ReplayGuard:
    """Last accepted invocation counter per (sender system title, key kind).

    ``accept`` raises ReplayError unless the IC is strictly greater than the last one accepted;
    call it only after the tag verified, so forged APDUs cannot advance the counter."""

    def __init__(self) -> None:
        self._last: dict[tuple[bytes, str], int] = {}

    def check(self, sender: bytes, kind: str, ic: int) -> None:
        last = self._last.get((sender, kind))
        if last is not None and ic <= last:
            raise ReplayError(f"invocation counter {ic} not above the last accepted {last}", ic, last + 1)

    def accept(self, sender: bytes, kind: str, ic: int) -> None:
        self.check(sender, kind, ic)
        self._last[(sender, kind)] = ic

    def last(self, sender: bytes, kind: str = "glo") -> int | None:
        return self._last.get((sender, kind))

    def forget(self, sender: bytes, kind: str) -> None:
        self._last.pop((sender, kind), None)


class TxCounter:
    """The server's transmit invocation counter (one per key). ``on_advance(value)`` lets the
    owner persist it before the value is used (a reused IC would break GCM)."""

    def __init__(self, value: int = 0, on_advance=None):
        self.value = value
        self._on_advance = on_advance

    def next(self) -> int:
        if self.value >= 0xFFFFFFFF:
            raise EncodeError("invocation counter exhausted: keys must be changed")
        self.value += 1
        if self._on_advance is not None:
            self._on_advance(self.value)
        return self.value
