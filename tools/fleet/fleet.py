"""Many emulated meters on one virtual clock and one scheduler (fleet runs, end-to-end tests,
``sumame hes fleet``, the A-route bench).

Each meter is a complete ``Runtime``: its own board instance (distinct serial, supply point and
load-profile seed), its own emulated chip, flash, relay and supply, its own emulated mains
(``fleet.mains(i).schedule_outage(start, s)``) — only the clock, the scheduler and the A-route
in-process network are shared. A supply that dies kills only that meter's task group.

Speed settings (``FleetSpec``): fleets poll the chip once a minute (every minute boundary must be
read anyway) and instantaneous values every ``present_interval_s``; the retention and flash are
cut to what a few simulated days need. Energies do not depend on the polling rate (the emulated
chip integrates the load exactly).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from sumame.boards import load_board
from sumame.firmware.app import Meter
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.metrology.metering import MeteringConfig
from sumame.firmware.routes.aroute.inprocess import InProcessNetwork
from sumame.firmware.routes.aroute.link import LinkConditions
from sumame.firmware.core.scheduler import Scheduler

from ..hes.mdms.ids import make_number
from ..emulate.runtime import Runtime

DEFAULT_START = 1775055600.0          # 2026-04-02 00:00 JST


@dataclass
class FleetSpec:
    """meters: how many; hv_every: every n-th meter is an HV board (0: none); times in s."""

    meters: int = 100
    hv_every: int = 0
    board: str = "emulated-lv"
    """LV board of the fleet (fidelity is a board choice: ``emulated-lv-fleet`` is the HAL-level
    one); HV meters use the same name with ``-hv``."""
    start_epoch: float = DEFAULT_START
    poll_interval_s: float = 60.0
    present_interval_s: float = 300.0
    retention_days: int | None = 4
    """Days of 30/15-min values (5-min: at most 10); None keeps the board's retention."""
    flash_pages: int | None = 96
    """Flash size in pages; None keeps the board's."""
    hes_address: str = "hes"
    push_randomisation_s: float = 240.0
    latency_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0
    seed: int = 1
    aroute: dict = field(default_factory=dict)
    """Extra ``[aroute]`` keys for every meter."""
    asic: dict = field(default_factory=dict)
    """Extra ``[asic]`` keys for every meter (e.g. the load profile's options)."""


def serial_of(index: int, kind: str = "lv") -> str:
    return f"{'SMHV' if kind == 'hv' else 'SMLV'}{index:08d}"


def supply_point_of(index: int) -> str:
    """22-digit 供給地点特定番号 in area 03 with sumame's check digit (``mdms.ids``)."""
    return make_number(3, index)


def receiving_point_of(index: int, kind: str = "lv") -> str:
    """受電地点特定番号 of the PV buy-back contract: every even-numbered LV meter has one."""
    return make_number(3, 5 * 10 ** 18 + index) if kind == "lv" and index % 2 == 0 else ""


def kind_of(spec: FleetSpec, index: int) -> str:
    """"hv" or "lv": every ``hv_every``-th meter of the whole fleet is HV."""
    every = spec.hv_every
    return "hv" if every and index % every == every - 1 else "lv"


class Fleet:
    def __init__(self, spec: FleetSpec, clock=None):
        """``clock``: default a VirtualClock at ``spec.start_epoch``; the real-time fleet
        (``realtime.py``) passes a RealClock."""
        self.spec = spec
        self.clock = clock or VirtualClock(spec.start_epoch)
        self.scheduler = Scheduler(self.clock, watchdog_budget_s=None, strict=True)
        self.scheduler.power_cut_kills_group = True
        self.network = InProcessNetwork(self.scheduler, LinkConditions(
            latency_s=spec.latency_s, jitter_s=spec.jitter_s, loss=spec.loss, seed=spec.seed))
        self.runtimes: list[Runtime] = []
        self.indices: list[int] = []
        """Fleet index of each runtime (``runtimes[k]`` is meter ``indices[k]``)."""
        self._position: dict[int, int] = {}

    def kind(self, index: int) -> str:
        return kind_of(self.spec, index)

    def _board(self, index: int):
        spec = self.spec
        kind = self.kind(index)
        days = spec.retention_days
        overrides = {
            "identity": {"serial": serial_of(index, kind), "supply_point": supply_point_of(index),
                         "receiving_point": receiving_point_of(index, kind)},
            "storage": {"scrub_interval_s": 3600.0},
            "asic": {"seed": spec.seed * 1000 + index, **spec.asic},
            "aroute": {"hes": spec.hes_address, "push_randomisation_s": spec.push_randomisation_s,
                       "seed": spec.seed * 1000 + index, "serve_ip": False, **spec.aroute, **self._aroute(index)},
            "broute": {"serve_ip": False},
        }
        if days is not None:
            overrides["registers"] = {"days_30": days, "days_15": days, "days_5": min(days, 10)}
        if spec.flash_pages is not None:
            overrides["storage"]["page_count"] = spec.flash_pages
        name = spec.board.replace("-lv", "-hv") if kind == "hv" else spec.board
        return load_board(name, overrides)

    def add_meter(self, index: int) -> Runtime:
        board = self._board(index)
        config = replace(board.meter_config(), metering=MeteringConfig(
            self.spec.poll_interval_s, self.spec.present_interval_s))
        built = board.build(self.clock, None)
        built.hardware.extras["aroute_network"] = self.network
        self._attach(built, index)
        meter = Meter(config, built.hardware, self.scheduler)
        rt = Runtime(board, config, built, self.scheduler, meter)
        self.runtimes.append(rt)
        self.indices.append(index)
        self._position[index] = len(self.runtimes) - 1
        return rt

    def _aroute(self, index: int) -> dict:
        """Hook: ``[aroute]`` keys of meter ``index`` alone (e.g. its own keys and address)."""
        return {}

    def _attach(self, built, index: int) -> None:
        """Hook: more emulated hardware for meter ``index`` before it is built (subclasses)."""

    def boot(self, indices=None) -> None:
        """Boot meters ``indices`` of the fleet (default all ``spec.meters``): a shard of a fleet
        boots only its own, each exactly as it is in the whole fleet (serial, seeds, kind)."""
        for i in range(self.spec.meters) if indices is None else indices:
            self.add_meter(i).boot()

    def run(self, until: float) -> None:
        self.scheduler.run(until=until)

    # ---------------------------------------------------------------- access
    def meter(self, index: int) -> Meter:
        """The live Meter of fleet meter ``index`` (a new object after every reboot)."""
        return self.runtimes[self._position[index]].meter

    def mains(self, index: int):
        return self.runtimes[self._position[index]].mains

    @property
    def serials(self) -> list[str]:
        return [rt.config.identity.serial for rt in self.runtimes]

    def close(self) -> None:
        self.scheduler.close()


def build_fleet(spec: FleetSpec | None = None, *, boot: bool = True, indices=None) -> Fleet:
    fleet = Fleet(spec or FleetSpec())
    if boot:
        fleet.boot(indices)
    return fleet
