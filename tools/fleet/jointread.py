"""``sumame jointread``: one meter, its gas/water terminals (some behind a relay), the head-end
and the joint-reading connection server on one virtual clock — the IoT route end to end.

``run_scenario(JointReadScenario(...))`` boots the meter (A-route on the in-process network,
IoT route on the emulated Enhanced HAN), the terminals, the head-end and the connection server;
plans alarms (an earthquake shut-off, a leak shut-off, a water abnormal flow), two valve
commands a day from the gas company, the meter outage; runs the days plus a tail for the last
upload and gap fill, and returns the figures (``JointReadResult.figures()``).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass, field

from sumame.drivers.emulated.iot.world import IotWorld, IotWorldSpec
from sumame.hal.jst import format_jst, parse_jst
from sumame.firmware.routes.iot import codec as c
from sumame.firmware.core.scheduler import sleep, sleep_until

from ..cli import CliError
from .fleet import Fleet, FleetSpec, serial_of
from ..hes.engine import HeadEnd, HesConfig
from ..hes.db.store import HesStore
from ..hes.jointread_server import Company, ConnectionServer

HOUR, DAY, JST = 3600, 86400, 9 * 3600


@dataclass
class JointReadScenario:
    days: float = 8.0
    gas: int = 3
    water: int = 3
    relay_share: float = 0.34
    outage: tuple[float, float] | None = (3.0, 48.0)
    """(day it starts — 0 = the first day, fractions allowed —, hours)."""
    seed: int = 1
    model: str = "store"
    valves_per_day: int = 2
    alarms: bool = True
    lossy_link: bool = True
    max_hops: int = 2
    tail_s: float = 8 * HOUR
    gap_fill: bool = True
    progress: object = None


class IotFleet(Fleet):
    """A one-meter fleet whose meter has the IoT route on the emulated Enhanced HAN."""

    def __init__(self, spec: FleetSpec, world_spec: IotWorldSpec):
        super().__init__(spec)
        self.world = IotWorld(world_spec, self.clock, serial_of(0))

    def _board(self, index: int):
        board = super()._board(index)
        board.values["iot"] = {**board.values.get("iot", {}), "enabled": True,
                               "terminals": self.world.allow_list(), "max_hops": self.world.spec.max_hops}
        return board

    def _attach(self, built, index: int) -> None:
        built.hardware.extras["iot_radio"] = self.world.coordinator


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 1)


@dataclass
class JointReadResult:
    scenario: JointReadScenario
    fleet: IotFleet
    hes: HeadEnd
    server: ConnectionServer
    start: float
    wall_s: float
    expected_keys: set = field(default_factory=set)
    outage_window: tuple | None = None

    @property
    def world(self) -> IotWorld:
        return self.fleet.world

    def figures(self) -> dict:
        s, srv = self.scenario, self.server
        delivered = {k for co in srv.companies.values() for k in co.received} & self.expected_keys
        dups = sum(co.duplicates for co in srv.companies.values())
        cmds = srv.commands
        ok = [p for p in cmds if p.ok]
        answered = [p for p in cmds if p.answered]
        alarm_rows = [a for co in srv.companies.values() for a in co.alarms]
        alarms = [a["latency_s"] for a in alarm_rows]
        out = self.outage_window
        calm = [a["latency_s"] for a in alarm_rows if not (out and out[0] <= a["at"] <= out[1])]
        entries = [(h, t) for term in self.world.terminals for h, t in term.node.entry_times]
        by_hop = {}
        for hops in sorted({h for h, _ in entries}):
            times = [t for h, t in entries if h == hops]
            by_hop[str(hops)] = {"n": len(times), "p50_s": pct(times, 50), "p95_s": pct(times, 95)}
        rtt_by_hop = {}
        for p in answered:
            hops = self.world.hops(self.world.terminal(p.tid.decode().strip()))
            rtt_by_hop.setdefault(str(hops), []).append(p.done_at - p.sent_at)
        air = self.world.air
        iot_air = self.world.coordinator.airtime_s + sum(t.node.airtime_s for t in self.world.terminals) + (
            self.world.relay.node.airtime_s if self.world.relay else 0.0)
        expected = len(self.expected_keys)
        meter = self.fleet.meter(0)
        iot = next((x for x in meter.services if x.name == "iot-route"), None)
        return {
            "days": s.days, "gas": s.gas, "water": s.water, "relay_share": s.relay_share, "seed": s.seed,
            "model": s.model, "outage": list(s.outage) if s.outage else None,
            "hourly_expected": expected,
            "hourly_delivered": len(delivered),
            "hourly_duplicates": dups,
            "server_duplicates_dropped": srv.stats["values-duplicate"],
            "gap_requests": srv.stats["gap-requests"],
            "valve_sent": len(cmds),
            "valve_ok": len(ok),
            "alarms_raised": sum(len(t.alarms_raised) for t in self.world.terminals),
            "alarms_delivered": len(alarms),
            "alarm_latency_p95_s": pct(alarms, 95),
            "alarm_latency_p95_outside_outage_s": pct(calm, 95),
            "valve_refused_by_terminal": len(answered) - len(ok),
            "round_trip_p50_s": pct([p.done_at - p.sent_at for p in answered], 50),
            "round_trip_p95_s": pct([p.done_at - p.sent_at for p in answered], 95),
            "round_trip_by_hops": {h: {"n": len(v), "p50_s": pct(v, 50), "p95_s": pct(v, 95)}
                                   for h, v in sorted(rtt_by_hop.items())},
            "network_entry_p50_s": pct([t for _, t in entries], 50),
            "network_entry_p95_s": pct([t for _, t in entries], 95),
            "network_entry_by_hops": by_hop,
            "collection_rate": round(len(delivered) / expected, 4) if expected else None,
            "command_success_rate": round(len(answered) / len(cmds), 4) if cmds else None,
            "radio_j_per_day": {t.spec.terminal_id: round(t.radio_joules_per_day(), 2) for t in self.world.terminals},
            "iot_airtime_s": round(iot_air, 3),
            "air_frames": air.stats["frames"],
            "meter_iot": iot.summary() if iot is not None else None,
            "wall_s": round(self.wall_s, 2),
        }


def _parse_outage(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        day, hours = text.split(":")
        out = (float(day), float(hours))
    except ValueError:
        raise CliError(f"--outage {text!r}: expected DAY:HOURS, e.g. 3:48") from None
    if out[0] < 0 or out[1] <= 0:
        raise CliError(f"--outage {text!r}: DAY must be >= 0 and HOURS > 0")
    return out


@dataclass
class JointReadSetup:
    scenario: JointReadScenario
    fleet: IotFleet
    hes: HeadEnd
    server: ConnectionServer
    companies: dict
    start: float
    end: float
    t0: float

    @property
    def world(self) -> IotWorld:
        return self.fleet.world

    @property
    def iot(self):
        return next((x for x in self.fleet.meter(0).services if x.name == "iot-route"), None)

    def run_for(self, seconds: float) -> None:
        self.fleet.run(self.fleet.clock.now() + seconds)


def setup_scenario(s: JointReadScenario, before_boot=None) -> JointReadSetup:
    """Everything built and started, nothing run yet. ``before_boot(world)`` may add terminals."""
    t0 = time.perf_counter()
    wspec = IotWorldSpec(gas=s.gas, water=s.water, relay_share=s.relay_share, seed=s.seed,
                         lossy_link=s.lossy_link, max_hops=s.max_hops)
    fleet = IotFleet(FleetSpec(meters=1, seed=s.seed, push_randomisation_s=0.0, retention_days=4,
                               flash_pages=96, present_interval_s=900.0,
                               latency_s=0.2, jitter_s=0.5), wspec)
    world = fleet.world
    if before_boot is not None:
        before_boot(world)
    fleet.boot()
    start = fleet.clock.now()
    world.pump(fleet.scheduler)
    world.start()
    serial = serial_of(0)
    hes = HeadEnd(fleet.scheduler, HesStore(":memory:"), HesConfig(push_address=fleet.spec.hes_address,
                                                                   realtime_share=0.0, history_share=0.0),
                  network=fleet.network)
    hes.start()
    hes.add_meter(f"inproc://{serial}", since=start + HOUR)
    gas_co = Company("gas company", c.KIND_GAS)
    water_co = Company("water company", c.KIND_WATER)
    meter_of = {}
    for t in world.terminals:
        (gas_co if t.kind == c.KIND_GAS else water_co).keys[t.spec.tid] = t.spec.cmd_key
        meter_of[t.spec.tid] = f"inproc://{serial}"
    server = ConnectionServer(fleet.scheduler, hes, [gas_co, water_co], meter_of=meter_of, model=s.model,
                              since=start + HOUR, gap_fill=s.gap_fill)
    server.start()
    end = start + s.days * DAY
    return JointReadSetup(s, fleet, hes, server, {"gas": gas_co, "water": water_co}, start, end, t0)


def run_scenario(s: JointReadScenario) -> JointReadResult:
    run = setup_scenario(s)
    fleet, world, hes, server, start, end = run.fleet, run.world, run.hes, run.server, run.start, run.end
    serial = serial_of(0)
    window = None
    if s.outage:
        at = start + s.outage[0] * DAY + 2 * HOUR + 17 * 60
        fleet.mains(0).schedule_outage(at, s.outage[1] * HOUR)
        window = (at, at + s.outage[1] * HOUR)
    gas = [t for t in world.terminals if t.kind == c.KIND_GAS]
    water = [t for t in world.terminals if t.kind == c.KIND_WATER]
    if s.alarms:
        if gas:
            world.timeline.call_at(start + 1 * DAY + 14 * HOUR + 3 * 60, gas[0].shut_off, c.ALARM_EARTHQUAKE)
        if len(gas) > 1 and s.days > 5:
            world.timeline.call_at(start + 5 * DAY + 19 * HOUR + 41 * 60, gas[1].shut_off, c.ALARM_LEAK)
        if water and s.days > 4:
            world.timeline.call_at(start + 4 * DAY + 7 * HOUR + 30, water[-1].inject_flow, 900)
    if gas and s.valves_per_day:
        fleet.scheduler.spawn(_company(server, run.companies["gas"], gas, hes, serial, start, end,
                                       s.valves_per_day), name="gas-company", group="jointread")
    run_until = end + s.tail_s
    while fleet.clock.now() < run_until:
        fleet.run(min(run_until, fleet.clock.now() + HOUR))
        if s.progress is not None:
            s.progress((fleet.clock.now() - start) / (run_until - start), fleet.clock.now())
    server._deliver([k for k in server.values if k not in server.delivered], fleet.clock.now())
    expected = {(t.spec.tid, h) for t in world.terminals for h in range(int(start + HOUR), int(end) + 1, HOUR)}
    return JointReadResult(s, fleet, hes, server, start, time.perf_counter() - run.t0, expected, window)


async def _company(server, company, gas, hes, serial, start, end, per_day):
    """Valve close at 10:00 and open at 10:30 JST (per_day = 2) on a rotating gas terminal; a
    command waits while the head-end reports the meter in outage, and (up to an hour) while the
    meter's terminal table says the terminal has not joined again (after the meter's outage)."""
    day = 0
    while True:
        at = start + day * DAY + 10 * HOUR
        if at >= end:
            return
        target = gas[day % len(gas)]
        for k in range(per_day):
            await sleep_until(at + k * 30 * 60)
            while hes.meter(f"inproc://{serial}").in_outage:
                await sleep(300)
            for _ in range(60):
                row = (await server.terminal_table(f"inproc://{serial}")).get(target.spec.terminal_id)
                if row is not None and row["joined"]:
                    break
                await sleep(60)
            op = c.OP_CLOSE if k % 2 == 0 else c.OP_OPEN
            await server.valve(company, target.spec.tid, op)
        day += 1


# ---------------------------------------------------------------- CLI
def add_parser(sub) -> None:
    p = sub.add_parser("jointread", help="IoT route end to end: gas/water terminals, meter, head-end, "
                                         "connection server (virtual time)")
    p.add_argument("--days", type=float, default=8.0, help="simulated days (default 8)")
    p.add_argument("--gas", type=int, default=3, help="gas terminals (default 3)")
    p.add_argument("--water", type=int, default=3, help="water terminals (default 3)")
    p.add_argument("--relay-share", type=float, default=0.34, help="share of terminals behind the relay")
    p.add_argument("--outage", default=None, metavar="DAY:HOURS", help="a meter outage, e.g. 3:48")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model", choices=("store", "transparent"), default="store",
                   help="connection server model (default store-and-forward)")
    p.add_argument("--max-hops", type=int, default=2, help="hops allowed (standard Enhanced HAN: 2)")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--export", metavar="FILE", help="export the stored values (.csv or .parquet)")
    p.add_argument("--query", metavar="TERMINAL", help="print one terminal's stored hourly values "
                                                       "(item/period query; 'all' for every terminal)")
    p.add_argument("--from", dest="query_from", metavar="JST", help="with --query: from this JST time")
    p.add_argument("--to", dest="query_to", metavar="JST", help="with --query: up to (not incl.) this JST time")
    p.set_defaults(func=_cli)


def _parse_period(start: str | None, end: str | None) -> tuple[float, float]:
    """(from, to) epoch s of a --from/--to pair given in JST (either may be absent)."""
    def one(text, default):
        if text is None:
            return default
        try:
            return float(parse_jst(text))
        except ValueError as exc:
            raise CliError(f"{text!r} is not a JST time (e.g. 2026-04-02 or 2026-04-02T06:00): {exc}") from None
    lo, hi = one(start, 0.0), one(end, float("inf"))
    if hi <= lo:
        raise CliError("--to must be after --from")
    return lo, hi


def _cli(args) -> int:
    if args.days <= 0 or args.days > 30:
        raise CliError("--days must be > 0 and <= 30")
    if not 0 <= args.gas <= 10 or not 0 <= args.water <= 10 or args.gas + args.water == 0:
        raise CliError("--gas/--water: 0..10 each, at least one terminal")
    if not 0.0 <= args.relay_share <= 1.0:
        raise CliError("--relay-share must be between 0 and 1")
    if args.gas + args.water > 10:
        print(f"note: the meter admits at most 10 IoT-route devices (reference §1.2); of "
              f"{args.gas + args.water} terminals, those past the 10th are refused and counted as "
              "not collected", file=sys.stderr)
    outage = _parse_outage(args.outage)
    period = _parse_period(args.query_from, args.query_to)
    if period != (0.0, float("inf")) and not args.query:
        raise CliError("--from/--to go with --query TERMINAL")
    if outage and outage[0] >= args.days:
        raise CliError(f"--outage starts on day {outage[0]:g}, after the {args.days:g}-day run")

    def progress(done, now):
        bar = int(done * 30)
        sys.stderr.write(f"\r[{'#' * bar}{'.' * (30 - bar)}] {done * 100:5.1f} %")
        sys.stderr.flush()

    res = run_scenario(JointReadScenario(days=args.days, gas=args.gas, water=args.water,
                                         relay_share=args.relay_share, outage=outage, seed=args.seed,
                                         model=args.model, max_hops=args.max_hops,
                                         progress=progress if sys.stderr.isatty() else None))
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    fig = res.figures()
    print(f"hourly values: {fig['hourly_delivered']}/{fig['hourly_expected']} delivered "
          f"({fig['hourly_duplicates']} duplicates), collection rate {fig['collection_rate']}")
    print(f"valve commands: {fig['valve_ok']}/{fig['valve_sent']} ok ({fig['valve_refused_by_terminal']} refused by "
          f"the terminal's safety rules), round trip p95 {fig['round_trip_p95_s']} s")
    print(f"alarms: {fig['alarms_delivered']}/{fig['alarms_raised']}, latency p95 {fig['alarm_latency_p95_s']} s")
    print(f"network entry p95 {fig['network_entry_p95_s']} s by hops {json.dumps(fig['network_entry_by_hops'])}")
    print(f"wall time {fig['wall_s']} s")
    if args.query:
        terminal = None if args.query == "all" else args.query
        rows = res.server.query(terminal, *period)
        if terminal is not None and not any(t.spec.terminal_id == terminal for t in res.world.terminals):
            raise CliError(f"--query: no terminal {terminal!r}; known: "
                           + ", ".join(t.spec.terminal_id for t in res.world.terminals))
        print(f"{'terminal':<9} {'kind':<6} {'hour ending':<23}   {'index m³':<8} {'abnormal':<9} valve closed")
        for r in rows:
            print(f"{r['terminal']:<9} {r['kind']:<6} {format_jst(r['hour_end'])}   {r['cubic_m']:<8.3f} "
                  f"{'yes' if r['abnormal'] else 'no':<9} {'yes' if r['valve_closed'] else 'no'}")
        print(f"{len(rows)} values")
    if args.export:
        n = res.server.export(args.export)
        print(f"exported {n} values to {args.export}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=2)
    res.fleet.close()
    return 0
