"""ECHONET Lite codec: layout, every ESV, SetGet, typed errors, property maps (Appendix 1)."""
import pytest

from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import Eoj, Esv, Frame, Property


def test_get_request_layout_matches_the_spec():
    frame = Frame(0x1234, el.CONTROLLER, Eoj.of(0x028801), Esv.GET,
                  (Property(0xE7), Property(0xE8)))
    assert el.encode(frame) == bytes.fromhex("1081 1234 05ff01 028801 62 02 e700 e800")
    assert el.decode(el.encode(frame)) == frame


@pytest.mark.parametrize("esv", list(Esv))
def test_every_esv_round_trips(esv):
    props = (Property(0x80, b"\x30"), Property(0xE0))
    get_props = (Property(0xE2),) if esv.is_setget else ()
    frame = Frame(7, Eoj.of(0x028801), el.CONTROLLER, esv, props, get_props)
    assert el.decode(el.encode(frame)) == frame


def test_setget_layout_has_two_blocks():
    frame = Frame(1, el.CONTROLLER, Eoj.of(0x028801), Esv.SETGET,
                  (Property(0xE5, b"\x01"),), (Property(0xE2), Property(0xE1)))
    raw = el.encode(frame)
    assert raw[10:] == bytes.fromhex("6e 01 e5 01 01 02 e2 00 e1 00")


def test_response_and_request_codes():
    assert el.success_esv(Esv.GET) is Esv.GET_RES
    assert el.success_esv(Esv.SETC) is Esv.SET_RES
    assert el.success_esv(Esv.SETGET) is Esv.SETGET_RES
    assert el.success_esv(Esv.INF_REQ) is Esv.INF
    assert el.success_esv(Esv.INFC) is Esv.INFC_RES
    assert el.sna_esv(Esv.SETI) is Esv.SETI_SNA
    assert el.sna_esv(Esv.SETGET) is Esv.SETGET_SNA
    assert Esv.INFC.is_request and not Esv.GET_RES.is_request


@pytest.mark.parametrize("raw, error", [
    (b"", el.TruncatedFrame),
    (b"\x10", el.TruncatedFrame),
    (bytes.fromhex("1181 0001 05ff01 0ef001 62 00"), el.BadHeader),
    (bytes.fromhex("1083 0001 05ff01 0ef001 62 00"), el.BadHeader),
    (bytes.fromhex("1082 0001 deadbeef"), el.UnsupportedFormat),
    (bytes.fromhex("1081 0001 05ff01 0ef0"), el.TruncatedFrame),
    (bytes.fromhex("1081 0001 05ff01 0ef001 65 00"), el.UnknownEsv),
    (bytes.fromhex("1081 0001 05ff01 0ef001 62 02 d600"), el.TruncatedFrame),   # OPC too big
    (bytes.fromhex("1081 0001 05ff01 0ef001 61 01 8002 30"), el.TruncatedFrame),  # PDC too big
    (bytes.fromhex("1081 0001 05ff01 0ef001 62 01 d600 00"), el.TrailingBytes),
    (bytes.fromhex("1081 0001 05ff01 028801 6e 01 e50101"), el.TruncatedFrame),  # no OPCGet
])
def test_malformed_frames_raise_typed_errors(raw, error):
    with pytest.raises(error) as info:
        el.decode(raw)
    assert str(info.value)


def test_error_keeps_the_header_for_an_answer():
    raw = bytes.fromhex("1081 00aa 05ff01 028801 62 03 e000 e700")
    with pytest.raises(el.TruncatedFrame) as info:
        el.decode(raw)
    head = info.value.header
    assert head.tid == 0xAA and head.deoj == Eoj.of(0x028801) and head.esv_code == 0x62
    assert [p.epc for p in head.props] == [0xE0, 0xE7]
    with pytest.raises(el.UnknownEsv) as info:
        el.decode(bytes.fromhex("1081 0102 05ff01 028801 7f 00"))
    assert info.value.header.esv_code == 0x7F


def test_encode_refuses_what_does_not_fit():
    with pytest.raises(el.EchonetError):
        el.encode(Frame(0x10000, el.CONTROLLER, el.NODE_PROFILE, Esv.GET))
    with pytest.raises(el.EchonetError):
        el.encode(Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.SETC, (Property(0x81, bytes(256)),)))
    with pytest.raises(el.EchonetError):
        el.encode(Frame(1, el.CONTROLLER, el.NODE_PROFILE, Esv.GET, (), (Property(0x80),)))


def test_eoj_matching_and_codes():
    meter = Eoj.of(0x028801)
    assert meter.matches(Eoj.of(0x028800)) and meter.matches(meter)
    assert not meter.matches(Eoj.of(0x028802)) and not meter.matches(Eoj.of(0x028A01))
    assert meter.class_code == 0x0288 and str(meter) == "0x028801"


# ------------------------------------------------------------------ property maps (Appendix 1)

REAL_METER_GET_MAP = [0x80, 0x81, 0x82, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F, 0xD3,
                      0xD7, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE7, 0xE8, 0xEA, 0xEB, 0xEC, 0xED]


def test_bitmap_form_matches_the_published_meter_map():
    edt = el.encode_property_map(REAL_METER_GET_MAP)
    assert edt == bytes.fromhex("19 41 41 41 60 40 40 00 62 43 00 41 40 40 43 02 02")
    with_release_r = el.encode_property_map(REAL_METER_GET_MAP + [0xC0, 0xD0, 0xEE, 0xEF])
    assert with_release_r == bytes.fromhex("1D 71 41 41 60 40 40 00 62 43 00 41 40 40 43 42 42")
    assert el.decode_property_map(edt) == sorted(REAL_METER_GET_MAP)


def test_list_form_below_16_and_bitmap_from_16():
    assert el.encode_property_map([0xE5, 0x81, 0xED]) == bytes.fromhex("03 81 e5 ed")
    fifteen = list(range(0x80, 0x8F))
    assert len(el.encode_property_map(fifteen)) == 16
    sixteen = list(range(0x80, 0x90))
    assert len(el.encode_property_map(sixteen)) == 17
    assert el.decode_property_map(el.encode_property_map(sixteen)) == sixteen
    assert el.encode_property_map([]) == b"\x00"


@pytest.mark.parametrize("edt", [b"", b"\x02\x80", b"\x01\x10", b"\x02\x80\x80",
                                 bytes([16]) + bytes(10), bytes([17]) + bytes(16)])
def test_bad_property_maps_are_refused(edt):
    with pytest.raises(el.BadPropertyMap):
        el.decode_property_map(edt)
