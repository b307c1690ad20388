"""DLMS codec: reference vectors (shared/reference/dlms-cosem.md §1.4, §1.8, §3, §6) decode to the
expected fields and re-encode byte for byte; error paths raise typed errors."""
import pytest

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.acse import Aare, Aarq, Mechanism
from sumame.firmware.net.dlms.apdu import decode_apdu
from sumame.firmware.net.dlms.axdr import CompactArray, Data, DataType, TypeDesc
from sumame.firmware.net.dlms.cosem_time import CosemDateTime, epoch_to_octets, octets_to_epoch
from sumame.firmware.net.dlms.descriptors import DataAccessResult
from sumame.firmware.net.dlms.errors import (ApduError, AxdrError, DecipheringError, DecodeError, EncodeError,
                                             HdlcError, WrapperError)
from sumame.firmware.net.dlms.hdlc import (FrameKind, FrameSplitter, HdlcFrame, LinkParameters, client_address,
                                           control_u, crc16_x25, server_address)
from sumame.firmware.net.dlms.initiate import ConfirmedServiceError, InitiateRequest, InitiateResponse
from sumame.firmware.net.dlms.notify import DataNotification, EventNotificationRequest, ExceptionResponse
from sumame.firmware.net.dlms.obis import obis
from sumame.firmware.net.dlms.security import parse_ciphered, protect, unprotect
from sumame.firmware.net.dlms.wrapper import WrapperPdu, WrapperStream
from sumame.firmware.net.dlms.xdlms import (ActionRequestNormal, GetRequestNext, GetRequestNormal,
                                           GetResponseNormal, GetResponseWithDatablock, SetRequestNormal)

VECTORS = {
    "get_clock": "C001C100080000010000FF0200",
    "get_resp_u32": "C401C100060001E240",
    "get_resp_dar": "C401C10104",
    "datablock": "C402C10000000001000401020202",
    "next": "C002C100000001",
    "range": "C001C100070100630100FF0201010204020412000809060000010000FF0F02120000090C07E90401FF00000000FDE400"
             "090C07E90401FF173B3B00FDE4000100",
    "entry": "C001C100070100630100FF02010202040600000001060000000A120001120000",
    "set_clock": "C101C100080000010000FF0200090C07E90401FF0C000000FDE400",
    "disconnect": "C301C10046000060030AFF01010F00",
    "action_ok": "C701C10000",
    "data_notification": "0F000000010C07E90401FF00000000FDE400020309060000600100FF0A06534D3030303106000003E8",
    "event": "C2010C07E90401FF00000000FDE40000010000600B00FF02120005",
    "exception": "D80102",
    "aarq_none": "601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0",
    "aarq_lls": "6036A1090607608574050801018A0207808B0760857405080201AC0A80083132333435363738"
                "BE10040E01000000065F1F0400007E1F04B0",
    "aare_ok": "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007",
    "aare_rej": "611FA109060760857405080101A203020101A305A103020101BE0604040E010601",
    "rlrq": "6203800100",
    "rlre": "6303800100",
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_reference_vectors_round_trip(name):
    raw = bytes.fromhex(VECTORS[name])
    assert decode_apdu(raw).encode() == raw


def test_vector_fields():
    get = decode_apdu(bytes.fromhex(VECTORS["get_clock"]))
    assert isinstance(get, GetRequestNormal)
    assert get.descriptor == (8, obis("0.0.1.0.0.255"), 2) and get.access is None and get.invoke_id_priority == 0xC1
    assert decode_apdu(bytes.fromhex(VECTORS["get_resp_u32"])).result == axdr.double_long_unsigned(123456)
    assert decode_apdu(bytes.fromhex(VECTORS["get_resp_dar"])).result == DataAccessResult.OBJECT_UNDEFINED
    block = decode_apdu(bytes.fromhex(VECTORS["datablock"]))
    assert isinstance(block, GetResponseWithDatablock) and not block.last_block and block.block_number == 1
    assert decode_apdu(bytes.fromhex(VECTORS["next"])) == GetRequestNext(1)
    entry = decode_apdu(bytes.fromhex(VECTORS["entry"])).access
    assert entry.selector == 2 and axdr.to_python(entry.parameters) == [1, 10, 1, 0]
    rng = decode_apdu(bytes.fromhex(VECTORS["range"])).access
    start = CosemDateTime.from_bytes(rng.parameters.value[1].value)
    assert (start.year, start.month, start.day, start.deviation) == (2025, 4, 1, -540)
    action = decode_apdu(bytes.fromhex(VECTORS["disconnect"]))
    assert isinstance(action, ActionRequestNormal) and action.descriptor.method_id == 1
    assert action.parameters == axdr.integer(0)
    note = decode_apdu(bytes.fromhex(VECTORS["data_notification"]))
    assert isinstance(note, DataNotification) and note.long_invoke_id == 1
    assert axdr.to_python(note.body) == [obis("0.0.96.1.0.255"), "SM0001", 1000]
    event = decode_apdu(bytes.fromhex(VECTORS["event"]))
    assert isinstance(event, EventNotificationRequest) and event.value == axdr.long_unsigned(5)
    assert decode_apdu(bytes.fromhex(VECTORS["exception"])) == ExceptionResponse(1, 2)


def test_acse_fields():
    lls = Aarq.decode(bytes.fromhex(VECTORS["aarq_lls"]))
    assert lls.mechanism == Mechanism.LOW and lls.authentication_value == b"12345678" and lls.authentication_required
    ini = InitiateRequest.decode(lls.user_information)
    assert ini.conformance == 0x007E1F and ini.max_receive_pdu_size == 1200 and ini.dlms_version == 6
    ok = Aare.decode(bytes.fromhex(VECTORS["aare_ok"]))
    assert ok.result == 0 and InitiateResponse.decode(ok.user_information) == InitiateResponse(0x00501F, 500)
    rej = Aare.decode(bytes.fromhex(VECTORS["aare_rej"]))
    assert rej.result == 1 and rej.diagnostic == 1
    assert ConfirmedServiceError.decode(rej.user_information) == ConfirmedServiceError(1, 6, 1)


def test_green_book_ciphered_initiate_and_general_glo():
    ek, ak = bytes(range(16)), bytes(range(0xD0, 0xE0))
    title = bytes.fromhex("4D4D4D0000BC614E")
    raw = bytes.fromhex("DB084D4D4D0000BC614E1E3000000006C89263366E860EA1A1C3E69535C4F520CA991419EE422EEBB8")
    c = parse_ciphered(raw)
    sc, ic, apdu = unprotect(c.payload, system_title=c.system_title, ek=ek, ak=ak)
    assert (sc, ic) == (0x30, 6) and decode_apdu(apdu).descriptor == (3, obis("1.0.1.8.0.255"), 2)
    # our protect reproduces the vector byte for byte
    assert protect(apdu, sc=0x30, system_title=title, invocation_counter=6, ek=ek, ak=ak) == c.payload
    forged = bytearray(c.payload)
    forged[7] ^= 1
    with pytest.raises(DecipheringError):
        unprotect(bytes(forged), system_title=title, ek=ek, ak=ak)
    # authentication-only and encryption-only round trips
    for sc in (0x10, 0x20):
        p = protect(b"\xC0\x01\xC1", sc=sc, system_title=title, invocation_counter=9, ek=ek, ak=ak)
        assert unprotect(p, system_title=title, ek=ek, ak=ak) == (sc, 9, b"\xC0\x01\xC1")


ALL_TYPES = [
    axdr.null(), axdr.boolean(True), axdr.bit_string("1010000001"), axdr.double_long(-5),
    axdr.double_long_unsigned(2**32 - 1), axdr.octet_string(b"\x00" * 200), axdr.visible_string("SM01"),
    Data(DataType.UTF8_STRING, "メーター"), Data(DataType.BCD, 0x42), axdr.integer(-128), axdr.long(-300),
    axdr.unsigned(255), axdr.long_unsigned(65535), axdr.long64(-(2**63)), axdr.long64_unsigned(2**64 - 1),
    axdr.enum(3), Data(DataType.FLOAT32, 1.5), Data(DataType.FLOAT64, -2.25),
    Data(DataType.DATE_TIME, bytes(12)), Data(DataType.DATE, bytes(5)), Data(DataType.TIME, bytes(4)),
    axdr.array([axdr.structure(axdr.unsigned(1), axdr.octet_string(b"ab"))] * 3),
    Data(DataType.COMPACT_ARRAY, CompactArray(
        TypeDesc(DataType.STRUCTURE, 2, (TypeDesc(DataType.LONG_UNSIGNED), TypeDesc(DataType.OCTET_STRING))),
        (axdr.structure(axdr.long_unsigned(7), axdr.octet_string(b"x")),
         axdr.structure(axdr.long_unsigned(8), axdr.octet_string(b"yz"))))),
]


@pytest.mark.parametrize("data", ALL_TYPES, ids=lambda d: d.type.name)
def test_axdr_round_trip_every_type(data):
    assert axdr.decode(axdr.encode(data)) == data


def test_axdr_known_encodings():
    assert axdr.encode(axdr.bit_string("1010000001")).hex() == "040aa040"
    assert axdr.encode(axdr.octet_string(b"\x00" * 200))[:3].hex() == "0981c8"
    assert axdr.encode(axdr.structure(axdr.integer(-1), axdr.enum(30))).hex() == "02020fff161e"


@pytest.mark.parametrize("bad", [axdr.unsigned(256), axdr.integer(128), Data(DataType.BOOLEAN, 1),
                                 axdr.visible_string("é"), axdr.bit_string("12"), Data(DataType.DATE, b"1")])
def test_axdr_encode_rejects(bad):
    with pytest.raises(EncodeError):
        axdr.encode(bad)


@pytest.mark.parametrize("raw,why", [("", "missing"), ("07", "unknown"), ("0905AA", "truncated"),
                                     ("0A01FF", "ASCII"), ("0104", "cannot fit"), ("110102", "trailing"),
                                     ("0101" * 30, "nested")])
def test_axdr_decode_errors_say_what(raw, why):
    with pytest.raises(AxdrError, match=why):
        axdr.decode(bytes.fromhex(raw))


def test_date_time_jst():
    epoch = 1743433200.0    # 2025-04-01 00:00 JST
    raw = epoch_to_octets(epoch)
    assert raw.hex().upper() == "07E904010200000000FDE400"          # Tuesday 00:00:00.00, JST, status 0
    assert octets_to_epoch(raw) == epoch
    assert octets_to_epoch(bytes.fromhex("07E90401FF173B3B00FDE400")) == epoch + 86399
    with pytest.raises(AxdrError):
        octets_to_epoch(bytes.fromhex("07E9021FFF000000008000FF"))   # 31 February
    with pytest.raises(AxdrError):
        CosemDateTime.from_bytes(bytes(11))


def test_hdlc_reference_frames():
    snrm = HdlcFrame(server_address(1, 0x11), client_address(0x10), control_u(FrameKind.SNRM))
    assert snrm.encode().hex().upper() == "7EA00802232193BD647E"
    ua = HdlcFrame.decode(bytes.fromhex("7EA01F21022373E6C7818012050180060180070400000001080400000001533B7E"))
    assert ua.kind is FrameKind.UA and LinkParameters.decode(ua.information) == LinkParameters(128, 128, 1, 1)
    assert crc16_x25(b"123456789") == 0x906E
    bad = bytearray(snrm.encode())
    bad[5] ^= 0xFF
    with pytest.raises(HdlcError, match="FCS"):
        HdlcFrame.decode(bytes(bad))


def test_frame_splitter_resyncs_and_shares_flags():
    a = HdlcFrame(server_address(1, 0x11), client_address(0x10), control_u(FrameKind.SNRM)).encode()
    b = HdlcFrame(server_address(1, 0x11), client_address(0x10), 0x10, b"\xE6\xE6\x00abc").encode()
    s = FrameSplitter()
    stream = b"\x01\x02" + a + b[1:] + b"junk"
    out = []
    for i in range(0, len(stream), 3):
        out += s.feed(stream[i:i + 3])
    assert out == [a, b] and s.discarded >= 2


def test_wrapper_vector_and_stream():
    raw = bytes.fromhex("000100100001000DC001C100080000010000FF0200")
    pdu = WrapperPdu.decode(raw)
    assert (pdu.source, pdu.destination) == (0x10, 1) and pdu.encode() == raw
    stream = WrapperStream()
    assert stream.feed(raw[:5]) == [] and stream.feed(raw[5:] + raw) == [pdu, pdu]
    with pytest.raises(WrapperError):
        WrapperStream().feed(b"\x00\x02" + raw[2:])
    with pytest.raises(WrapperError, match="length"):
        WrapperPdu.decode(raw + b"\x00")


@pytest.mark.parametrize("raw", ["", "C0", "C009C1", "C001C10008", "C401C102", "C701C10002", "0F00", "60",
                                 "6003A10100", "D8", "FF", "DB04AAAA"])
def test_apdu_decode_errors_are_typed(raw):
    with pytest.raises(DecodeError):
        decode_apdu(bytes.fromhex(raw))


def test_service_round_trips():
    desc = (3, obis("1.0.1.8.0.255"), 2)
    for apdu in [GetResponseNormal(axdr.array([axdr.unsigned(1)])),
                 SetRequestNormal(decode_apdu(bytes.fromhex(VECTORS["get_clock"])).descriptor, axdr.null()),
                 GetResponseWithDatablock(True, 7, DataAccessResult.DATA_BLOCK_NUMBER_INVALID),
                 ExceptionResponse(1, 6, 42)]:
        assert decode_apdu(apdu.encode()) == apdu
    from sumame.firmware.net.dlms.descriptors import AttributeDescriptor
    assert GetRequestNormal(AttributeDescriptor(*desc)).encode().hex().upper() == "C001C100030100010800FF0200"
