"""Wi-SUN path benchmark: UDP round trips through driver -> pty -> emulated HEMS dongle -> virtual
air -> meter dongle -> driver and back (the sizes of an ECHONET Lite E7 Get and its answer).

Fast mode shows what the emulation costs; accurate mode shows the same path throttled to the
modelled 100 kbit/s airtime, printed next to that modelled airtime.
"""
from __future__ import annotations

import select
import time

from sumame.drivers.emulated.wisun_world import build_wisun_world
from sumame.drivers.skstack import SkstackModem
from sumame.hal.radio import UdpReceived

from .bench import Bench, Figure

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
               "1.0 = the emulation adds nothing to the air"),
    ]


BENCHES = [Bench("wisun-roundtrip", run,
                 "UDP round trips driver->pty->HEMS dongle->air->meter dongle->driver and back")]
