"""HDLC link procedures and the HDLC / wrapper ports, driven by our client-side link."""
from dlms_fake_meter import PUBLIC_SAP, FakeMeter, forward_at
from sumame.firmware.net.dlms import axdr, obis
from sumame.firmware.net.dlms.client import ClientSettings, DlmsClient
from sumame.firmware.net.dlms.hdlc import (FrameKind, HdlcFrame, LinkParameters, client_address, control_i,
                                           server_address)
from sumame.firmware.net.dlms.hdlc_link import HdlcClientLink
from sumame.firmware.net.dlms.ports import HdlcPort, WrapperPort
from sumame.firmware.net.dlms.wrapper import WrapperPdu

SERVER = server_address(1, 0x11)


class HdlcPair:
    def __init__(self, meter, max_info=128, client_pdu=0xFFFF):
        self.meter = meter
        self.port = HdlcPort(meter.server, SERVER)
        self.link = HdlcClientLink(client_address(PUBLIC_SAP), SERVER, LinkParameters(max_info, max_info))
        self.client = DlmsClient(ClientSettings(client_sap=PUBLIC_SAP, max_receive_pdu=client_pdu))
        self.frames_sent = 0

    def exchange(self, first_frame: bytes) -> bytes | None:
        """Send a frame, keep answering RR/segments until an APDU (or nothing) comes back."""
        pending = [first_frame]
        while pending:
            frame = pending.pop(0)
            self.frames_sent += 1
            for reply in self.port.receive(frame, self.meter.now):
                more, apdu = self.link.receive(reply)
                pending += more
                if apdu is not None:
                    return apdu
        return None

    def connect(self):
        self.exchange(self.link.connect())
        assert self.link.connected
        self.client.parse_aare(self.exchange(self.link.send_apdu(self.client.aarq())))
        return self

    def get(self, *desc):
        reply = self.client.receive(self.exchange(self.link.send_apdu(self.client.get(*desc))))
        while reply.next_request is not None:
            reply = self.client.receive(self.exchange(self.link.send_apdu(reply.next_request)))
        return reply.response.result


def test_negotiation_and_segmented_response():
    meter = FakeMeter()
    pair = HdlcPair(meter, max_info=64).connect()
    assert pair.link.station.params.max_info_rx == 64
    rows = axdr.to_python(pair.get(7, obis.LOAD_PROFILE_1, 2))
    assert len(rows) == int((meter.now - 1743433200.0) // 1800) + 1
    assert pair.frames_sent > 40                      # many RR-driven segments of <= 64 bytes
    assert pair.get(3, obis.ACTIVE_ENERGY_IMPORT, 2) == axdr.double_long_unsigned(forward_at(meter.now))


def test_segmented_request_and_block_transfer_together():
    meter = FakeMeter()
    pair = HdlcPair(meter, max_info=32, client_pdu=200).connect()
    items = [(3, obis.ACTIVE_ENERGY_IMPORT, 2)] * 12          # request longer than 32 bytes
    request = pair.client.get_with_list(items)
    assert len(request) > 100
    reply = pair.client.receive(pair.exchange(pair.link.send_apdu(request)))
    assert reply.response.results == (axdr.double_long_unsigned(forward_at(meter.now)),) * 12
    assert axdr.to_python(pair.get(7, obis.LOAD_PROFILE_1, 7)) > 0
    pair.get(7, obis.LOAD_PROFILE_1, 2)
    assert meter.server.counters["long_get"] == 1


def test_bad_frames_dropped_and_link_keeps_serving():
    meter = FakeMeter()
    pair = HdlcPair(meter).connect()
    frame = bytearray(pair.link.send_apdu(pair.client.get(8, obis.CLOCK, 3)))
    pair.link.station.vs = (pair.link.station.vs - 1) % 8     # we will resend it
    frame[-3] ^= 0x55                                          # FCS broken
    assert pair.port.receive(bytes(frame), meter.now) == []
    assert pair.port.link.counters["bad_frame"] == 1
    other = HdlcFrame(server_address(2, 0x11), client_address(PUBLIC_SAP), 0x10, b"\xE6\xE6\x00").encode()
    assert pair.port.receive(other, meter.now) == []
    assert pair.port.receive(b"\x00garbage\x7e\x7e", meter.now) == []
    assert pair.get(8, obis.CLOCK, 3) == axdr.long(-540)


def test_lost_response_is_retransmitted():
    meter = FakeMeter()
    pair = HdlcPair(meter).connect()
    frame = pair.link.send_apdu(pair.client.get(8, obis.CLOCK, 3))
    first = pair.port.receive(frame, meter.now)
    again = pair.port.receive(frame, meter.now)               # the client repeats: our answer was lost
    assert again == first and pair.port.link.counters["retransmitted"] == 1


def test_disc_ends_association_and_unconnected_frames_get_dm():
    meter = FakeMeter()
    pair = HdlcPair(meter).connect()
    ua = HdlcFrame.decode(pair.port.receive(pair.link.disconnect(), meter.now)[0])
    assert ua.kind is FrameKind.UA and pair.port.sessions == {}
    i_frame = HdlcFrame(SERVER, client_address(PUBLIC_SAP), control_i(0, 0), b"\xE6\xE6\x00\xC0").encode()
    assert HdlcFrame.decode(pair.port.receive(i_frame, meter.now)[0]).kind is FrameKind.DM
    assert HdlcFrame.decode(pair.port.receive(pair.link.disconnect(), meter.now)[0]).kind is FrameKind.DM


def test_push_as_ui_frames():
    meter = FakeMeter()
    port = HdlcPort(meter.server, SERVER)
    frames = port.push(PUBLIC_SAP, b"\x0F" + bytes(300))
    decoded = [HdlcFrame.decode(f) for f in frames]
    assert [f.kind for f in decoded] == [FrameKind.UI] * 3 and [f.segmented for f in decoded] == [True, True, False]
    assert b"".join(f.information for f in decoded) == b"\xE6\xE7\x00\x0F" + bytes(300)


def test_wrapper_port_tcp_and_udp():
    meter = FakeMeter()
    client = DlmsClient(ClientSettings(client_sap=PUBLIC_SAP))
    tcp = WrapperPort(meter.server)
    aarq = WrapperPdu(PUBLIC_SAP, 1, client.aarq()).encode()
    get = WrapperPdu(PUBLIC_SAP, 1, client.get(8, obis.CLOCK, 3)).encode()
    stream = aarq + get
    out = tcp.receive(stream[:7], meter.now) + tcp.receive(stream[7:], meter.now)
    assert len(out) == 2
    replies = [WrapperPdu.decode(o) for o in out]
    assert all((r.source, r.destination) == (1, PUBLIC_SAP) for r in replies)
    client.parse_aare(replies[0].apdu)
    assert client.receive(replies[1].apdu).response.result == axdr.long(-540)
    assert tcp.receive(WrapperPdu(PUBLIC_SAP, 9, b"\xC0").encode(), meter.now) == []
    assert tcp.counters["other_wport"] == 1
    assert tcp.receive(b"\x00\x02" + bytes(6), meter.now) == [] and tcp.broken
    udp = WrapperPort(meter.server, stream=False)
    assert udp.receive(b"\x00\x01\x00", meter.now) == [] and not udp.broken
    assert len(udp.receive(aarq, meter.now)) == 1


def test_frame_reject_for_bad_snrm_and_unexpected_frames():
    meter = FakeMeter()
    port = HdlcPort(meter.server, SERVER)
    snrm = HdlcFrame(SERVER, client_address(PUBLIC_SAP), 0x93, b"\x81\x80\x03\x05\x09\x00").encode()
    assert HdlcFrame.decode(port.receive(snrm, meter.now)[0]).kind is FrameKind.FRMR
    pair = HdlcPair(meter).connect()
    ua_from_client = HdlcFrame(SERVER, client_address(PUBLIC_SAP), 0x73).encode()
    assert HdlcFrame.decode(pair.port.receive(ua_from_client, meter.now)[0]).kind is FrameKind.FRMR
    assert pair.get(8, obis.CLOCK, 3) == axdr.long(-540)           # the link still serves
