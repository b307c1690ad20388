"""drivers/j11.py (HEMS role) drives the emulated BP35C0-J11 dongle (dongle_j11.py) over an
in-process port, in virtual time, against an emulated meter-side SKSTACK dongle driven by
drivers/skstack.py on the same virtual air: pairing sequence, per-channel scan results,
PANA, encrypted UDP both ways, ports, reset, and what bad host input gets."""
from __future__ import annotations

import pytest

from sumame.drivers import j11_messages as m
from sumame.drivers import j11_protocol as p
from sumame.drivers.emulated.air import Air, AirConfig
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.wisun.dongle_j11 import VERSION, J11Dongle
from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort
from sumame.drivers.emulated.timeline import Timeline
from sumame.drivers.j11 import J11AuthFailed, J11Modem, J11Timeout
from sumame.drivers.skstack import SkstackModem
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.net import lowpan
from sumame.hal.errors import CommsError
from sumame.hal.radio import AuthFailed, SessionJoined, SessionTerminated, UdpReceived

RBID = "0123456789ABCDEF0123456789ABCDEF"
PASSWORD = "0123456789AB"
METER_MAC = "001D12910003B5FB"
METER_CHANNEL = 0x31                       # J11 channel 12
GET_E7 = bytes.fromhex("1081000105ff010288016201e700")


class World:
    def __init__(self, mode="fast"):
        self.timeline = Timeline(VirtualClock(1_700_000_000.0))
        self.air = Air(self.timeline, AirConfig(mode=mode, seed=1))
        self.meter_dongle = EmulatedDongle(self.air, self.timeline, personality="bp35c2", seed=10,
                                           mac=METER_MAC, name="meter")
        self.meter = SkstackModem(InProcessPort(self.meter_dongle, self.timeline, timeout=0.5),
                                  clock=self.timeline.now)
        self.meter.identify()
        self.meter.reset()
        self.meter.set_credentials(RBID, PASSWORD)
        self.meter.start_pan(METER_CHANNEL, 0xB5FB).wait()
        self.dongle = J11Dongle(self.air, self.timeline, seed=3, name="hems")
        self.port = InProcessPort(self.dongle, self.timeline, timeout=0.5)
        self.hems = J11Modem(self.port, clock=self.timeline.now)

    def raw(self, data: bytes, wait_s: float = 0.5) -> list:
        """Write raw octets to the J11 dongle; the frames it answers within ``wait_s``."""
        self.port.write(data)
        self.timeline.advance(self.timeline.now() + wait_s)
        reader = p.FrameReader(p.RESPONSE_CODE)
        return [x for x in reader.feed(self.port.read(self.port.in_waiting)) if isinstance(x, p.Frame)]


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_pairing_sequence_and_encrypted_exchange(mode):
    w = World(mode)
    h = w.hems
    h.reset()
    assert h.get_version() == VERSION
    h.initial_settings(4)
    h.set_credentials(RBID, PASSWORD)
    t0 = w.timeline.now()
    results = h.scan(duration=4, pairing_id=RBID[-8:])
    scan_s = w.timeline.now() - t0
    assert [r.channel for r in results] == list(range(4, 18))            # one 4051 per channel
    heard = {r.channel: r.beacons for r in results if r.beacons}
    assert list(heard) == [12]
    (beacon,) = heard[12]
    assert (beacon.mac.hex().upper(), beacon.pan_id, beacon.rssi) == (METER_MAC, 0xB5FB, -58)
    if mode == "accurate":
        assert scan_s == pytest.approx(14 * 0.01 * 17, rel=0.02)          # dwell per channel, D4
    h.initial_settings(12)
    link = h.start_route_b()
    assert (link.channel, link.pan_id, link.mac.hex().upper()) == (12, 0xB5FB, METER_MAC)
    assert h.open_udp_port(3610) is True
    assert h.open_udp_port(3610) is False                                  # 0x0A already open
    pana = h.start_pana()
    assert pana.mac == link.mac
    assert w.meter.wait_event(lambda e: isinstance(e, SessionJoined), 5)

    sent = h.send_udp(link.address, GET_E7)
    assert sent.sent and not sent.queued
    rx = w.meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
    assert rx.secured and rx.payload == GET_E7
    w.meter.send_udp(rx.src, 3610, b"\x10\x81answer").wait()
    back = h.receive(5)
    assert back.payload == b"\x10\x81answer" and back.encrypted and not back.multicast
    assert back.src == link.address and back.src_pan == 0xB5FB
    w.meter.send_udp("FF02:0000:0000:0000:0000:0000:0000:0001", 3610, b"\x10\x81inf").wait()
    inf = h.receive(5)
    assert inf.multicast and inf.payload == b"\x10\x81inf"


def test_connect_helper_and_wrong_password():
    w = World()
    link = w.hems.connect(RBID, PASSWORD)
    assert link.mac.hex().upper() == METER_MAC
    other = World()
    with pytest.raises(J11AuthFailed):
        other.hems.connect(RBID, "WRONGPASS123")
    assert other.meter.wait_event(lambda e: isinstance(e, AuthFailed), 5)


def test_no_meter_on_the_channel_fails_route_b_start():
    w = World()
    h = w.hems
    h.reset()
    h.initial_settings(5)                           # the meter is on channel 12
    h.set_credentials(RBID, PASSWORD)
    with pytest.raises(p.J11CommandError) as info:
        h.start_route_b()
    assert info.value.result == p.Result.MAC_CONNECTION_FAILED
    h.initial_settings(12)
    assert h.start_route_b().pan_id == 0xB5FB


def test_order_of_commands_is_enforced_as_results():
    w = World()
    h = w.hems
    h.reset()
    for call, result in [(h.start_route_b, p.Result.NOT_STARTED), (lambda: h.scan(2), p.Result.NOT_STARTED),
                         (h.start_pana, p.Result.NOT_STARTED),
                         (lambda: h.send_udp(bytes(16), b"x"), p.Result.NOT_STARTED)]:
        with pytest.raises(p.J11CommandError) as info:
            call()
        assert info.value.result == result
    h.initial_settings(12)
    with pytest.raises(p.J11CommandError) as info:
        h.start_route_b()
    assert info.value.result == p.Result.PANA_NOT_READY          # credentials missing


def test_closed_port_drops_datagrams_and_reset_clears_everything():
    w = World()
    h = w.hems
    link = h.connect(RBID, PASSWORD)
    h.request(p.Command.CLOSE_UDP_PORT, (3610).to_bytes(2, "big"))
    w.meter.send_udp(lowpan.format_ipv6(m.link_local(w.dongle.mac)), 3610, b"\x10\x81lost").wait()
    with pytest.raises(J11Timeout):
        h.receive(1)
    assert w.dongle.stack.stats["rx-port-closed"] >= 1
    h.reset()
    assert w.dongle.link is None and not w.dongle.ports
    with pytest.raises(p.J11CommandError) as info:
        h.send_udp(link.address, b"x")
    assert info.value.result == p.Result.NOT_STARTED
    with pytest.raises(p.J11CommandError):
        h.get_initial()                                           # settings gone with the reset


def test_bad_host_input_gets_the_modules_answers_and_it_keeps_serving():
    w = World()
    good = p.encode_frame(p.Command.SET_INITIAL, bytes([5, 0, 12, 0]))
    assert w.raw(b"\x00garbage\xff" * 3) == []                                  # silence
    assert w.raw(b"SKVER\r\nSKINFO\r\nROPT\r") == []                             # the text dialect too
    bad_head = bytearray(good)
    bad_head[8] ^= 0x10
    assert [(f.command, f.data) for f in w.raw(bytes(bad_head))] == [(0x2FFF, b"\xf0")]
    bad_data = good[:-1] + b"\x01"
    assert [(f.command, f.data) for f in w.raw(bad_data)] == [(0x205F, b"\xf1")]
    assert [(f.command, f.data) for f in w.raw(p.encode_frame(0x0123))] == [(0xFFFF, b"\x03")]
    assert [(f.command, f.data) for f in w.raw(p.encode_frame(0x005F, b"\x05\x00"))] == [(0x205F, b"\x11")]
    assert [(f.command, f.data) for f in w.raw(p.encode_frame(0x005F, bytes([5, 0, 30, 0])))] == [(0x205F, b"\x04")]
    partial = p.encode_frame(0x0008, bytes(30))[:20]
    assert w.raw(partial, wait_s=0.9) == []                                      # still waiting
    assert [(f.command, f.data) for f in w.raw(b"", wait_s=0.2)] == [(0x2008, b"\x13")]   # 1 s timeout
    over = bytearray(p.encode_frame(0x0008))
    over[6:8] = (2000).to_bytes(2, "big")
    over[8:10] = p.checksum(bytes(over[:8])).to_bytes(2, "big")
    assert [(f.command, f.data) for f in w.raw(bytes(over))] == [(0x2008, b"\xf3")]
    # a response-coded frame from the host is not a request: silence
    assert w.raw(p.response_frame(0x206B, b"\x01")) == []
    stats = w.dongle.stats
    assert stats["bad-garbage"] and stats["bad-header-checksum"] == 1 and stats["bad-data-checksum"] == 1
    assert stats["bad-unknown-command"] == 1 and stats["bad-truncated"] == 1 and stats["bad-length-over"] == 1
    # and the module still works end to end
    assert w.hems.connect(RBID, PASSWORD).pan_id == 0xB5FB


def test_request_during_a_scan_is_refused_busy():
    w = World("accurate")
    h = w.hems
    h.reset()
    h.initial_settings(4)
    h.set_credentials(RBID, PASSWORD)
    frames = w.raw(p.encode_frame(p.Command.ACTIVE_SCAN, m.ScanRequest(6).encode()), wait_s=0.1)
    assert frames == []                                        # the 2051 comes after the scan
    assert [(f.command, f.data) for f in w.raw(p.encode_frame(0x006B), wait_s=0.1)] == [(0x206B, b"\x3d")]
    rest = w.raw(b"", wait_s=14 * 0.65 + 1)
    assert [f.command for f in rest].count(0x4051) == 14 and rest[-1].command == 0x2051
    assert [(f.command, f.data[:1]) for f in w.raw(p.encode_frame(0x006B))] == [(0x206B, b"\x01")]


def test_reset_notifies_start_up_and_is_never_refused():
    w = World("accurate")
    h = w.hems
    h.reset()
    h.initial_settings(4)
    h.set_credentials(RBID, PASSWORD)
    w.raw(p.encode_frame(p.Command.ACTIVE_SCAN, m.ScanRequest(8).encode()), wait_s=0.1)
    frames = w.raw(p.encode_frame(p.Command.HARDWARE_RESET), wait_s=0.5)
    assert [(f.command, f.data) for f in frames] == [(0x6019, b"")]
    assert w.raw(b"", wait_s=60) == []                         # the interrupted scan is gone
    h.reset()                                                  # the driver waits for the 6019
    assert w.dongle.settings is None


def test_reception_limit_is_a_second_of_host_time_on_a_sped_up_clock():
    class FastClock(VirtualClock):
        ratio = 60.0                        # emulation running 60x real time
    timeline = Timeline(FastClock(1_700_000_000.0))
    dongle = J11Dongle(Air(timeline, AirConfig()), timeline, seed=1)
    out = bytearray()
    dongle.attach_sink(out.extend)
    dongle.feed(p.encode_frame(0x0008, bytes(30))[:20])
    timeline.advance(timeline.now() + 30)                     # 0.5 s of host time
    assert out == b""
    timeline.advance(timeline.now() + 31)
    assert p.decode_frame(bytes(out)) == p.Frame(0x2008, b"\x13")


def test_a_meter_that_stops_answering_is_pana_no_response_not_a_refusal():
    w = World()
    h = w.hems
    h.reset()
    h.initial_settings(12)
    h.set_credentials(RBID, PASSWORD)
    h.start_route_b()
    w.air.detach(w.meter_dongle.stack)                  # the meter goes off the air after its beacon
    with pytest.raises(J11Timeout, match="did not answer PANA"):
        h.start_pana(timeout_s=300)
    assert w.dongle.pana == "idle"


def test_unplug_loses_the_session_and_replug_is_a_silent_power_on():
    w = World()
    h = w.hems
    h.connect(RBID, PASSWORD)
    w.dongle.unplug()
    with pytest.raises(CommsError):
        h.get_version()
    assert w.dongle.stack not in w.air.radios
    w.dongle.replug()
    assert w.raw(b"", wait_s=1) == []                  # no 6019: nobody had the port open
    assert w.dongle.link is None and w.dongle.credentials is None
    assert h.get_version() == VERSION


def test_driver_skips_corrupt_frames_from_the_dongle_and_carries_on():
    w = World()
    h = w.hems
    h.reset()
    w.dongle.faults.corrupt_output = 1.0               # every frame gets one octet flipped
    with pytest.raises(J11Timeout):
        h.get_version()
    assert sum(n for k, n in h.stats.items() if k.startswith("bad-")) >= 1
    w.dongle.faults.corrupt_output = 0.0
    assert h.get_version() == VERSION


@pytest.mark.parametrize("command", [p.Command.TERMINATE_ROUTE_B_PANA, p.Command.TERMINATE_ROUTE_B])
def test_terminating_ends_the_meters_session(command):
    w = World()
    h = w.hems
    link = h.connect(RBID, PASSWORD)
    assert w.meter.wait_event(lambda e: isinstance(e, SessionJoined), 5)
    h.request(command)
    ended = w.meter.wait_event(lambda e: isinstance(e, SessionTerminated), 10)
    assert ended.by_peer and w.dongle.pana == "idle"
    with pytest.raises(p.J11CommandError):
        h.request(p.Command.TERMINATE_ROUTE_B_PANA)                 # nothing left to end
    if command == p.Command.TERMINATE_ROUTE_B:
        with pytest.raises(p.J11CommandError) as info:
            h.send_udp(link.address, b"x")
        assert info.value.result == p.Result.NOT_STARTED


def test_the_meter_ending_the_session_is_a_connection_status_notice():
    w = World()
    h = w.hems
    link = h.connect(RBID, PASSWORD)
    w.meter.wait_event(lambda e: isinstance(e, SessionJoined), 5)
    w.meter.terminate().wait()
    status = h.wait_notice(m.ConnectionStatus, 10)
    assert (status.status, status.mac) == (p.LinkStatus.PANA_DISCONNECTED, link.mac)
    assert w.dongle.pana == "idle"
