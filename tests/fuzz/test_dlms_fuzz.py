"""Fuzz every DLMS decoder: a typed result or a DlmsError, nothing else; the server answers or
drops any bytes and keeps serving."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlms_fake_meter import AK, CLIENT_TITLE, EK, HLS_SAP, PUBLIC_SAP, FakeMeter
from sumame.firmware.net.dlms import axdr, obis
from sumame.firmware.net.dlms.acse import Aare, Aarq, Mechanism, ReleaseRequest
from sumame.firmware.net.dlms.apdu import decode_apdu
from sumame.firmware.net.dlms.axdr import Data, DataType
from sumame.firmware.net.dlms.client import ClientSettings, DlmsClient
from sumame.firmware.net.dlms.cosem_time import CosemDateTime
from sumame.firmware.net.dlms.errors import DlmsError
from sumame.firmware.net.dlms.hdlc import FrameSplitter, HdlcFrame, LinkParameters, server_address
from sumame.firmware.net.dlms.initiate import InitiateRequest, InitiateResponse
from sumame.firmware.net.dlms.ports import HdlcPort, WrapperPort
from sumame.firmware.net.dlms.security import TxCounter, parse_ciphered, unprotect, verify_hls_gmac
from sumame.firmware.net.dlms.wrapper import WrapperPdu, WrapperStream

FUZZ = settings(max_examples=300, deadline=1500, suppress_health_check=[HealthCheck.too_slow])

DECODERS = [axdr.decode, decode_apdu, HdlcFrame.decode, LinkParameters.decode, WrapperPdu.decode,
            CosemDateTime.from_bytes, parse_ciphered, InitiateRequest.decode, InitiateResponse.decode,
            Aarq.decode, Aare.decode, ReleaseRequest.decode,
            lambda b: unprotect(b, system_title=CLIENT_TITLE, ek=EK, ak=AK),
            lambda b: verify_hls_gmac(b, b"challenge", system_title=CLIENT_TITLE, ek=EK, ak=AK),
            lambda b: WrapperStream().feed(b), lambda b: FrameSplitter().feed(b)]

SEEDS = [bytes.fromhex(h) for h in (
    "C001C100070100630100FF0201010204020412000809060000010000FF0F02120000090C07E90401FF00000000FDE400"
    "090C07E90401FF173B3B00FDE4000100",
    "6036A1090607608574050801018A0207808B0760857405080201AC0A80083132333435363738BE10040E01000000065F1F0400007E1F04B0",
    "0F000000010C07E90401FF00000000FDE400020309060000600100FF0A06534D3030303106000003E8",
    "DB084D4D4D0000BC614E1E3000000006C89263366E860EA1A1C3E69535C4F520CA991419EE422EEBB8",
    "7EA01F21022373E6C7818012050180060180070400000001080400000001533B7E",
    "13020201120001120002", "C2010C07E90401FF00000000FDE40000010000600B00FF02120005",
    # nested compact-arrays around an empty structure (issue 9: exponential on the landed code)
    "1301001001001001001002001000000000000000000000000000000000",
    "C101C100010000600100FF0200" "130100100100100100100100100100100200" "10" + "00" * 16)]


def mutated():
    def mutate(seed, edits):
        b = bytearray(seed)
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
    return st.builds(mutate, st.sampled_from(SEEDS),
                     st.lists(st.tuples(st.integers(0, 500), st.integers(0, 255), st.integers(0, 2)), max_size=6))


payloads = st.one_of(st.binary(max_size=120), mutated())


@pytest.mark.parametrize("decode", DECODERS, ids=lambda f: getattr(f, "__qualname__", "lambda"))
@FUZZ
@given(raw=payloads)
def test_decoders_raise_only_typed_errors(decode, raw):
    try:
        decode(raw)
    except DlmsError:
        pass


scalars = st.one_of(
    st.none().map(lambda _: axdr.null()), st.booleans().map(axdr.boolean),
    st.integers(-128, 127).map(axdr.integer), st.integers(0, 2**32 - 1).map(axdr.double_long_unsigned),
    st.integers(-(2**63), 2**63 - 1).map(axdr.long64), st.binary(max_size=40).map(axdr.octet_string),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(axdr.visible_string),
    st.text(alphabet="01", max_size=40).map(axdr.bit_string),
    st.floats(allow_nan=False, width=64).map(lambda f: Data(DataType.FLOAT64, f)),
    st.binary(min_size=12, max_size=12).map(lambda b: Data(DataType.DATE_TIME, b)))
data_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5).map(axdr.array), st.lists(children, max_size=5).map(lambda x: axdr.structure(*x))),
    max_leaves=30)


@FUZZ
@given(data=data_values)
def test_axdr_round_trip(data):
    assert axdr.decode(axdr.encode(data)) == data


@FUZZ
@given(frames=st.lists(payloads, max_size=4))
def test_server_survives_any_apdu(frames):
    meter = FakeMeter()
    client = DlmsClient(ClientSettings(client_sap=PUBLIC_SAP))
    session = meter.server.open_session(PUBLIC_SAP)
    client.parse_aare(session.handle(client.aarq(), meter.now))
    for raw in frames:
        out = session.handle(raw, meter.now)
        assert out is None or isinstance(out, bytes)
    reply = client.receive(session.handle(client.get(8, obis.CLOCK, 3), meter.now))
    if session.association.associated:          # a fuzzed RLRQ/AARQ may have ended it, legitimately
        assert reply.response.result == axdr.long(-540)


@FUZZ
@given(frames=st.lists(payloads, max_size=4))
def test_ciphered_server_survives_any_apdu(frames):
    meter = FakeMeter()
    # the seed corpus holds a genuine Green Book APDU with IC 6: start above it
    client = DlmsClient(ClientSettings(client_sap=HLS_SAP, mechanism=Mechanism.HIGH_GMAC, ciphered=True,
                                       system_title=CLIENT_TITLE, ek=EK, ak=AK, tx_counter=TxCounter(1000)))
    session = meter.server.open_session(HLS_SAP)
    client.parse_aare(session.handle(client.aarq(), meter.now))
    client.receive(session.handle(client.hls_reply(), meter.now))
    for raw in frames:
        out = session.handle(raw, meter.now)
        assert out is None or isinstance(out, bytes)
    if session.association.associated:
        assert client.receive(session.handle(client.get(8, obis.CLOCK, 3), meter.now)).response.result == axdr.long(-540)


@FUZZ
@given(chunks=st.lists(payloads, max_size=5))
def test_ports_survive_any_bytes(chunks):
    meter = FakeMeter()
    hdlc = HdlcPort(meter.server, server_address(1, 0x11))
    tcp = WrapperPort(meter.server)
    udp = WrapperPort(meter.server, stream=False)
    for chunk in chunks:
        for port in (hdlc, tcp, udp):
            assert all(isinstance(o, bytes) for o in port.receive(chunk, meter.now))


@FUZZ
@given(raw=payloads)
def test_client_receive_raises_only_typed_errors(raw):
    client = DlmsClient(ClientSettings(client_sap=HLS_SAP, ciphered=True, system_title=CLIENT_TITLE, ek=EK, ak=AK))
    client.server_title = CLIENT_TITLE
    for call in (client.receive, client.parse_aare, client.parse_notification):
        try:
            call(raw)
        except DlmsError:
            pass
