"""xDLMS InitiateRequest / InitiateResponse, conformance block and ConfirmedServiceError.

Mixed encoding (reference §1.4): A-XDR sequence, conformance as BER ``5F 1F 04 00 cc cc cc``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

from .errors import ApduError
from .reader import Reader

TAG_INITIATE_REQUEST = 0x01
TAG_INITIATE_RESPONSE = 0x08
TAG_CONFIRMED_SERVICE_ERROR = 0x0E
DLMS_VERSION = 6
VAA_NAME_LN = 0x0007


class Conformance(IntFlag):
    """24-bit conformance block; bit 0 is the MSB (0x800000)."""

    RESERVED_ZERO = 0x800000
    GENERAL_PROTECTION = 0x400000
    GENERAL_BLOCK_TRANSFER = 0x200000
    READ = 0x100000
    WRITE = 0x080000
    UNCONFIRMED_WRITE = 0x040000
    DELTA_VALUE_ENCODING = 0x020000
    RESERVED_SEVEN = 0x010000
    ATTRIBUTE0_SET = 0x008000
    PRIORITY_MGMT = 0x004000
    ATTRIBUTE0_GET = 0x002000
    BLOCK_TRANSFER_GET = 0x001000
    BLOCK_TRANSFER_SET = 0x000800
    BLOCK_TRANSFER_ACTION = 0x000400
    MULTIPLE_REFERENCES = 0x000200
    INFORMATION_REPORT = 0x000100
    DATA_NOTIFICATION = 0x000080
    ACCESS = 0x000040
    PARAMETERIZED_ACCESS = 0x000020
    GET = 0x000010
    SET = 0x000008
    SELECTIVE_ACCESS = 0x000004
    EVENT_NOTIFICATION = 0x000002
    ACTION = 0x000001


class InitiateError(IntEnum):
    OTHER = 0
    DLMS_VERSION_TOO_LOW = 1
    INCOMPATIBLE_CONFORMANCE = 2
    PDU_SIZE_TOO_SHORT = 3
    REFUSED_BY_VDE_HANDLER = 4


class ServiceErrorChoice(IntEnum):
    APPLICATION_REFERENCE = 0
    HARDWARE_RESOURCE = 1
    VDE_STATE_ERROR = 2
    SERVICE = 3
    DEFINITION = 4
    ACCESS = 5
    INITIATE = 6
    LOAD_DATA_SET = 7
    TASK = 9
    OTHER = 10


def _read_conformance(r: Reader) -> int:
    if r.take(3, "conformance tag") != b"\x5F\x1F\x04":
        raise r.fail("conformance must start 5F 1F 04")
    if r.u8("conformance unused bits") != 0:
        raise r.fail("conformance bit string must have 0 unused bits")
    return int.from_bytes(r.take(3, "conformance"), "big")


def _conformance_bytes(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFF:
        raise ValueError("conformance is 24 bits")
    return b"\x5F\x1F\x04\x00" + value.to_bytes(3, "big")


@dataclass(frozen=True)
class InitiateRequest:
    conformance: int
    max_receive_pdu_size: int = 0xFFFF
    dedicated_key: bytes | None = None
    response_allowed: bool = True
    proposed_quality_of_service: int | None = None
    dlms_version: int = DLMS_VERSION

    def encode(self) -> bytes:
        out = bytearray((TAG_INITIATE_REQUEST,))
        if self.dedicated_key is None:
            out.append(0)
        else:
            out += bytes((1, len(self.dedicated_key))) + self.dedicated_key
        out += b"\x00" if self.response_allowed else b"\x01\x00"
        out += b"\x00" if self.proposed_quality_of_service is None else bytes((1, self.proposed_quality_of_service))
        out.append(self.dlms_version)
        out += _conformance_bytes(self.conformance)
        out += self.max_receive_pdu_size.to_bytes(2, "big")
        return bytes(out)

    @classmethod
    def decode(cls, raw: bytes) -> "InitiateRequest":
        r = Reader(raw, error=ApduError)
        if r.u8("tag") != TAG_INITIATE_REQUEST:
            raise ApduError("not an InitiateRequest", 0)
        key = None
        if r.u8("dedicated-key presence"):
            key = r.take(r.u8("dedicated-key length"), "dedicated-key")
        response_allowed = True
        if r.u8("response-allowed presence"):
            response_allowed = r.u8("response-allowed") != 0
        qos = r.u8("quality-of-service") if r.u8("qos presence") else None
        version = r.u8("dlms version")
        conformance = _read_conformance(r)
        max_pdu = r.u16("max pdu size")
        r.expect_end("InitiateRequest")
        return cls(conformance, max_pdu, key, response_allowed, qos, version)


@dataclass(frozen=True)
class InitiateResponse:
    conformance: int
    max_receive_pdu_size: int
    negotiated_quality_of_service: int | None = None
    dlms_version: int = DLMS_VERSION
    vaa_name: int = VAA_NAME_LN

    def encode(self) -> bytes:
        out = bytearray((TAG_INITIATE_RESPONSE,))
        out += b"\x00" if self.negotiated_quality_of_service is None else bytes((1, self.negotiated_quality_of_service))
        out.append(self.dlms_version)
        out += _conformance_bytes(self.conformance)
        out += self.max_receive_pdu_size.to_bytes(2, "big")
        out += self.vaa_name.to_bytes(2, "big")
        return bytes(out)

    @classmethod
    def decode(cls, raw: bytes) -> "InitiateResponse":
        r = Reader(raw, error=ApduError)
        if r.u8("tag") != TAG_INITIATE_RESPONSE:
            raise ApduError("not an InitiateResponse", 0)
        qos = r.u8("quality-of-service") if r.u8("qos presence") else None
        version = r.u8("dlms version")
        conformance = _read_conformance(r)
        max_pdu = r.u16("max pdu size")
        vaa = r.u16("vaa-name")
        r.expect_end("InitiateResponse")
        return cls(conformance, max_pdu, qos, version, vaa)


@dataclass(frozen=True)
class ConfirmedServiceError:
    """``0E | service | ServiceError choice | value``; service 1 = initiateError."""

    service: int
    error_choice: int
    value: int

    TAG = TAG_CONFIRMED_SERVICE_ERROR

    def encode(self) -> bytes:
        return bytes((self.TAG, self.service, self.error_choice, self.value))

    @classmethod
    def decode(cls, raw: bytes) -> "ConfirmedServiceError":
        r = Reader(raw, error=ApduError)
        if r.u8("tag") != TAG_CONFIRMED_SERVICE_ERROR:
            raise ApduError("not a ConfirmedServiceError", 0)
        service, choice, value = r.u8("service"), r.u8("error choice"), r.u8("error value")
        r.expect_end("ConfirmedServiceError")
        return cls(service, choice, value)

    @classmethod
    def initiate_error(cls, error: InitiateError) -> "ConfirmedServiceError":
        return cls(1, ServiceErrorChoice.INITIATE, int(error))
