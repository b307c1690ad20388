"""Interop: an unmodified gurux-dlms client (GPL, test-only) against our COSEM server, in
process over HDLC frames and over the TCP wrapper; gurux's translator and notifier check our
encodings and our client-side codec in the other direction."""
import datetime

import pytest

gurux = pytest.importorskip("gurux_dlms", reason="gurux-dlms (test extra) not installed")
from gurux_dlms import GXByteBuffer, GXDLMSClient, GXDLMSTranslator  # noqa: E402
from gurux_dlms.enums import Authentication, InterfaceType, Security, TranslatorOutputType  # noqa: E402
from gurux_dlms.objects import (GXDLMSClock, GXDLMSData,  # noqa: E402
                                GXDLMSDisconnectControl, GXDLMSProfileGeneric, GXDLMSRegister)
from gurux_dlms.secure import GXDLMSSecureClient  # noqa: E402

from gurux_dialogue import GuruxDialogue  # noqa: E402
from dlms_fake_meter import (AK, CLIENT_TITLE, EK, HLS_PLAIN_SAP, HLS_SAP, LLS_SAP, PASSWORD, PERIOD,  # noqa: E402
                             PUBLIC_SAP, START, SUPPLY_POINT, FakeMeter, forward_at, reverse_at)
from sumame.firmware.net.dlms import axdr, obis  # noqa: E402
from sumame.firmware.net.dlms.cosem.control import ControlState  # noqa: E402
from sumame.firmware.net.dlms.hdlc import server_address  # noqa: E402
from sumame.firmware.net.dlms.ports import HdlcPort, WrapperPort  # noqa: E402

pytestmark = pytest.mark.interop
JST = datetime.timezone(datetime.timedelta(hours=9))


class GuruxSession(GuruxDialogue):
    """Moves gurux's frames to our port and our answers back (no sockets)."""

    def __init__(self, meter, interface, sap, auth=Authentication.NONE, password=None, security=None,
                 max_pdu=None):
        self.meter = meter
        hdlc = interface == "hdlc"
        self.port = HdlcPort(meter.server, server_address(1, 0x11)) if hdlc else WrapperPort(meter.server)
        server = GXDLMSClient.getServerAddress(1, 0x11) if hdlc else 1
        kind = InterfaceType.HDLC if hdlc else InterfaceType.WRAPPER
        if security is None and auth != Authentication.HIGH_GMAC:
            self.cl = GXDLMSClient(True, sap, server, auth, password, kind)
        else:
            self.cl = GXDLMSSecureClient(True, sap, server, auth, password, kind)
            c = self.cl.ciphering
            c.security = security or Security.NONE
            c.systemTitle = bytearray(CLIENT_TITLE)
            c.blockCipherKey = bytearray(EK)
            c.authenticationKey = bytearray(AK)
        if max_pdu is not None:
            self.cl.maxReceivePDUSize = max_pdu
        self.hdlc = hdlc
        self.frames = 0

    def exchange(self, data: bytes) -> bytes:
        rx = self.port.receive(data, self.meter.now)
        self.frames += 1
        assert rx, "our server did not answer"
        return b"".join(rx)


def check_registers_clock_profile(g: GuruxSession, meter):
    reg = GXDLMSRegister("1.0.1.8.0.255")
    g.read(reg, 3)
    g.read(reg, 2)
    assert (reg.scaler, int(reg.unit)) == (10.0, 30)            # gurux shows 10**scaler
    assert reg.value == forward_at(meter.now) * 10                # gurux applies the scaler: Wh
    volt = GXDLMSRegister("1.0.32.7.0.255")
    g.read(volt, 3)
    g.read(volt, 2)
    assert volt.value == pytest.approx(101.2)
    clk = GXDLMSClock()
    g.read(clk, 2)
    assert clk.time.value.timestamp() == meter.now
    g.read(clk, 3)
    assert clk.timeZone in (-540, 540)                            # sign convention differs by library setting
    spn = GXDLMSData("0.0.96.1.1.255")
    assert str(g.read(spn, 2)) == SUPPLY_POINT or bytes(g.read(spn, 2)).decode() == SUPPLY_POINT
    pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
    g.read(pg, 3)
    assert [str(c[0].logicalName) for c in pg.captureObjects] == ["0.0.1.0.0.255", "1.0.1.8.0.255", "1.0.2.8.0.255"]
    day2 = datetime.datetime.fromtimestamp(START + 86400, JST)
    g.cl.updateValue(pg, 2, g.xfer(g.cl.readRowsByRange(pg, day2, day2 + datetime.timedelta(hours=2))).value)
    times = [row[0].value.timestamp() for row in pg.buffer]
    assert times == [START + 86400 + k * PERIOD for k in range(5)]
    assert [row[1] for row in pg.buffer] == [forward_at(t) for t in times]
    g.cl.updateValue(pg, 2, g.xfer(g.cl.readRowsByEntry(pg, 1, 48)).value)
    assert len(pg.buffer) == 48 and pg.buffer[0][0].value.timestamp() == START
    assert [row[2] for row in pg.buffer] == [reverse_at(START + k * PERIOD) for k in range(48)]


def test_hdlc_no_authentication():
    meter = FakeMeter()
    g = GuruxSession(meter, "hdlc", PUBLIC_SAP).open()
    check_registers_clock_profile(g, meter)
    # public client may not operate the breaker: gurux receives the DLMS error
    reply = g.xfer(GXDLMSDisconnectControl("0.0.96.3.10.255").remoteDisconnect(g.cl))
    assert reply.error == 3                                        # read-write-denied
    assert meter.breaker.state is ControlState.CONNECTED
    g.close()
    assert g.port.sessions == {} and meter.server.counters["aarq"] == 1


def test_wrapper_low_authentication():
    meter = FakeMeter()
    g = GuruxSession(meter, "wrapper", LLS_SAP, Authentication.LOW, PASSWORD.decode()).open()
    check_registers_clock_profile(g, meter)
    g.close()
    bad = GuruxSession(meter, "wrapper", LLS_SAP, Authentication.LOW, "wrong")
    with pytest.raises(Exception):
        bad.open()
    assert meter.server.counters["dlms_auth_failure"] == 1


@pytest.mark.parametrize("interface", ["wrapper", "hdlc"])
def test_hls_gmac_suite0_disconnect_reconnect(interface):
    meter = FakeMeter()
    g = GuruxSession(meter, interface, HLS_SAP, Authentication.HIGH_GMAC,
                     security=Security.AUTHENTICATION_ENCRYPTION).open()
    dc = GXDLMSDisconnectControl("0.0.96.3.10.255")
    g.xfer(dc.remoteDisconnect(g.cl))
    assert meter.breaker.state is ControlState.DISCONNECTED
    g.read(dc, 2)
    assert dc.outputState is False
    g.xfer(dc.remoteReconnect(g.cl))
    assert meter.breaker.state is ControlState.CONNECTED
    check_registers_clock_profile(g, meter)
    assert meter.server.counters["dlms_decipher_failure"] == 0 and meter.tx_counter.value > 5
    g.close()


def test_hls_gmac_without_ciphering():
    meter = FakeMeter()
    g = GuruxSession(meter, "hdlc", HLS_PLAIN_SAP, Authentication.HIGH_GMAC).open()
    g.xfer(GXDLMSDisconnectControl("0.0.96.3.10.255").remoteDisconnect(g.cl))
    assert meter.breaker.state is ControlState.DISCONNECTED


def test_hls_gmac_wrong_key_is_refused():
    meter = FakeMeter()
    g = GuruxSession(meter, "wrapper", HLS_PLAIN_SAP, Authentication.HIGH_GMAC)
    g.cl.ciphering.authenticationKey = bytearray(16)
    with pytest.raises(Exception):
        g.open()
    assert meter.events[-1][0] == "dlms_auth_failure"


def test_block_transfer_to_gurux_with_small_pdu():
    meter = FakeMeter()
    g = GuruxSession(meter, "wrapper", PUBLIC_SAP, max_pdu=256).open()
    pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
    g.read(pg, 3)
    g.read(pg, 2)
    assert len(pg.buffer) == int((meter.now - START) // PERIOD) + 1
    assert meter.server.counters["long_get"] == 1 and g.frames > 10


def test_gurux_parses_association_object_list():
    meter = FakeMeter()
    g = GuruxSession(meter, "hdlc", PUBLIC_SAP).open()
    objects = g.cl.parseObjects(g.xfer(g.cl.getObjectsRequest()).data, True)
    found = {(int(o.objectType), o.logicalName) for o in objects}
    assert (70, "0.0.96.3.10.255") in found and (7, "1.0.99.1.0.255") in found and (8, "0.0.1.0.0.255") in found
    assert len(objects) == len(meter.server.objects)


def test_gurux_translator_decodes_our_apdus():
    meter = FakeMeter()
    session = meter.server.open_session(LLS_SAP)
    from sumame.firmware.net.dlms.client import ClientSettings, DlmsClient
    from sumame.firmware.net.dlms.acse import Mechanism
    client = DlmsClient(ClientSettings(client_sap=LLS_SAP, mechanism=Mechanism.LOW, password=PASSWORD))
    t = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML)
    aarq = client.aarq()
    assert "AssociationRequest" in t.pduToXml(aarq) and "3132333435363738" in t.pduToXml(aarq).upper()
    aare = session.handle(aarq, meter.now)
    assert "AssociationResponse" in t.pduToXml(aare)
    client.parse_aare(aare)
    session.handle(client.action(40, obis.PUSH_SETUP_INTERVAL, 1, axdr.integer(0)), meter.now)
    xml = t.pduToXml(meter.pushed[-1])
    assert "DataNotification" in xml and "SM0000000001" in xml
    from sumame.firmware.net.dlms.descriptors import AttributeDescriptor
    from sumame.firmware.net.dlms.notify import EventNotificationRequest, ExceptionResponse
    from sumame.firmware.net.dlms.cosem_time import epoch_to_octets
    event = EventNotificationRequest(AttributeDescriptor(1, obis.obis("0.0.96.11.0.255"), 2), axdr.long_unsigned(5),
                                     epoch_to_octets(meter.now)).encode()
    assert "EventNotificationRequest" in t.pduToXml(event)
    # (gurux's translator knows service-errors 1..3 only; 5/6, deciphering and IC errors, raise in it)
    assert "ExceptionResponse" in t.pduToXml(ExceptionResponse(1, 2).encode())


def test_our_client_parses_gurux_notifications():
    from gurux_dlms import GXDLMSNotify
    from gurux_dlms.enums import DataType as GDataType
    from gurux_dlms.internal._GXCommon import _GXCommon
    from sumame.firmware.net.dlms.client import ClientSettings, DlmsClient
    from sumame.firmware.net.dlms.notify import DataNotification
    from sumame.firmware.net.dlms.wrapper import WrapperPdu
    notify = GXDLMSNotify(True, 1, 16, InterfaceType.WRAPPER)
    body = GXByteBuffer()
    body.setUInt8(GDataType.STRUCTURE)
    body.setUInt8(2)
    _GXCommon.setData(None, body, GDataType.OCTET_STRING, bytearray(obis.DEVICE_ID))
    _GXCommon.setData(None, body, GDataType.UINT32, 123456)
    frames = notify.generateDataNotificationMessages(None, body)
    pdu = WrapperPdu.decode(bytes(frames[0]))
    note = DlmsClient(ClientSettings()).parse_notification(pdu.apdu)
    assert isinstance(note, DataNotification)
    assert note.body == axdr.structure(axdr.octet_string(obis.DEVICE_ID), axdr.double_long_unsigned(123456))


def test_our_client_requests_are_understood_by_gurux_translator():
    from sumame.firmware.net.dlms.client import ClientSettings, DlmsClient
    from sumame.firmware.net.dlms.descriptors import SelectiveAccess
    client = DlmsClient(ClientSettings())
    t = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML)
    entry = SelectiveAccess(2, axdr.structure(axdr.double_long_unsigned(1), axdr.double_long_unsigned(48),
                                              axdr.long_unsigned(1), axdr.long_unsigned(0)))
    xml = t.pduToXml(client.get(7, obis.LOAD_PROFILE_1, 2, entry))
    assert "GetRequestNormal" in xml and "AccessSelector" in xml
    xml = t.pduToXml(client.action(70, obis.DISCONNECT_CONTROL, 2, axdr.integer(0)))
    assert "ActionRequestNormal" in xml and "0000600300AFF".lower()[:4] in xml.lower()
    xml = t.pduToXml(client.set(8, obis.CLOCK, 2, axdr.octet_string(bytes(12))))
    assert "SetRequestNormal" in xml


@pytest.mark.parametrize("security,sc", [(Security.AUTHENTICATION, 0x10), (Security.ENCRYPTION, 0x20),
                                         (Security.AUTHENTICATION_ENCRYPTION, 0x30)])
def test_suite0_protection_matches_gurux(security, sc):
    from gurux_dlms.AesGcmParameter import AesGcmParameter
    from gurux_dlms.GXDLMSChippering import GXDLMSChippering
    from sumame.firmware.net.dlms.security import protect
    apdu = bytes.fromhex("C001C100030100010800FF0200")
    p = AesGcmParameter(0, bytearray(CLIENT_TITLE), bytearray(EK), bytearray(AK))
    p.security, p.invocationCounter = security, 0x01234567
    theirs = bytes(GXDLMSChippering.encryptAesGcm(p, bytearray(apdu)))
    ours = protect(apdu, sc=sc, system_title=CLIENT_TITLE, invocation_counter=0x01234567, ek=EK, ak=AK)
    assert theirs[2:] == ours and theirs[1] == len(ours)      # gurux prefixes a tag (0) and length
