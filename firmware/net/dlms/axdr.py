"""A-XDR encoding of the COSEM ``Data`` CHOICE (IEC 62056-6-2 / Green Book 9.5).

A value is a :class:`Data` (type tag + Python value); arrays and structures hold tuples of
``Data``. Python values per type:

* null-data: None; boolean: bool; integer types and enum/bcd: int (range-checked on encode)
* octet-string: bytes; visible-string: str (ASCII); utf8-string: str
* bit-string: str of '0'/'1' characters (length counts bits, packed MSB first)
* float32 / float64: float; date-time / date / time (tags 25/26/27): bytes of 12 / 5 / 4
* compact-array: :class:`CompactArray` (a :class:`TypeDesc` and a tuple of element ``Data``)

COSEM date-time *attributes* (Clock.time, capture times, range bounds) travel as octet-string(12),
not tag 25; see :mod:`.cosem_time`.
"""
from __future__ import annotations

import struct
from enum import IntEnum
from itertools import repeat
from typing import Any, NamedTuple

from sumame.firmware.net.budget import WorkBudget

from .errors import AxdrError, EncodeError
from .reader import Reader, encode_length

MAX_DEPTH = 24  # nesting of arrays/structures accepted from outside


class DataType(IntEnum):
    NULL = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5            # int32
    DOUBLE_LONG_UNSIGNED = 6   # uint32
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15               # int8
    LONG = 16                  # int16
    UNSIGNED = 17              # uint8
    LONG_UNSIGNED = 18         # uint16
    COMPACT_ARRAY = 19
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27


class Data(NamedTuple):
    """One A-XDR value: ``type`` (DataType) and ``value`` (see the module docstring)."""

    type: DataType
    value: Any = None

    def __repr__(self) -> str:
        return f"Data({self.type.name}, {self.value!r})"


class TypeDesc(NamedTuple):
    """compact-array contents description: a simple type tag, an array (count, element desc)
    or a structure (children)."""

    tag: DataType
    count: int = 0
    children: tuple = ()


class CompactArray(NamedTuple):
    description: TypeDesc
    elements: tuple


# ---------------------------------------------------------------- fixed-size scalar tables

_INT_FORMATS: dict[DataType, struct.Struct] = {
    DataType.DOUBLE_LONG: struct.Struct(">i"),
    DataType.DOUBLE_LONG_UNSIGNED: struct.Struct(">I"),
    DataType.INTEGER: struct.Struct(">b"),
    DataType.LONG: struct.Struct(">h"),
    DataType.UNSIGNED: struct.Struct(">B"),
    DataType.LONG_UNSIGNED: struct.Struct(">H"),
    DataType.LONG64: struct.Struct(">q"),
    DataType.LONG64_UNSIGNED: struct.Struct(">Q"),
    DataType.ENUM: struct.Struct(">B"),
    DataType.BCD: struct.Struct(">B"),
}
_INT_RANGES = {
    DataType.DOUBLE_LONG: (-(1 << 31), (1 << 31) - 1),
    DataType.DOUBLE_LONG_UNSIGNED: (0, (1 << 32) - 1),
    DataType.INTEGER: (-128, 127),
    DataType.LONG: (-(1 << 15), (1 << 15) - 1),
    DataType.UNSIGNED: (0, 255),
    DataType.LONG_UNSIGNED: (0, 0xFFFF),
    DataType.LONG64: (-(1 << 63), (1 << 63) - 1),
    DataType.LONG64_UNSIGNED: (0, (1 << 64) - 1),
    DataType.ENUM: (0, 255),
    DataType.BCD: (0, 255),
}
_FLOAT_FORMATS = {DataType.FLOAT32: struct.Struct(">f"), DataType.FLOAT64: struct.Struct(">d")}
_FIXED_OCTETS = {DataType.DATE_TIME: 12, DataType.DATE: 5, DataType.TIME: 4}
_TAGS = {int(t): t for t in DataType}


# ---------------------------------------------------------------- constructors (readability)

def null() -> Data:
    return Data(DataType.NULL, None)


def array(items) -> Data:
    return Data(DataType.ARRAY, tuple(items))


def structure(*items: Data) -> Data:
    return Data(DataType.STRUCTURE, tuple(items))


def boolean(v: bool) -> Data:
    return Data(DataType.BOOLEAN, bool(v))


def integer(v: int) -> Data:
    return Data(DataType.INTEGER, v)


def long(v: int) -> Data:
    return Data(DataType.LONG, v)


def unsigned(v: int) -> Data:
    return Data(DataType.UNSIGNED, v)


def long_unsigned(v: int) -> Data:
    return Data(DataType.LONG_UNSIGNED, v)


def double_long(v: int) -> Data:
    return Data(DataType.DOUBLE_LONG, v)


def double_long_unsigned(v: int) -> Data:
    return Data(DataType.DOUBLE_LONG_UNSIGNED, v)


def long64(v: int) -> Data:
    return Data(DataType.LONG64, v)


def long64_unsigned(v: int) -> Data:
    return Data(DataType.LONG64_UNSIGNED, v)


def enum(v: int) -> Data:
    return Data(DataType.ENUM, v)


def octet_string(v: bytes) -> Data:
    return Data(DataType.OCTET_STRING, bytes(v))


def visible_string(v: str) -> Data:
    return Data(DataType.VISIBLE_STRING, v)


def bit_string(bits: str) -> Data:
    return Data(DataType.BIT_STRING, bits)


# ---------------------------------------------------------------- encoder

def encode(data: Data) -> bytes:
    """A-XDR bytes of ``data`` (tag included). Raises EncodeError for unencodable values."""
    out = bytearray()
    _encode_into(out, data)
    return bytes(out)


def _encode_into(out: bytearray, data: Data) -> None:
    t = data.type
    v = data.value
    fmt = _INT_FORMATS.get(t)
    if fmt is not None:
        lo, hi = _INT_RANGES[t]
        if not isinstance(v, int) or isinstance(v, bool):
            raise EncodeError(f"{t.name} needs an int, got {type(v).__name__}")
        if not lo <= v <= hi:
            raise EncodeError(f"{v} out of range for {t.name} [{lo}, {hi}]")
        out.append(t)
        out += fmt.pack(v)
    elif t is DataType.STRUCTURE or t is DataType.ARRAY:
        out.append(t)
        out += encode_length(len(v))
        for item in v:
            _encode_into(out, item)
    elif t is DataType.OCTET_STRING:
        if not isinstance(v, (bytes, bytearray)):
            raise EncodeError(f"octet-string needs bytes, got {type(v).__name__}")
        out.append(t)
        out += encode_length(len(v))
        out += v
    else:
        out.append(t)
        _encode_contents(out, t, v)


def _encode_contents(out: bytearray, t: DataType, v: Any) -> None:
    """Encode the value of type ``t`` without its tag (also used inside compact-array)."""
    fmt = _INT_FORMATS.get(t)
    if fmt is not None:
        lo, hi = _INT_RANGES[t]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise EncodeError(f"{v!r} is not a valid {t.name}")
        out += fmt.pack(v)
    elif t is DataType.NULL:
        if v is not None:
            raise EncodeError("null-data carries no value")
    elif t is DataType.BOOLEAN:
        if not isinstance(v, bool):
            raise EncodeError(f"boolean needs a bool, got {type(v).__name__}")
        out.append(0xFF if v else 0x00)
    elif t is DataType.OCTET_STRING or t is DataType.UTF8_STRING or t is DataType.VISIBLE_STRING:
        if t is DataType.OCTET_STRING:
            raw = v
            if not isinstance(raw, (bytes, bytearray)):
                raise EncodeError("octet-string needs bytes")
        else:
            if not isinstance(v, str):
                raise EncodeError(f"{t.name} needs a str")
            try:
                raw = v.encode("ascii" if t is DataType.VISIBLE_STRING else "utf-8")
            except UnicodeEncodeError as exc:
                raise EncodeError(f"{t.name} cannot hold {v!r}") from exc
        out += encode_length(len(raw))
        out += raw
    elif t is DataType.BIT_STRING:
        if not isinstance(v, str) or v.strip("01"):
            raise EncodeError("bit-string needs a str of '0'/'1'")
        out += encode_length(len(v))
        out += _pack_bits(v)
    elif t in _FLOAT_FORMATS:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise EncodeError(f"{t.name} needs a float")
        try:
            out += _FLOAT_FORMATS[t].pack(v)
        except (OverflowError, struct.error) as exc:
            raise EncodeError(f"{v!r} does not fit {t.name}") from exc
    elif t in _FIXED_OCTETS:
        size = _FIXED_OCTETS[t]
        if not isinstance(v, (bytes, bytearray)) or len(v) != size:
            raise EncodeError(f"{t.name} needs exactly {size} bytes")
        out += v
    elif t is DataType.STRUCTURE or t is DataType.ARRAY:
        raise EncodeError("arrays/structures inside compact-array contents go through the description")
    elif t is DataType.COMPACT_ARRAY:
        if not isinstance(v, CompactArray):
            raise EncodeError("compact-array needs a CompactArray value")
        _encode_type_desc(out, v.description)
        body = bytearray()
        for element in v.elements:
            _encode_compact_element(body, v.description, element)
        out += encode_length(len(body))
        out += body
    else:
        raise EncodeError(f"cannot encode type {t!r}")


def _pack_bits(bits: str) -> bytes:
    n = len(bits)
    if n == 0:
        return b""
    padded = bits + "0" * (-n % 8)
    return int(padded, 2).to_bytes(len(padded) // 8, "big")


def _encode_type_desc(out: bytearray, desc: TypeDesc) -> None:
    out.append(desc.tag)
    if desc.tag is DataType.ARRAY:
        if not 0 <= desc.count <= 0xFFFF or len(desc.children) != 1:
            raise EncodeError("array type description needs a count (uint16) and one child")
        out += desc.count.to_bytes(2, "big")
        _encode_type_desc(out, desc.children[0])
    elif desc.tag is DataType.STRUCTURE:
        out += encode_length(len(desc.children))
        for child in desc.children:
            _encode_type_desc(out, child)
    elif desc.tag is DataType.COMPACT_ARRAY:
        raise EncodeError("compact-array cannot nest")


def _encode_compact_element(out: bytearray, desc: TypeDesc, element: Data) -> None:
    if desc.tag is DataType.STRUCTURE:
        if element.type is not DataType.STRUCTURE or len(element.value) != len(desc.children):
            raise EncodeError("compact-array element does not match its structure description")
        for child, item in zip(desc.children, element.value):
            _encode_compact_element(out, child, item)
    elif desc.tag is DataType.ARRAY:
        if element.type is not DataType.ARRAY or len(element.value) != desc.count:
            raise EncodeError("compact-array element does not match its array description")
        for item in element.value:
            _encode_compact_element(out, desc.children[0], item)
    else:
        if element.type is not desc.tag:
            raise EncodeError(f"compact-array element {element.type.name} != {desc.tag.name}")
        _encode_contents(out, desc.tag, element.value)


# ---------------------------------------------------------------- decoder
#
# Bounds (issue 9): every decoded value costs one unit of the reader's work budget; an array or
# structure may not announce more elements than bytes remain (each element takes >= 1 byte);
# nesting is limited to MAX_DEPTH. Inside a compact-array, elements carry no tag, so an element
# can take no bytes at all (an empty structure): there the description's *shape* (minimum bytes
# and values per element, multiplied across array levels) is computed first, and the contents
# are refused before any element is built when they cannot hold one element, when an array
# repeats zero-byte elements, or when the elements they could hold exceed the budget.

def decode(raw: bytes, budget: WorkBudget | None = None) -> Data:
    """Decode exactly one Data from ``raw`` (no trailing bytes allowed); ``budget`` defaults to
    one sized for ``raw`` (``WorkBudget.for_input``)."""
    r = Reader(raw, error=AxdrError, budget=budget)
    data = read_data(r)
    r.expect_end("A-XDR data")
    return data


_new = tuple.__new__                     # builds a Data / TypeDesc without its Python __new__
_TAG_AT: list = [None] * 256
_INT_AT: list = [None] * 256
for _t in DataType:
    _TAG_AT[_t] = _t
for _t, _fmt in _INT_FORMATS.items():
    _INT_AT[_t] = _fmt


_OCTET, _VISIBLE = DataType.OCTET_STRING, DataType.VISIBLE_STRING
_STRUCTURE, _ARRAY = DataType.STRUCTURE, DataType.ARRAY


def read_data(r: Reader, depth: int = 0) -> Data:
    """Read one Data at the reader's position (used by APDU decoders); charges ``r.budget``."""
    data, pos = r.data, r.pos
    size = len(data)
    if pos >= size:
        raise r.fail("truncated: missing data tag")
    t = _TAG_AT[data[pos]]
    if t is None:
        raise r.error(f"unknown A-XDR data tag {data[pos]}", pos)
    budget = r.budget                         # one unit per value (WorkBudget.spend, inlined)
    budget.used += 1
    if budget.used > budget.limit:
        raise r.over(f"A-XDR data: work budget of {budget.limit} units exhausted")
    pos += 1
    fmt = _INT_AT[t]
    if fmt is not None:                       # fast path: fixed-size integers
        end = pos + fmt.size
        if end > size:
            r.pos = pos
            raise r.fail(f"truncated: {t.name} needs {fmt.size} bytes")
        r.pos = end
        return _new(Data, (t, fmt.unpack_from(data, pos)[0]))
    r.pos = pos
    # short forms read inline (a length byte below 0x80); anything else: the checked reader
    n = data[pos] if pos < size else 0x80
    if t is _OCTET:
        end = pos + 1 + n
        if n < 0x80 and end <= size:
            r.pos = end
            return _new(Data, (t, data[pos + 1:end]))
        return _new(Data, (t, r.take(r.length("octet-string length"), "octet-string")))
    if t is _STRUCTURE or t is _ARRAY:
        if depth >= MAX_DEPTH:
            raise r.over(f"data nested deeper than {MAX_DEPTH}")
        if n < 0x80:
            r.pos = pos = pos + 1
        else:
            n = r.length(f"{t.name.lower()} count")
            pos = r.pos
        if n > size - pos:  # each element needs at least one byte
            raise r.over(f"{t.name.lower()} of {n} elements cannot fit {r.remaining} bytes")
        depth += 1
        if n > 1 and t is _ARRAY:
            items = _read_uniform(r, n, depth)
            if items is not None:
                return _new(Data, (t, items))
        if n < 8:
            items = []
            for _ in range(n):
                items.append(read_data(r, depth))
            return _new(Data, (t, tuple(items)))
        return _new(Data, (t, tuple([read_data(r, depth) for _ in range(n)])))
    if t is _VISIBLE:
        end = pos + 1 + n
        if n < 0x80 and end <= size:
            try:
                text = data[pos + 1:end].decode("ascii")
            except UnicodeDecodeError:        # the checked reader raises the typed error
                return _new(Data, (t, _read_contents(r, t)))
            r.pos = end
            return _new(Data, (t, text))
    if t is DataType.COMPACT_ARRAY:
        return _new(Data, (t, _read_compact_array(r, depth)))
    return _new(Data, (t, _read_contents(r, t)))


# ---------------------------------------------------------------- uniform arrays in one pass
#
# An array whose elements all have the first element's layout (same tags, same octet-string
# lengths: a profile buffer of {date-time, +A, -A} rows) is read with one struct.iter_unpack:
# the layout becomes a struct format, its tag and length bytes are checked column by column,
# and the Data values are built by C-level map/zip. It is taken only when it gives exactly what
# read_data would (every element present and matching, the budget affords all their units,
# element structures within MAX_DEPTH); otherwise read_data reads the array element by element
# and raises its usual errors.

_FIELD = {t: fmt.format[1:] for t, fmt in (*_INT_FORMATS.items(), *_FLOAT_FORMATS.items())}
_FIELD.update({t: f"{size}s" for t, size in _FIXED_OCTETS.items()})
_FIELD[DataType.BOOLEAN] = "B"
_FIELD_SIZE = {t: struct.calcsize(">" + code) for t, code in _FIELD.items()}
"""Untagged contents of the fixed-size simple types: struct code and size."""
_PLANS: dict[bytes, tuple] = {}
_PLANS_MAX = 256
_NULL = Data(DataType.NULL, None)
_EMPTY_STRUCTURE = Data(DataType.STRUCTURE, ())


def _scalar_layout(data: bytes, p: int, layout: tuple) -> int:
    """Add the simple value at ``p`` to ``layout`` = (struct codes, key, leaves); return where
    it ends, or -1 when it has no fixed layout. ``key`` collects the tag/length bytes (one
    "B" code each), ``leaves`` the (column or None for null-data, DataType) of each value."""
    codes, key, leaves = layout
    tag = data[p]
    t = _TAG_AT[tag]
    code = _FIELD.get(t)
    if t is DataType.OCTET_STRING:
        size = data[p + 1]
        if size >= 0x80:
            return -1
        key += bytes((tag, size))
        codes += ("B", "B")
        leaves.append((len(codes), t))
        codes.append(f"{size}s")
        return p + 2 + size
    if code is not None:
        key.append(tag)
        codes.append("B")
        leaves.append((len(codes), t))
        codes.append(code)
        return p + 1 + _FIELD_SIZE[t]
    if t is DataType.NULL:
        key.append(tag)
        codes.append("B")
        leaves.append((None, t))
        return p + 1
    return -1


def _plan(data: bytes, pos: int, depth: int):
    """(unpacker, units per element, constant checks, builder) for the element at ``pos``."""
    layout = ([], bytearray(), [])
    codes, key, _ = layout
    try:
        if data[pos] == DataType.STRUCTURE:
            count = data[pos + 1]
            if count >= 0x80 or depth >= MAX_DEPTH:
                return None
            key += data[pos:pos + 2]
            codes += ("B", "B")
            p = pos + 2
            for _ in range(count):
                p = _scalar_layout(data, p, layout)
                if p < 0:
                    return None
        elif _scalar_layout(data, pos, layout) < 0:
            return None
    except IndexError:
        return None
    plan = _PLANS.get(bytes(key))
    if plan is None:
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        plan = _PLANS[bytes(key)] = _compile(*layout)
    return plan


def _compile(codes: list, key: bytearray, leaves: list):
    unpacker = struct.Struct(">" + "".join(codes))
    checks = tuple(zip((j for j, code in enumerate(codes) if code == "B" and
                        all(j != leaf for leaf, _ in leaves)), key))
    structure = key[0] == DataType.STRUCTURE

    def build(cols: tuple, n: int) -> tuple:
        parts = []
        for j, t in leaves:
            if j is None:
                parts.append(repeat(_NULL, n))
            else:
                col = map(bool, cols[j]) if t is DataType.BOOLEAN else cols[j]
                parts.append(map(_new, repeat(Data), zip(repeat(t), col)))
        if not structure:
            return tuple(parts[0])
        if not parts:
            return (_EMPTY_STRUCTURE,) * n
        return tuple(map(_new, repeat(Data), zip(repeat(DataType.STRUCTURE), zip(*parts))))
    return unpacker, 1 + len(leaves) if structure else 1, checks, build


def _read_uniform(r: Reader, n: int, depth: int) -> tuple | None:
    """The ``n`` elements at the reader's position when they share one layout, else None."""
    data, pos = r.data, r.pos
    plan = _plan(data, pos, depth)
    if plan is None:
        return None
    unpacker, units, checks, build = plan
    end = pos + n * unpacker.size
    budget = r.budget
    if end > len(data) or budget.used + n * units > budget.limit:
        return None
    cols = tuple(zip(*unpacker.iter_unpack(memoryview(data)[pos:end])))
    for j, value in checks:
        if cols[j].count(value) != n:
            return None
    items = build(cols, n)
    budget.used += n * units
    r.pos = end
    return items


def _read_compact_array(r: Reader, depth: int) -> CompactArray:
    desc, min_size, values = _read_type_desc(r, depth)
    size = r.length("compact-array contents length")
    body = Reader(r.take(size, "compact-array contents"), error=r.error, budget=r.budget)
    if not size:
        return CompactArray(desc, ())
    if min_size == 0:
        raise body.over("compact-array element of zero size")
    if min_size > size:
        raise body.over(f"compact-array element needs >= {min_size} bytes, contents hold {size}")
    most = size // min_size * values      # values the contents could hold at most
    if not r.budget.affords(most):
        raise body.over(f"compact-array could hold {most} values, work budget has {r.budget.remaining} units")
    elements = []
    while not body.at_end():
        elements.append(_read_compact_element(body, desc))
    return CompactArray(desc, tuple(elements))


def _read_contents(r: Reader, t: DataType) -> Any:
    fmt = _INT_FORMATS.get(t)
    if fmt is not None:
        return fmt.unpack(r.take(fmt.size, t.name))[0]
    if t is DataType.OCTET_STRING:
        return r.take(r.length("octet-string length"), "octet-string")
    if t is DataType.NULL:
        return None
    if t is DataType.BOOLEAN:
        return r.u8("boolean") != 0
    if t is DataType.VISIBLE_STRING or t is DataType.UTF8_STRING:
        raw = r.take(r.length("string length"), t.name)
        try:
            return raw.decode("ascii" if t is DataType.VISIBLE_STRING else "utf-8")
        except UnicodeDecodeError:
            raise r.fail(f"{t.name} is not {'ASCII' if t is DataType.VISIBLE_STRING else 'UTF-8'}") from None
    if t is DataType.BIT_STRING:
        nbits = r.length("bit-string length")
        raw = r.take((nbits + 7) // 8, "bit-string")
        if nbits == 0:
            return ""
        return format(int.from_bytes(raw, "big"), f"0{len(raw) * 8}b")[:nbits]
    if t in _FLOAT_FORMATS:
        fmt = _FLOAT_FORMATS[t]
        return fmt.unpack(r.take(fmt.size, t.name))[0]
    if t in _FIXED_OCTETS:
        return r.take(_FIXED_OCTETS[t], t.name)
    raise r.fail(f"type {t.name} cannot appear here")


def _contents_min_size(t: DataType) -> int:
    """Fewest bytes the untagged contents of a simple type take (a length byte for strings)."""
    fmt = _INT_FORMATS.get(t) or _FLOAT_FORMATS.get(t)
    if fmt is not None:
        return fmt.size
    if t in _FIXED_OCTETS:
        return _FIXED_OCTETS[t]
    return 0 if t is DataType.NULL else 1


def _read_type_desc(r: Reader, depth: int) -> tuple[TypeDesc, int, int]:
    """A compact-array description and its shape: (desc, minimum bytes per element, values
    per element), multiplied across array levels. Each description node costs one unit."""
    if depth >= MAX_DEPTH:
        raise r.over("compact-array description nested too deep")
    r.spend(1, "compact-array description")
    tag = r.u8("type description tag")
    try:
        t = DataType(tag)
    except ValueError:
        raise r.error(f"unknown type {tag} in compact-array description", r.pos - 1) from None
    if t is DataType.ARRAY:
        count = r.u16("array element count")
        child, child_min, child_values = _read_type_desc(r, depth + 1)
        if count and not child_min:
            raise r.over(f"compact-array description repeats {count} elements of zero size")
        return TypeDesc(t, count, (child,)), count * child_min, 1 + count * child_values
    if t is DataType.STRUCTURE:
        n = r.length("structure description count")
        if n > r.remaining:
            raise r.over("structure description longer than the input")
        children, min_size, values = [], 0, 1
        for _ in range(n):
            child, child_min, child_values = _read_type_desc(r, depth + 1)
            children.append(child)
            min_size += child_min
            values += child_values
        return TypeDesc(t, n, tuple(children)), min_size, values
    if t is DataType.COMPACT_ARRAY:
        raise r.fail("compact-array cannot nest")
    return TypeDesc(t), _contents_min_size(t), 1


def _read_compact_element(r: Reader, desc: TypeDesc) -> Data:
    if not r.budget.spend(1):
        raise r.over(f"compact-array element: work budget of {r.budget.limit} units exhausted")
    if desc.tag is DataType.STRUCTURE:
        return Data(DataType.STRUCTURE, tuple(_read_compact_element(r, c) for c in desc.children))
    if desc.tag is DataType.ARRAY:
        child = desc.children[0]
        return Data(DataType.ARRAY, tuple(_read_compact_element(r, child) for _ in range(desc.count)))
    if desc.tag is DataType.NULL:
        raise r.fail("compact-array of null-data has no contents")
    return Data(desc.tag, _read_contents(r, desc.tag))


# ---------------------------------------------------------------- convenience

def to_python(data: Data) -> Any:
    """Plain Python view: lists for arrays/structures, scalars as they are."""
    if data.type is DataType.ARRAY or data.type is DataType.STRUCTURE:
        return [to_python(item) for item in data.value]
    if data.type is DataType.COMPACT_ARRAY:
        return [to_python(item) for item in data.value.elements]
    return data.value
