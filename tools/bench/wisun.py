"""Wi-SUN path benchmark: UDP round trips through driver -> pty -> emulated HEMS dongle -> virtual
air -> meter dongle -> driver and back (the sizes of an ECHONET Lite E7 Get and its answer).

Fast mode shows what the emulation costs; accurate mode shows the same path throttled to the
modelled 100 kbit/s airtime, printed next to that modelled airtime. ``wisun-dongle-timing``
reports what the real-dongle timing model (accurate mode, the default of ``sumame emulate``)
gives for SKSCAN, SKJOIN and an E7 round trip, in virtual time, next to the published figures
for real dongles (``dongle_timing.PUBLISHED``).
"""
from __future__ import annotations

import select
import time

from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort
from sumame.drivers.emulated.wisun.dongle_timing import PUBLISHED
from sumame.drivers.emulated.wisun.world import build_wisun_world
from sumame.drivers.skstack import SkstackModem
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.radio import SessionJoined, UdpReceived

from .cli import Bench, Figure

RBID = "0123456789ABCDEF0123456789ABCDEF"
PASSWORD = "0123456789AB"
E7_GET = bytes.fromhex("1081000105FF010288016201E700")            # 14 octets
E7_RES = bytes.fromhex("1081000102880105FF017201E704000000E4")    # 18 octets


def _wait_rx(modem: SkstackModem, other: SkstackModem, timeout_s: float = 5.0) -> UdpReceived:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for ev in modem.poll():
            if isinstance(ev, UdpReceived) and ev.dst_port == 3610:
                return ev
        other.poll()          # keep the other side's EVENT 21 / OK flowing
        select.select([modem.fileno()], [], [], 0.05)
    raise TimeoutError("no datagram within the timeout")


def _round_trips(mode: str, n: int) -> tuple[float, float, float]:
    """(round trips per second, mean wall ms per round trip, modelled airtime ms per round trip)."""
    world = build_wisun_world(mode=mode, seed=11, meter_mac="001D12910001E7E7").start()
    try:
        meter, hems = SkstackModem(world.meter_path), SkstackModem(world.hems_path)
        for m in (meter, hems):
            m.identify()
            m.set_credentials(RBID, PASSWORD).wait()
        meter.start_pan(0x33, 0xE7E7).wait()
        pan = hems.scan_and_wait(duration=2, channel_mask=1 << (0x33 - 33), timeout_s=30)[0]
        peer = hems.join_and_wait(pan, timeout_s=30).peer
        meter.wait_event(lambda e: type(e).__name__ == "SessionJoined", 10)
        airtime0 = world.air.modelled_airtime_s
        start = time.perf_counter()
        for _ in range(n):
            hems.send_udp(peer, 3610, E7_GET)
            req = _wait_rx(meter, hems)
            meter.send_udp(req.src, 3610, E7_RES)
            _wait_rx(hems, meter)
        elapsed = time.perf_counter() - start
        airtime = (world.air.modelled_airtime_s - airtime0) / n
        meter.close()
        hems.close()
        return n / elapsed, elapsed / n * 1e3, airtime * 1e3
    finally:
        world.close()


def run(quick: bool) -> list[Figure]:
    n_fast, n_acc = (20, 10) if quick else (300, 60)
    fast_rps, fast_ms, air_ms = _round_trips("fast", n_fast)
    acc_rps, acc_ms, air_ms_acc = _round_trips("accurate", n_acc)
    return [
        Figure("fast: E7-size UDP round trips", fast_rps, "round trips/s", f"{fast_ms:.2f} ms each, n={n_fast}"),
        Figure("accurate: E7-size UDP round trips", acc_rps, "round trips/s", f"{acc_ms:.2f} ms each, n={n_acc}"),
        Figure("accurate: modelled airtime per round trip", air_ms_acc, "ms",
               "2 secured frames at 100 kbit/s incl. PHY overhead"),
        Figure("accurate: wall time / modelled airtime", acc_ms / air_ms_acc, "ratio",
               "above 1: the dongles' modelled UART, MAC and processing time plus the emulation's own"),
    ]


def _modelled_times(rounds: int) -> tuple[float, float, float]:
    """(scan s, join s, mean E7 round trip s) of the accurate-mode dongles, in virtual time."""
    world = build_wisun_world(mode="accurate", clock=VirtualClock(1_700_000_000.0), seed=11,
                              meter_mac="001D129100030B41", serve=False)
    tl = world.timeline
    meter = SkstackModem(InProcessPort(world.meter_dongle, tl, timeout=0.5), clock=tl.now)
    hems = SkstackModem(InProcessPort(world.hems_dongle, tl, timeout=0.5), clock=tl.now)
    for m in (meter, hems):
        m.identify()
        m.set_credentials(RBID, PASSWORD).wait()
    meter.start_pan(0x33, 0x0B41).wait()
    t0 = tl.now()
    pan = hems.scan_and_wait(duration=6, channel_mask=0x0FFFFFFF)[0]
    scan_s = tl.now() - t0
    t0 = tl.now()
    peer = hems.join_and_wait(pan).peer
    join_s = tl.now() - t0
    meter.wait_event(lambda e: isinstance(e, SessionJoined), 5)
    t0 = tl.now()
    for _ in range(rounds):
        hems.send_udp(peer, 3610, E7_GET)
        req = meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
        meter.send_udp(req.src, 3610, E7_RES)
        hems.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
    return scan_s, join_s, (tl.now() - t0) / rounds


def run_timing(quick: bool) -> list[Figure]:
    scan_s, join_s, rtt_s = _modelled_times(3 if quick else 20)

    def published(key: str) -> str:
        value, source = PUBLISHED[key]
        return ("published: " + (f"{value:g} s, " if value is not None else "") + source)
    return [
        Figure("model: SKSCAN 2 0FFFFFFF 6 (28 channels)", scan_s, "s", published("scan-28ch-d6-s")),
        Figure("  same, the manual's formula", PUBLISHED["scan-28ch-d6-manual-s"][0], "s",
               PUBLISHED["scan-28ch-d6-manual-s"][1]),
        Figure("model: SKJOIN -> EVENT 25", join_s, "s", published("join-s")),
        Figure("model: E7 Get -> Get_Res round trip", rtt_s * 1e3, "ms", published("e7-round-trip-s")),
    ]


BENCHES = [Bench("wisun-roundtrip", run,
                 "UDP round trips driver->pty->HEMS dongle->air->meter dongle->driver and back"),
           Bench("wisun-dongle-timing", run_timing,
                 "real-dongle timing model (sumame emulate's default) vs published real-dongle figures")]
