"""IEEE 802.15.4 + 6LoWPAN codecs, checked against scapy as the independent reference."""
from __future__ import annotations

import pytest
from scapy.config import conf
from scapy.layers.dot15d4 import Dot15d4Beacon, Dot15d4Cmd, Dot15d4Data, Dot15d4FCS
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.sixlowpan import LoWPAN_IPHC

from sumame.firmware.net import ieee802154 as mac
from sumame.firmware.net import lowpan

METER = bytes.fromhex("001D129012345678")
HEMS = bytes.fromhex("001D1291ABCDEF01")
KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


@pytest.fixture(autouse=True)
def sixlowpan_in_scapy():
    old = conf.dot15d4_protocol
    conf.dot15d4_protocol = "sixlowpan"
    yield
    conf.dot15d4_protocol = old


def _udp_frame(src_mac, dst_mac, dst_ip, sport, dport, payload, seq=7, pan=0x5678):
    dgram = lowpan.UdpDatagram(lowpan.link_local(src_mac), dst_ip, sport, dport, payload)
    body = lowpan.encode(dgram, src_mac, dst_mac)
    dst = dst_mac if dst_mac is not None else mac.BROADCAST_SHORT
    return mac.MacFrame(mac.FRAME_DATA, seq, pan, dst, src_mac, body, ack_request=dst_mac is not None)


def test_link_local_matches_skstack_rule():
    assert lowpan.format_ipv6(lowpan.link_local(METER)) == "FE80:0000:0000:0000:021D:1290:1234:5678"
    assert lowpan.eui64_of(lowpan.link_local(METER)) == METER


def test_fcs_is_crc16_kermit_little_endian():
    assert mac.fcs(b"123456789") == bytes.fromhex("8921")


def test_unicast_pana_frame_dissected_identically_by_scapy():
    frame = _udp_frame(HEMS, METER, lowpan.link_local(METER), 716, 716, b"\x00\x00\x00\x10" + bytes(12))
    raw = mac.encode(frame)
    pkt = Dot15d4FCS(raw)
    assert pkt.fcf_frametype == 1 and pkt.fcf_panidcompress == 1 and pkt.fcf_ackreq == 1
    assert pkt.fcf_destaddrmode == 3 and pkt.fcf_srcaddrmode == 3
    assert pkt.seqnum == 7
    data = pkt[Dot15d4Data]
    assert data.dest_panid == 0x5678
    assert data.dest_addr == int.from_bytes(METER, "big")
    assert data.src_addr == int.from_bytes(HEMS, "big")
    assert pkt.fcs == int.from_bytes(raw[-2:], "little")
    assert bytes(Dot15d4FCS(raw)) == raw  # scapy recomputes the same FCS
    ip = pkt[IPv6]
    assert ip.src == "fe80::21d:1291:abcd:ef01" and ip.dst == "fe80::21d:1290:1234:5678"
    assert ip.hlim == 64
    assert pkt[UDP].sport == 716 and pkt[UDP].dport == 716
    assert bytes(pkt[UDP].payload) == b"\x00\x00\x00\x10" + bytes(12)
    iphc = pkt[LoWPAN_IPHC]
    assert (iphc.tf, iphc.nh, iphc.sam, iphc.dam, iphc.m) == (3, 1, 3, 3, 0)


def test_multicast_frame_dissected_by_scapy():
    frame = _udp_frame(METER, None, lowpan.ALL_NODES, 3610, 3610, bytes.fromhex("108100000EF0010EF0017301D50401028801"))
    pkt = Dot15d4FCS(mac.encode(frame))
    assert pkt[Dot15d4Data].dest_addr == 0xFFFF
    assert pkt[IPv6].dst == "ff02::1"
    assert pkt[UDP].dport == 3610
    assert bytes(pkt[UDP].payload).hex().upper() == "108100000EF0010EF0017301D50401028801"


def test_scapy_built_frame_decodes_with_our_codec():
    src_ll, dst_ll = "fe80::21d:1291:abcd:ef01", "fe80::21d:1290:1234:5678"
    lp = LoWPAN_IPHC(tf=3, nh=0, hlim=2, sam=0, dam=0, src=src_ll, dst=dst_ll) / IPv6(src=src_ll, dst=dst_ll) / \
        UDP(sport=3610, dport=3610) / b"\x10\x81\x00\x01"
    raw_lowpan = bytes(lp)
    ours = lowpan.decode(raw_lowpan, HEMS, METER)
    assert ours.src_port == 3610 and ours.payload == b"\x10\x81\x00\x01"
    assert lowpan.format_ipv6(ours.dst) == "FE80:0000:0000:0000:021D:1290:1234:5678"


def test_mac_round_trip_and_bad_fcs():
    frame = _udp_frame(HEMS, METER, lowpan.link_local(METER), 3610, 3610, b"abc")
    raw = mac.encode(frame)
    assert mac.decode(raw) == frame
    with pytest.raises(mac.FrameError, match="FCS"):
        mac.decode(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(lowpan.LowpanError, match="checksum"):
        bad = bytearray(frame.payload)
        bad[-1] ^= 0xFF
        lowpan.decode(bytes(bad), HEMS, METER)


def test_ccm_star_level5_round_trip_and_tamper():
    frame = _udp_frame(METER, HEMS, lowpan.link_local(HEMS), 3610, 3610, b"secret reading")
    sec = mac.secure(frame, KEY, mac.AuxSecurity(5, 42, 1))
    raw = mac.encode(sec)
    parsed = mac.decode(raw)
    assert parsed.security == mac.AuxSecurity(5, 42, 1)
    assert b"secret" not in raw
    assert len(parsed.payload) == len(frame.payload) + 4
    assert mac.unsecure(parsed, KEY).payload == frame.payload
    pkt = Dot15d4FCS(raw)
    assert pkt.fcf_security == 1 and pkt.fcf_framever == 1
    tampered = bytearray(raw[:-2])
    tampered[-3] ^= 1
    with pytest.raises(mac.SecurityError):
        mac.unsecure(mac.decode(bytes(tampered), with_fcs=False), KEY)
    with pytest.raises(mac.SecurityError):
        mac.unsecure(parsed, bytes(16))


def test_beacon_and_beacon_request_in_scapy():
    beacon = mac.encode(mac.beacon_frame(3, 0x1234, METER, "0112CE67"))
    pkt = Dot15d4FCS(beacon)
    assert pkt[Dot15d4Beacon].src_panid == 0x1234
    assert pkt[Dot15d4Beacon].src_addr == int.from_bytes(METER, "big")
    parsed = mac.parse_beacon(mac.decode(beacon))
    assert parsed == mac.Beacon(0x1234, METER, "0112CE67")
    req = mac.encode(mac.beacon_request_frame(9))
    pkt = Dot15d4FCS(req)
    assert pkt[Dot15d4Cmd].cmd_id == 7 and pkt[Dot15d4Cmd].dest_panid == 0xFFFF
    assert mac.is_beacon_request(mac.decode(req))


@pytest.mark.parametrize("bad,reason", [
    (b"\x41", "too short"),
    (b"\x42\xcc\x01\x00\x00", "unsupported frame type"),
])
def test_decoder_names_the_problem(bad, reason):
    with pytest.raises(mac.FrameError, match=reason):
        mac.decode(bad + mac.fcs(bad))
