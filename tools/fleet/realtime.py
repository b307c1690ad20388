"""A fleet of emulated meters in real time against a real head-end (``sumame fleet``).

One process, one event loop: the firmware's cooperative scheduler on a ``RealClock``. Its timer
heap wakes only the meters with due work (a chip poll a minute, present values every 5 min,
the push after each boundary, a storage scrub an hour) — nothing polls every meter every
second, so CPU grows with the work that is due, not with wall time x meters. Every meter is the
complete fleet-board firmware (``Fleet.add_meter``: its own serial, supply point, load seed,
flash region, relay, supply) with its **own A-route keys** (system title, EK, AK, LLS password
drawn from a per-run secret; the head-end gets them in ``STATE/a-route-keys.json``) and its own
A-route endpoint ``udp://HOST:PORT/WPORT`` on the process's one UDP socket (``udp_mux.py``);
``STATE/meters.txt`` lists the endpoints for ``sumame hes run --meters-file``.

Push times: a real meter's push setup (COSEM class 40, attribute 5
``randomisation_start_interval``) delays each push by a random time in a window so that a
fleet does not hit the head-end in one second. Here every meter pushes ``delay_s`` (5 s) + its
own fixed offset in [0, ``push_window_s``) after each boundary, the offset drawn from a hash of
its serial (``firmware/routes/aroute/push.py``): uniform over the fleet, stable per meter, so
10^5 meters with a 600 s window send ~170 pushes/s instead of 10^5 at :00:05.

Boot: meters are booted one per scheduler step by a lowest-priority task, so the meters already
up keep their timers while the rest boot ("meters up" in the status climbs to the total).

Compressed time (tests, demos): ``speed`` R runs the clock R times faster than the host clock,
anchored at ``clock_origin`` (host epoch s): now = origin + (host time - origin) x R, so a
head-end given the same ``--speed`` and ``--clock-origin`` reads the same time in another
process. ``--push-interval S`` is R = 1800 / S (a 30-min interval every S wall seconds).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from sumame.firmware.core.clock import RealClock
from sumame.firmware.core.scheduler import Priority, Scheduler, yield_now
from sumame.hal.jst import floor_boundary

from .fleet import Fleet, FleetSpec, serial_of
from .udp_mux import FIRST_WPORT, MAX_METERS, UdpMux

LATE_WALL_S = 2.0
"""A push later than this many wall seconds after its own due time counts as late."""
KEYS_FILE, METERS_FILE, SECRET_FILE = "a-route-keys.json", "meters.txt", "fleet-secret"


def fleet_clock(speed: float = 1.0, origin: float | None = None) -> RealClock:
    """A RealClock running ``speed`` x the host clock, reading ``origin`` at host time ``origin``
    (default: now), so processes given the same pair agree on the time."""
    host = time.time()
    origin = host if origin is None else float(origin)
    return RealClock(start_epoch_s=origin + (host - origin) * speed, ratio=speed)


def meter_keys(secret: bytes, serial: str) -> dict[str, str]:
    """``[aroute]`` keys of one meter, drawn from the fleet's secret (not from the serial alone)."""
    def draw(what: str, size: int) -> bytes:
        return hmac.new(secret, f"{what}|{serial}".encode(), hashlib.sha256).digest()[:size]
    return {"system_title": (b"SUM" + draw("system-title", 5)).hex(), "ek": draw("ek", 16).hex(),
            "ak": draw("ak", 16).hex(), "lls_password": draw("lls", 6).hex()}


def fleet_secret(state_dir: Path) -> bytes:
    """The run's key secret (STATE/fleet-secret, owner-only), made on first use."""
    path = Path(state_dir) / SECRET_FILE
    if path.is_file():
        return bytes.fromhex(path.read_text().strip())
    secret = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret.hex() + "\n")
    return secret


@dataclass
class RealtimeSpec:
    """``first`` .. ``first + count``: the fleet indices this process runs (of ``meters``)."""

    meters: int
    hes: str
    state_dir: Path
    board: str = "emulated-lv-fleet"
    listen: str = "127.0.0.1:0"
    first: int = 0
    count: int | None = None
    speed: float = 1.0
    clock_origin: float | None = None
    push_window_s: float = 600.0
    seed: int = 1
    aroute: dict = field(default_factory=dict)


class RealtimeFleet(Fleet):
    def __init__(self, rspec: RealtimeSpec):
        count = rspec.meters - rspec.first if rspec.count is None else rspec.count
        if not 1 <= count <= MAX_METERS:
            raise ValueError(f"{count} meters in one process: one UDP socket addresses 1..{MAX_METERS} "
                             f"meters by wrapper port (use more processes)")
        self.rspec, self.count = rspec, count
        self.secret = fleet_secret(rspec.state_dir)
        spec = FleetSpec(meters=rspec.meters, board=rspec.board, hes_address=rspec.hes, seed=rspec.seed,
                         push_randomisation_s=rspec.push_window_s, aroute=dict(rspec.aroute))
        super().__init__(spec, clock=fleet_clock(rspec.speed, rspec.clock_origin))
        self.scheduler = Scheduler(self.clock, watchdog_budget_s=None, strict=False)
        self.scheduler.power_cut_kills_group = True
        self.mux = UdpMux(self.scheduler, rspec.listen, rspec.hes)
        self.mux.on_push = self._pushed
        self.network = self.mux
        self.late = 0
        self.worst_late_s = 0.0
        self.booted = 0
        self.boot_cpu_s = 0.0
        self._boot_task = None

    # ---------------------------------------------------------------- identity and addressing
    def wport(self, index: int) -> int:
        return FIRST_WPORT + index - self.rspec.first

    def _aroute(self, index: int) -> dict:
        return {"address": str(self.wport(index)), **meter_keys(self.secret, serial_of(index, self.kind(index)))}

    def target(self, index: int) -> str:
        host, port = self.mux.address
        host = f"[{host}]" if ":" in host else host
        return f"udp://{host}:{port}/{self.wport(index)}"

    @property
    def indices_here(self) -> range:
        return range(self.rspec.first, self.rspec.first + self.count)

    def write_files(self, tag: str = "") -> tuple[Path, Path]:
        """STATE/meters{tag}.txt (one endpoint per line) and STATE/a-route-keys{tag}.json (the
        format ``sumame hes --keys`` reads); owner-only."""
        d = Path(self.rspec.state_dir)
        keys = {}
        for i in self.indices_here:
            serial = serial_of(i, self.kind(i))
            keys[serial] = meter_keys(self.secret, serial)
        kpath = d / KEYS_FILE.replace(".json", f"{tag}.json")
        mpath = d / METERS_FILE.replace(".txt", f"{tag}.txt")
        _write_private(kpath, json.dumps(keys, separators=(",", ":")) + "\n")
        _write_private(mpath, "".join(self.target(i) + "\n" for i in self.indices_here))
        return mpath, kpath

    # ---------------------------------------------------------------- running
    def start(self) -> None:
        self._boot_task = self.scheduler.spawn(self._boot_all(), name="fleet-boot", priority=Priority.UI,
                                               group="fleet-boot")

    async def _boot_all(self) -> None:
        for i in self.indices_here:
            c0 = time.process_time()
            self.add_meter(i).boot()
            self.boot_cpu_s += time.process_time() - c0
            self.booted += 1
            await yield_now()           # due work of the meters already up runs first

    def _pushed(self, sender: str) -> None:
        """A push left: late when the loop sent it more than LATE_WALL_S after its due time."""
        rt = self.runtimes[int(sender) - FIRST_WPORT] if sender.isdigit() else None
        app = rt and next((s for s in rt.meter.services if getattr(s, "name", "") == "a-route"), None)
        if app is None:
            return
        now = self.clock.now()
        delay = app.pusher.delay_s
        boundary = floor_boundary(now - delay, app.meter.registers.transmitted_interval_min)
        lateness = (now - boundary - delay) / self.clock.ratio
        self.worst_late_s = max(self.worst_late_s, lateness)
        self.late += lateness > LATE_WALL_S

    def status(self) -> dict:
        s = self.mux.stats
        return {"meters": self.count, "booted": self.booted, "up": len(self.mux._by_wport),
                "pushes": s["pushes"], "late": self.late, "lost": s["pushes_lost"],
                "requests": s["datagrams"] - s["garbage"] - s["unknown_wport"] - s["flooded"],
                "replies": s["replies"], "refused": s["garbage"] + s["unknown_wport"] + s["flooded"],
                "garbage": s["garbage"], "unknown_wport": s["unknown_wport"], "flooded": s["flooded"],
                "worst_late_s": round(self.worst_late_s, 3), "clock": self.clock.now()}

    def close(self) -> None:
        self.mux.close()
        super().close()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
