"""External-connection security benchmark: what logging every B-route frame costs.

The same stream of accepted ECHONET Lite Gets goes through the real meter's B-route service
(virtual time, in-process medium) with the external-connection security attached and detached,
in the same run, so the ratio does not depend on the machine; plus the flash records written per
1000 frames (one journal record per batch)."""
from __future__ import annotations

import time

from .cli import Bench, Figure

GET = bytes.fromhex("1081000105ff010288016201e700")


def _meter():
    from sumame.tools.emulate.runtime import build_runtime, open_board
    board = open_board("emulated-lv", {"broute": {"burst": 10000.0, "rate_per_s": 1000.0}})
    rt = build_runtime(board, virtual=True, start_epoch=1775055600.0, poll_interval_s=60.0)
    rt.scheduler.run_for(5)
    svc = next(s for s in rt.meter.services if s.name == "b-route").service
    ext = next(s for s in rt.meter.services if s.name == "ext-security")
    return rt, svc, ext


def _rate(svc, frames: int) -> float:
    t0 = time.perf_counter()
    for i in range(frames):
        svc.deliver("inproc", "hems", GET)
        if i % 500 == 499:
            svc.guard.clients[("inproc", "hems")].tokens = 10000.0
    return frames / (time.perf_counter() - t0)


def bench_log_cost(quick: bool) -> list[Figure]:
    frames = 2000 if quick else 20000
    rt, svc, ext = _meter()
    _rate(svc, 200)                                   # warm up, admit the client
    rounds = {"on": [], "off": []}
    for _ in range(3):
        svc.external = None
        rounds["off"].append(_rate(svc, frames))
        svc.external = ext
        records = ext.storage.journals["extlog"].appended if "extlog" in ext.storage.journals else 0
        rounds["on"].append(_rate(svc, frames))
        ext.log.flush()
        records = (ext.storage.journals["extlog"].appended - records) if "extlog" in ext.storage.journals else 0
    on, off = max(rounds["on"]), max(rounds["off"])
    return [Figure("B-route Get, extsec on", on, "frames/s", "log + monitor, each frame in and its answer out"),
            Figure("B-route Get, extsec off", off, "frames/s", "same meter, hooks detached"),
            Figure("extsec cost ratio on/off", on / off, "x", "1.0 = free"),
            Figure("extlog flash records", 1000 * records / frames, "per 1000 frames",
                   f"batches of {ext.options.flush_entries} entries (in + out = 2 entries per frame)")]


BENCHES = [Bench("extsec-log", bench_log_cost, "cost of logging every external frame (B-route Get, on vs off)")]
