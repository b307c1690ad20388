"""Meter reads through the emulated BP35C0-J11 dongle (binary UART), firmware included:

HEMS client -> pty -> emulated J11 dongle -> virtual air (fast) -> the meter's emulated SKSTACK
dongle -> drivers/skstack.py -> firmware (PANA, ECHONET Lite node) and back. Measured with our
driver (drivers/j11.py) and, in the same run, with the independent PyPI client broute-j11
(``async_read_meter``: one Get of E7, E8, E0, E3), so the ratio cancels machine speed. The
home-side rate limit is lifted (it would, correctly, drop a flat-out poller).
"""
from __future__ import annotations

import asyncio
import tempfile
import time

from sumame.drivers.j11 import J11Modem
from sumame.firmware.net.echonet import CONTROLLER, Eoj, Esv, Frame, Property, decode, encode

from .cli import Bench, Figure
from ..emulate.meter_thread import MeterThread
from ..emulate.wisun_setup import attach_emulated_wisun

RBID = "00112233445566778899AABBCCDDEEFF"   # boards/emulated-lv.toml
PASSWORD = "SUMAMEPASS01"
METER = Eoj(0x02, 0x88, 0x01)
EPCS = (0xE7, 0xE8, 0xE0, 0xE3)             # what broute-j11 reads per poll


def _meter(tmp: str):
    worlds = []
    meter = MeterThread("emulated-lv", state_dir=tmp, profile="constant",
                        overrides={"broute": {"rate_per_s": 1000.0, "burst": 10000.0}},
                        setup=lambda rt: worlds.append(attach_emulated_wisun(rt, tmp, personality="j11",
                                                                             mode="fast", seed=5)))
    meter.start()
    meter.wait_for_event("wisun-pan")
    return meter, worlds[0]


def _ours(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        meter, world = _meter(tmp)
        modem = J11Modem(world.hems_path, timeout_s=10)
        try:
            t0 = time.perf_counter()
            link = modem.connect(RBID, PASSWORD)
            join_s = time.perf_counter() - t0
            start = time.perf_counter()
            for tid in range(1, n + 1):
                get = Frame(tid, CONTROLLER, METER, Esv.GET, tuple(Property(e) for e in EPCS))
                modem.send_udp(link.address, encode(get))
                while True:
                    reply = decode(modem.receive(10).payload)
                    if reply.tid == tid:
                        break
                assert reply.esv == Esv.GET_RES
            return n / (time.perf_counter() - start), join_s
        finally:
            modem.close()
            meter.stop()
            world.close()


def _broute_j11(n: int) -> tuple[float, float]:
    import broute_j11

    async def run(path: str) -> tuple[float, float]:
        session = broute_j11.J11Session(broute_j11.SerialTransport(path),
                                        broute_j11.SessionConfig(auth_id=RBID, password=PASSWORD))
        t0 = time.perf_counter()
        await session.async_connect()
        join_s = time.perf_counter() - t0
        try:
            start = time.perf_counter()
            for _ in range(n):
                await session.async_read_meter()
            return n / (time.perf_counter() - start), join_s
        finally:
            await session.async_close()

    with tempfile.TemporaryDirectory() as tmp:
        meter, world = _meter(tmp)
        try:
            return asyncio.run(run(world.hems_path))
        finally:
            meter.stop()
            world.close()


def run(quick: bool) -> list[Figure]:
    n = 10 if quick else 200
    ours_rps, ours_join = _ours(n)
    figures = [Figure("j11 (drivers/j11.py): 4-property Gets via the firmware", ours_rps, "round trips/s", f"n={n}"),
               Figure("j11 (drivers/j11.py): reset to PANA joined, fast air", ours_join * 1e3, "ms",
                      "reset, version, settings, credentials, 14-channel scan, route B, PANA")]
    try:
        peer_rps, peer_join = _broute_j11(n)
    except ImportError:
        return figures + [Figure("broute-j11 not installed (test extra)", 0.0, "-")]
    return figures + [
        Figure("j11 (broute-j11, PyPI): async_read_meter via the firmware", peer_rps, "round trips/s", f"n={n}"),
        Figure("j11 (broute-j11, PyPI): connect, fast air", peer_join * 1e3, "ms", "its own sequence and dwell"),
        Figure("j11: ours / broute-j11 round trips", ours_rps / peer_rps if peer_rps else 0.0, "ratio",
               "same meter, same emulated dongle, same run"),
    ]


BENCHES = [Bench("j11-meter-reads", run,
                 "meter reads through the emulated BP35C0-J11 dongle: drivers/j11.py vs broute-j11")]
