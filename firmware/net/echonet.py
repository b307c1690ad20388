"""ECHONET Lite frame codec (EDATA format 1) and property-map encoding. Pure: bytes in, objects out.

Frame layout (all big-endian)::

    EHD1=0x10 EHD2=0x81 TID(2) SEOJ(3) DEOJ(3) ESV(1) OPC(1) {EPC PDC EDT[PDC]} x OPC
    SetGet (0x6E/0x7E/0x5E): ... ESV OPCSet {EPC PDC EDT}xOPCSet OPCGet {EPC PDC EDT}xOPCGet

``decode(data)`` returns a ``Frame`` or raises an ``EchonetError`` subclass saying what is wrong;
no other exception escapes (proved by the fuzz tests). When the header could be read, the error
carries it (``error.header``) so a node can still answer the requester (e.g. with an SNA).
EHD2 0x82 (format 2, "arbitrary message format") is recognised and refused with
``UnsupportedFormat``: a node that supports only format 1 drops it (ECHONET Lite Part 2 §3.2.1.1).
"""
from __future__ import annotations

import struct
from itertools import repeat
from operator import itemgetter
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

EHD1_ECHONET_LITE = 0x10
EHD2_FORMAT1 = 0x81
EHD2_FORMAT2 = 0x82
HEADER_LEN = 12
"""EHD1, EHD2, TID, SEOJ, DEOJ, ESV, OPC."""


class Esv(IntEnum):
    """Service codes (ECHONET Lite Part 2 §3.2.5). Requests 0x6x, answers 0x7x, refusals 0x5x."""

    SETI_SNA = 0x50
    SETC_SNA = 0x51
    GET_SNA = 0x52
    INF_SNA = 0x53
    SETGET_SNA = 0x5E
    SETI = 0x60
    SETC = 0x61
    GET = 0x62
    INF_REQ = 0x63
    SETGET = 0x6E
    SET_RES = 0x71
    GET_RES = 0x72
    INF = 0x73
    INFC = 0x74
    INFC_RES = 0x7A
    SETGET_RES = 0x7E

    @property
    def is_request(self) -> bool:
        """A request a node must process (INFC needs an INFC_Res, so it counts)."""
        return 0x60 <= self <= 0x6F or self is Esv.INFC

    @property
    def is_setget(self) -> bool:
        return self in (Esv.SETGET, Esv.SETGET_RES, Esv.SETGET_SNA)


SETGET_CODES = frozenset({Esv.SETGET, Esv.SETGET_RES, Esv.SETGET_SNA})
_ESV_BY_CODE = {int(e): e for e in Esv}


def success_esv(request: Esv) -> Esv:
    """The answer code of a request: 0x6x -> 0x7x (SetI/SetC both answer Set_Res 0x71)."""
    if request is Esv.INFC:
        return Esv.INFC_RES
    if request is Esv.SETI:
        return Esv.SET_RES
    return Esv(request + 0x10)


def sna_esv(request: Esv) -> Esv:
    """The refusal code of a request: 0x6x -> 0x5x."""
    return Esv(request - 0x10)


class Eoj(NamedTuple):
    """ECHONET object: class group, class, instance (0x00 = every instance of the class)."""

    group: int
    cls: int
    instance: int

    @classmethod
    def of(cls, code: int) -> "Eoj":
        """From a 24-bit code such as 0x028801."""
        return cls((code >> 16) & 0xFF, (code >> 8) & 0xFF, code & 0xFF)

    @property
    def code(self) -> int:
        return (self.group << 16) | (self.cls << 8) | self.instance

    @property
    def class_code(self) -> int:
        """16-bit class code, e.g. 0x0288."""
        return (self.group << 8) | self.cls

    def to_bytes(self) -> bytes:
        return bytes((self.group, self.cls, self.instance))

    def matches(self, target: "Eoj") -> bool:
        """True if a frame addressed to ``target`` is for this object (instance 0 = all)."""
        return (self.group == target.group and self.cls == target.cls
                and target.instance in (0, self.instance))

    def __str__(self) -> str:
        return f"0x{self.code:06X}"


NODE_PROFILE = Eoj(0x0E, 0xF0, 0x01)
CONTROLLER = Eoj(0x05, 0xFF, 0x01)


class Property(NamedTuple):
    """One EPC with its EDT; ``edt == b''`` means PDC=0 (a Get request, or a refused/accepted item)."""

    epc: int
    edt: bytes = b""

    @property
    def pdc(self) -> int:
        return len(self.edt)


class Frame(NamedTuple):
    """A format-1 ECHONET Lite frame (immutable).

    props:      the properties (for SetGet codes: the Set part)
    get_props:  the Get part of a SetGet frame (empty for every other ESV)
    """

    tid: int
    seoj: Eoj
    deoj: Eoj
    esv: Esv
    props: tuple[Property, ...] = ()
    get_props: tuple[Property, ...] = ()

    @property
    def epcs(self) -> list[int]:
        return [p.epc for p in self.props]


@dataclass(frozen=True)
class Header:
    """What could be read of a frame before an error (for answering or logging)."""

    tid: int
    seoj: Eoj
    deoj: Eoj
    esv_code: int
    props: tuple[Property, ...] = ()


# --------------------------------------------------------------------------- errors


class EchonetError(ValueError):
    """Base of every decoding/encoding error. ``header`` is set when the header was readable."""

    def __init__(self, message: str, header: Header | None = None):
        super().__init__(message)
        self.header = header


class TruncatedFrame(EchonetError):
    """Fewer bytes than the header or a property needs (includes an OPC that claims more
    properties than the frame holds)."""


class BadHeader(EchonetError):
    """EHD1 is not 0x10 or EHD2 is unknown: not an ECHONET Lite frame."""


class UnsupportedFormat(EchonetError):
    """EHD2 0x82 (arbitrary message format): recognised, not supported."""


class UnknownEsv(EchonetError):
    """ESV is a reserved code."""


class TrailingBytes(EchonetError):
    """Bytes left over after the last property (PDC values do not add up to the frame)."""


class BadPropertyMap(EchonetError):
    """A property map EDT (0x9D/0x9E/0x9F) that does not follow Appendix 1."""


# --------------------------------------------------------------------------- decode


def _read_props(data: bytes, pos: int, count: int, header_of) -> tuple[tuple[Property, ...], int]:
    props = []
    end = len(data)
    for i in range(count):
        if pos + 2 > end:
            raise TruncatedFrame(
                f"OPC={count} but the frame ends after {i} propert{'y' if i == 1 else 'ies'}"
                f" (offset {pos}, {end} bytes)", header_of(props))
        epc, pdc = data[pos], data[pos + 1]
        pos += 2
        if pos + pdc > end:
            raise TruncatedFrame(
                f"EPC 0x{epc:02X} has PDC={pdc} but only {end - pos} bytes remain",
                header_of(props))
        props.append(Property(epc, data[pos:pos + pdc]))
        pos += pdc
    return tuple(props), pos


_new = tuple.__new__
_NO_EDT = tuple(_new(Property, (epc, b"")) for epc in range(256))
"""PDC=0 properties (Get requests), shared: immutable."""
_ONE_NO_EDT = tuple((p,) for p in _NO_EDT)
_no_edt = list(_NO_EDT).__getitem__
"""A list's bound __getitem__ is a METH_O builtin, cheaper per call from ``map`` than a tuple's
slot wrapper (Get decode -16 % instructions)."""
_ZEROS = tuple(bytes(n) for n in range(256))
_PROPERTY = repeat(Property)
_READ_HEAD = struct.Struct(">HH8sBB").unpack_from
"""EHD1 EHD2, TID, SEOJ DEOJ ESV OPC (the key of the header cache), the first EPC and PDC."""
_CACHE_MAX = 4096
"""Bound of each cache below: cleared when full, so a flood of random codes costs no memory."""
_HEADS: dict[bytes, tuple | None] = {}
"""SEOJ DEOJ ESV OPC -> (SEOJ, DEOJ, Esv, OPC) for one-list frames, None for the checked path
(reserved ESV, SetGet). Eoj objects are immutable, so every frame with the same header shares them."""
_LAYOUTS: dict[bytes, tuple] = {}
"""SEOJ DEOJ ESV OPC -> (unpack, read PDCs, PDCs, length): the property layout the last two frames
with this header had. A B-route client asks for the same EPCs again and again, and the answers
have the same PDCs, so one itemgetter call reads the PDC bytes at the layout's places and, when
they are the layout's, one struct call reads EPC and EDT of every property (``p`` fields: the PDC
byte is the Pascal length); any difference goes to the loop that learns the new layout."""
_SEEN: dict[bytes, tuple] = {}
"""SEOJ DEOJ ESV OPC -> the PDCs of the last frame read by the loop (a layout is learnt once
it repeats, so a flood of one-off layouts compiles nothing)."""
_UNPACKS: dict[tuple, tuple] = {}
"""PDCs -> (unpack of a struct that skips the header then reads EPC, EDT per property; the
itemgetter of the PDC offsets)."""


def _cached(cache: dict, key, value):
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value
    return value


def _head(key: bytes):
    """(SEOJ, DEOJ, Esv, OPC) of a header cache key, None where the checked path decides."""
    esv = _ESV_BY_CODE.get(key[6])
    if esv is None or esv in SETGET_CODES:
        head = None
    else:
        head = (_new(Eoj, (key[0], key[1], key[2])), _new(Eoj, (key[3], key[4], key[5])), esv, key[7])
    return _cached(_HEADS, key, head)


def decode(data: bytes) -> Frame:
    """Decode one datagram. Raises an ``EchonetError`` subclass on malformed input."""
    if type(data) is not bytes:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise EchonetError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    # fast path (the common case): format 1, one property list; any doubt -> the checked path
    try:
        ehd, tid, key, epc, pdc = _READ_HEAD(data)
    except struct.error:                      # shorter than a header and one property
        return _decode_checked(data)
    if ehd != 0x1081:
        return _decode_checked(data)
    head = _HEADS.get(key)
    if head is None:
        head = _head(key)
        if head is None:
            return _decode_checked(data)
    seoj, deoj, esv, count = head
    if count == 1:
        if pdc + 14 != len(data):
            return _decode_checked(data)
        props = (_new(Property, (epc, data[14:])),) if pdc else _ONE_NO_EDT[epc]
    elif not pdc and len(data) == HEADER_LEN + 2 * count and data[13::2] == _ZEROS[count]:
        props = tuple(map(_no_edt, data[12::2]))      # a Get: every PDC 0
    else:
        layout = _LAYOUTS.get(key)
        if layout is not None and len(data) == layout[3]:
            if layout[1](data) == layout[2]:  # the same PDCs at the same places: the same parse
                values = iter(layout[0](data))    # EPC, EDT, EPC, EDT, ...
                props = tuple(map(_new, _PROPERTY, zip(values, values)))
            else:
                props = _read_list(data, key, count)
        else:
            props = _read_list(data, key, count)
        if props is None:
            return _decode_checked(data)
    return _new(Frame, (tid, seoj, deoj, esv, props, ()))


def _read_list(data: bytes, key: bytes, count: int):
    """The property list read one by one (None: the checked path says what is wrong); a
    layout seen twice in a row is kept for ``decode``."""
    pos, items, pdcs = HEADER_LEN, [], []
    append = items.append
    try:
        for _ in range(count):
            pdc = data[pos + 1]               # IndexError past the end: the checked path
            pdcs.append(pdc)
            start = pos + 2
            pos = start + pdc                 # a PDC past the end shows in the final pos
            append(_new(Property, (data[start - 2], data[start:pos])))
    except IndexError:
        return None
    if pos != len(data):
        return None
    pdcs = tuple(pdcs)
    if len(pdcs) > 1 and _SEEN.get(key) == pdcs:   # itemgetter of 2+ offsets gives a tuple
        readers = _UNPACKS.get(pdcs)
        if readers is None:
            offsets, at = [], HEADER_LEN + 1
            for pdc in pdcs:
                offsets.append(at)
                at += pdc + 2
            readers = _cached(_UNPACKS, pdcs, (struct.Struct(
                ">12x" + "".join(f"B{pdc + 1}p" for pdc in pdcs)).unpack, itemgetter(*offsets)))
        _cached(_LAYOUTS, key, (readers[0], readers[1], pdcs, pos))
    else:
        _cached(_SEEN, key, pdcs)
    return tuple(items)


def _decode_checked(data: bytes) -> Frame:
    """Every check with its precise error (and SetGet frames)."""
    n = len(data)
    if n < 2:
        raise TruncatedFrame(f"{n} bytes: shorter than the ECHONET Lite header (EHD1, EHD2)")
    if data[0] != EHD1_ECHONET_LITE:
        raise BadHeader(f"EHD1 0x{data[0]:02X} is not ECHONET Lite (0x10)")
    if data[1] == EHD2_FORMAT2:
        raise UnsupportedFormat("EHD2 0x82: arbitrary message format (format 2) is not supported")
    if data[1] != EHD2_FORMAT1:
        raise BadHeader(f"EHD2 0x{data[1]:02X} is neither 0x81 (format 1) nor 0x82 (format 2)")
    if n < HEADER_LEN:
        raise TruncatedFrame(f"{n} bytes: a format-1 frame needs at least {HEADER_LEN}")
    tid = (data[2] << 8) | data[3]
    seoj = Eoj(data[4], data[5], data[6])
    deoj = Eoj(data[7], data[8], data[9])
    code = data[10]

    def header_of(props, code=code):
        return Header(tid, seoj, deoj, code, tuple(props))

    esv = _ESV_BY_CODE.get(code)
    if esv is None:
        raise UnknownEsv(f"ESV 0x{code:02X} is a reserved code", header_of(()))
    props, pos = _read_props(data, HEADER_LEN, data[11], header_of)
    get_props: tuple[Property, ...] = ()
    if esv in SETGET_CODES:
        if pos >= n:
            raise TruncatedFrame(f"SetGet frame ends before OPCGet (offset {pos})", header_of(props))
        opc_get = data[pos]
        get_props, pos = _read_props(
            data, pos + 1, opc_get, lambda g, p=props: header_of(p + tuple(g)))
    if pos != n:
        raise TrailingBytes(f"{n - pos} byte(s) after the last property", header_of(props))
    return Frame(tid, seoj, deoj, esv, props, get_props)


# --------------------------------------------------------------------------- encode


def _encode_props(props, what: str) -> bytes:
    if len(props) > 255:
        raise EchonetError(f"{what}: {len(props)} properties do not fit OPC (max 255)")
    parts = [bytes((len(props),))]
    for epc, edt_ in props:
        try:
            parts.append(bytes((epc, len(edt_))))
        except ValueError:
            raise EchonetError(f"EPC {epc!r} with an EDT of {len(edt_)} bytes does not fit "
                               f"EPC/PDC (one byte each)") from None
        parts.append(edt_)
    return b"".join(parts)


_HEAD = struct.Struct(">BBHBBBBBBBB").pack
_HEAD_ONE = struct.Struct(">BBHBBBBBBBBBB").pack
"""Header, and header + EPC + PDC of a one-property frame (range checks by struct)."""


def encode(frame: Frame) -> bytes:
    """Encode a frame (format 1)."""
    tid, seoj, deoj, esv, props, get_props = frame
    try:                                      # fast path; anything odd -> the checked path
        if type(tid) is int and not get_props and esv not in SETGET_CODES:
            if len(props) == 1:
                (epc, edt), = props
                return _HEAD_ONE(EHD1_ECHONET_LITE, EHD2_FORMAT1, tid, *seoj, *deoj, esv, 1,
                                 epc, len(edt)) + edt
            else:
                out = bytearray(_HEAD(EHD1_ECHONET_LITE, EHD2_FORMAT1, tid, *seoj, *deoj, esv, len(props)))
                for epc, edt in props:
                    out.append(epc)
                    out.append(len(edt))
                    out += edt
                return bytes(out)
    except (struct.error, ValueError, TypeError):
        pass
    return _encode_checked(frame)


def _encode_checked(frame: Frame) -> bytes:
    """Encode a frame (format 1) with every check and its precise error (and SetGet frames)."""
    tid, seoj, deoj, esv, props, get_props = frame
    if type(tid) is not int or not 0 <= tid <= 0xFFFF:
        if isinstance(tid, int) and not 0 <= tid <= 0xFFFF:
            raise EchonetError(f"TID {tid} is not a 16-bit value")
        raise EchonetError(f"TID {tid!r}, SEOJ {seoj!r} or DEOJ {deoj!r} does not fit its bytes")
    if len(props) > 255:
        raise EchonetError(f"OPC: {len(props)} properties do not fit OPC (max 255)")
    try:
        parts = [bytes((EHD1_ECHONET_LITE, EHD2_FORMAT1, tid >> 8, tid & 0xFF, *seoj, *deoj,
                        esv, len(props)))]
    except (ValueError, TypeError):
        raise EchonetError(f"TID {tid!r}, SEOJ {seoj!r} or DEOJ {deoj!r} does not fit "
                           f"its bytes") from None
    append = parts.append
    try:
        for epc, edt_ in props:
            append(bytes((epc, len(edt_))))
            append(edt_)
    except (ValueError, TypeError):
        _encode_props(props, "OPC")   # raises the precise error
        raise
    if esv in SETGET_CODES:
        append(_encode_props(get_props, "OPCGet"))
    elif get_props:
        raise EchonetError(f"ESV 0x{esv:02X} carries no Get part")
    return b"".join(parts)


# --------------------------------------------------------------------------- property maps

BITMAP_THRESHOLD = 16
"""From 16 properties on, a property map is the 17-byte bitmap (Appendix 1)."""


def encode_property_map(epcs) -> bytes:
    """EDT of 0x9D/0x9E/0x9F: count + list (< 16 EPCs) or count + 16-byte bitmap (>= 16)."""
    codes = sorted(set(epcs))
    for e in codes:
        if not 0x80 <= e <= 0xFF:
            raise BadPropertyMap(f"EPC 0x{e:02X} is outside 0x80..0xFF")
    if len(codes) < BITMAP_THRESHOLD:
        return bytes([len(codes), *codes])
    bitmap = bytearray(16)
    for e in codes:
        bitmap[e & 0x0F] |= 1 << ((e >> 4) - 8)
    return bytes([len(codes)]) + bytes(bitmap)


def decode_property_map(edt: bytes) -> list[int]:
    """EPCs of a property map EDT, ascending. Raises ``BadPropertyMap``."""
    if not edt:
        raise BadPropertyMap("empty property map")
    count = edt[0]
    if count < BITMAP_THRESHOLD:
        if len(edt) != count + 1:
            raise BadPropertyMap(f"list form with count {count} needs {count + 1} bytes, got {len(edt)}")
        codes = list(edt[1:])
        if any(e < 0x80 for e in codes):
            raise BadPropertyMap("list form holds an EPC below 0x80")
        if len(set(codes)) != len(codes):
            raise BadPropertyMap("list form repeats an EPC")
        return sorted(codes)
    if len(edt) != 17:
        raise BadPropertyMap(f"bitmap form (count {count}) needs 17 bytes, got {len(edt)}")
    codes = [0x80 + 0x10 * bit + i for i in range(16) for bit in range(8) if edt[1 + i] >> bit & 1]
    if len(codes) != count:
        raise BadPropertyMap(f"bitmap has {len(codes)} bits set but count says {count}")
    return sorted(codes)
