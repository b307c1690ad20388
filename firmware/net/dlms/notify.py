"""Unsolicited and error APDUs: DataNotification, EventNotificationRequest, ExceptionResponse
(reference §1.6)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from . import axdr
from .axdr import Data
from .descriptors import AttributeDescriptor
from .reader import Reader

TAG_DATA_NOTIFICATION = 0x0F
TAG_EVENT_NOTIFICATION = 0xC2
TAG_EXCEPTION_RESPONSE = 0xD8


class StateError(IntEnum):
    SERVICE_NOT_ALLOWED = 1
    SERVICE_UNKNOWN = 2


class ServiceError(IntEnum):
    OPERATION_NOT_POSSIBLE = 1
    SERVICE_NOT_SUPPORTED = 2
    OTHER_REASON = 3
    PDU_TOO_LONG = 4
    DECIPHERING_ERROR = 5
    INVOCATION_COUNTER_ERROR = 6


@dataclass(frozen=True)
class DataNotification:
    """``0F | long-invoke-id-and-priority(4) | date-time (octet-string, 0 or 12 bytes) | body``."""

    body: Data
    long_invoke_id: int = 0
    date_time: bytes = b""

    def encode(self) -> bytes:
        if len(self.date_time) not in (0, 12):
            raise ValueError("DataNotification date-time is empty or 12 bytes")
        return bytes((TAG_DATA_NOTIFICATION,)) + self.long_invoke_id.to_bytes(4, "big") \
            + bytes((len(self.date_time),)) + self.date_time + axdr.encode(self.body)

    @classmethod
    def read(cls, r: Reader) -> "DataNotification":
        iid = r.u32("long-invoke-id-and-priority")
        size = r.u8("date-time length")
        if size not in (0, 12):
            raise r.fail(f"DataNotification date-time must be 0 or 12 bytes, got {size}")
        stamp = r.take(size, "date-time")
        return cls(axdr.read_data(r), iid, stamp)


@dataclass(frozen=True)
class EventNotificationRequest:
    """``C2 | time: 00 or 01 0C <12 bytes> | attribute-descriptor | value``."""

    descriptor: AttributeDescriptor
    value: Data
    time: bytes | None = None

    def encode(self) -> bytes:
        if self.time is None:
            stamp = b"\x00"
        elif len(self.time) == 12:
            stamp = b"\x01\x0C" + self.time
        else:
            raise ValueError("EventNotification time must be 12 bytes")
        return bytes((TAG_EVENT_NOTIFICATION,)) + stamp + self.descriptor.encode() + axdr.encode(self.value)

    @classmethod
    def read(cls, r: Reader) -> "EventNotificationRequest":
        stamp = None
        if r.u8("time presence"):
            if r.u8("time length") != 12:
                raise r.fail("EventNotification time must be 12 bytes")
            stamp = r.take(12, "time")
        desc = AttributeDescriptor.read(r)
        return cls(desc, axdr.read_data(r), stamp)


@dataclass(frozen=True)
class ExceptionResponse:
    """``D8 | state-error | service-error [| invocation counter (4) when service-error = 6]``."""

    state_error: int
    service_error: int
    invocation_counter: int | None = None

    def encode(self) -> bytes:
        out = bytes((TAG_EXCEPTION_RESPONSE, int(self.state_error), int(self.service_error)))
        if self.service_error == ServiceError.INVOCATION_COUNTER_ERROR:
            out += (self.invocation_counter or 0).to_bytes(4, "big")
        return out

    @classmethod
    def read(cls, r: Reader) -> "ExceptionResponse":
        state = r.u8("state-error")
        service = r.u8("service-error")
        ic = None
        if service == ServiceError.INVOCATION_COUNTER_ERROR and r.remaining >= 4:
            ic = r.u32("invocation counter")
        return cls(state, service, ic)
