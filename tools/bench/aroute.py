"""A-route fleet benchmark: how many meters one process serves per core in virtual time with
A-route pushes and a head-end collecting them (``tools.fleet.fleet`` + ``tools.hes.engine`` on one clock).

Measured in the same run: the fleet with the A-route and the head-end (pushes, 5-min
collection from 13 % of the meters, liveness polls), and the same fleet without the A-route, so
the A-route's share of the CPU is a ratio, not a machine-dependent number. "meters per core in
real time" = meter-days per wall second x 86 400: how many meters one core could emulate at the
wall clock's pace (the emulated meters' own work included).
"""
from __future__ import annotations

import time

from .cli import Bench, Figure
from ..fleet.fleet import FleetSpec, build_fleet
from ..fleet.hes_fleet import FleetScenario, run_scenario


def _baseline(meters: int, days: float) -> float:
    fleet = build_fleet(FleetSpec(meters=meters, aroute={"enabled": False}))
    t0 = time.perf_counter()
    fleet.run(fleet.clock.now() + days * 86400)
    wall = time.perf_counter() - t0
    fleet.close()
    return meters * days / wall


def run(quick: bool) -> list[Figure]:
    meters, days = (5, 0.25) if quick else (50, 1.0)
    r = run_scenario(FleetScenario(spec=FleetSpec(meters=meters, hv_every=25), days=days))
    with_a = r.meter_days_per_s
    pushes = r.hes.stats["pushes"]
    rows = r.hes.store.stats.stored
    r.fleet.close()
    without = _baseline(meters, days)
    return [
        Figure("meter-days per wall second (A-route + HES)", with_a, "meter-days/s",
               f"{meters} meters x {days:g} day, {pushes} pushes, {rows} rows stored"),
        Figure("meters one core serves in real time", with_a * 86400, "meters",
               "meter-days/s x 86400, A-route + head-end included"),
        Figure("meter-days per wall second (no A-route)", without, "meter-days/s", "same fleet, [aroute] off"),
        Figure("A-route + head-end share of the CPU", (1 - with_a / without) * 100, "%", "same run"),
    ]


BENCHES = [Bench("aroute-fleet", run, "meters per core in virtual time with A-route pushes and a head-end")]
