"""B-route objects: node profile, LV meter 0x028801 and HV meter 0x028A01 values from MeterReadings."""
from datetime import datetime

import pytest

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.net import echonet as el
from sumame.firmware.metrology.readings import Quantity
from sumame.firmware.routes.broute import edt
from sumame.firmware.routes.broute.service import BRouteOptions, build_objects
from sumame.tools.hems.sample_readings import SampleReadings

NOW = datetime(2025, 6, 15, 12, 10, 7, tzinfo=edt.JST).timestamp()
GAP = (datetime(2025, 6, 14, 9, 45, tzinfo=edt.JST).timestamp(),
       datetime(2025, 6, 14, 11, 15, tzinfo=edt.JST).timestamp())


@pytest.fixture
def lv():
    clock = VirtualClock(NOW)
    readings = SampleReadings(clock, gaps=[GAP])
    profile, meter = build_objects(readings, BRouteOptions())
    return clock, readings, profile, meter


def u32s(raw):
    return [int.from_bytes(raw[i:i + 4], "big") for i in range(0, len(raw), 4)]


def test_node_profile(lv):
    _, readings, profile, _ = lv
    assert profile.get(0x80) == b"\x30"
    assert profile.get(0xD3) == b"\x00\x00\x01"
    assert profile.get(0xD4) == b"\x00\x02"
    assert profile.get(0xD5) == profile.get(0xD6) == bytes.fromhex("01028801")
    assert profile.get(0xD7) == bytes.fromhex("010288")
    assert profile.get(0x83)[:4] == b"\xfe\xff\xff\xff" and len(profile.get(0x83)) == 17
    assert profile.get(0x8A) == b"\xff\xff\xff"
    assert el.decode_property_map(profile.get(0x9F)) == sorted(
        [0x80, 0x82, 0x83, 0x8A, 0x8D, 0x9D, 0x9E, 0x9F, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7])
    assert profile.get(0x9E) == b"\x00"


def test_lv_maps_cover_every_release_r_property(lv):
    _, _, _, meter = lv
    get_map = el.decode_property_map(meter.get(0x9F))
    expected = {0x80, 0x81, 0x82, 0x83, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F, 0xC0, 0xD0,
                0xD3, 0xD7, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE7, 0xE8, 0xEA, 0xEB, 0xEC, 0xED,
                0xEE, 0xEF} | {0x86, 0x89, 0x8B, 0x8C, 0x8E, 0x8F, 0x93, 0x9A}   # full set
    assert set(get_map) == expected
    assert len(meter.get(0x9F)) == 17                     # bitmap form (>= 16 EPCs)
    assert el.decode_property_map(meter.get(0x9E)) == [0x81, 0xE5, 0xED, 0xEF]
    assert el.decode_property_map(meter.get(0x9D)) == [0x80, 0x81, 0x88]


def test_lv_instantaneous_and_cumulative_values(lv):
    clock, readings, _, meter = lv
    present = readings.present()
    assert int.from_bytes(meter.get(0xE7), "big", signed=True) == present.power_w
    e8 = meter.get(0xE8)
    assert int.from_bytes(e8[:2], "big", signed=True) == present.current_da[0]
    assert int.from_bytes(e8[2:], "big", signed=True) == present.current_da[1]
    assert u32s(meter.get(0xE0)) == [readings.cumulative_now(Quantity.FORWARD)]
    assert u32s(meter.get(0xE3)) == [readings.cumulative_now(Quantity.REVERSE)]
    assert meter.get(0xE1) == b"\x01" and meter.get(0xD7) == b"\x06"
    assert u32s(meter.get(0xD3)) == [1]
    ea = meter.get(0xEA)
    assert ea[:7] == bytes.fromhex("07e9060f0c0000")     # 2025-06-15 12:00:00 JST
    assert u32s(ea[7:]) == [readings.cumulative_at(Quantity.FORWARD, readings.latest_boundary(30))]
    d0 = meter.get(0xD0)
    assert d0[:7] == bytes.fromhex("07e9060f0c0a00") and len(d0) == 15


def test_two_wire_meter_puts_no_data_in_t(lv):
    clock = VirtualClock(NOW)
    readings = SampleReadings(clock, wiring="1p2w")
    _, meter = build_objects(readings, BRouteOptions())
    assert meter.get(0xE8)[2:] == b"\x7f\xfe"


def test_history_day_selector_and_no_data(lv):
    clock, readings, _, meter = lv
    assert meter.get(0xE2) == b"\x00\xff" + b"\xff\xff\xff\xfe" * 48    # E5 initial 0xFF
    assert meter.set(0xE5, b"\x01")
    e2 = meter.get(0xE2)
    assert len(e2) == 194 and e2[:2] == b"\x00\x01"
    values = u32s(e2[2:])
    start = edt.jst_midnight(NOW, 1)
    assert values == [readings.cumulative_at(Quantity.FORWARD, start + 1800 * k) or 0xFFFFFFFE
                      for k in range(48)]
    assert values[20] == values[21] == values[22] == 0xFFFFFFFE     # 10:00-11:00 in the gap
    assert values[19] != 0xFFFFFFFE and values[23] != 0xFFFFFFFE
    assert values == sorted(values[:20]) + values[20:23] + sorted(values[23:])
    assert meter.set(0xE5, b"\x05")                                    # before installation
    assert meter.get(0xE2)[2:] == b"\xff\xff\xff\xfe" * 48
    assert meter.set(0xE5, b"\x00")
    today = u32s(meter.get(0xE4)[2:])
    assert today[24] != 0xFFFFFFFE and today[25:] == [0xFFFFFFFE] * 23  # 12:30.. not yet
    assert not meter.set(0xE5, b"\x64") and not meter.set(0xE5, b"\x00\x01")


def test_history_2_and_3_selectors(lv):
    clock, readings, _, meter = lv
    assert meter.get(0xEC) == bytes.fromhex("ffffffffffff01fffffffefffffffe")
    assert meter.get(0xEE) == bytes.fromhex("ffffffffffff01fffffffefffffffe")
    slot = bytes.fromhex("07e9060f0b00")                  # 11:00 JST
    assert meter.set(0xED, slot + b"\x03")
    ec = meter.get(0xEC)
    assert ec[:7] == slot + b"\x03" and len(ec) == 7 + 8 * 3
    t = edt.parse_datetime6(slot)
    pairs = u32s(ec[7:])
    assert pairs[0] == readings.cumulative_at(Quantity.FORWARD, t)
    assert pairs[2] == readings.cumulative_at(Quantity.FORWARD, t - 1800)
    assert pairs[3] == readings.cumulative_at(Quantity.REVERSE, t - 1800)
    minute = bytes.fromhex("07e9060f0c05")                # 12:05
    assert meter.set(0xEF, minute + b"\x0a")
    ee = meter.get(0xEE)
    assert len(ee) == 87
    assert u32s(ee[7:])[0::2] == [readings.cumulative_at(Quantity.FORWARD, edt.parse_datetime6(minute) - 60 * i)
                                  for i in range(10)]
    for bad_ed in [slot + b"\x00", slot + b"\x0d", bytes.fromhex("07e9060f0b0f01"),
                   bytes.fromhex("07e9060f0d0001"), bytes.fromhex("07e9021e0b0001"), slot]:
        assert not meter.set(0xED, bad_ed), bad_ed.hex()
    assert not meter.set(0xEF, minute + b"\x0b")
    assert meter.get(0xED) == slot + b"\x03"


def test_route_b_id_and_identity(lv):
    _, readings, _, meter = lv
    c0 = meter.get(0xC0)
    assert len(c0) == 16 and c0[0] == 0 and c0[1:4] == b"\xff\xff\xff"
    assert meter.get(0x82) == b"\x00\x00R\x00"
    assert meter.get(0x8D) == b"SM0000000042"
    assert meter.get(0x97) == bytes((12, 10)) and meter.get(0x98) == bytes.fromhex("07e9060f")


def test_nothing_outside_the_set_whitelist_is_writable(lv):
    _, _, profile, meter = lv
    for epc in range(0x80, 0x100):
        if epc not in (0x81, 0xE5, 0xED, 0xEF):
            assert not meter.set(epc, b"\x00"), hex(epc)
        assert not profile.set(epc, b"\x00")
    assert not meter.set(0x97, b"\x0c\x00") and not meter.set(0x98, bytes.fromhex("07e9060f"))


def test_hv_meter_class_028a():
    clock = VirtualClock(NOW)
    readings = SampleReadings(clock, kind="hv")
    profile, meter = build_objects(readings, BRouteOptions())
    assert str(meter.eoj) == "0x028A01" and profile.get(0xD7) == bytes.fromhex("01028a")
    expected = {0x80, 0x81, 0x82, 0x83, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F, 0xC1, 0xC2,
                0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xD3, 0xD4, 0xE0, 0xE1,
                0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7} | {0x86, 0x89, 0x8B, 0x8C, 0x8E, 0x8F, 0x93, 0x9A}
    assert set(el.decode_property_map(meter.get(0x9F))) == expected
    assert el.decode_property_map(meter.get(0x9E)) == [0x81, 0xE1]
    assert u32s(meter.get(0xD3)) == [240] and meter.get(0xD4) == b"\x00"
    assert meter.get(0xE6) == b"\x03" and meter.get(0xE5) == b"\x08"
    b = readings.latest_boundary(30)
    c3 = meter.get(0xC3)
    energy = readings.interval_energy(Quantity.FORWARD, b, 30)
    assert u32s(c3[7:]) == [round(2 * energy / 0.001)]
    assert u32s(meter.get(0xE3)[7:]) == [readings.cumulative_at(Quantity.FORWARD, b)]
    assert u32s(meter.get(0xCB)[7:]) == [readings.cumulative_at(Quantity.REACTIVE_LAG, b)]
    c1 = u32s(meter.get(0xC1))[0]
    assert c1 >= u32s(c3[7:])[0] and c1 != 0xFFFFFFFE
    assert meter.get(0xE0) == b"\x01"
    assert meter.set(0xE1, b"\x01") and not meter.set(0xE1, b"\x64")
    e7 = meter.get(0xE7)
    assert e7[:2] == b"\x00\x01" and len(e7) == 194
    c6 = u32s(meter.get(0xC6)[2:])
    assert all(v != 0xFFFFFFFE for v in c6[1:])         # day 1 fully measured (slot 0 = 23:30-00:00)
    assert u32s(meter.get(0xC2)) == [0xFFFFFFFE]         # installed 3 days ago: no month completed
