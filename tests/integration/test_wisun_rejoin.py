"""Issue 16 item 2: a HEMS whose dongle was reset is answered from its first frame.

The reset dongle's 802.15.4 frame counter starts again at 1; the meter keeps replay state per
(sender, key index), but that state belongs to the old session's key: the new PANA session's key
starts fresh counters. A replay inside one session is still dropped. Virtual time, in-process."""
from __future__ import annotations

from sumame.firmware.net import ieee802154 as mac
from sumame.hal.radio import UdpReceived

from .test_wisun_air import Tap, World, join

GET_E7 = bytes.fromhex("1081000105FF010288016201E700")


def _gets_answered(w, h, peer, n, tag):
    answered = 0
    for i in range(n):
        payload = GET_E7 + f"{tag}{i}".encode()
        h.send_udp(peer, 3610, payload).wait()
        rx = w.meter.wait_event(lambda e, p=payload: isinstance(e, UdpReceived) and e.payload == p, 5)
        w.meter.send_udp(rx.src, 3610, b"\x10\x81res" + payload[-2:]).wait()
        h.wait_event(lambda e, p=payload: isinstance(e, UdpReceived) and e.payload == b"\x10\x81res" + p[-2:], 5)
        answered += 1
    return answered


def test_every_get_is_answered_after_the_hems_dongle_was_reset():
    w = World()
    w.start_meter()
    hd, h = w.hems()
    peer = h.join_and_wait(join(h)).peer
    assert _gets_answered(w, h, peer, 6, "a") == 6
    counter_before = hd.stack.tx_counter
    assert counter_before >= 6
    h.reset().wait()                          # SKRESET: the HEMS dongle forgets keys and counters
    assert hd.stack.tx_counter == 0
    peer = h.join_and_wait(join(h)).peer
    assert _gets_answered(w, h, peer, 6, "b") == 6       # none dropped as a replay
    assert w.meter_dongle.stack.stats["rx-replayed-frame"] == 0
    assert hd.stack.tx_counter <= counter_before          # the counters really restarted


def test_a_replay_inside_one_session_is_still_dropped():
    w = World()
    w.start_meter()
    tap = Tap(0x31)
    w.air.attach(tap)
    hd, h = w.hems()
    peer = h.join_and_wait(join(h)).peer
    h.reset().wait()
    peer = h.join_and_wait(join(h)).peer
    tap.frames.clear()
    h.send_udp(peer, 3610, b"\x10\x81only once").wait()
    w.meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.payload == b"\x10\x81only once", 5)
    secured = [f for f in tap.frames if mac.decode(f).src == hd.mac and f[0] & 0x08]
    assert len(secured) == 1
    w.air.transmit(tap, secured[0])
    w.run(1.0)
    assert not [e for e in w.meter.poll() if isinstance(e, UdpReceived) and e.payload == b"\x10\x81only once"]
    assert w.meter_dongle.stack.stats["rx-replayed-frame"] == 1


def test_a_meter_gone_mid_session_gives_event_21_01_after_the_mac_retries():
    from sumame.hal.radio import UdpSent

    w = World()
    w.start_meter()
    hd, h = w.hems()
    peer = h.join_and_wait(join(h)).peer
    w.meter_dongle.unplug()                   # the meter's radio is gone; the HEMS still has it cached
    t = h.send_udp(peer, 3610, GET_E7).wait()
    assert t.sent == UdpSent(peer, 1)         # EVENT 21 … 01: no MAC ACK
    assert hd.stack.stats["mac-retry"] == 3 and hd.stack.stats["tx-no-ack"] == 1
