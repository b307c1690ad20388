"""Pieces shared by the xDLMS service APDUs: descriptors, access selection, result codes."""
from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from . import axdr
from .axdr import Data
from .reader import Reader

INVOKE_HIGH_CONFIRMED = 0xC1   # priority high, confirmed, invoke id 1


def invoke_id(iid_priority: int) -> int:
    return iid_priority & 0x0F


class DataAccessResult(IntEnum):
    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250


ActionResult = DataAccessResult  # same numbering (15/16 = long-action aborted / not in progress)


def result_code(value: int) -> int:
    """A DataAccessResult member when the code is known, else the bare int."""
    try:
        return DataAccessResult(value)
    except ValueError:
        return value


class AttributeDescriptor(NamedTuple):
    """``class-id(2) | logical-name(6) | attribute-id(int8)``."""

    class_id: int
    logical_name: bytes
    attribute_id: int

    def encode(self) -> bytes:
        return (self.class_id.to_bytes(2, "big") + self.logical_name
                + (self.attribute_id & 0xFF).to_bytes(1, "big"))

    @classmethod
    def read(cls, r: Reader) -> "AttributeDescriptor":
        class_id = r.u16("class-id")
        ln = r.take(6, "logical-name")
        attr = r.u8("attribute-id")
        return cls(class_id, ln, attr - 256 if attr > 127 else attr)


class MethodDescriptor(NamedTuple):
    """``class-id(2) | logical-name(6) | method-id(int8)``."""

    class_id: int
    logical_name: bytes
    method_id: int

    def encode(self) -> bytes:
        return (self.class_id.to_bytes(2, "big") + self.logical_name
                + (self.method_id & 0xFF).to_bytes(1, "big"))

    @classmethod
    def read(cls, r: Reader) -> "MethodDescriptor":
        class_id = r.u16("class-id")
        ln = r.take(6, "logical-name")
        method = r.u8("method-id")
        return cls(class_id, ln, method - 256 if method > 127 else method)


class SelectiveAccess(NamedTuple):
    """access-selector (1 range_descriptor, 2 entry_descriptor on profile generic) + parameters."""

    selector: int
    parameters: Data


def encode_access(access: SelectiveAccess | None) -> bytes:
    if access is None:
        return b"\x00"
    return bytes((1, access.selector)) + axdr.encode(access.parameters)


def read_access(r: Reader) -> SelectiveAccess | None:
    flag = r.u8("access-selection flag")
    if flag == 0:
        return None
    if flag != 1:
        raise r.fail(f"access-selection flag must be 0 or 1, got {flag}")
    selector = r.u8("access-selector")
    return SelectiveAccess(selector, axdr.read_data(r))


def encode_result(result: Data | int) -> bytes:
    """Get-Data-Result: ``00 Data`` or ``01 DAR``."""
    if isinstance(result, Data):
        return b"\x00" + axdr.encode(result)
    return bytes((1, int(result)))


def read_result(r: Reader) -> Data | int:
    choice = r.u8("result choice")
    if choice == 0:
        return axdr.read_data(r)
    if choice == 1:
        return result_code(r.u8("data-access-result"))
    raise r.fail(f"Get-Data-Result choice must be 0 or 1, got {choice}")
