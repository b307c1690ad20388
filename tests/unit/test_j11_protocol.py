"""The J11 binary UART codec (drivers/j11_protocol.py) against published frames and its own
round trips; typed errors for bad checksums, lengths and unique codes; the stream reader."""
from __future__ import annotations

import pytest

from sumame.drivers import j11_messages as m
from sumame.drivers import j11_protocol as p
from sumame.hal.errors import CommsError

# Frames published by independent J11 users (ak1211/smartmeter-route-b-app: the header
# checksums of its request table and a real 006B exchange; a Rust client's 005F test vector).
PUBLISHED_REQUESTS = [
    (0x006B, b"", "d0ea83fc006b000403a80000"),
    (0x0053, b"", "d0ea83fc0053000403900000"),
    (0x0056, b"", "d0ea83fc0056000403930000"),
    (0x0057, b"", "d0ea83fc0057000403940000"),
    (0x0005, bytes.fromhex("0e1a"), "d0ea83fc0005000603440028" "0e1a"),
    (0x005F, bytes.fromhex("05000500"), "d0ea83fc005f000803a0000a" "05000500"),
]
REAL_VERSION_RESPONSE = bytes.fromhex("D0F9EE5D206B000D03AC00A801040001030000158A")


@pytest.mark.parametrize("command,data,wire", PUBLISHED_REQUESTS)
def test_requests_encode_as_published(command, data, wire):
    assert p.encode_frame(command, data).hex() == wire
    frame = p.decode_frame(bytes.fromhex(wire))
    assert (frame.command, frame.data, frame.unique) == (command, data, p.REQUEST_CODE)


def test_real_version_response_decodes():
    frame = p.decode_frame(REAL_VERSION_RESPONSE)
    assert frame.is_response and frame.result == p.Result.OK
    version = m.Version.decode(p.check_result(frame))
    assert version == m.Version(0x0400, 1, 3, 0x158A)
    assert p.response_frame(0x206B, b"\x01" + version.encode()) == REAL_VERSION_RESPONSE


def test_headers_carry_message_length_and_both_checksums():
    raw = p.encode_frame(0x0054, b"A" * 44)
    assert raw[6:8] == (48).to_bytes(2, "big")                      # 4 + data
    assert int.from_bytes(raw[8:10], "big") == sum(raw[:8])         # header checksum
    assert int.from_bytes(raw[10:12], "big") == (0x41 * 44) & 0xFFFF
    assert raw[8:10] == bytes.fromhex("03bd")                       # ak1211's table for 0054


def test_decode_errors_are_typed():
    good = p.encode_frame(0x0008, b"\x01\x02\x03")
    with pytest.raises(p.HeaderChecksumError):
        p.decode_frame(good[:9] + bytes([good[9] ^ 1]) + good[10:])
    with pytest.raises(p.DataChecksumError):
        p.decode_frame(good[:-1] + b"\x04")
    with pytest.raises(p.TruncatedFrame):
        p.decode_frame(good[:-1])
    with pytest.raises(p.TruncatedFrame):
        p.decode_frame(good[:7])
    with pytest.raises(p.UniqueCodeError):
        p.decode_frame(b"\x00" * 12)
    with pytest.raises(p.LengthError):
        p.decode_frame(good + b"\x00")
    short = bytearray(p.encode_frame(0x0008))
    short[7] = 3
    short[8:10] = p.checksum(bytes(short[:8])).to_bytes(2, "big")
    with pytest.raises(p.LengthError):
        p.decode_frame(bytes(short))
    with pytest.raises(p.LengthError):
        p.encode_frame(0x0008, bytes(p.MAX_DATA_LEN + 1))
    for err in (p.HeaderChecksumError, p.DataChecksumError, p.TruncatedFrame, p.PayloadError, p.J11CommandError):
        assert issubclass(err, CommsError)


def test_command_error_names_the_result():
    frame = p.Frame(0x2005, b"\x0a")
    with pytest.raises(p.J11CommandError) as info:
        p.check_result(frame)
    assert (info.value.command, info.value.result) == (0x0005, 0x0A)
    assert "already open" in str(info.value)


def test_payload_round_trips():
    mac = bytes.fromhex("001D12910003B5FB")
    cases = [
        m.InitialSettings(5, False, 12, 0),
        m.ScanRequest(6, p.ALL_CHANNELS_MASK, b"CCDDEEFF"),
        m.ScanRequest(3, 1 << 4, None),
        m.ScanResult(12, (m.Beacon(mac, 0xB5FB, -58),)),
        m.ScanResult(5),
        m.RouteBLink(12, 0xB5FB, mac, -60),
        m.TransmitRequest(m.link_local(mac), 3610, 3610, b"\x10\x81payload"),
        m.TransmitResult(False, 5),
        m.DataReceived(m.link_local(mac), 3610, 3610, 0xB5FB, True, True, -70, b"\x10\x81"),
        m.PanaResult(p.PanaOutcome.SUCCESS, mac),
        m.ConnectionStatus(p.LinkStatus.PANA_DISCONNECTED, mac, -80),
        m.Version(0x0400, 1, 3, 0x158A),
        m.Credentials("0123456789ABCDEF0123456789ABCDEF", "0123456789AB"),
    ]
    for obj in cases:
        assert type(obj).decode(obj.encode()) == obj


def test_payload_layouts_match_public_clients():
    mac = bytes.fromhex("001D12910003B5FB")
    # 4051: result 00, channel, count, then MAC(8) PAN(2) RSSI(1) per beacon
    assert m.ScanResult(12, (m.Beacon(mac, 0xB5FB, -60),)).encode() == bytes.fromhex("000c01001d12910003b5fbb5fbc4")
    assert m.ScanResult(7).encode() == bytes.fromhex("0107")
    # 6018: src(16) sport dport pan multicast encrypted(02) rssi len data
    rx = m.DataReceived.decode(m.link_local(mac) + bytes.fromhex("0e1a0e1ab5fb0002c40002") + b"\x10\x81")
    assert (rx.encrypted, rx.multicast, rx.rssi, rx.payload) == (True, False, -60, b"\x10\x81")
    assert m.link_local(mac).hex() == "fe80000000000000021d12910003b5fb"
    assert m.ScanRequest(6, p.ALL_CHANNELS_MASK, b"CCDDEEFF").encode() == bytes.fromhex("060003fff001") + b"CCDDEEFF"


def test_bad_payloads_raise_payload_error():
    with pytest.raises(p.PayloadError):
        m.ScanRequest.decode(bytes.fromhex("060003fff001") + b"short")
    with pytest.raises(p.PayloadError):
        m.TransmitRequest.decode(bytes(16) + bytes.fromhex("0e1a0e1a0005") + b"abc")
    with pytest.raises(p.PayloadError):
        m.ScanResult.decode(bytes.fromhex("000c02") + bytes(11))
    with pytest.raises(p.PayloadError):
        m.Credentials.decode(b"\x00" * 44)
    with pytest.raises(p.PayloadError):
        m.InitialSettings(5, False, 18, 0).check()


def test_channels_map_to_odd_skstack_channels():
    assert [m.sk_channel(c) for c in (4, 5, 17)] == [33, 35, 59]
    assert all(m.j11_channel(m.sk_channel(c)) == c for c in p.CHANNELS)
    assert m.j11_channel(34) is None and m.j11_channel(60) is None
    with pytest.raises(p.PayloadError):
        m.sk_channel(3)


def test_reader_reassembles_chunks_and_reports_faults():
    a, b = p.encode_frame(0x006B), p.encode_frame(0x0008, b"xyz")
    reader = p.FrameReader(p.REQUEST_CODE)
    stream = b"junk" + a + b
    items = []
    for i in range(len(stream)):
        items += reader.feed(stream[i:i + 1])
    frames = [x for x in items if isinstance(x, p.Frame)]
    assert [(f.command, f.data) for f in frames] == [(0x006B, b""), (0x0008, b"xyz")]
    assert sum(x.octets for x in items if isinstance(x, p.Fault) and x.kind == "garbage") == 4

    bad_head = bytearray(a)
    bad_head[9] ^= 0xFF
    bad_data = b[:-1] + b"Z"
    items = reader.feed(bytes(bad_head) + bad_data + a)
    kinds = [x.kind if isinstance(x, p.Fault) else x.command for x in items]
    assert "header-checksum" in kinds and kinds[-1] == 0x006B
    assert p.Fault("data-checksum", 0x0008, len(b)) in items

    assert reader.feed(b[:13]) == []
    assert reader.pending == 0x0008
    assert reader.drop_pending() == p.Fault("truncated", 0x0008, 13)
    assert reader.pending is None and reader.buffered == 0
    # a response frame is garbage to the module side
    assert all(isinstance(x, p.Fault) for x in reader.feed(p.response_frame(0x206B, b"\x01")))


def test_reader_flags_length_fields():
    reader = p.FrameReader(p.REQUEST_CODE)
    head = bytearray(p.encode_frame(0x0008))
    head[6:8] = (p.MAX_DATA_LEN + 5).to_bytes(2, "big")
    head[8:10] = p.checksum(bytes(head[:8])).to_bytes(2, "big")
    assert reader.feed(bytes(head)) == [p.Fault("length-over", 0x0008, 12)]
    head[6:8] = (2).to_bytes(2, "big")
    head[8:10] = p.checksum(bytes(head[:8])).to_bytes(2, "big")
    assert reader.feed(bytes(head)) == [p.Fault("length-short", 0x0008, 12)]


def test_every_meter_channel_is_one_a_j11_dongle_can_tune():
    from sumame.firmware.net.ieee802154 import pan_from_mac

    channels = {pan_from_mac(f"001D1291{n << 16 | 0xB5FB:08X}")[0] for n in range(64)}
    assert {m.j11_channel(c) for c in channels} == set(p.CHANNELS)      # all 14, none unreachable
    assert pan_from_mac("001D12910003B5FB")[1] == 0xB5FB
