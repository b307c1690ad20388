"""Two (or three) emulated dongles on the virtual air, each driven by drivers/skstack.py over an
in-process port, in virtual time: scan, PANA join, encrypted UDP, refusal, replay, duty limit."""
from __future__ import annotations

import pytest

from sumame.drivers.emulated.air import Air, AirConfig
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort
from sumame.drivers.emulated.timeline import Timeline
from sumame.drivers.skstack import SkstackModem
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.net import ieee802154 as mac
from sumame.hal.errors import CommsError
from sumame.hal.radio import (AuthFailed, ModemNotice, PanFound, SessionJoined, SessionTerminated, TxLimit,
                              UdpReceived, UdpSent)

RBID = "0123456789ABCDEF0123456789ABCDEF"
PASSWORD = "0123456789AB"
METER_MAC = "001D12910003B5FB"


class World:
    def __init__(self, mode="fast", **air_kw):
        self.timeline = Timeline(VirtualClock(1_700_000_000.0))
        self.air = Air(self.timeline, AirConfig(mode=mode, seed=1, **air_kw))
        self.meter_dongle = EmulatedDongle(self.air, self.timeline, personality="bp35c2", seed=10,
                                           mac=METER_MAC, name="meter")
        self.meter = self.modem(self.meter_dongle)

    def modem(self, dongle):
        m = SkstackModem(InProcessPort(dongle, self.timeline, timeout=0.5), clock=self.timeline.now)
        m.identify()
        return m

    def hems(self, personality="bp35c2", seed=20, mac=None):
        d = EmulatedDongle(self.air, self.timeline, personality=personality, seed=seed, mac=mac, name=f"hems{seed}")
        return d, self.modem(d)

    def start_meter(self, lifetime_s=900):
        self.meter.reset()
        self.meter.set_credentials(RBID, PASSWORD)
        self.meter.start_pan(0x31, 0xB5FB, lifetime_s=lifetime_s).wait()

    def run(self, seconds):
        self.timeline.advance(self.timeline.now() + seconds)


def join(modem, password=PASSWORD):
    modem.set_credentials(RBID, password).wait()
    pans = modem.scan_and_wait(duration=4)
    assert len(pans) == 1
    return pans[0]


@pytest.mark.parametrize("personality", ["bp35c2", "bp35a1"])
@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_full_join_and_encrypted_exchange(personality, mode):
    w = World(mode)
    w.start_meter()
    hd, h = w.hems(personality)
    t0 = w.timeline.now()
    pan = join(h)
    assert (pan.channel, pan.pan_id, pan.mac, pan.pairing_id) == (0x31, 0xB5FB, METER_MAC, RBID[-8:])
    assert (pan.side is not None) == (personality == "bp35c2")
    scan_s = w.timeline.now() - t0
    # accurate: 28 channels x dwell(D=4) of the real-dongle timing model (9.6 ms x 17 + 8 ms)
    assert scan_s == pytest.approx(28 * (0.0096 * 17 + 0.008), rel=0.01) if mode == "accurate" else scan_s < 0.1
    joined = h.join_and_wait(pan)
    assert joined.peer == "FE80:0000:0000:0000:021D:1291:0003:B5FB"
    assert w.meter.wait_event(lambda e: isinstance(e, SessionJoined), 5).peer == hd.ll_text
    h.send_udp(joined.peer, 3610, b"\x10\x81\x00\x01\x05\xff\x01\x02\x88\x01\x62\x01\xe7\x00").wait()
    rx = w.meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
    assert rx.secured and rx.src == hd.ll_text and rx.payload[:2] == b"\x10\x81"
    w.meter.send_udp(rx.src, 3610, b"\x10\x81answer").wait()
    back = h.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
    assert back.secured and back.payload == b"\x10\x81answer"
    assert (back.lqi is not None) == (personality == "bp35c2")        # SA2 RSSI token on C2 only
    assert hd.stack.keys and w.meter_dongle.stack.keys
    assert list(hd.stack.keys.values())[0] == list(w.meter_dongle.stack.keys.values())[0]


def test_join_event_order_on_the_pac():
    w = World()
    w.start_meter()
    hd, h = w.hems()
    pan = join(h)
    h.join(pan).wait()
    order = []
    while not any(isinstance(e, SessionJoined) for e in order):
        w.run(0.01)
        order += h.poll()
    assert isinstance(order[0], UdpSent) and order[0].result == 2
    assert isinstance(order[1], ModemNotice) and order[1].text.startswith("EVENT 02")
    pana = [e for e in order if isinstance(e, UdpReceived)]
    assert len(pana) == 4 and all(e.src_port == e.dst_port == 716 and not e.secured for e in pana)
    assert isinstance(order[-1], SessionJoined)


def test_wrong_password_gives_event_24_at_pac_and_security_event_at_meter():
    w = World()
    w.start_meter()
    hd, h = w.hems()
    pan = join(h, password="WRONGPASS000")
    with pytest.raises(CommsError, match="EVENT 24"):
        h.join_and_wait(pan)
    failed = w.meter.wait_event(lambda e: isinstance(e, AuthFailed), 5)
    assert failed.peer == hd.ll_text
    assert not hd.stack.keys and not w.meter_dongle.stack.keys


def test_second_pac_is_refused_until_the_first_terminates():
    w = World()
    w.start_meter()
    d1, h1 = w.hems(seed=21)
    d2, h2 = w.hems(seed=22)
    h1.join_and_wait(join(h1))
    pan = join(h2)
    with pytest.raises(CommsError, match="EVENT 24"):
        h2.join_and_wait(pan, timeout_s=120)
    refused = [e for e in w.meter.poll() if isinstance(e, AuthFailed)]
    assert refused and all(e.peer == d2.ll_text for e in refused)
    assert w.meter_dongle.stack.stats["pana-second-pac-refused"] >= 1
    h1.send_udp(h1.identity and "FE80:0000:0000:0000:021D:1291:0003:B5FB", 3610, b"still here").wait()
    assert w.meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.payload == b"still here", 5)
    h1.terminate().wait()
    h1.wait_event(lambda e: isinstance(e, SessionTerminated), 10)
    assert h2.join_and_wait(pan).peer.endswith("0003:B5FB")


class Tap:
    """A passive radio on the meter's channel that records every frame (a sniffer)."""

    def __init__(self, channel):
        self.mac, self.channel, self.frames = bytes(8), channel, []

    def on_air_frame(self, psdu, lqi):
        self.frames.append(psdu)

    def on_tx_limit(self, active):
        pass


def test_replayed_frames_and_pana_messages_are_dropped_and_counted():
    w = World()
    w.start_meter()
    tap = Tap(0x31)
    w.air.attach(tap)
    hd, h = w.hems()
    peer = h.join_and_wait(join(h)).peer
    h.send_udp(peer, 3610, b"\x10\x81once").wait()
    w.meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.payload == b"\x10\x81once", 5)
    from_pac = [f for f in tap.frames if mac.decode(f).src == hd.mac]
    secured = [f for f in from_pac if f[0] & 0x08]
    pana = [f for f in from_pac if not f[0] & 0x08]     # PCI, PAN[S], PAN, PAN, PAN[C]
    assert len(pana) == 5
    paa = w.meter_dongle.stack.paa
    w.meter.poll()
    for frame in [secured[-1]] + pana:
        w.air.transmit(tap, frame)
    w.run(1.0)
    assert not [e for e in w.meter.poll() if isinstance(e, UdpReceived) and e.dst_port == 3610]
    assert w.meter_dongle.stack.stats["rx-replayed-frame"] == 1
    assert w.meter_dongle.stack.paa is paa and paa.state == "open"
    assert paa.stats["bad-auth"] == 3 and paa.stats["unexpected"] == 1   # PAN[S], PAN, PAN; PAN[C]
    assert w.meter_dongle.stack.stats["pana-rejoin-attempt"] == 1        # the replayed PCI
    w.run(60.0)                        # the replayed PCI's handshake dies; the session stays
    assert any(isinstance(e, AuthFailed) for e in w.meter.poll())
    assert w.meter_dongle.stack.paa is paa and w.meter_dongle.stack.keys
    h.send_udp(peer, 3610, b"\x10\x81twice").wait()     # the session still works
    assert w.meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.payload == b"\x10\x81twice", 5)


def test_duty_limit_event_32_and_33_in_accurate_mode_only():
    w = World("accurate", duty_limit_s=0.2, duty_window_s=60.0)
    w.start_meter()
    hd, h = w.hems()
    peer = h.join_and_wait(join(h)).peer
    results = []
    for _ in range(40):
        t = h.send_udp(peer, 3610, bytes(200)).wait()
        results.append(t.sent.result)
    assert 1 in results and results[0] == 0
    assert any(isinstance(e, TxLimit) and e.active for e in h.poll() + h._events)
    assert hd.stack.tx_limited
    assert h.command("SKSREG SFB").wait().items[0].value == "1"
    h.wait_event(lambda e: isinstance(e, TxLimit) and not e.active, 120)
    assert h.send_udp(peer, 3610, b"ok again").wait().sent.result == 0
    fast = World("fast", duty_limit_s=0.2, duty_window_s=60.0)
    fast.start_meter()
    _, hf = fast.hems()
    peer = hf.join_and_wait(join(hf)).peer
    assert all(hf.send_udp(peer, 3610, bytes(200)).wait().sent.result == 0 for _ in range(40))


def test_total_loss_finds_no_pan_and_lifetime_renewal_keeps_session():
    lossy = World(loss=1.0)
    lossy.start_meter()
    _, h = lossy.hems()
    h.set_credentials(RBID, PASSWORD).wait()
    assert h.scan_and_wait(duration=3) == []
    w = World()
    w.start_meter(lifetime_s=60)
    hd, h = w.hems()
    h.join_and_wait(join(h))
    key1 = dict(w.meter_dongle.stack.keys)
    w.run(200.0)                                   # re-auth at 48 s, 96 s, 144 s, 192 s
    joined_again = [e for e in h.poll() if isinstance(e, SessionJoined)]
    assert len(joined_again) == 4
    assert w.meter_dongle.stack.keys and w.meter_dongle.stack.keys != key1
    assert w.meter_dongle.stack.paa.state == "open"


def test_unplugged_dongle_raises_comms_error():
    w = World()
    w.meter_dongle.unplug()
    with pytest.raises(CommsError):
        w.meter.command("SKVER").wait()
    w.meter_dongle.replug()
    assert w.meter.command("SKVER").wait().done


def test_pan_found_carries_typed_fields():
    w = World()
    w.start_meter()
    _, h = w.hems("bp35a1")
    pan = join(h)
    assert isinstance(pan, PanFound) and pan.side is None and pan.channel_page == 9


def test_same_pac_can_rejoin_after_its_dongle_was_reset():
    w = World()
    w.start_meter()
    hd, h = w.hems()
    pan = join(h)
    h.join_and_wait(pan)
    old_key = dict(w.meter_dongle.stack.keys)
    h.reset().wait()                       # the HEMS restarts: its dongle forgets the session
    pan = join(h)
    peer = h.join_and_wait(pan).peer
    assert w.meter_dongle.stack.keys and w.meter_dongle.stack.keys != old_key
    h.send_udp(peer, 3610, b"\x10\x81after rejoin").wait()
    assert w.meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.payload == b"\x10\x81after rejoin", 5)


def test_pac_without_auto_reauth_sees_event_29_and_meter_can_terminate():
    w = World()
    w.start_meter(lifetime_s=60)
    hd, h = w.hems()
    h.command("SKSREG S17 0").wait()
    h.join_and_wait(join(h))
    w.run(61.0)
    from sumame.hal.radio import SessionExpired
    assert any(isinstance(e, SessionExpired) for e in h.poll())
    assert any(isinstance(e, SessionExpired) for e in w.meter.poll())
    w2 = World()
    w2.start_meter()
    d2, h2 = w2.hems()
    h2.join_and_wait(join(h2))
    w2.meter.terminate().wait()
    assert w2.meter.wait_event(lambda e: isinstance(e, SessionTerminated), 10).by_peer is False
    assert h2.wait_event(lambda e: isinstance(e, SessionTerminated), 10).by_peer is True
    with pytest.raises(CommsError, match="ER10"):
        w2.meter.terminate().wait()


def test_corrupted_and_dropped_output_is_counted_and_service_recovers():
    w = World()
    w.meter_dongle.faults.corrupt_output = 0.5
    w.meter_dongle.faults.drop_output = 0.2
    outcomes = []
    for _ in range(30):
        try:
            w.meter.command("SKINFO", timeout_s=0.5).wait(1.0)
            outcomes.append("ok")
        except CommsError as exc:
            outcomes.append(type(exc).__name__)
    assert "ok" in outcomes and len(set(outcomes)) > 1
    assert w.meter.stats["garbage"] + w.meter.stats["command-failed"] > 0
    w.meter_dongle.faults.corrupt_output = w.meter_dongle.faults.drop_output = 0.0
    w.meter_dongle.faults.delay_s = 0.2
    w.meter.poll()
    assert w.meter.command("SKVER").wait().items[0].version == "1.5.2"


def test_ed_scan_reports_busy_channel():
    w = World()
    w.start_meter()
    _, h = w.hems()
    t = h.command("SKSCAN 0 FFFFFFFF 2 0").wait()
    assert t.done
    w.run(1.0)
    from sumame.hal.radio import ModemNotice
    notes = [e.text for e in h.poll() if isinstance(e, ModemNotice)]
    assert any(n.startswith("EVENT 1F") for n in notes)


def test_wrong_route_b_id_finds_no_pan_in_pairing_scan():
    w = World()
    w.start_meter()
    _, h = w.hems()
    h.set_credentials("FFFFFFFFFFFFFFFFFFFFFFFF00000000", PASSWORD).wait()
    assert h.scan_and_wait(duration=3) == []            # PairID differs: the beacon is not reported
    assert h.command("SKSCAN 3 FFFFFFFF 3 0").wait().done   # mode 3 (no pairing IE) sees it
    w.run(1.0)
    assert [e.pairing_id for e in h.poll() if isinstance(e, PanFound)] == [None]


def _lossy_run(seed):
    w = World(loss=0.3)
    w.air.rng.seed(seed)
    w.start_meter()
    _, h = w.hems()
    h.set_credentials(RBID, PASSWORD).wait()
    found = [len(h.scan_and_wait(duration=1)) for _ in range(8)]
    return found, dict(w.air.stats)


def test_seeded_loss_is_reproducible_and_corruption_fails_fcs():
    assert _lossy_run(4) == _lossy_run(4)
    found, stats = _lossy_run(4)
    assert stats["lost"] > 0 and 0 < sum(found) < 8
    w = World(corrupt=1.0)
    w.start_meter()
    hd, h = w.hems()
    h.set_credentials(RBID, PASSWORD).wait()
    assert h.scan_and_wait(duration=1) == []
    assert w.meter_dongle.stack.stats["rx-bad-frame"] > 0


def test_pyserial_url_sumame_scheme_reaches_an_in_process_dongle():
    from sumame.drivers.emulated import protocol_sumame
    w = World()
    url = protocol_sumame.register("url-test", w.meter_dongle, w.timeline)
    try:
        m = SkstackModem(url, clock=w.timeline.now)
        assert m.identify().mac == METER_MAC
        m.close()
    finally:
        protocol_sumame.unregister("url-test")


def test_join_succeeds_through_a_lossy_air_thanks_to_retransmission():
    w = World(loss=0.25)
    w.start_meter()
    hd, h = w.hems()
    h.set_credentials(RBID, PASSWORD).wait()
    pans = []
    while not pans:
        pans = h.scan_and_wait(duration=2)
    for _ in range(5):
        try:
            h.join_and_wait(pans[0], timeout_s=120)
            break
        except CommsError:
            continue
    assert hd.stack.keys
    retransmits = w.meter_dongle.stack.paa.stats["retransmit"] + hd.stack.pac.stats["retransmit"]
    mac_retries = w.meter_dongle.stack.stats["mac-retry"] + hd.stack.stats["mac-retry"]
    assert w.air.stats["lost"] > 0 and retransmits + mac_retries > 0   # seeded: losses hit the handshake
