"""E7 round trips through the whole emulated Wi-SUN B-route, firmware included:

client (drivers/skstack.py in the HEMS role) -> pty -> emulated HEMS dongle -> virtual air ->
the meter's emulated dongle -> drivers/skstack.py -> firmware (PANA session, guard, ECHONET Lite
node reading the live registers) and back. Fast mode shows what the emulation costs; accurate
mode is throttled to the modelled 100 kbit/s airtime, printed next to it. The home-side rate
limit is lifted for the measurement (it would otherwise, correctly, drop a 1 kHz poller).
"""
from __future__ import annotations

import select
import tempfile
import time

from sumame.drivers.skstack import SkstackModem
from sumame.firmware.net.echonet import CONTROLLER, Eoj, Esv, Frame, Property, decode, encode
from sumame.hal.radio import UdpReceived

from .cli import Bench, Figure
from ..emulate.meter_thread import MeterThread
from ..emulate.wisun_setup import attach_emulated_wisun

RBID = "00112233445566778899AABBCCDDEEFF"   # boards/emulated-lv.toml
PASSWORD = "SUMAMEPASS01"
METER = Eoj(0x02, 0x88, 0x01)


def _round_trips(mode: str, n: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        worlds = []
        meter = MeterThread("emulated-lv", state_dir=tmp, profile="constant",
                            overrides={"broute": {"rate_per_s": 1000.0, "burst": 10000.0}},
                            setup=lambda rt: worlds.append(attach_emulated_wisun(rt, tmp, mode=mode, seed=5)))
        meter.start()
        meter.wait_for_event("wisun-pan")
        world = worlds[0]
        hems = SkstackModem(world.hems_path)
        try:
            hems.identify()
            hems.set_credentials(RBID, PASSWORD).wait()
            pan = hems.scan_and_wait(duration=3, timeout_s=60)[0]
            peer = hems.join_and_wait(pan, timeout_s=60).peer
            _drain(hems, 0.5)
            airtime0 = world.air.modelled_airtime_s
            start = time.perf_counter()
            for tid in range(1, n + 1):
                get = Frame(tid, CONTROLLER, METER, Esv.GET, (Property(0xE7),))
                hems.send_udp(peer, 3610, encode(get))
                reply = _reply(hems, tid)
                assert reply.esv == Esv.GET_RES and len(reply.props[0].edt) == 4
            elapsed = time.perf_counter() - start
            airtime = (world.air.modelled_airtime_s - airtime0) / n
            return n / elapsed, elapsed / n * 1e3, airtime * 1e3
        finally:
            hems.close()
            meter.stop()
            world.close()


def _drain(modem, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        select.select([modem.fileno()], [], [], 0.05)
        modem.poll()


def _reply(modem, tid: int, timeout_s: float = 10.0) -> Frame:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for ev in modem.poll():
            if isinstance(ev, UdpReceived) and ev.dst_port == 3610:
                frame = decode(ev.payload)
                if frame.tid == tid:
                    return frame
        select.select([modem.fileno()], [], [], 0.05)
    raise TimeoutError(f"no answer to TID {tid}")


def run(quick: bool) -> list[Figure]:
    n_fast, n_acc = (10, 5) if quick else (200, 40)
    fast_rps, fast_ms, _ = _round_trips("fast", n_fast)
    acc_rps, acc_ms, air_ms = _round_trips("accurate", n_acc)
    return [
        Figure("fast: E7 Get round trips via the firmware", fast_rps, "round trips/s",
               f"{fast_ms:.2f} ms each, n={n_fast}"),
        Figure("accurate: E7 Get round trips via the firmware", acc_rps, "round trips/s",
               f"{acc_ms:.2f} ms each, n={n_acc}"),
        Figure("accurate: modelled airtime per round trip", air_ms, "ms", "request + answer at 100 kbit/s"),
        Figure("accurate: wall time / modelled airtime", acc_ms / air_ms if air_ms else 0.0, "ratio",
               "what the emulation and the firmware add to the air"),
    ]


BENCHES = [Bench("broute-wisun-e7", run,
                 "E7 round trips: HEMS driver->pty->dongle->air->dongle->firmware and back")]
