"""Real-time fleet bench (issue 15 point 4): how many fleet-board meters one core keeps in real
time, and what that means for 10^5 on this machine.

N meters of ``sumame fleet`` (``tools/fleet/realtime.py``: one event loop, one UDP socket) run
for a window of wall time at clock speed R (R x real time, so a 30-min push boundary with all
its pushes falls inside the window); their pushes go to a UDP socket of this bench that nobody
reads (ephemeral ports, a private state dir). Work per clock second does not depend on R, so the
CPU share at real time is (process CPU in the window / wall window) / R. Boot is measured apart
(CPU per meter), and the memory as the RSS growth per booted meter (Linux /proc). The projection
for 10^5 meters: cores = 100 x the share per 1000 meters, RSS = 10^5 x KiB per meter.
"""
from __future__ import annotations

import os
import resource
import socket
import tempfile
import time
from pathlib import Path

from .cli import Bench, Figure

TARGET = 100_000


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (resource.getpagesize() // 1024)


def _mem_available_kib() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def measure(meters: int, speed: float, window_s: float) -> dict:
    from sumame.firmware.core.scheduler import Priority, sleep
    from ..fleet.realtime import RealtimeFleet, RealtimeSpec

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    with tempfile.TemporaryDirectory(prefix="sumame-bench-rtfleet-") as state:
        rss0 = _rss_kib()
        fleet = RealtimeFleet(RealtimeSpec(meters=meters, hes=f"127.0.0.1:{sink.getsockname()[1]}",
                                           state_dir=Path(state), listen="127.0.0.1:0", speed=speed))
        c0 = time.process_time()
        for i in fleet.indices_here:
            fleet.add_meter(i).boot()
        fleet.booted = meters
        boot_cpu = time.process_time() - c0
        window: dict = {}

        async def timer():
            await sleep(2.0 * speed)            # the boot's first steps settle
            window.update(c=time.process_time(), w=time.monotonic(), pushes=fleet.mux.stats["pushes"])
            await sleep(window_s * speed)
            window.update(c=time.process_time() - window["c"], w=time.monotonic() - window["w"],
                          pushes=fleet.mux.stats["pushes"] - window["pushes"])
            fleet.scheduler.stop()
        fleet.scheduler.spawn(timer(), name="bench-window", priority=Priority.UI, group="bench")
        fleet.scheduler.run()
        rss = _rss_kib() - rss0
        out = {"boot_cpu_ms": 1000 * boot_cpu / meters, "cpu_s": window["c"], "wall_s": window["w"],
               "pushes": window["pushes"], "late": fleet.late, "worst_late_s": fleet.worst_late_s,
               "rss_kib_per_meter": rss / meters}
        fleet.close()
    sink.close()
    return out


def realtime_fleet(quick: bool) -> list[Figure]:
    meters, speed, window = (100, 60.0, 30.0) if quick else (1000, 30.0, 60.0)
    r = measure(meters, speed, window)
    share = r["cpu_s"] / r["wall_s"] / speed               # cores at real time for these meters
    per_1000 = 100.0 * share * 1000 / meters               # % of a core per 1000 meters
    per_core = 1000 * 100.0 / per_1000 if per_1000 else float("inf")
    cores_target = TARGET / 1000 * per_1000 / 100
    mem_target_gib = TARGET * r["rss_kib_per_meter"] / 2 ** 20
    cpus = os.cpu_count() or 1
    ram_gib = _mem_available_kib() / 2 ** 20
    fits = min(per_core * cpus, TARGET)
    fits_mem = ram_gib * 2 ** 20 / r["rss_kib_per_meter"] if r["rss_kib_per_meter"] > 0 else float("inf")
    return [
        Figure("real-time fleet: CPU per 1000 meters", per_1000, "% of a core",
               f"{meters} meters at {speed:g}x for {r['wall_s']:.0f} s wall ({r['pushes']} pushes, "
               f"{r['late']} late, worst {r['worst_late_s']:.2f} s); /speed = real time"),
        Figure("real-time fleet: meters one core sustains", per_core, "meters", "CPU only (memory below)"),
        Figure("real-time fleet: boot CPU per meter", r["boot_cpu_ms"], "ms", "booting is staggered in sumame fleet"),
        Figure("real-time fleet: RSS per meter", r["rss_kib_per_meter"], "KiB", "after boot and the window"),
        Figure("10^5 meters in real time: cores", cores_target, "cores", f"this machine has {cpus}"),
        Figure("10^5 meters in real time: memory", mem_target_gib, "GiB", f"{ram_gib:.0f} GiB available on this machine now"),
        Figure("real-time meters that fit this machine (at most 10^5)", min(fits, fits_mem), "meters",
               f"CPU allows {min(per_core * cpus, 1e9):,.0f} on {cpus} cores, RAM allows {fits_mem:,.0f}"),
    ]


BENCHES = [Bench("rtfleet", realtime_fleet, "real-time fleet: CPU share per 1000 meters, projection for 10^5")]
