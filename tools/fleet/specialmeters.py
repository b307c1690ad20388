"""``sumame specialmeters``: a site with PV and special meters (EV charger, PV inverter) behind
their IoT-route terminals, the smart meter, the head-end/MDMS — settlement by difference end to end
in virtual time (reference/iot-route.md §1.5–1.6).

``run_scenario(SpecialScenario(...))`` builds one site model (``drivers/emulated/iot/special/
site.py``) that drives both the smart meter's chip (X) and the special meters (Aᵢ), boots the
meter with the IoT route, the special meters and their terminals (the first one's clock wrong by
``clock_error_s`` at start), a terminal outage of ``outage_h`` hours, and a head-end cut-off of the
last terminal (through the meter's IoT gateway, COSEM method 2 = the allow-list cut-off; method 3
reconnects it; with the external-connection security present, its authenticated, replay-protected
``HeadEnd.cutoff_external`` / ``reconnect_external`` command instead) — then checks that every 30-min value of each special meter reached the MDMS once
and that ΣA and Y = X − ΣA per slot equal what the load model gives independently.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass

from sumame.drivers.emulated.iot.special.meter import SpecialMeter, SpecialMeterSpec
from sumame.drivers.emulated.iot.special.site import SiteModel, SiteProfile
from sumame.drivers.emulated.iot.special.terminal import SpecialTerminal, SpecialTerminalSpec
from sumame.drivers.emulated.iot.world import IotWorld, IotWorldSpec
from sumame.hal.jst import next_boundary

from ..cli import CliError
from ..hes.engine import HeadEnd, HesConfig
from ..hes.settlement import SpecialCollector, settlement
from ..hes.db.store import HesStore
from .fleet import Fleet, FleetSpec, serial_of

HOUR, DAY, SLOT = 3600, 86400, 1800
DEVICE_CYCLE = ("ev", "pv", "ev-charger", "pv")


@dataclass
class SpecialScenario:
    days: float = 3.0
    meters: int = 2
    seed: int = 1
    outage: tuple[float, float] | None = (1.0, 6.0)
    """Terminal outage of the first terminal: (day it starts, hours)."""
    clock_error_s: float = 1500.0
    """The first terminal's clock error at start (s)."""
    cutoff: tuple[float, float] | None = (1.6, 3.0)
    """Head-end cut-off of the last terminal: (day, hours until reconnect)."""
    link_loss: float = 0.02
    tail_s: float = 2 * HOUR
    db: str = ":memory:"
    """Head-end database (a file keeps X, Aᵢ and Y for ``sumame hes query --settlement``)."""
    extra_terminals: int = 0
    """Terminals beyond ``meters`` on the allow-list (a 5th special-meter terminal: refused)."""
    progress: object = None


def _derive(seed: int, what: str, n: int = 16) -> bytes:
    return hashlib.sha256(f"sumame special|{seed}|{what}".encode()).digest()[:n]


class SpecialFleet(Fleet):
    def __init__(self, spec: FleetSpec, scenario: SpecialScenario):
        super().__init__(spec)
        self.scenario = scenario
        self.site = SiteModel(scenario.seed)
        self.world = IotWorld(IotWorldSpec(gas=0, water=0, relay_share=0.0, seed=scenario.seed, lossy_link=False),
                              self.clock, serial_of(0))
        self.start = self.clock.now()
        since = next_boundary(self.start + SLOT, 30)
        self.devices = [f"{DEVICE_CYCLE[i % 4]}" for i in range(scenario.meters + scenario.extra_terminals)]
        self.meters: list[SpecialMeter] = []
        self.terminals: list[SpecialTerminal] = []
        w = self.world
        for i, device in enumerate(self.devices):
            model = "pv" if device == "pv" else "ev"
            key = model if sum(1 for d in self.devices[:i] if ("pv" if d == "pv" else "ev") == model) == 0 else f"{model}:{i}"
            mspec = SpecialMeterSpec(f"SPM{i + 1:05d}", device, b"\x02\x00\x5e" + _derive(scenario.seed, f"mac {i}", 3),
                                     index=1, tolerance_class=3 if model == "ev" else 5,
                                     initial_wh=(1_000_000 + 10_000 * i, 500_000 + 1000 * i))
            meter = SpecialMeter(mspec, self.site, w.timeline, site_key=key)
            self.meters.append(meter)
            tspec = SpecialTerminalSpec(f"SPT{i + 1:05d}", b"\x00\x1d\x12\xd0" + _derive(scenario.seed, f"t {i}", 4),
                                        _derive(scenario.seed, f"psk {i}"), mspec.device_id, since, channel_b=i + 1,
                                        clock_offset_s=scenario.clock_error_s if i == 0 else 0.0, seed=scenario.seed + i)
            term = SpecialTerminal(tspec, w.air, w.timeline, meter, channel=w.channel, random_bytes=w.random_bytes)
            w.links.connect(tspec.mac, w.coordinator.mac, scenario.link_loss)
            self.terminals.append(term)
        self.site_keys = [m.site_key for m in self.meters]
        self.since = since

    def _board(self, index: int):
        board = super()._board(index)
        allow = [{"mac": t.spec.mac.hex(), "id": t.spec.terminal_id, "psk": t.spec.psk.hex(), "kind": "special",
                  "special_id": t.spec.expected_id.hex()} for t in self.terminals]
        board.values["iot"] = {**board.values.get("iot", {}), "enabled": True, "terminals": allow}
        board.values["breaker"] = {**board.values.get("breaker", {}), "limit_a": 60}     # an EV household's contract
        return board

    def _attach(self, built, index: int) -> None:
        built.hardware.extras["iot_radio"] = self.world.coordinator
        profile = SiteProfile(self.site, self.site_keys[:self.scenario.meters])
        chip = built.emulated["chip"]
        chip.profile = profile
        built.emulated["profile"] = profile


@dataclass
class SpecialResult:
    scenario: SpecialScenario
    fleet: SpecialFleet
    hes: HeadEnd
    collector: SpecialCollector
    end: float
    wall_s: float
    cutoff_effective_s: float | None
    reconnect_ok: bool

    def expected_slots(self) -> set[tuple[str, float]]:
        f = self.fleet
        return {(m.spec.device_id.hex().upper(), float(t)) for m in f.meters[:self.scenario.meters]
                for t in range(f.since, int(self.end) + 1, SLOT)}

    def model_rows(self) -> dict[float, dict]:
        """Per slot end, from the load model alone: each Aᵢ, ΣA and Y (kWh, net import)."""
        f, site = self.fleet, self.fleet.site
        out = {}
        for t in range(f.since, int(self.end) + 1, SLOT):
            a = {}
            for m in f.meters[:self.scenario.meters]:
                imp, exp = site.energy_wh(lambda x, k=m.site_key: site.device_w(k, x), t - SLOT, t)
                a[m.spec.device_id.hex().upper()] = (imp - exp) / 1000
            imp, exp = site.energy_wh(site.house_w, t - SLOT, t)
            out[float(t)] = {"a": a, "sum_a": sum(a.values()), "y": (imp - exp) / 1000}
        return out

    def figures(self) -> dict:
        expected = self.expected_slots()
        stored = {(r[0], r[1]) for r in self.hes.store.db.execute("SELECT special, end_at FROM special_registers")}
        delivered = expected & stored
        model = self.model_rows()
        err = 0.0
        rows = settlement(self.hes.store, start=self.fleet.since, end=self.end)
        compared = 0
        for r in rows:
            exp = model.get(r["end_at"])
            if exp is None or r["y_kwh"] is None:
                continue
            compared += 1
            err = max(err, abs(r["y_kwh"] - exp["y"]), abs(r["sum_a_kwh"] - exp["sum_a"]),
                      *(abs(r["a_kwh"][k] - v) for k, v in exp["a"].items() if r["a_kwh"].get(k) is not None))
        f = self.fleet
        iot = next((x for x in f.meter(0).services if x.name == "iot-route"), None)
        sync_ok = all(t.synced and t.sync_status == 1 and abs(t.local_now() - f.clock.now()) <= 2.0
                      and abs(m.local_now() - f.clock.now()) <= 2.0
                      for t, m in zip(f.terminals[:self.scenario.meters], f.meters))
        return {
            "slots_expected": len(expected),
            "slots_delivered": len(delivered),
            "slots_duplicates": self.collector.duplicates,
            "max_settlement_error_kwh": round(err, 6),
            "time_sync_ok": bool(sync_ok),
            "cutoff_effective_s": None if self.cutoff_effective_s is None else round(self.cutoff_effective_s, 3),
            "reconnect_ok": bool(self.reconnect_ok),
            "slots_compared": compared,
            "days": self.scenario.days, "meters": self.scenario.meters, "seed": self.scenario.seed,
            "terminals_refused": (iot.stats.get("event-iot-special-limit", 0) if iot else 0),
            "meter_iot": iot.summary() if iot else None,
            "wall_s": round(self.wall_s, 2),
        }


def run_scenario(s: SpecialScenario, prepare=None) -> SpecialResult:
    """Build, run and check. ``prepare(fleet)`` runs before boot (tests: faulty or hostile parts,
    timed actions on ``fleet.world.timeline``)."""
    t0 = time.perf_counter()
    fleet = SpecialFleet(FleetSpec(meters=1, seed=s.seed, push_randomisation_s=0.0, retention_days=4, flash_pages=96,
                                   present_interval_s=900.0, latency_s=0.2, jitter_s=0.3), s)
    if prepare is not None:
        prepare(fleet)
    fleet.boot()
    start = fleet.start
    world = fleet.world
    world.pump(fleet.scheduler)
    for i, term in enumerate(fleet.terminals):
        world.timeline.call_later(5.0 + 7.0 * i, term.start)
    serial = serial_of(0)
    hes = HeadEnd(fleet.scheduler, HesStore(s.db),
                  HesConfig(push_address=fleet.spec.hes_address, realtime_share=0.0, history_share=0.0),
                  network=fleet.network)
    hes.start()
    meter_id = f"inproc://{serial}"
    hes.add_meter(meter_id, since=start + HOUR)
    collector = SpecialCollector(hes)
    collector.start()
    end = start + s.days * DAY
    first = fleet.terminals[0]
    if s.outage:
        at = start + s.outage[0] * DAY + 3 * HOUR + 11 * 60
        world.timeline.call_at(at, first.power_off)
        world.timeline.call_at(at + s.outage[1] * HOUR, first.power_on)
    cut = {"effective": None, "reconnect_ok": s.cutoff is None}
    if s.cutoff and s.meters >= 1:
        fleet.scheduler.spawn(_cutoff(fleet, hes, meter_id, fleet.terminals[s.meters - 1], start, s, cut),
                              name="special-cutoff", group="special")
    run_until = end + s.tail_s
    while fleet.clock.now() < run_until:
        fleet.run(min(run_until, fleet.clock.now() + HOUR))
        if s.progress is not None:
            s.progress((fleet.clock.now() - start) / (run_until - start))
    if s.cutoff:
        term = fleet.terminals[s.meters - 1]
        sid = term.spec.expected_id.hex().upper()
        a, b = cut.get("window", (0, 0))
        have = {r[0] for r in hes.store.db.execute("SELECT end_at FROM special_registers WHERE special=?", (sid,))}
        gap = [float(t) for t in range(int(next_boundary(a, 30)), int(b), SLOT)]
        cut["reconnect_ok"] = bool(cut.get("reconnected")) and bool(gap) and all(t in have for t in gap)
    return SpecialResult(s, fleet, hes, collector, end, time.perf_counter() - t0, cut["effective"], cut["reconnect_ok"])


async def _cutoff(fleet, hes, meter_id, term, start, s, out):
    """Cut the terminal off through the meter's IoT gateway, measure when the meter stops taking
    its frames, reconnect it after ``s.cutoff[1]`` hours."""
    from sumame.firmware.core.scheduler import sleep_until
    from sumame.firmware.net.dlms import axdr
    from sumame.firmware.routes.iot.gateway import CLASS_ID, CUT_OFF, GATEWAY_LN, RECONNECT
    at = start + s.cutoff[0] * DAY
    await sleep_until(at)

    def iot():
        return next(x for x in fleet.meter(0).services if x.name == "iot-route")

    async def call(cut: bool) -> bool:
        if hasattr(hes, "cutoff_external"):        # the external-connection security's command
            peer = f"iot:{term.spec.terminal_id}"
            result = await (hes.cutoff_external if cut else hes.reconnect_external)(meter_id, peer)
            return bool(result["ok"])
        async with hes.session(hes.meter(meter_id)) as sess:      # the IoT gateway's allow-list cut-off
            ret = await sess.action(CLASS_ID, GATEWAY_LN, CUT_OFF if cut else RECONNECT,
                                    axdr.octet_string(term.spec.tid))
        hes.store.add_command(meter_id, fleet.clock.now(), "iot-cut-off" if cut else "iot-reconnect",
                              term.spec.terminal_id, ret is not None and ret.value == 0, "")
        return ret is not None and ret.value == 0

    sent = fleet.clock.now()
    ok = await call(True)
    state = iot().by_id[term.spec.tid]
    if ok and state.cut_off and not state.joined:
        # the meter refuses the terminal from the moment the method ran: find that instant
        events = [e for e in fleet.meter(0).events.recent() if e.kind == "iot-cut-off"] \
            if hasattr(fleet.meter(0).events, "recent") else []
        applied = events[-1].at if events else fleet.clock.now()
        out["effective"] = max(0.0, applied - sent)
    accepted_before = _accepted(iot(), term)
    out["window"] = (sent, sent + s.cutoff[1] * HOUR)
    await sleep_until(sent + s.cutoff[1] * HOUR)
    if _accepted(iot(), term) != accepted_before:
        out["effective"] = None                  # the meter kept taking its frames: not cut off
    out["reconnected"] = await call(False)


def _accepted(app, term) -> int:
    """Messages the meter accepted from ``term`` (the traffic counter by terminal, inbound)."""
    name = term.spec.terminal_id
    return sum(n for (who, d, what), n in app.traffic.items()
               if who == name and d == "in" and what not in ("join", "leave", "frame"))


# ---------------------------------------------------------------- CLI
def add_parser(sub) -> None:
    p = sub.add_parser("specialmeters", help="special meters (EV charger, PV) through IoT-route terminals: "
                                             "settlement by difference end to end (virtual time)")
    p.add_argument("--days", type=float, default=3.0, help="simulated days (default 3)")
    p.add_argument("--meters", type=int, default=2, help="special meters, 1..4 (default 2: EV charger, PV)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--db", metavar="FILE", help="keep the head-end database (then: sumame hes query --db FILE "
                                                "--settlement)")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    if not 0 < args.days <= 30:
        raise CliError("--days must be > 0 and <= 30")
    if not 1 <= args.meters <= 4:
        raise CliError("--meters must be 1..4 (a smart meter admits at most 4 special-meter terminals)")
    tty = sys.stderr.isatty()

    def progress(done):
        bar = int(done * 30)
        sys.stderr.write(f"\r[{'#' * bar}{'.' * (30 - bar)}] {done * 100:5.1f} %")
        sys.stderr.flush()
    s = SpecialScenario(days=args.days, meters=args.meters, seed=args.seed,
                        outage=(min(1.0, args.days / 3), 6.0) if args.days >= 1 else None,
                        cutoff=(min(1.6, args.days * 0.55), min(3.0, args.days * 8)),
                        progress=progress if tty else None, db=args.db or ":memory:")
    res = run_scenario(s)
    if tty:
        sys.stderr.write("\n")
    fig = res.figures()
    print(f"special-meter 30-min values: {fig['slots_delivered']}/{fig['slots_expected']} at the MDMS "
          f"({fig['slots_duplicates']} duplicate copies)")
    print(f"settlement Y = X - sum(A): max error {fig['max_settlement_error_kwh']:.3f} kWh over "
          f"{fig['slots_compared']} slots; time sync {'ok' if fig['time_sync_ok'] else 'NOT ok'}")
    cut = fig["cutoff_effective_s"]
    print(f"cut-off effective after {'-' if cut is None else f'{cut:.2f}'} s (virtual); reconnect "
          f"{'ok, gap filled' if fig['reconnect_ok'] else 'FAILED'}; wall time {fig['wall_s']} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=2)
    res.hes.store.commit()
    res.fleet.close()
    return 0
