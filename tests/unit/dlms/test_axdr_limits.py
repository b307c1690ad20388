"""Issue 9, defect 1: A-XDR decoding is bounded by input size, nesting depth and a work budget.

Work is measured in Python calls (``work_meter.call_budget``), not seconds: the landed decoder
needed 16^6 element decodes (62 s) for the 38-byte value below; the bounded one refuses it
after a few dozen calls, and the test stops the broken one as soon as it exceeds the budget."""
import pytest
from work_meter import call_budget

from sumame.firmware.net.budget import REQUEST_UNITS, WorkBudget
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.apdu import decode_apdu
from sumame.firmware.net.dlms.axdr import DataType, TypeDesc
from sumame.firmware.net.dlms.errors import ApduError, AxdrError, LimitError

CALLS = 2000      # far above what a bounded decoder needs for these inputs


def nested_compact(levels: int, body: int) -> bytes:
    """compact-array whose description is ``levels`` arrays of ``body`` elements around an
    empty structure, with ``body`` bytes of contents (each level passes a per-level check)."""
    desc = b"".join(b"\x01" + body.to_bytes(2, "big") for _ in range(levels)) + b"\x02\x00"
    return b"\x13" + desc + bytes([body]) + b"\x00" * body


def hostile_set(levels: int = 5) -> bytes:
    """SET-request-normal (device ID, attribute 2) carrying ``nested_compact(levels, 16)``."""
    return bytes.fromhex("C101C1" "0001" "0000600100FF" "02" "00") + nested_compact(levels, 16)


def test_the_38_byte_value_is_refused_within_a_small_work_budget():
    raw = nested_compact(6, 16)
    assert len(raw) == 38
    result, calls = call_budget(lambda: axdr.decode(raw), CALLS)
    assert isinstance(result, AxdrError) and isinstance(result, LimitError), result
    assert "zero size" in str(result)


def test_the_56_byte_set_is_refused_as_an_apdu_within_a_small_work_budget():
    apdu = hostile_set()
    assert len(apdu) + 8 == 56                      # + the wrapper header on the wire
    result, _ = call_budget(lambda: decode_apdu(apdu), CALLS)
    assert isinstance(result, ApduError) and isinstance(result, LimitError), result


@pytest.mark.parametrize("levels", [2, 3, 4, 8, 23])
def test_every_depth_of_zero_size_nesting_is_refused_cheaply(levels):
    result, _ = call_budget(lambda: axdr.decode(nested_compact(levels, 16)), CALLS)
    assert isinstance(result, LimitError)


def test_zero_size_parts_next_to_real_contents_are_bounded_by_the_budget():
    """struct{100 x empty struct, unsigned} takes 1 byte per element but builds 102 values: the
    contents could hold 200 of them (20 400 values) - over the budget of a 214-byte input."""
    desc = b"\x02\x65" + b"\x02\x00" * 100 + b"\x11"
    raw = b"\x13" + desc + b"\x81\xC8" + bytes(200)
    result, _ = call_budget(lambda: axdr.decode(raw), CALLS)
    assert isinstance(result, LimitError) and "work budget" in str(result)


def test_multiplied_minimum_size_is_checked_before_decoding():
    """array(200) of array(200) of unsigned needs 40 000 bytes per element; 16 are given."""
    raw = b"\x13\x01\x00\xC8\x01\x00\xC8\x11" + b"\x10" + bytes(16)
    result, _ = call_budget(lambda: axdr.decode(raw), CALLS)
    assert isinstance(result, LimitError) and "40000 bytes" in str(result)


def test_plain_nesting_deeper_than_the_limit_is_a_limit_error():
    raw = b"\x01\x01" * (axdr.MAX_DEPTH + 1) + b"\x00"
    with pytest.raises(LimitError):
        axdr.decode(raw)
    ok = b"\x01\x01" * axdr.MAX_DEPTH + b"\x00"
    assert axdr.decode(ok).type is DataType.ARRAY


def test_an_explicit_budget_bounds_plain_arrays_too():
    value = axdr.encode(axdr.array([axdr.unsigned(i) for i in range(100)]))
    assert len(axdr.decode(value).value) == 100
    budget = WorkBudget(50)
    with pytest.raises(LimitError):
        axdr.decode(value, budget)
    assert budget.used == 51                        # stopped at the first unit over


def test_legitimate_compact_arrays_still_decode_within_the_default_budget():
    desc = TypeDesc(DataType.STRUCTURE, 3, (TypeDesc(DataType.DATE_TIME), TypeDesc(DataType.DOUBLE_LONG_UNSIGNED),
                                            TypeDesc(DataType.OCTET_STRING)))
    rows = tuple(axdr.structure(axdr.Data(DataType.DATE_TIME, bytes(12)), axdr.double_long_unsigned(i),
                                axdr.octet_string(b"x" * (i % 5))) for i in range(300))
    value = axdr.Data(DataType.COMPACT_ARRAY, axdr.CompactArray(desc, rows))
    assert axdr.decode(axdr.encode(value)) == value
    empty = axdr.Data(DataType.COMPACT_ARRAY, axdr.CompactArray(TypeDesc(DataType.STRUCTURE), ()))
    assert axdr.decode(axdr.encode(empty)) == empty


def test_the_request_budget_is_capped_whatever_the_size():
    assert WorkBudget.for_input(10_000_000).limit == REQUEST_UNITS
    assert WorkBudget.for_input(10).limit < REQUEST_UNITS


def test_a_range_bound_in_year_0_is_a_typed_error_not_a_crash():
    """Found by the fuzz run with real deadlines: year 0 made calendar raise ValueError out of the
    server (the A-route task would have died)."""
    from sumame.firmware.net.dlms.cosem_time import CosemDateTime

    raw = bytes.fromhex("0000" "0101" "01000000" "0000" "00" "00")[:12]
    with pytest.raises(AxdrError):
        CosemDateTime.from_bytes(raw).to_epoch()
