"""ACSE APDUs for LN referencing: AARQ, AARE, RLRQ, RLRE (BER, reference §1.3).

``user_information`` is kept as the raw inner APDU (InitiateRequest/Response, glo-Initiate…,
or ConfirmedServiceError); the association layer decodes or deciphers it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .errors import ApduError
from .reader import Reader, encode_length

TAG_AARQ, TAG_AARE, TAG_RLRQ, TAG_RLRE = 0x60, 0x61, 0x62, 0x63

_CONTEXT_PREFIX = bytes.fromhex("608574050801")   # {2 16 756 5 8 1 x}
_MECHANISM_PREFIX = bytes.fromhex("608574050802")                    # {2 16 756 5 8 2 m}


class ApplicationContext(IntEnum):
    LN = 1
    SN = 2
    LN_CIPHERED = 3
    SN_CIPHERED = 4


class Mechanism(IntEnum):
    NONE = 0
    LOW = 1
    HIGH = 2
    HIGH_MD5 = 3
    HIGH_SHA1 = 4
    HIGH_GMAC = 5
    HIGH_SHA256 = 6
    HIGH_ECDSA = 7


class AssociationResult(IntEnum):
    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class AcseServiceUser(IntEnum):
    NULL = 0
    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2
    CALLING_AP_TITLE_NOT_RECOGNIZED = 3
    AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED = 11
    AUTHENTICATION_MECHANISM_NAME_REQUIRED = 12
    AUTHENTICATION_FAILURE = 13
    AUTHENTICATION_REQUIRED = 14


class AcseServiceProvider(IntEnum):
    NULL = 0
    NO_REASON_GIVEN = 1
    NO_COMMON_ACSE_VERSION = 2


# ---------------------------------------------------------------- BER helpers

def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + encode_length(len(content)) + content


def _read_tlvs(r: Reader) -> list[tuple[int, bytes, int]]:
    items = []
    while not r.at_end():
        start = r.pos
        tag = r.u8("BER tag")
        if tag & 0x1F == 0x1F:
            raise r.fail(f"multi-byte BER tag 0x{tag:02X} not used by ACSE")
        items.append((tag, r.take(r.length("BER length"), f"BER field 0x{tag:02X}"), start))
    return items


def _inner(content: bytes, tag: int, what: str, offset: int) -> bytes:
    """Unwrap one nested TLV with the expected ``tag`` that must fill ``content``."""
    r = Reader(content, error=ApduError)
    if r.u8(what) != tag:
        raise ApduError(f"{what}: expected inner tag 0x{tag:02X}", offset)
    value = r.take(r.length(what), what)
    r.expect_end(what)
    return value


def _oid_tail(content: bytes, prefix: bytes, what: str, offset: int) -> int:
    if len(content) != len(prefix) + 1 or not content.startswith(prefix):
        raise ApduError(f"{what}: unsupported object identifier {content.hex()}", offset)
    return content[-1]


def _context_field(context: int) -> bytes:
    return _tlv(0xA1, _tlv(0x06, _CONTEXT_PREFIX + bytes((context,))))


def _user_information(inner: bytes) -> bytes:
    return _tlv(0xBE, _tlv(0x04, inner))


def _read_int(content: bytes, what: str, offset: int) -> int:
    value = _inner(content, 0x02, what, offset)
    if not 1 <= len(value) <= 4:
        raise ApduError(f"{what}: bad INTEGER length", offset)
    return int.from_bytes(value, "big")


def _acse_requirements(content: bytes, offset: int) -> bool:
    # BIT STRING: unused-bits byte + bits; bit 0 (0x80) = authentication functional unit
    if len(content) < 1 or content[0] > 7:
        raise ApduError("acse-requirements: bad BIT STRING", offset)
    return len(content) > 1 and bool(content[1] & 0x80)


def _auth_value(content: bytes, offset: int) -> bytes:
    # Authentication-value CHOICE; charstring [0] (0x80) is what DLMS uses
    return _inner(content, 0x80, "authentication-value", offset)


# ---------------------------------------------------------------- AARQ

@dataclass(frozen=True)
class Aarq:
    application_context: int = ApplicationContext.LN
    user_information: bytes | None = None
    mechanism: int | None = None
    authentication_value: bytes | None = None
    calling_ap_title: bytes | None = None
    authentication_required: bool = False     # sender-acse-requirements (authentication FU)
    calling_ae_invocation_id: int | None = None
    protocol_version: bytes | None = None

    def encode(self) -> bytes:
        body = bytearray()
        if self.protocol_version is not None:
            body += _tlv(0x80, self.protocol_version)
        body += _context_field(self.application_context)
        if self.calling_ap_title is not None:
            body += _tlv(0xA6, _tlv(0x04, self.calling_ap_title))
        if self.calling_ae_invocation_id is not None:
            body += _tlv(0xA9, _tlv(0x02, self.calling_ae_invocation_id.to_bytes(1, "big")))
        if self.authentication_required or self.mechanism not in (None, Mechanism.NONE):
            body += _tlv(0x8A, b"\x07\x80")
        if self.mechanism is not None:
            body += _tlv(0x8B, _MECHANISM_PREFIX + bytes((self.mechanism,)))
        if self.authentication_value is not None:
            body += _tlv(0xAC, _tlv(0x80, self.authentication_value))
        if self.user_information is not None:
            body += _user_information(self.user_information)
        return _tlv(TAG_AARQ, bytes(body))

    @classmethod
    def decode(cls, raw: bytes) -> "Aarq":
        r = Reader(raw, error=ApduError)
        if r.u8("tag") != TAG_AARQ:
            raise ApduError("not an AARQ", 0)
        body = Reader(r.take(r.length("AARQ length"), "AARQ"), error=ApduError)
        r.expect_end("AARQ")
        fields: dict = {}
        context = None
        for tag, content, off in _read_tlvs(body):
            off += 2
            if tag == 0x80:
                fields["protocol_version"] = content
            elif tag == 0xA1:
                context = _oid_tail(_inner(content, 0x06, "application-context-name", off),
                                    _CONTEXT_PREFIX, "application-context-name", off)
            elif tag == 0xA6:
                fields["calling_ap_title"] = _inner(content, 0x04, "calling-AP-title", off)
            elif tag == 0xA9:
                fields["calling_ae_invocation_id"] = _read_int(content, "calling-AE-invocation-id", off)
            elif tag == 0x8A:
                fields["authentication_required"] = _acse_requirements(content, off)
            elif tag == 0x8B:
                fields["mechanism"] = _oid_tail(content, _MECHANISM_PREFIX, "mechanism-name", off)
            elif tag == 0xAC:
                fields["authentication_value"] = _auth_value(content, off)
            elif tag == 0xBE:
                fields["user_information"] = _inner(content, 0x04, "user-information", off)
            elif tag in (0xA2, 0xA3, 0xA4, 0xA5, 0xA7, 0xA8, 0xBD, 0x88, 0x89):
                continue  # called-AP/AE fields, AE-qualifier, implementation-information: ignored
            else:
                raise ApduError(f"unexpected AARQ field 0x{tag:02X}", off - 2)
        if context is None:
            raise ApduError("AARQ without application-context-name")
        return cls(application_context=context, **fields)


# ---------------------------------------------------------------- AARE

@dataclass(frozen=True)
class Aare:
    application_context: int
    result: int
    diagnostic: int = 0
    diagnostic_source: str = "user"          # "user" (acse-service-user) or "provider"
    user_information: bytes | None = None
    responding_ap_title: bytes | None = None
    mechanism: int | None = None
    authentication_value: bytes | None = None

    def encode(self) -> bytes:
        body = bytearray(_context_field(self.application_context))
        body += _tlv(0xA2, _tlv(0x02, bytes((self.result,))))
        source = 0xA1 if self.diagnostic_source == "user" else 0xA2
        body += _tlv(0xA3, _tlv(source, _tlv(0x02, bytes((self.diagnostic,)))))
        if self.responding_ap_title is not None:
            body += _tlv(0xA4, _tlv(0x04, self.responding_ap_title))
        if self.mechanism is not None:
            body += _tlv(0x88, b"\x07\x80")
            body += _tlv(0x89, _MECHANISM_PREFIX + bytes((self.mechanism,)))
        if self.authentication_value is not None:
            body += _tlv(0xAA, _tlv(0x80, self.authentication_value))
        if self.user_information is not None:
            body += _user_information(self.user_information)
        return _tlv(TAG_AARE, bytes(body))

    @classmethod
    def decode(cls, raw: bytes) -> "Aare":
        r = Reader(raw, error=ApduError)
        if r.u8("tag") != TAG_AARE:
            raise ApduError("not an AARE", 0)
        body = Reader(r.take(r.length("AARE length"), "AARE"), error=ApduError)
        r.expect_end("AARE")
        fields: dict = {}
        context = result = None
        for tag, content, off in _read_tlvs(body):
            off += 2
            if tag == 0xA1:
                context = _oid_tail(_inner(content, 0x06, "application-context-name", off),
                                    _CONTEXT_PREFIX, "application-context-name", off)
            elif tag == 0xA2:
                result = _read_int(content, "result", off)
            elif tag == 0xA3:
                if not content or content[0] not in (0xA1, 0xA2):
                    raise ApduError("result-source-diagnostic: bad choice", off)
                fields["diagnostic_source"] = "user" if content[0] == 0xA1 else "provider"
                fields["diagnostic"] = _read_int(_inner(content, content[0], "diagnostic", off),
                                                 "diagnostic", off)
            elif tag == 0xA4:
                fields["responding_ap_title"] = _inner(content, 0x04, "responding-AP-title", off)
            elif tag == 0x88:
                _acse_requirements(content, off)
            elif tag == 0x89:
                fields["mechanism"] = _oid_tail(content, _MECHANISM_PREFIX, "mechanism-name", off)
            elif tag == 0xAA:
                fields["authentication_value"] = _auth_value(content, off)
            elif tag == 0xBE:
                fields["user_information"] = _inner(content, 0x04, "user-information", off)
            elif tag in (0x80, 0xA5, 0xA6, 0xA7, 0xBD):
                continue
            else:
                raise ApduError(f"unexpected AARE field 0x{tag:02X}", off - 2)
        if context is None or result is None:
            raise ApduError("AARE without application-context-name or result")
        return cls(application_context=context, result=result, **fields)


# ---------------------------------------------------------------- RLRQ / RLRE

@dataclass(frozen=True)
class ReleaseRequest:
    reason: int | None = 0          # 0 normal, 1 urgent, 30 user-defined
    user_information: bytes | None = None
    TAG = TAG_RLRQ

    def encode(self) -> bytes:
        body = b"" if self.reason is None else _tlv(0x80, bytes((self.reason,)))
        if self.user_information is not None:
            body += _user_information(self.user_information)
        return _tlv(self.TAG, body)

    @classmethod
    def decode(cls, raw: bytes):
        r = Reader(raw, error=ApduError)
        if r.u8("tag") != cls.TAG:
            raise ApduError(f"not a {cls.__name__}", 0)
        body = Reader(r.take(r.length("length"), cls.__name__), error=ApduError)
        r.expect_end(cls.__name__)
        reason = info = None
        for tag, content, off in _read_tlvs(body):
            if tag == 0x80:
                if len(content) != 1:
                    raise ApduError("release reason must be one byte", off)
                reason = content[0]
            elif tag == 0xBE:
                info = _inner(content, 0x04, "user-information", off + 2)
            else:
                raise ApduError(f"unexpected {cls.__name__} field 0x{tag:02X}", off)
        return cls(reason, info)


@dataclass(frozen=True)
class ReleaseResponse(ReleaseRequest):
    TAG = TAG_RLRE
