"""Issue 16 item 3: in accurate mode (the default of ``sumame emulate``) the emulated dongles
keep time like real ones (drivers/emulated/wisun/dongle_timing.py). Virtual time, so the checks are
exact and instant; the host-side writes are recorded with their clock times."""
from __future__ import annotations

import argparse

import pytest

from sumame.drivers.emulated.air import Air, AirConfig
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort
from sumame.drivers.emulated.wisun.dongle_timing import FAST, REAL
from sumame.drivers.emulated.timeline import Timeline
from sumame.drivers.skstack import SkstackModem
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.radio import SessionJoined, UdpReceived

RBID = "0123456789ABCDEF0123456789ABCDEF"
PASSWORD = "0123456789AB"
GET_E7 = bytes.fromhex("1081000105FF010288016201E700")
RES_E7 = bytes.fromhex("1081000102880105FF017201E704000000E4")


class Recording(InProcessPort):
    """An in-process port that also keeps (clock time, bytes) of every write the dongle makes."""

    def __init__(self, dongle, timeline):
        super().__init__(dongle, timeline, timeout=0.5)
        self.writes: list[tuple[float, bytes]] = []
        dongle.attach_sink(self._sink)

    def _sink(self, data: bytes) -> None:
        self.writes.append((self.timeline.now(), bytes(data)))
        self._rx.extend(data)


def world(mode="accurate"):
    tl = Timeline(VirtualClock(1_700_000_000.0))
    air = Air(tl, AirConfig(mode=mode, seed=1))
    meter_d = EmulatedDongle(air, tl, personality="bp35c2", seed=10, mac="001D129100030B41", name="meter")
    hems_d = EmulatedDongle(air, tl, personality="bp35c2", seed=20, name="hems")
    meter = SkstackModem(InProcessPort(meter_d, tl, timeout=0.5), clock=tl.now)
    port = Recording(hems_d, tl)
    hems = SkstackModem(port, clock=tl.now)
    for m in (meter, hems):
        m.identify()
        m.set_credentials(RBID, PASSWORD).wait()
    meter.start_pan(0x33, 0x0B41).wait()
    return tl, meter, hems, port, hems_d


def test_accurate_mode_uses_the_real_dongle_timing_fast_mode_none():
    tl, _, _, _, hems_d = world("accurate")
    assert hems_d.timing is REAL
    assert world("fast")[4].timing is FAST


def test_scan_takes_what_its_duration_implies_per_channel():
    tl, meter, hems, port, _ = world()
    t0 = tl.now()
    hems.scan(duration=6, channel_mask=0x0FFFFFFF).wait()
    beacon_at = None
    pans = []
    while True:
        evs = hems.poll()
        pans += [e for e in evs if type(e).__name__ == "PanFound"]
        if pans and beacon_at is None:
            beacon_at = tl.now() - t0
        if any(type(e).__name__ == "ScanDone" for e in evs):
            break
        tl.advance(tl.now() + 0.05)
    total = tl.now() - t0
    assert total == pytest.approx(17.7, abs=0.3)          # real BP35C2: EVENT 22 at 17.7 s (S14a)
    assert beacon_at == pytest.approx(11.4, abs=0.4)       # channel 0x33: EVENT 20 at 11.4 s (S14a)
    assert pans[0].channel == 0x33


def test_join_takes_seconds_and_e7_round_trip_tens_of_ms_in_separate_writes():
    tl, meter, hems, port, hems_d = world()
    pan = hems.scan_and_wait(duration=2, channel_mask=1 << (0x33 - 33))[0]
    t0 = tl.now()
    peer = hems.join_and_wait(pan).peer
    join_s = tl.now() - t0
    assert 2.0 <= join_s <= 6.0                           # "a few seconds" (S11 #5), not milliseconds
    meter.wait_event(lambda e: isinstance(e, SessionJoined), 5)
    port.writes.clear()
    t0 = tl.now()
    hems.send_udp(peer, 3610, GET_E7)
    req = meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
    meter.send_udp(req.src, 3610, RES_E7)
    hems.wait_event(lambda e: isinstance(e, UdpReceived) and e.payload == RES_E7, 5)
    rtt = tl.now() - t0
    assert 0.02 <= rtt <= 0.2                              # tens of ms, not a 1-ms burst
    kinds = [(t, w.split(b" ")[0].strip()) for t, w in port.writes]
    ev21 = next(t for t, k in kinds if k == b"EVENT")
    ok = next(t for t, k in kinds if k == b"OK")
    rx = next(t for t, k in kinds if k == b"ERXUDP")
    assert t0 < ev21 < ok < rx                             # three writes, each later than the last
    assert ev21 - t0 >= 0.005                              # UART in + CSMA + airtime + ACK
    assert rx - ok >= 0.01                                  # the meter's side and the answer's airtime


def test_emulate_defaults_to_real_timing_and_keeps_fast_by_flag():
    from sumame.tools.emulate import cli as emulate

    parser = argparse.ArgumentParser()
    emulate.add_parser(parser.add_subparsers())
    assert parser.parse_args(["emulate"]).air_mode == "accurate"
    assert parser.parse_args(["emulate", "--air-mode", "fast"]).air_mode == "fast"
