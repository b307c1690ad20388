"""A fleet of emulated meters and the head-end on one virtual clock: the A-route end to end.

``run_scenario(FleetScenario(...))`` boots the fleet (``fleet.py``), starts the head-end on the
in-process network, schedules the outages on the meters' emulated mains, runs the simulated
days, and returns what is needed to judge the result (and the wall time it took). Used by the
end-to-end test, ``sumame hes fleet`` and the A-route bench.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .fleet import Fleet, FleetSpec, build_fleet
from ..hes.engine import HeadEnd, HesConfig
from ..hes.db.store import HesStore

HOUR = 3600.0


@dataclass
class PlannedOutage:
    index: int          # which meter
    start: float        # epoch s
    seconds: float

    @property
    def end(self) -> float:
        return self.start + self.seconds


@dataclass
class FleetScenario:
    spec: FleetSpec = field(default_factory=FleetSpec)
    days: float = 2.0
    outages: list[PlannedOutage] = field(default_factory=list)
    hes: HesConfig = field(default_factory=HesConfig)
    db: str = ":memory:"
    progress: object = None
    """Callable(done_fraction, now) called every simulated hour (CLI progress bar)."""


@dataclass
class FleetResult:
    fleet: Fleet
    hes: HeadEnd
    start: float
    end: float
    collect_from: float
    wall_s: float
    boot_wall_s: float

    @property
    def meter_days_per_s(self) -> float:
        return len(self.fleet.runtimes) * (self.end - self.start) / 86400 / self.wall_s


def default_outages(start: float, meters: int) -> list[PlannedOutage]:
    """Five outages on five meters, 20 min to 7 h, starting at odd minutes over two days."""
    plan = [(0.07, 5 * HOUR + 17 * 60, 20 * 60), (0.23, 10 * HOUR + 7 * 60, 50 * 60),
            (0.41, 14 * HOUR + 1 * 60, 7 * HOUR), (0.66, 26 * HOUR + 44 * 60, 2 * HOUR),
            (0.88, 30 * HOUR + 3 * 60, 3.5 * HOUR)]
    return [PlannedOutage(min(meters - 1, int(share * meters)), start + at, length) for share, at, length in plan]


def start_scenario(scenario: FleetScenario, indices=None) -> tuple[Fleet, HeadEnd, float]:
    """Boot the fleet's meters ``indices`` (default all) and their head-end; schedule their
    outages. Returns (fleet, head-end, boot wall s). Every meter runs as in the whole fleet: a
    shard (``hes_shard``) is the same scenario with fewer meters."""
    t0 = time.perf_counter()
    fleet = build_fleet(scenario.spec, indices=indices)
    boot_wall = time.perf_counter() - t0
    start = fleet.clock.now()
    config = scenario.hes
    config.push_address = scenario.spec.hes_address
    hes = HeadEnd(fleet.scheduler, HesStore(scenario.db), config, network=fleet.network)
    hes.start()
    for serial in fleet.serials:
        hes.add_meter(f"inproc://{serial}", since=start + HOUR)   # the first full interval after install
    hes.choose_5min(fleet_ids(scenario.spec))
    mine = set(fleet.indices)
    for o in scenario.outages:
        if o.index in mine:
            fleet.mains(o.index).schedule_outage(o.start, o.seconds)
    return fleet, hes, boot_wall


def fleet_ids(spec) -> list[str]:
    """The head-end ids of every meter of the whole fleet (5-min shares are chosen over them)."""
    from .fleet import kind_of, serial_of
    return [f"inproc://{serial_of(i, kind_of(spec, i))}" for i in range(spec.meters)]


def run_scenario(scenario: FleetScenario) -> FleetResult:
    fleet, hes, boot_wall = start_scenario(scenario)
    start = fleet.clock.now()
    collect_from = start + HOUR
    end = start + scenario.days * 86400
    t1 = time.perf_counter()
    while fleet.clock.now() < end:
        fleet.run(min(end, fleet.clock.now() + HOUR))
        if scenario.progress is not None:
            scenario.progress((fleet.clock.now() - start) / (end - start), fleet.clock.now())
    hes.store.commit()
    return FleetResult(fleet, hes, start, end, collect_from, time.perf_counter() - t1, boot_wall)
