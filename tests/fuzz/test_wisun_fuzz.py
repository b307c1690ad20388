"""Hypothesis: every Wi-SUN decoder returns a result or raises its typed error, nothing else;
the PANA machines and the emulated dongle survive arbitrary input and keep serving."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sumame.drivers import skstack_protocol as sp
from sumame.drivers.emulated.air import Air
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.timeline import Timeline
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.net import eap_psk, ieee802154, lowpan, pana_codec
from sumame.firmware.net.pana import PanaPaa, PanaPac

SETTINGS = settings(max_examples=300, deadline=1500, suppress_health_check=[HealthCheck.too_slow])
MAC_A = bytes.fromhex("001D129012345678")
MAC_B = bytes.fromhex("001D1291ABCDEF01")


@SETTINGS
@given(st.binary(max_size=200), st.booleans())
def test_mac_decoder(data, with_fcs):
    try:
        frame = ieee802154.decode(data + (ieee802154.fcs(data) if with_fcs else b""))
    except ieee802154.FrameError:
        return
    ieee802154.encode(frame)
    if frame.frame_type == ieee802154.FRAME_BEACON:
        try:
            ieee802154.parse_beacon(frame)
        except ieee802154.FrameError:
            pass
    if frame.security is not None:
        try:
            ieee802154.unsecure(frame, bytes(16))
        except ieee802154.SecurityError:
            pass


@SETTINGS
@given(st.binary(max_size=120), st.sampled_from([MAC_A, 0x1234, None]))
def test_lowpan_decoder(data, src):
    try:
        lowpan.decode(data, src, MAC_B)
    except lowpan.LowpanError:
        pass


@SETTINGS
@given(st.binary(max_size=160))
def test_pana_decoder(data):
    try:
        msg = pana_codec.decode(data)
    except pana_codec.PanaError:
        return
    assert pana_codec.decode(msg.encode()) == msg


@SETTINGS
@given(st.binary(max_size=100))
def test_eap_decoders(data):
    try:
        packet = eap_psk.decode_eap(data)
        eap_psk.decode_psk(packet)
    except eap_psk.EapError:
        pass


def _paa():
    return PanaPaa(psk=bytes(16), id_s=b"s", expected_id_p=b"p", random_bytes=lambda n: bytes(n))


@SETTINGS
@given(st.lists(st.binary(max_size=120), max_size=6))
def test_pana_machines_take_anything(messages):
    paa = _paa()
    pac = PanaPac(psk=bytes(16), id_p=b"p", random_bytes=lambda n: bytes(n))
    paa.receive(pana_codec.PanaMessage(1, 0, 0, 0).encode(), 0.0)     # a PCI first: handshake state
    pac.start(0.0)
    for i, m in enumerate(messages):
        paa.receive(m, float(i))
        pac.receive(m, float(i))
        paa.tick(float(i))
        pac.tick(float(i))
        for machine in (paa, pac):     # a timer never stays due after tick (no busy loop)
            deadline = machine.next_deadline()
            assert deadline is None or deadline > float(i)


@SETTINGS
@given(st.binary(max_size=100))
def test_eap_psk_server_and_peer_take_anything(data):
    s = eap_psk.EapPskServer(bytes(16), b"srv", random_bytes=lambda n: bytes(n))
    s.start()
    p = eap_psk.EapPskPeer(bytes(16), b"peer", random_bytes=lambda n: bytes(n))
    for machine in (s, p):
        try:
            machine.handle(data)
        except eap_psk.EapError:
            pass


@SETTINGS
@given(st.lists(st.binary(max_size=80), max_size=8), st.sampled_from(["se", "c2"]), st.booleans(),
       st.booleans())
def test_host_parser_reports_garbage_never_raises(chunks, dialect, rssi, hex_payload):
    parser = sp.HostParser(sp.Layout(dialect, rssi, hex_payload))
    known = (sp.Ok, sp.Fail, sp.Echo, sp.Event, sp.EVer, sp.EAppVer, sp.EInfo, sp.ESReg, sp.EPong,
             sp.PanDesc, sp.RxUdp, sp.Text, sp.Garbage)
    items = []
    for chunk in chunks:
        items += parser.feed(chunk)
    assert all(isinstance(i, known) for i in items)
    assert parser.garbage == sum(isinstance(i, sp.Garbage) for i in items)


@SETTINGS
@given(st.lists(st.binary(max_size=80), max_size=8))
def test_device_parser_never_raises(chunks):
    dp = sp.DeviceParser(6)
    for chunk in chunks:
        dp.feed(chunk)


@SETTINGS
@given(st.lists(st.one_of(st.binary(max_size=60),
                          st.sampled_from([b"SKSREG S2 ", b"SKSENDTO 1 ", b"FE80::1 ", b"0E1A ", b"0005 ",
                                           b"SKSCAN 2 FFFFFFFF ", b"\r\n", b"\r", b"WOPT ", b"SKJOIN ",
                                           b"SKSETRBID ", b"SKTABLE ", b"SKLL64 "])), max_size=12),
       st.sampled_from(["bp35a1", "bp35c2", "rl7023-dss"]))
def test_dongle_survives_any_input_and_keeps_answering(chunks, personality):
    timeline = Timeline(VirtualClock(0.0))
    dongle = EmulatedDongle(Air(timeline), timeline, personality=personality, seed=1)
    out = bytearray()
    dongle.attach_sink(out.extend)
    for chunk in chunks:
        dongle.feed(chunk)
        timeline.advance(timeline.now() + 0.5)
    # whatever happened, a data phase is completed by enough bytes and the module answers again
    dongle.feed(b"\x00" * 0x4D0 + b"\r\nSKVER\r\n")
    timeline.advance(timeline.now() + 60)
    out.clear()
    dongle.feed(b"\r\nSKVER\r\n")
    timeline.advance(timeline.now() + 1)
    assert b"EVER " in bytes(out)
