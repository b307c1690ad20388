"""Independent review of the B-route property tables shared per class (e46f45e): meters of one
process with different identities, scaling, clocks, options and Set state never see each
other's values, through the ECHONET node as a HEMS asks (Get / SetC frames)."""
from dataclasses import replace
from datetime import datetime

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.metrology.readings import Quantity
from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import Eoj, Esv, Frame, Property
from sumame.firmware.routes.broute import edt
from sumame.firmware.routes.broute.lv_meter import route_b_id_property
from sumame.firmware.routes.broute.node import EchonetNode
from sumame.firmware.routes.broute.service import BRouteOptions, build_objects
from sumame.tools.hems.sample_readings import HV_IDENTITY, LV_IDENTITY, LV_SCALING, SampleReadings

NOW = datetime(2025, 6, 15, 12, 10, 7, tzinfo=edt.JST).timestamp()
HEMS = Eoj(0x05, 0xFF, 0x01)
LV, HV, PROFILE = Eoj(0x02, 0x88, 0x01), Eoj(0x02, 0x8A, 0x01), Eoj(0x0E, 0xF0, 0x01)


def _node(readings, **options):
    objects = build_objects(readings, BRouteOptions(**options))
    return EchonetNode(objects), objects


def _ask(node, deoj, esv, *props):
    replies, _ = node.handle(Frame(1, HEMS, deoj, esv, tuple(props)))
    (reply,) = replies
    return {p.epc: p.edt for p in reply.props}, reply.esv


def _get(node, deoj, *epcs):
    return _ask(node, deoj, Esv.GET, *(Property(e) for e in epcs))[0]


def test_two_low_voltage_meters_keep_their_own_values_and_set_state():
    clock_a, clock_b = VirtualClock(NOW), VirtualClock(NOW + 3 * 86400 + 1234)
    ra = SampleReadings(clock_a)
    rb = SampleReadings(clock_b, identity=replace(LV_IDENTITY, serial="SM0000000099", has_reverse=False,
                                                 route_b_id="0123456789ABCDEF0123456789ABCDEF"),
                        scaling=replace(LV_SCALING, coefficient=40))
    renewed = "FEDCBA9876543210FEDCBA9876543210"
    a, objs_a = _node(ra)
    b, objs_b = _node(rb, route_b_id=lambda: renewed, property_set="standard")
    for node, r, rbid in ((a, ra, None), (b, rb, renewed)):
        got = _get(node, LV, 0xE7, 0xE0, 0xC0, 0xD3)
        assert got == {0xE7: edt.i32(r.present().power_w), 0xE0: edt.u32(r.cumulative_now(Quantity.FORWARD)),
                       0xC0: route_b_id_property(r.identity, rbid), 0xD3: edt.u32(r.scaling.coefficient)}
    assert _get(a, LV, 0xD3)[0xD3] != _get(b, LV, 0xD3)[0xD3]
    assert _get(a, LV, 0xC0)[0xC0] != _get(b, LV, 0xC0)[0xC0]
    # maps: A full with reverse (E3), B the standard set without reverse
    map_a, map_b = (set(el.decode_property_map(_get(n, LV, 0x9F)[0x9F])) for n in (a, b))
    assert 0xE3 in map_a and 0xE3 not in map_b and map_a != map_b
    # C: the same class and variant as A (shares its table) but the standard set: A stays whole
    c, _ = _node(SampleReadings(VirtualClock(NOW)), property_set="standard")
    map_c = set(el.decode_property_map(_get(c, LV, 0x9F)[0x9F]))
    assert map_c < map_a and 0xE3 in map_c
    assert set(el.decode_property_map(_get(a, LV, 0x9F)[0x9F])) == map_a
    assert 0x8C in map_a and 0x8C not in map_c     # product code: optional, not in the standard set
    assert len(_get(a, LV, 0x8C)[0x8C]) == 12 and _get(c, LV, 0x8C)[0x8C] == b""
    # a Set on A (day of E2, location, ED slot selector) is not seen on B
    before_b = _get(b, LV, 0xE5, 0x81, 0xED)
    _, esv = _ask(a, LV, Esv.SETC, Property(0xE5, b"\x03"), Property(0x81, b"\x09"),
                  Property(0xED, bytes.fromhex("07E9060E0C0003")))
    assert esv is Esv.SET_RES
    assert _get(a, LV, 0xE5, 0x81, 0xED) == {0xE5: b"\x03", 0x81: b"\x09", 0xED: bytes.fromhex("07E9060E0C0003")}
    assert _get(b, LV, 0xE5, 0x81, 0xED) == before_b == {0xE5: b"\xff", 0x81: b"\x00", 0xED: b"\xff" * 6 + b"\x01"}
    # a fault on A only
    objs_a[1].fault = 0x0001
    assert _get(a, LV, 0x88)[0x88] == b"\x41" and _get(b, LV, 0x88)[0x88] == b"\x42"
    # node profiles answer for their own meter
    assert _get(a, PROFILE, 0x83)[0x83] != _get(b, PROFILE, 0x83)[0x83]
    assert _get(a, PROFILE, 0xD3) == _get(b, PROFILE, 0xD3) == {0xD3: b"\x00\x00\x01"}


def test_two_high_voltage_meters_keep_their_fixed_date_and_day():
    ra, rb = SampleReadings(VirtualClock(NOW), kind="hv"), SampleReadings(
        VirtualClock(NOW + 86400), kind="hv", identity=replace(HV_IDENTITY, serial="HV0000000777"))
    a, _ = _node(ra, hv_fixed_date=1)
    b, _ = _node(rb, hv_fixed_date=15)
    assert _get(a, HV, 0xE0) == {0xE0: b"\x01"} and _get(b, HV, 0xE0) == {0xE0: b"\x0f"}
    _, esv = _ask(b, HV, Esv.SETC, Property(0xE1, b"\x02"))
    assert esv is Esv.SET_RES
    assert _get(b, HV, 0xE1) == {0xE1: b"\x02"} and _get(a, HV, 0xE1) == {0xE1: b"\xff"}
    assert _get(b, HV, 0xE7)[0xE7][:2] == b"\x00\x02" and _get(a, HV, 0xE7)[0xE7][:2] == b"\x00\xff"
