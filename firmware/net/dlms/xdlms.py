"""xDLMS GET / SET / ACTION request and response APDUs (LN referencing, reference §1.5).

Results are ``Data`` on success or an ``int`` Data-Access-Result (a DataAccessResult member
when the code is known). Each class has ``encode() -> bytes`` and ``read(Reader)`` (the reader is
positioned after the request-type byte); :mod:`.apdu` dispatches on the tag bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import axdr
from .axdr import Data
from .descriptors import (INVOKE_HIGH_CONFIRMED, AttributeDescriptor, MethodDescriptor,
                          SelectiveAccess, encode_access, encode_result, read_access,
                          read_result, result_code)
from .reader import Reader, encode_length

TAG_GET_REQUEST, TAG_SET_REQUEST, TAG_ACTION_REQUEST = 0xC0, 0xC1, 0xC3
TAG_GET_RESPONSE, TAG_SET_RESPONSE, TAG_ACTION_RESPONSE = 0xC4, 0xC5, 0xC7


def _count(r: Reader, what: str, min_item_size: int) -> int:
    n = r.length(what)
    if n * min_item_size > r.remaining:
        raise r.fail(f"{what} {n} cannot fit the {r.remaining} bytes left")
    return n


# ---------------------------------------------------------------- GET

@dataclass(frozen=True)
class GetRequestNormal:
    descriptor: AttributeDescriptor
    access: SelectiveAccess | None = None
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        return bytes((TAG_GET_REQUEST, 1, self.invoke_id_priority)) + self.descriptor.encode() \
            + encode_access(self.access)

    @classmethod
    def read(cls, r: Reader) -> "GetRequestNormal":
        iid = r.u8("invoke-id")
        return cls(AttributeDescriptor.read(r), read_access(r), iid)


@dataclass(frozen=True)
class GetRequestNext:
    block_number: int            # number of the last block received
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        return bytes((TAG_GET_REQUEST, 2, self.invoke_id_priority)) + self.block_number.to_bytes(4, "big")

    @classmethod
    def read(cls, r: Reader) -> "GetRequestNext":
        iid = r.u8("invoke-id")
        return cls(r.u32("block-number"), iid)


@dataclass(frozen=True)
class GetRequestWithList:
    items: tuple[tuple[AttributeDescriptor, SelectiveAccess | None], ...]
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        out = bytearray((TAG_GET_REQUEST, 3, self.invoke_id_priority))
        out += encode_length(len(self.items))
        for desc, access in self.items:
            out += desc.encode() + encode_access(access)
        return bytes(out)

    @classmethod
    def read(cls, r: Reader) -> "GetRequestWithList":
        iid = r.u8("invoke-id")
        n = _count(r, "attribute count", 10)
        return cls(tuple((AttributeDescriptor.read(r), read_access(r)) for _ in range(n)), iid)


@dataclass(frozen=True)
class GetResponseNormal:
    result: Data | int
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        return bytes((TAG_GET_RESPONSE, 1, self.invoke_id_priority)) + encode_result(self.result)

    @classmethod
    def read(cls, r: Reader) -> "GetResponseNormal":
        iid = r.u8("invoke-id")
        return cls(read_result(r), iid)


@dataclass(frozen=True)
class GetResponseWithDatablock:
    """One block of a long GET: ``raw`` is a slice of the encoded result (bytes) or a DAR (int)."""

    last_block: bool
    block_number: int
    raw: bytes | int
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        head = bytes((TAG_GET_RESPONSE, 2, self.invoke_id_priority, 1 if self.last_block else 0)) \
            + self.block_number.to_bytes(4, "big")
        if isinstance(self.raw, int):
            return head + bytes((1, int(self.raw)))
        return head + b"\x00" + encode_length(len(self.raw)) + self.raw

    @classmethod
    def read(cls, r: Reader) -> "GetResponseWithDatablock":
        iid = r.u8("invoke-id")
        last = r.u8("last-block")
        if last > 1:
            raise r.fail("last-block must be a boolean (0/1)")
        number = r.u32("block-number")
        choice = r.u8("datablock result choice")
        if choice == 0:
            raw = r.take(r.length("raw-data length"), "raw-data")
        elif choice == 1:
            raw = result_code(r.u8("data-access-result"))
        else:
            raise r.fail(f"datablock result choice must be 0 or 1, got {choice}")
        return cls(bool(last), number, raw, iid)


@dataclass(frozen=True)
class GetResponseWithList:
    results: tuple[Data | int, ...]
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        out = bytearray((TAG_GET_RESPONSE, 3, self.invoke_id_priority))
        out += encode_length(len(self.results))
        for result in self.results:
            out += encode_result(result)
        return bytes(out)

    @classmethod
    def read(cls, r: Reader) -> "GetResponseWithList":
        iid = r.u8("invoke-id")
        n = _count(r, "result count", 2)
        return cls(tuple(read_result(r) for _ in range(n)), iid)


# ---------------------------------------------------------------- SET

@dataclass(frozen=True)
class SetRequestNormal:
    descriptor: AttributeDescriptor
    value: Data
    access: SelectiveAccess | None = None
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        return bytes((TAG_SET_REQUEST, 1, self.invoke_id_priority)) + self.descriptor.encode() \
            + encode_access(self.access) + axdr.encode(self.value)

    @classmethod
    def read(cls, r: Reader) -> "SetRequestNormal":
        iid = r.u8("invoke-id")
        desc = AttributeDescriptor.read(r)
        access = read_access(r)
        return cls(desc, axdr.read_data(r), access, iid)


@dataclass(frozen=True)
class SetRequestWithList:
    items: tuple[tuple[AttributeDescriptor, SelectiveAccess | None], ...]
    values: tuple[Data, ...]
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        out = bytearray((TAG_SET_REQUEST, 4, self.invoke_id_priority))
        out += encode_length(len(self.items))
        for desc, access in self.items:
            out += desc.encode() + encode_access(access)
        out += encode_length(len(self.values))
        for value in self.values:
            out += axdr.encode(value)
        return bytes(out)

    @classmethod
    def read(cls, r: Reader) -> "SetRequestWithList":
        iid = r.u8("invoke-id")
        n = _count(r, "attribute count", 10)
        items = tuple((AttributeDescriptor.read(r), read_access(r)) for _ in range(n))
        m = _count(r, "value count", 1)
        if m != n:
            raise r.fail(f"set-request-with-list has {n} attributes but {m} values")
        return cls(items, tuple(axdr.read_data(r) for _ in range(m)), iid)


@dataclass(frozen=True)
class SetResponseNormal:
    result: int
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        return bytes((TAG_SET_RESPONSE, 1, self.invoke_id_priority, int(self.result)))

    @classmethod
    def read(cls, r: Reader) -> "SetResponseNormal":
        iid = r.u8("invoke-id")
        return cls(result_code(r.u8("result")), iid)


@dataclass(frozen=True)
class SetResponseWithList:
    results: tuple[int, ...]
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        return bytes((TAG_SET_RESPONSE, 5, self.invoke_id_priority)) + encode_length(len(self.results)) \
            + bytes(int(x) for x in self.results)

    @classmethod
    def read(cls, r: Reader) -> "SetResponseWithList":
        iid = r.u8("invoke-id")
        n = _count(r, "result count", 1)
        return cls(tuple(result_code(r.u8("result")) for _ in range(n)), iid)


# ---------------------------------------------------------------- ACTION

@dataclass(frozen=True)
class ActionRequestNormal:
    descriptor: MethodDescriptor
    parameters: Data | None = None
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        head = bytes((TAG_ACTION_REQUEST, 1, self.invoke_id_priority)) + self.descriptor.encode()
        if self.parameters is None:
            return head + b"\x00"
        return head + b"\x01" + axdr.encode(self.parameters)

    @classmethod
    def read(cls, r: Reader) -> "ActionRequestNormal":
        iid = r.u8("invoke-id")
        desc = MethodDescriptor.read(r)
        flag = r.u8("parameters flag")
        if flag > 1:
            raise r.fail("method-invocation-parameters flag must be 0 or 1")
        return cls(desc, axdr.read_data(r) if flag else None, iid)


@dataclass(frozen=True)
class ActionResponseNormal:
    """``result`` (Action-Result) and optional return parameters: Data, or an int DAR."""

    result: int
    return_value: Data | int | None = None
    invoke_id_priority: int = INVOKE_HIGH_CONFIRMED

    def encode(self) -> bytes:
        head = bytes((TAG_ACTION_RESPONSE, 1, self.invoke_id_priority, int(self.result)))
        if self.return_value is None:
            return head + b"\x00"   # the optional-data flag is mandatory on the wire
        return head + b"\x01" + encode_result(self.return_value)

    @classmethod
    def read(cls, r: Reader) -> "ActionResponseNormal":
        iid = r.u8("invoke-id")
        result = result_code(r.u8("action-result"))
        flag = r.u8("return-parameters flag")
        if flag > 1:
            raise r.fail("return-parameters flag must be 0 or 1")
        return cls(result, read_result(r) if flag else None, iid)


REQUEST_TYPES = {
    TAG_GET_REQUEST: {1: GetRequestNormal, 2: GetRequestNext, 3: GetRequestWithList},
    TAG_SET_REQUEST: {1: SetRequestNormal, 4: SetRequestWithList},
    TAG_ACTION_REQUEST: {1: ActionRequestNormal},
    TAG_GET_RESPONSE: {1: GetResponseNormal, 2: GetResponseWithDatablock, 3: GetResponseWithList},
    TAG_SET_RESPONSE: {1: SetResponseNormal, 5: SetResponseWithList},
    TAG_ACTION_RESPONSE: {1: ActionResponseNormal},
}
