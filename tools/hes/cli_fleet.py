"""``sumame hes fleet``: an emulated fleet with the head-end in virtual time, in one process or as
shards on Ray (the parser and the shared helpers are in ``cli.py``)."""
from __future__ import annotations

import sys

from sumame.hal.jst import format_jst

from ..cli import CliError
from .cli import _fmt, _store


def fleet(args) -> int:
    """``sumame hes fleet``: an emulated fleet and the head-end in virtual time (``--ray``: shards)."""
    from ..fleet.fleet import DEFAULT_START, FleetSpec
    from ..fleet.hes_fleet import FleetScenario, default_outages, run_scenario

    if args.meters < 1 or args.days <= 0 or not 0 <= args.outages <= 5:
        raise CliError("need --meters >= 1, --days > 0 and 0 <= --outages <= 5")
    if not 0 <= args.loss < 1:
        raise CliError("--loss must be in [0, 1)")
    if "-lv" not in args.board:
        raise CliError(f"--board {args.board}: give an LV board name containing '-lv' "
                       f"(e.g. emulated-lv, emulated-lv-fleet); HV meters use its -hv twin")
    spec = FleetSpec(meters=args.meters, hv_every=args.hv_every, loss=args.loss,
                     latency_s=args.latency_ms / 1000, board=args.board, seed=args.seed)
    outages = default_outages(DEFAULT_START, args.meters)[:args.outages]
    marks = {"next": 0.1}

    def progress(done, now):
        if done >= marks["next"] or done >= 1:
            print(f"progress {done:4.0%} {format_jst(now, seconds=False)}", file=sys.stderr, flush=True)
            marks["next"] += 0.1
    scenario = FleetScenario(spec=spec, days=args.days, outages=outages, db=str(args.db or ":memory:"),
                             progress=progress)
    if args.ray is not None or args.workers is not None:
        return fleet_on_ray(args, scenario)
    if args.db is not None:
        _store(args.db).close()         # a database that cannot be opened fails before the run
    r = run_scenario(scenario)
    store, hes = r.hes.store, r.hes
    rows = store.intervals(grid=30, start=r.collect_from)
    with_data = [x for x in rows if x["forward_wh"] is not None]
    on_time = sum(x["on_time"] for x in with_data)
    print(f"{args.meters} meters x {args.days:g} days in {r.wall_s:.1f} s ({r.meter_days_per_s:.2f} meter-days/s)")
    print(f"  30-min values  {len(rows)} stored ({len(rows) - len(with_data)} no data), "
          f"{on_time}/{len(with_data)} within deadline; duplicates dropped {store.stats.duplicates}, "
          f"conflicts {store.stats.conflicts}")
    print(f"  5-min values   {len(store.intervals(grid=5))} from {sum(m.history for m in hes.meters.values())} meters")
    print(f"  pushes         {hes.stats['pushes']} received, {r.fleet.network.pushes_lost} lost on the way")
    for o in store.outages():
        print(f"  outage         {o['meter']}: {_fmt(o['start_at'])} -> {_fmt(o['end_at'])}, detected "
              f"{_fmt(o['detected_at'])} ({o['how']}), restoration seen {_fmt(o['restored_detected_at'])}")
    for o in outages:
        print(f"  (planned)      {r.fleet.serials[o.index]}: {_fmt(o.start)} -> {_fmt(o.end)}")
    if args.db:
        store.close()
    return 0


def fleet_on_ray(args, scenario) -> int:
    from ..fleet.shard import ShardLost, run_sharded

    if args.ray is None:
        raise CliError("--workers needs --ray")
    if args.db is None:
        raise CliError("--ray needs --db FILE (or a postgresql:// URL): the shards' results land in that one store")
    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be >= 1")
    if args.restarts < 0 or args.window_timeout <= 0:
        raise CliError("need --restarts >= 0 and --window-timeout > 0")
    _store(args.db).close()             # a database that cannot be opened fails before Ray starts

    def event(text):
        print(f"warning: {text}", file=sys.stderr, flush=True)
    try:
        r = run_sharded(scenario, workers=args.workers, address=args.ray, restarts=args.restarts,
                        window_timeout_s=args.window_timeout, on_event=event)
    except (ShardLost, RuntimeError, ConnectionError) as exc:
        raise CliError(str(exc)) from None
    store = _store(args.db)
    rows = store.intervals(grid=30, start=r.collect_from)
    with_data = [x for x in rows if x["forward_wh"] is not None]
    print(f"{r.meters} meters x {args.days:g} days on Ray, {len(r.shards)} shards, in {r.wall_s:.1f} s "
          f"({r.meter_days_per_s:.2f} meter-days/s)")
    print(f"  30-min values  {len(rows)} stored ({len(rows) - len(with_data)} no data), "
          f"{sum(x['on_time'] for x in with_data)}/{len(with_data)} within deadline; "
          f"written twice {r.duplicates}")
    print(f"  5-min values   {len(store.intervals(grid=5))} from "
          f"{sum(s['history_meters'] for s in r.summaries)} meters")
    print(f"  pushes         {r.stats['pushes']} received, {sum(s['pushes_lost'] for s in r.summaries)} "
          f"lost on the way")
    for o in store.outages():
        print(f"  outage         {o['meter']}: {_fmt(o['start_at'])} -> {_fmt(o['end_at'])}, detected "
              f"{_fmt(o['detected_at'])} ({o['how']}), restoration seen {_fmt(o['restored_detected_at'])}")
    store.close()
    return 0
