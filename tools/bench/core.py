"""Core benchmarks: virtual-time simulation speed and scheduler overhead."""
from __future__ import annotations

import time

from sumame.hal.jst import parse_jst

from .cli import Bench, Figure
from ..emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
TARGET_DAYS_PER_S = 365.0  # direction: one simulated meter-year per second of one core


def simulation_speed(quick: bool) -> list[Figure]:
    """Days of the LV board in virtual time: every register (1/5/15/30-min) recorded to flash."""
    days = 1 if quick else 7
    rt = build_runtime("emulated-lv", virtual=True, start_epoch=START, poll_interval_s=60)
    wall0 = time.perf_counter()
    rt.scheduler.run(until=START + days * 86400)
    wall = time.perf_counter() - wall0
    inside = rt.scheduler.step_seconds
    steps = rt.scheduler.steps
    flash_ops = rt.built.emulated["flash"].ops
    rt.close()
    per_s = days / wall
    return [
        Figure("simulated meter-days per wall second", per_s, "days/s",
               f"{days} days, poll 60 s, 1-min snapshots to flash"),
        Figure("share of the meter-year target", per_s / TARGET_DAYS_PER_S * 100, "%",
               "target: 365 meter-days per second of one core"),
        Figure("time in the scheduler itself", (wall - inside) / wall * 100, "% of wall",
               f"{steps:,} task steps, {(wall - inside) / steps * 1e6:.1f} µs each"),
        Figure("flash operations per simulated day", flash_ops / days, "ops/day"),
    ]


def boot_time(quick: bool) -> list[Figure]:
    """How long a boot takes to recover and verify a flash holding N days of intervals."""
    days = 2 if quick else 20
    from sumame.tools.emulate.runtime import open_board

    board = open_board("emulated-lv")
    rt = build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60)
    rt.scheduler.run(until=START + days * 86400)
    image = rt.built.emulated["flash"].image()
    rt.close()
    again = build_runtime(board, virtual=True, start_epoch=START + days * 86400 + 60, boot=False)
    again.built.emulated["flash"].load_image(image)
    t0 = time.perf_counter()
    report = again.boot()
    wall = time.perf_counter() - t0
    records = sum(report.record_counts.values())
    again.close()
    return [Figure(f"boot with {days} days stored", wall * 1000, "ms",
                   f"{records:,} records CRC- and HMAC-verified ({records / wall:,.0f} records/s)")]


def scheduler_overhead(quick: bool) -> list[Figure]:
    """Raw scheduler throughput: tasks that only sleep (no work)."""
    from sumame.firmware.core.clock import VirtualClock
    from sumame.firmware.core.scheduler import Scheduler, sleep

    n = 20_000 if quick else 200_000
    s = Scheduler(VirtualClock(0))

    async def sleeper(period):
        while True:
            await sleep(period)

    for i in range(10):
        s.spawn(sleeper(1 + i * 0.1), name=f"s{i}")
    t0 = time.perf_counter()
    while s.steps < n:
        s.run(until=s.clock.now() + 100)
    wall = time.perf_counter() - t0
    s.close()
    return [Figure("scheduler context switches", s.steps / wall, "switches/s", "10 sleeping tasks, virtual clock")]


BENCHES = [
    Bench("core-simulation", simulation_speed, "virtual-time speed of a full LV meter"),
    Bench("core-boot", boot_time, "storage recovery at boot"),
    Bench("core-scheduler", scheduler_overhead, "cooperative scheduler throughput"),
]
