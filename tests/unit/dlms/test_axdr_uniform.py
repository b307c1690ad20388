"""A-XDR arrays whose elements share one layout are read in one struct pass (issue 15 point 7).

The one-pass reader must give exactly what the element-by-element reader gives - the same
values, the same work units charged, the same error (type, message, offset) on bad input, the
same budget and depth refusals - and it must really be the path a profile buffer takes (its
work is a handful of Python calls, not one per value)."""
import math
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from work_meter import call_budget

from sumame.firmware.net.budget import WorkBudget
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.axdr import Data, DataType
from sumame.firmware.net.dlms.errors import DlmsError, LimitError

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def element_by_element():
    with mock.patch.object(axdr, "_read_uniform", lambda *args: None):
        yield


def outcome(raw: bytes, limit: int | None = None):
    budget = WorkBudget.for_input(len(raw)) if limit is None else WorkBudget(limit)
    try:
        value = axdr.decode(raw, budget)
    except DlmsError as exc:
        return type(exc), str(exc), exc.offset, budget.used
    return value, budget.used


def both(raw: bytes, limit: int | None = None):
    fast = outcome(raw, limit)
    with element_by_element():
        slow = outcome(raw, limit)
    return fast, slow


def same(fast, slow) -> bool:
    """Equal outcomes; a damaged float64/float32 may decode to NaN, which is never == itself,
    so the exact reprs are compared then (both readers saw the same bytes)."""
    return fast == slow or repr(fast) == repr(slow)


# one element layout: simple values the one-pass reader handles, and some it leaves alone
LEAVES = {
    "null": st.just(axdr.null()), "boolean": st.booleans().map(axdr.boolean),
    "integer": st.integers(-128, 127).map(axdr.integer), "long": st.integers(-32768, 32767).map(axdr.long),
    "unsigned": st.integers(0, 255).map(axdr.unsigned), "enum": st.integers(0, 255).map(axdr.enum),
    "long-unsigned": st.integers(0, 0xFFFF).map(axdr.long_unsigned),
    "double-long": st.integers(-(2**31), 2**31 - 1).map(axdr.double_long),
    "double-long-unsigned": st.integers(0, 2**32 - 1).map(axdr.double_long_unsigned),
    "long64": st.integers(-(2**63), 2**63 - 1).map(axdr.long64),
    "float32": st.floats(width=32, allow_nan=False).map(lambda f: Data(DataType.FLOAT32, f)),
    "float64": st.floats(allow_nan=False).map(lambda f: Data(DataType.FLOAT64, f)),
    "date-time": st.binary(min_size=12, max_size=12).map(lambda b: Data(DataType.DATE_TIME, b)),
    "octet-string": st.binary(min_size=0, max_size=3),       # lengths vary between elements
    "stamp": st.binary(min_size=12, max_size=12).map(axdr.octet_string),
    "visible-string": st.text("abc", max_size=3).map(axdr.visible_string),   # not one-pass
    "long-octets": st.binary(min_size=128, max_size=130).map(axdr.octet_string),   # long length form
}


def leaf(name):
    strategy = LEAVES[name]
    return strategy.map(axdr.octet_string) if name == "octet-string" else strategy


@st.composite
def uniform_arrays(draw):
    names = draw(st.lists(st.sampled_from(sorted(LEAVES)), min_size=0, max_size=5))
    scalar = draw(st.booleans()) and len(names) == 1
    n = draw(st.integers(2, 12))
    if scalar:
        rows = [draw(leaf(names[0])) for _ in range(n)]
    else:
        rows = [axdr.structure(*(draw(leaf(name)) for name in names)) for _ in range(n)]
    return axdr.array(rows)


def mutate(raw: bytes, edits) -> bytes:
    b = bytearray(raw)
    for pos, val, op in edits:
        if not b:
            break
        i = pos % len(b)
        if op == 0:
            b[i] = val
        elif op == 1:
            del b[i]
        else:
            b.insert(i, val)
    return bytes(b)


@SETTINGS
@given(value=uniform_arrays())
def test_round_trip_matches_the_element_reader(value):
    raw = axdr.encode(value)
    fast, slow = both(raw)
    assert same(fast, slow)
    assert fast[0] == value


@SETTINGS
@given(value=uniform_arrays(), edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255),
                                                        st.integers(0, 2)), min_size=1, max_size=3))
def test_damaged_arrays_fail_or_decode_exactly_like_the_element_reader(value, edits):
    raw = mutate(axdr.encode(value), edits)
    fast, slow = both(raw)
    assert same(fast, slow)


@SETTINGS
@given(value=uniform_arrays(), spare=st.integers(-40, 3))
def test_budget_boundary_is_the_same(value, spare):
    """A budget a few units short of (or just above) what the array needs: both readers stop
    at the same unit with the same limit error, or both finish."""
    raw = axdr.encode(value)
    _, needed = outcome(raw, limit=10**6)
    fast, slow = both(raw, max(0, needed + spare))
    assert same(fast, slow)
    if spare < 0:
        assert issubclass(fast[0], LimitError)


def profile(rows: int) -> bytes:
    return axdr.encode(axdr.array(
        axdr.structure(axdr.octet_string(bytes(12)), axdr.double_long_unsigned(k), axdr.double_long_unsigned(2 * k))
        for k in range(rows)))


def test_a_profile_buffer_takes_the_one_pass_reader():
    raw = profile(48)
    outcome(raw)                                              # the layout is compiled once
    (value, used), calls = call_budget(lambda: outcome(raw), 10**6)
    assert used == 1 + 48 * 4                                 # every value still costs its unit
    assert [item.value[1].value for item in value.value] == list(range(48))
    assert calls < 40, calls                                  # element by element: > 190
    with element_by_element():
        _, slow_calls = call_budget(lambda: outcome(raw), 10**6)
    assert slow_calls > 190


def test_the_last_element_differing_falls_back_to_the_element_reader():
    rows = [axdr.structure(axdr.unsigned(k), axdr.long_unsigned(k)) for k in range(5)]
    rows.append(axdr.structure(axdr.unsigned(9), axdr.double_long_unsigned(9)))   # other layout
    value = axdr.array(rows)
    assert axdr.decode(axdr.encode(value)) == value
    stamps = axdr.array([axdr.octet_string(b"ab"), axdr.octet_string(b"abc")])     # other length
    assert axdr.decode(axdr.encode(stamps)) == stamps


def test_element_structures_at_the_depth_limit_are_refused_as_before():
    inner = profile(3)
    for levels in (axdr.MAX_DEPTH - 2, axdr.MAX_DEPTH - 1):
        raw = b"\x01\x01" * levels + inner
        fast, slow = both(raw)
        assert same(fast, slow)
    assert issubclass(fast[0], LimitError)                    # the rows would be nested too deep
    assert isinstance(axdr.decode(b"\x01\x01" * (axdr.MAX_DEPTH - 2) + inner), Data)


@pytest.mark.parametrize("cut", [1, 5, 13, 26 * 47 + 3])
def test_a_truncated_profile_fails_like_the_element_reader(cut):
    raw = profile(48)[:-cut]
    fast, slow = both(raw)
    assert same(fast, slow) and issubclass(fast[0], DlmsError)


@pytest.mark.parametrize("first", [0x7F, 0x80, 0x81])
def test_octet_string_length_forms_at_the_short_form_edge(first):
    """0x7F is a short length, 0x80 an invalid form, 0x81 the long form: as the element reader."""
    body = {0x7F: bytes(0x7F), 0x80: bytes(0x80), 0x81: b"\x80" + bytes(0x80)}[first]
    element = b"\x09" + bytes((first,)) + body
    raw = b"\x01\x02" + element * 2
    fast, slow = both(raw)
    assert same(fast, slow)
    assert isinstance(fast[0], Data) == (first != 0x80)


@pytest.mark.parametrize("count", [0x7F, 0x80])
def test_structure_count_forms_at_the_short_form_edge(count):
    element = b"\x02" + bytes((count,)) + b"\x11\x00" * count
    raw = b"\x01\x02" + element * 2
    fast, slow = both(raw)
    assert same(fast, slow)
    assert isinstance(fast[0], Data) == (count == 0x7F)


def test_a_float_damaged_into_nan_decodes_alike():
    """Hypothesis found this one: a flipped exponent byte turns a float64 into NaN; both readers
    must give the same NaN (and == alone would call them different)."""
    raw = bytes.fromhex("0104020503001900000000000000000000000019000000000000000000000000050000000018000000000000000002050300190000000000000000000000001900000000000000000000000005000000001800000000000000000205030019000000000000000000000000190000000000000000000000000500000000187ff00100000000000205030019000000000000000000000000190000000000000000000000000500000000180000000000000000")
    fast, slow = both(raw)
    assert fast != slow   # NaN: why same() exists
    assert same(fast, slow)
    assert math.isnan(fast[0].value[2].value[4].value)
