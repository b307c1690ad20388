"""Property sets ([broute] property_set): what each serves, the optional superclass EPCs' values,
and that the maps always describe exactly what is served (and a Set outside the set is refused)."""
from datetime import datetime

import pytest

from sumame.boards.schema import BoardErrors, validate
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.net import echonet as el
from sumame.firmware.routes.broute import edt, property_sets
from sumame.firmware.routes.broute.objects import DeviceFacts
from sumame.firmware.routes.broute.service import BRouteOptions, build_objects
from sumame.tools.hems.sample_readings import SampleReadings

NOW = datetime(2025, 6, 15, 12, 10, 7, tzinfo=edt.JST).timestamp()
SUPERCLASS_OPTIONAL = {0x84, 0x85, 0x86, 0x87, 0x89, 0x8B, 0x8C, 0x8E, 0x8F, 0x93, 0x99, 0x9A}
NOT_SERVED = {0x84, 0x85, 0x87, 0x99}


def meter(kind="lv", property_set="full", facts=None, clock=None):
    clock = clock or VirtualClock(NOW)
    readings = SampleReadings(clock, kind=kind)
    return build_objects(readings, BRouteOptions(property_set=property_set, facts=facts or DeviceFacts()))[1]


def served(obj):
    return set(el.decode_property_map(obj.get(0x9F)))


def test_full_serves_the_superclass_optionals_except_the_four_a_meter_has_not():
    lv = served(meter())
    assert SUPERCLASS_OPTIONAL - NOT_SERVED <= lv and not lv & NOT_SERVED
    assert len(lv) == 38
    hv = served(meter("hv"))
    assert SUPERCLASS_OPTIONAL - NOT_SERVED <= hv and len(hv) == 42


@pytest.mark.parametrize("name, kind, count", [
    ("standard", "lv", 30), ("mra-required", "lv", 23), ("field-release-f", "lv", 25),
    ("standard", "hv", 34), ("mra-required", "hv", 22)])
def test_each_set_serves_exactly_its_epcs_and_every_epc_answers(name, kind, count):
    obj = meter(kind, name)
    epcs = served(obj)
    assert epcs == set(property_sets.allowed(name, kind)) and len(epcs) == count
    assert all(obj.get(e) is not None for e in epcs)
    assert all(obj.get(e) is None for e in set(range(0x80, 0x100)) - epcs)
    assert set(el.decode_property_map(obj.get(0x9E))) <= epcs
    assert set(el.decode_property_map(obj.get(0x9D))) <= epcs


def test_a_set_outside_the_property_set_is_refused():
    obj = meter("lv", "field-release-f")          # no EF (history 3 selector) on that meter
    assert not obj.set(0xEF, bytes.fromhex("07e9060f0c0001"))
    assert el.decode_property_map(obj.get(0x9E)) == [0x81, 0xE5, 0xED]
    assert obj.set(0xE5, b"\x01")


def test_optional_superclass_values_follow_the_board_and_the_meter_state():
    clock = VirtualClock(NOW)
    obj = meter(facts=DeviceFacts(product_code="HEMS-TEST", production_date="2023-11-05",
                                  facility_code=0x123456), clock=clock)
    assert obj.get(0x8C) == b"HEMS-TEST\x00\x00\x00"
    assert obj.get(0x8E) == bytes.fromhex("07e70b05")
    assert obj.get(0x8B) == bytes.fromhex("123456")
    assert obj.get(0x86) == bytes.fromhex("05ffffff0000") and obj.get(0x89) == b"\x00\x00"
    assert obj.get(0x88) == b"\x42" and obj.get(0x8F) == b"\x42" and obj.get(0x93) == b"\x41"
    assert obj.get(0x9A) == b"\x42\x00\x00\x00\x00"
    clock.advance_to(NOW + 3 * 3600 + 59)
    assert obj.get(0x9A) == b"\x42" + (180).to_bytes(4, "big")     # minutes since boot
    obj.fault = 0x03E8
    assert obj.get(0x88) == b"\x41" and obj.get(0x89) == bytes.fromhex("03e8")
    assert obj.get(0x86)[-2:] == bytes.fromhex("03e8")
    assert meter("hv").get(0x8C) == b"SUMAME-HV\x00\x00\x00"


def test_board_key_is_checked():
    base = {"board": {"name": "x", "kind": "hv"},
            "identity": {"route_b_id": "0" * 32, "route_b_password": "A" * 12, "supply_point": "0" * 22},
            "meter": {"wiring": "3p3w"}}
    with pytest.raises(BoardErrors, match="LV"):
        validate("x.toml", {**base, "broute": {"property_set": "field-release-f"}})
    with pytest.raises(BoardErrors, match="property_set"):
        validate("x.toml", {**base, "broute": {"property_set": "everything"}})
    assert validate("x.toml", {**base, "broute": {"property_set": "mra-required"}})["broute"]["property_set"] \
        == "mra-required"
    with pytest.raises(ValueError, match="LV"):
        property_sets.allowed("field-release-f", "hv")
