"""Scale benchmarks (issue 15): meter-days per core-second for the full-fidelity and the fleet
boards, head-end push ingest per core-second, resident memory per fleet meter.

Every speed figure is CPU time of this process (``time.process_time``: core-seconds), so other
work on the machine only adds noise, and each board is measured against the other in the same
run. Scale-out (``scale-ray``): the same sharded fleet on a local Ray with 1 and 2 workers. Memory is the peak RSS of a fresh child process running N and then 2N meters: the
difference / N is what one more meter costs (interpreter and code cancel out).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

from sumame.hal.jst import parse_jst

from .cli import Bench, Figure

START = parse_jst("2026-04-01T00:00")
FULL, FLEET = "emulated-lv", "emulated-lv-fleet"


def _meter_days_per_core_s(board: str, days: float) -> float:
    from ..emulate.runtime import build_runtime

    rt = build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60)
    c0 = time.process_time()
    rt.scheduler.run(until=START + days * 86400)
    cpu = time.process_time() - c0
    rt.close()
    return days / cpu


def meter_speed(quick: bool) -> list[Figure]:
    days = 0.25 if quick else 2.0
    for board in (FULL, FLEET):   # untimed: the modules a run imports late (pushes, ...) get
        _meter_days_per_core_s(board, 1 / 24)   # compiled here, not inside the first timed run
    full = _meter_days_per_core_s(FULL, days)
    fleet = _meter_days_per_core_s(FLEET, days)
    return [
        Figure("full-fidelity LV meter", full, "meter-days/core-s",
               f"{FULL}: chip behind SPI, NOR flash; {days:g} days, poll 60 s (goal 30)"),
        Figure("fleet-board LV meter", fleet, "meter-days/core-s", f"{FLEET}: same firmware, HAL-level parts"),
        Figure("fleet board / full fidelity", fleet / full, "x", "same run"),
    ]


def _fleet_run(board: str, meters: int, days: float):
    from ..fleet.fleet import FleetSpec
    from ..fleet.hes_fleet import FleetScenario, run_scenario

    scenario = FleetScenario(spec=FleetSpec(meters=meters, hv_every=25, board=board), days=days)
    ingest = {"cpu": 0.0, "n": 0}
    import sumame.tools.hes.engine as engine

    originals = {name: getattr(engine.HeadEnd, name) for name in ("_open_push", "_ingest_push")}

    def timed(name):                   # the push receiver's two steps: open (decipher, check), store
        original = originals[name]

        def run(self, *args):
            c = time.process_time()
            try:
                return original(self, *args)
            finally:
                ingest["cpu"] += time.process_time() - c
                ingest["n"] += name == "_open_push"
        return run
    for name in originals:
        setattr(engine.HeadEnd, name, timed(name))
    try:
        c0 = time.process_time()
        r = run_scenario(scenario)
        cpu = time.process_time() - c0
    finally:
        for name, original in originals.items():
            setattr(engine.HeadEnd, name, original)
    pushes, rows = r.hes.stats["pushes"], r.hes.store.stats.stored
    r.fleet.close()
    return meters * days / cpu, ingest, pushes, rows


def fleet_speed(quick: bool) -> list[Figure]:
    meters, days = (4, 0.25) if quick else (25, 1.0)
    for board in (FULL, FLEET):   # untimed warm-up: without it the first timed run (full
        _fleet_run(board, 1, 1 / 24)      # fidelity) paid for importing and compiling the fleet,
        # head-end and store modules (~0.1 s here, where PYTHONDONTWRITEBYTECODE is set)
    full, _, _, _ = _fleet_run(FULL, meters, days)
    fleet, ingest, pushes, rows = _fleet_run(FLEET, meters, days)
    per_push = ingest["cpu"] / max(1, ingest["n"])
    return [
        Figure("A-route fleet + head-end, full-fidelity boards", full, "meter-days/core-s",
               f"{meters} meters x {days:g} day incl. boot, pushes, 5-min collection, polls"),
        Figure("A-route fleet + head-end, fleet boards", fleet, "meter-days/core-s",
               f"{FLEET} (goal 100); {pushes} pushes, {rows} rows stored"),
        Figure("fleet boards / full fidelity", fleet / full, "x", "same run"),
        Figure("head-end push ingest", 1 / per_push if per_push else 0.0, "pushes/core-s",
               f"decode, decipher, check, store (SQLite); {ingest['n']} pushes"),
    ]


_CHILD = """
import json, resource, sys
from sumame.tools.fleet.fleet import FleetSpec, build_fleet
n, hours, board = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
f = build_fleet(FleetSpec(meters=n, board=board, retention_days=None, flash_pages=None))
f.run(f.clock.now() + hours * 3600)
import gc; gc.collect()
with open("/proc/self/statm") as fh:
    now_kib = int(fh.read().split()[1]) * (resource.getpagesize() // 1024)
# VmHWM is this process image's own peak; ru_maxrss is not: Linux carries the parent's peak
# across fork + exec, so after earlier benches in the parent both runs read the parent's peak
with open("/proc/self/status") as fh:
    hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
print(json.dumps({"rss_kib": hwm, "now_kib": now_kib}))
"""


def _rss_kib(meters: int, hours: float, board: str) -> dict:
    """Peak and final RSS (KiB) of a fresh process running the fleet (Linux)."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(meters), str(hours), board],
                         capture_output=True, text=True, check=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(quick: bool) -> list[Figure]:
    """Peak RSS of N vs 2N meters. Where a fleet meter's Python heap goes (tracemalloc, 64 vs
    128 meters, 2 h, KiB; 87.5 -> 78 in the mem64c pass, RSS 98 -> ~87): storage (journals,
    page index, snapshot-history index) 12 + 1, A-route COSEM model + DLMS server 12 + 2.7,
    switchgear 8.7, emulated parts 8, scheduler tasks 5.5 (was 8.2: awaitable primitives, no
    frame each; the mains task starts with the first outage), B-route 5, board 4 (was 5: seed
    sections are overlays), app 4, external-connection log 3.9, recent ring 3.4 (was 5.2:
    counters as offsets), the rest ~7. Beside the heap, OpenSSL memory tracemalloc does not see
    (the journals' HMAC pads were 12 SHA-256 states, ~350 B each, now bytes). Grows with the
    days run: the per-page indexes up to the whole ring (~5 KiB more at 100 days), the scrub
    cache 16 B per page scrubbed (6 KiB), the external-connection ring ~15 B per frame up to
    its 4000 entries (60 KiB), the event ring up to 2000 events. Shared by every meter: the
    board file's sections, the COSEM name index, profile layouts and register specs, the chip's
    start() words, route media sets, the flash arena (pages and erase counters), the load-day
    library."""
    hours = 2.0 if quick else 12.0
    figures = []
    for board in (FLEET, FULL):
        # a fleet meter is small: 5 of them stay under the peak the imports leave (the figure read 0),
        # and at 30 the peak's noise (+-2 MiB: when the cyclic garbage is collected) read 20..150 KiB
        n = (100 if board == FLEET else 5) if quick else (200 if board == FLEET else 40)
        a, b = _rss_kib(n, hours, board), _rss_kib(2 * n, hours, board)
        peak = (b["rss_kib"] - a["rss_kib"]) / n
        final = (b["now_kib"] - a["now_kib"]) / n
        figures.append(Figure(f"peak RSS per meter, {board}", peak, "KiB",
                              f"{n} vs {2 * n} meters ({a['rss_kib'] / 1024:.0f} / {b['rss_kib'] / 1024:.0f} MiB), "
                              f"board retention, {hours:g} h simulated (goal 64 KiB, fleet board)"))
        figures.append(Figure(f"  RSS per meter at the end, {board}", final, "KiB",
                              "after the run (gc), same processes"))
    return figures


JAPAN_LV, JAPAN_HV = 80.7e6, 0.87e6


def _proc_cpu_s() -> dict[int, tuple[str, float]]:
    """CPU s (user + system) of this process and its descendants (the Ray daemons and workers a
    local ``ray.init`` starts), by pid: (name, s). Linux /proc."""
    tick, procs, children = os.sysconf("SC_CLK_TCK"), {}, defaultdict(list)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        procs[int(pid)] = (stat[stat.index("(") + 1:stat.rindex(")")], (int(rest[11]) + int(rest[12])) / tick)
        children[int(rest[1])].append(int(pid))
    mine, todo = {}, [os.getpid()]
    while todo:
        pid = todo.pop()
        if pid in procs:
            mine[pid] = procs[pid]
            todo.extend(children[pid])
    return mine


def _machine_busy_s() -> tuple[float, float]:
    """CPU s the whole machine spent busy (all cores: user, nice, system, irq, softirq) and
    stolen by the hypervisor (/proc/stat)."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / tick, v[7] / tick


def _cpu_split(before, after) -> dict[str, float]:
    """Core-seconds between two snapshots: shards (Ray workers), driver (this process), Ray
    daemons (gcs, raylet, agents), other work on the machine, stolen by the hypervisor."""
    (w0, p0, m0), (w1, p1, m1) = before, after
    split = {"wall": w1 - w0, "shards": 0.0, "driver": 0.0, "ray": 0.0}
    for pid, (name, cpu) in p1.items():
        used = cpu - p0.get(pid, (name, 0.0))[1]
        split["driver" if pid == os.getpid() else "shards" if name.startswith("ray::") else "ray"] += used
    split["other"] = max(0.0, m1[0] - m0[0] - split["shards"] - split["driver"] - split["ray"])
    split["steal"] = m1[1] - m0[1]
    return split


def _sharded(workers: int, meters: int, days: float):
    """One timed sharded run; returns (result, CPU split of the timed part)."""
    from ..fleet.fleet import FleetSpec
    from ..fleet.hes_fleet import FleetScenario
    from ..fleet.shard import run_sharded

    snaps = []

    def snap(*_):
        snaps.append((time.perf_counter(), _proc_cpu_s(), _machine_busy_s()))
    with tempfile.TemporaryDirectory(prefix="sumame-bench-ray-") as tmp:
        scenario = FleetScenario(spec=FleetSpec(meters=meters, hv_every=25, board=FLEET), days=days,
                                 db=f"{tmp}/hes.sqlite")
        end = scenario.spec.start_epoch + days * 86400

        def last_window(actors, now):
            if now >= end:          # before the actors are gone: their CPU is read from /proc
                snap()
        r = run_sharded(scenario, workers=workers, on_start=snap, on_window=last_window)
    return r, _cpu_split(snaps[0], snaps[-1])


PLAIN_SHARD = """
import sys, time
from sumame.tools.fleet.fleet import FleetSpec
from sumame.tools.fleet.hes_fleet import FleetScenario
from sumame.tools.fleet.shard import WINDOW_S, FleetShard
meters, days, indices = int(sys.argv[1]), float(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")]
sc = FleetScenario(spec=FleetSpec(meters=meters, hv_every=25, board=sys.argv[4]), days=days)
shard = FleetShard(sc, indices)
print("ready", flush=True)
sys.stdin.readline()
now = sc.spec.start_epoch
end = now + days * 86400
while now < end:
    now = min(end, now + WINDOW_S)
    shard.advance(now)
print(time.perf_counter(), shard.cpu_s, flush=True)
"""


def _plain_run(meters: int, days: float, blocks: list[list[int]]) -> tuple[float, list[float]]:
    """The shards of ``blocks`` as plain processes started together (no Ray, no driver, no
    store; boot excluded): wall s from the start to the last one done, and each one's CPU s.
    The machine's own 1 -> 2 efficiency on the same work, beside Ray's."""
    procs = [subprocess.Popen([sys.executable, "-c", PLAIN_SHARD, str(meters), str(days), ",".join(map(str, b)), FLEET],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for b in blocks]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("a plain shard failed to boot")
        t0 = time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        done = [p.stdout.readline().split() for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return max(float(d[0]) for d in done) - t0, [float(d[1]) for d in done]


def _median(xs):
    return statistics.median(xs)


def _range(xs, fmt="{:.0f}") -> str:
    return f"{fmt.format(min(xs))}..{fmt.format(max(xs))}"


def ray_scale_out(quick: bool) -> list[Figure]:
    """1 and 2 shards on a local Ray of 2 CPUs, the pair run ``repeats`` times interleaved (the
    machine is shared: the spread is printed). Wall time of the lock-step run (Ray start, actor
    boot excluded; the first window, with each process's warm-up, included in both); efficiency
    = speed-up / 2 per pair, the median printed. Beside it, the efficiency from shard CPU time
    (each shard on a core of its own: what the split itself costs) and where the cores went in
    the 2-worker run (shards, driver, Ray daemons, other work on the machine), the larger shard's
    share of the shards' CPU (within one run, so the load cancels) and, as the control, the same
    shards run as plain processes without Ray (what the machine itself gives 1 -> 2). Per-core
    figure: meter-days per shard CPU second."""
    try:
        import ray
    except ImportError:
        return [Figure("Ray scale-out 1 -> 2 workers", 0.0, "%", "not measured: pip install 'sumame[ray]'")]
    meters, days, repeats = (4, 1.0, 3) if quick else (24, 1.0, 3)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    from ..fleet.fleet import FleetSpec
    from ..fleet.hes_fleet import FleetScenario
    from ..fleet.shard import balance, meter_costs
    blocks = balance(meter_costs(FleetScenario(spec=FleetSpec(meters=meters, hv_every=25, board=FLEET))), 2)
    runs, plain = {1: [], 2: []}, []
    try:
        for _ in range(repeats):
            for workers in (1, 2):
                runs[workers].append(_sharded(workers, meters, days))
            plain.append((_plain_run(meters, days, [list(range(meters))]), _plain_run(meters, days, blocks)))
    finally:
        ray.shutdown()
    plain_wall = [100 * one[0] / two[0] / 2 for one, two in plain]
    plain_cpu = [100 * one[1][0] / max(two[1]) / 2 for one, two in plain]
    wall = [one.wall_s / two.wall_s / 2 for (one, _), (two, _) in zip(runs[1], runs[2])]
    cpu = [one.summaries[0]["cpu_s"] / max(s["cpu_s"] for s in two.summaries) / 2
           for (one, _), (two, _) in zip(runs[1], runs[2])]
    speed = {w: [r.meter_days_per_s for r, _ in runs[w]] for w in runs}
    idle = {w: [100 * max(1 - s["busy_s"] / r.wall_s for s in r.summaries) for r, _ in runs[w]] for w in runs}
    between = {w: [100 * max(s["between_s"] / r.wall_s for s in r.summaries) for r, _ in runs[w]] for w in runs}
    finish = [100 * (max(s["last_at"] for s in r.summaries) - min(s["last_at"] for s in r.summaries)) / r.wall_s
              for r, _ in runs[2]]
    tail = [100 * (r.started_at + r.wall_s - max(s["last_at"] for s in r.summaries)) / r.wall_s for r, _ in runs[2]]
    share = [100 * max(s["cpu_s"] for s in r.summaries) / sum(s["cpu_s"] for s in r.summaries) for r, _ in runs[2]]
    per_core = _median([meters * days / sum(s["cpu_s"] for s in r.summaries) for r, _ in runs[2]])
    japan_core_h = (JAPAN_LV + JAPAN_HV) / per_core / 3600

    def cores(w):
        split = sorted((c for _, c in runs[w]), key=lambda c: c["wall"])[len(runs[w]) // 2]
        busy = sum(split[k] for k in ("shards", "driver", "ray", "other", "steal")) / split["wall"]
        return Figure(f"  cores busy, {w} worker{'s' * (w > 1)}", busy, "of 2",
                      f"median run, {split['wall']:.2f} s wall: shards {split['shards']:.2f}, driver "
                      f"{split['driver']:.2f}, Ray daemons {split['ray']:.2f}, other work on the machine "
                      f"{split['other']:.2f}, stolen {split['steal']:.2f} core-s")
    return [
        Figure("Ray fleet, 1 worker", _median(speed[1]), "meter-days/s",
               f"{meters} meters x {days:g} day, {FLEET}, into one SQLite store; median of {repeats} "
               f"({_range(speed[1], '{:.2f}')})"),
        Figure("Ray fleet, 2 workers", _median(speed[2]), "meter-days/s",
               f"same, 2 shards, runs interleaved with the 1-worker ones ({_range(speed[2], '{:.2f}')})"),
        Figure("Ray scale-out efficiency 1 -> 2 workers", 100 * _median(wall), "%",
               f"wall clock, speed-up / 2, median of {repeats} pairs ({_range([100 * x for x in wall])} %; "
               f"goal 80 %)"),
        Figure("  efficiency from shard CPU time", 100 * _median(cpu), "%",
               f"CPU s of the 1 shard / 2 x the larger of the 2 ({_range([100 * x for x in cpu])} %): "
               f"each shard on a core of its own"),
        Figure("  shard time waiting, 2 workers", _median(idle[2]), "% of wall",
               f"the longer-waiting shard, outside its windows ({_range(idle[2])} %; 1 worker "
               f"{_median(idle[1]):.0f} %); of it between two windows (driver, barrier, Ray calls) "
               f"{_median(between[2]):.0f} % (1 worker {_median(between[1]):.0f} %), the rest after its last window"),
        Figure("  the same shards without Ray", _median(plain_wall), "%",
               f"wall clock: plain processes started together, no driver or store ({_range(plain_wall)} %; from "
               f"CPU time {_median(plain_cpu):.0f} %, {_range(plain_cpu)}): what this machine itself gives 1 -> 2"),
        Figure("  larger shard's share of shard CPU", _median(share), "%",
               f"2 workers, within each run, so the machine's load cancels ({_range(share, '{:.1f}')} %; 50 % = "
               f"even shards; it bounds the efficiency at 50 / share)"),
        Figure("  shard finish spread, 2 workers", _median(finish), "% of wall",
               f"first shard's last window done this much before the other's ({_range(finish)} %: uneven shards "
               f"or an uneven share of the machine); the driver's last merge and commit after both "
               f"{_median(tail):.0f} %"),
        cores(1), cores(2),
        Figure("Ray per-core figure", per_core, "meter-days/core-s", "shard CPU time, 2 workers, median"),
        Figure("Japan's fleet, one simulated day", japan_core_h, "core-hours",
               f"{(JAPAN_LV + JAPAN_HV) / 1e6:.2f} M meters at the per-core figure; / cores x efficiency "
               f"= wall hours on a cluster"),
    ]


BENCHES = [
    Bench("scale-meter", meter_speed, "meter-days per core-second, full-fidelity vs fleet board"),
    Bench("scale-fleet", fleet_speed, "A-route fleet + head-end per core-second, both fidelities; push ingest"),
    Bench("scale-ray", ray_scale_out, "sharded fleet on a local Ray: scale-out efficiency 1 -> 2 workers"),
    Bench("scale-memory", memory, "resident memory per meter (peak RSS of N vs 2N meters)"),
]
