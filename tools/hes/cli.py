"""``sumame hes``: the head-end simulator (HES / MDMS side of the A-route).

    sumame hes run --meter tcp://127.0.0.1:4059 --listen 127.0.0.1:4060 --db hes.sqlite
    sumame hes poll --meter tcp://127.0.0.1:4059           liveness now (JST, kWh)
    sumame hes read --meter ... --from 2026-04-02 --to 2026-04-02T06:00 [--grid 30]
    sumame hes open|close --meter ...                        remote switch (HLS-GMAC, ciphered)
    sumame hes limit --meter ... --amps 40                   remote ampere limit
    sumame hes soft-switch --meter ... --minutes 15          which interval values are pushed
    sumame hes cutoff|reconnect --meter ... --peer iot:GAS00001   cut an external device off at the meter
    sumame hes extlog --meter ... [--from --to] [--format csv]    the meter's external-connection log (JST)
    sumame hes rekey --meter ... [--route-b] --keys FILE     renew A-route keys (+ route-B ID/password)
    sumame hes rekey --meters A,B,C --share 0.5 --keys FILE  a fleet, a share at a time
    sumame hes provision --serial S --supply-point N --keys FILE --out install.json   issue a meter's secrets
    sumame hes query --db hes.sqlite --item forward_kwh [--meter M] [--from --to] [--format csv]
    sumame hes export --db hes.sqlite --out data.parquet     bulk file (CSV or Parquet)
    sumame hes fleet --meters 100 --days 2 --outages 5       emulated fleet + head-end, virtual time
    sumame hes fleet --meters 1000 --days 1 --db f.sqlite --ray [ADDRESS] [--workers K]   on Ray
    sumame hes fleet ... --db postgresql:///hes?host=/run/postgresql      (any --db above: a server database)
    sumame hes serve --db hes.sqlite --listen 127.0.0.1:8080 MDMS HTTP API + portal (tools/hes/mdms)
    sumame hes party add | consent grant|revoke ...          API keys and consent records

Meters are ``tcp://host:port`` (default), ``udp://host:port``. Keys come from ``--keys FILE``
(JSON: {serial: {"ek": hex, "ak": hex, "system_title": hex, "lls_password": text}}; ``sumame
emulate`` writes STATE/a-route-keys.json and prints the same values as ``a-route-…`` lines). Without
``--keys`` the key files in emulate's default state dirs are read; keys are derived from the serial
only when asked (``--derive-emulation-keys``).
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from sumame.firmware.core.clock import RealClock
from sumame.firmware.routes.aroute.keys import ARouteSecrets, derived_secrets
from sumame.firmware.core.scheduler import Scheduler
from sumame.hal.jst import format_jst, parse_jst

from ..cli import CliError
from .links import MeterTarget
from .db.sqldb import db_target, describe, is_server

DB_HELP = ("head-end database: a SQLite file, or a server database URL such as "
           "postgresql://user@host:5432/hes or postgresql:///hes?host=/run/postgresql (sumame[postgres])")

COMMANDS = ("open", "close", "limit", "soft-switch")


def add_parser(sub) -> None:
    from . import cli_fleet as fleet_cli
    from . import cli_lifecycle as lifecycle

    p = sub.add_parser("hes", help="head-end simulator: collect, poll, command meters over the A-route (DLMS)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    hs = p.add_subparsers(dest="hes_command", metavar="ACTION")

    def meter_args(q, many=False):
        q.add_argument("--meter", required=not many, action="append" if many else "store",
                       help="tcp://host:port, udp://host:port or udp://host:port/WPORT (wrapper port)"
                            + (" (repeat for several)" if many else ""))
        if many:
            q.add_argument("--meters-file", type=Path, metavar="FILE",
                           help="meters, one address a line (e.g. STATE/meters.txt that sumame fleet writes)")
        q.add_argument("--keys", type=Path, help="JSON key file, e.g. STATE/a-route-keys.json that sumame "
                                                 "emulate writes (default: the key files in emulate's "
                                                 "default state dirs)")
        q.add_argument("--derive-emulation-keys", dest="derive_keys", action="store_true",
                       help="derive each meter's keys from its serial (emulation only; the meter must "
                            "use derived keys, i.e. an [aroute] section without keys)")
        q.add_argument("--timeout", type=float, default=10.0, help="s to wait for an answer (default 10)")
        if not many:
            q.add_argument("--db", type=db_target, default=None,
                           help="head-end database: keeps the invocation counters (a meter refuses a "
                                "reused one), polls and commands (default $XDG_STATE_HOME/sumame/hes.sqlite; "
                                "or a postgresql:// URL)")

    q = hs.add_parser("run", help="collect in real time: pushes, deadlines, polls, outages, 5-min data")
    meter_args(q, many=True)
    q.add_argument("--listen", default="127.0.0.1:4060", help="where pushes arrive (TCP and UDP; default %(default)s)")
    q.add_argument("--db", type=db_target, required=True, help=DB_HELP)
    q.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    q.add_argument("--realtime-share", type=float, default=0.03)
    q.add_argument("--history-share", type=float, default=0.10)
    q.add_argument("--status-interval", type=float, default=60.0, metavar="S")
    q.add_argument("--workers", type=int, default=8, metavar="N",
                   help="associations in flight at once (default %(default)s; more for big fleets)")
    q.add_argument("--speed", type=float, default=1.0, metavar="R",
                   help="clock R x real time, as the meters' (sumame fleet --speed / --push-interval); "
                        "--timeout stays in wall seconds")
    q.add_argument("--clock-origin", type=float, default=None, metavar="EPOCH",
                   help="with --speed: host epoch s at which the clock reads true time (the fleet prints it)")
    q.set_defaults(func=_run)
    q = hs.add_parser("poll", help="liveness poll of one meter")
    meter_args(q)
    q.set_defaults(func=_poll)
    q = hs.add_parser("read", help="read interval values of one meter (range)")
    meter_args(q)
    q.add_argument("--grid", type=int, choices=(30, 15, 5), default=30)
    q.add_argument("--from", dest="start", required=True, help="JST, e.g. 2026-04-02T00:00")
    q.add_argument("--to", dest="end", required=True)
    q.set_defaults(func=_read)
    for name, helptext in (("open", "remote open (disconnect)"), ("close", "remote close (reconnect)"),
                           ("limit", "change the contract ampere limit"), ("soft-switch", "30- or 15-min pushes")):
        q = hs.add_parser(name, help=helptext)
        meter_args(q)
        if name == "limit":
            q.add_argument("--amps", type=int, required=True)
        if name == "soft-switch":
            q.add_argument("--minutes", type=int, choices=(30, 15), required=True)
        q.set_defaults(func=_command, op=name)
    for name, helptext in (("cutoff", "cut one external device off at the meter (IoT terminal, B-route peer)"),
                           ("reconnect", "reconnect an external device cut off before")):
        q = hs.add_parser(name, help=helptext)
        meter_args(q)
        q.add_argument("--peer", required=True, help="ip:ADDRESS, wi-sun:ADDRESS or iot:TERMINAL_ID (or iot:EUI-64)")
        q.set_defaults(func=_external, op=name)
    q = hs.add_parser("extlog", help="the meter's external-connection log: time (JST), peer, direction, size, verdict")
    meter_args(q)
    q.add_argument("--from", dest="start", help="JST, e.g. 2026-04-02T00:00 (default: the oldest entry)")
    q.add_argument("--to", dest="end", help="JST (default: now)")
    q.add_argument("--peer", help="only this peer")
    q.add_argument("--refused", action="store_true", help="only refused frames")
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")
    q.set_defaults(func=_extlog)
    q = hs.add_parser("update", help="signed firmware update over DLMS image transfer (one meter or a campaign)")
    who = q.add_mutually_exclusive_group(required=True)
    who.add_argument("--meter", help="tcp://host:port or udp://host:port")
    who.add_argument("--meters", help="campaign: comma-separated meter addresses")
    q.add_argument("--image", type=Path, required=True, help="signed image (sumame firmware build + sign)")
    q.add_argument("--share", type=float, default=0.1,
                   help="campaign: share of the meters updated at the same time (default 0.1, at least one)")
    q.add_argument("--settle-timeout", type=float, default=600.0, metavar="S",
                   help="s to wait for each meter to commit the new image (default 600)")
    q.add_argument("--keys", type=Path, help="JSON key file, e.g. STATE/a-route-keys.json that sumame "
                                             "emulate writes (default: emulate's default state dirs)")
    q.add_argument("--derive-emulation-keys", dest="derive_keys", action="store_true",
                   help="derive each meter's keys from its serial (emulation only)")
    q.add_argument("--timeout", type=float, default=10.0, help="s to wait for an answer (default 10)")
    q.add_argument("--db", type=db_target, default=None, help="head-end database (invocation counters)")
    q.set_defaults(func=lifecycle.update)
    q = hs.add_parser("rekey", help="renew A-route keys (key transfer wrapped with the KEK) [and the route-B ID/password]")
    who = q.add_mutually_exclusive_group(required=True)
    who.add_argument("--meter", help="tcp://host:port or udp://host:port")
    who.add_argument("--meters", help="fleet: comma-separated meter addresses")
    q.add_argument("--share", type=float, default=0.1,
                   help="fleet: share of the meters renewed at the same time (default 0.1, at least one)")
    q.add_argument("--route-b", action="store_true",
                   help="also renew the route-B ID and password (the meter shows the new QR code)")
    q.add_argument("--keys", type=Path, help="the head-end's key file: read, and where the new keys are stored "
                                             "(default: the key files in emulate's default state dirs)")
    q.add_argument("--emulation-kek", action="store_true",
                   help="derive the master key (KEK) from the serial when the key file has none (emulation only)")
    q.add_argument("--timeout", type=float, default=10.0, help="s to wait for an answer (default 10)")
    q.add_argument("--db", type=db_target, default=None, help="head-end database (invocation counters; file or postgresql:// URL)")
    q.set_defaults(func=lifecycle.rekey)
    q = hs.add_parser("query", help="items of chosen meters over a period, from the database")
    q.add_argument("--db", type=db_target, required=True, help=DB_HELP)
    q.add_argument("--item", action="append", help="e.g. forward_kwh (repeat); see --list-items")
    q.add_argument("--settlement", action="store_true",
                   help="special meters: X, each A_i and Y = X - sum(A_i) per 30-min slot (kWh)")
    q.add_argument("--meter", action="append", help="meter id (repeat; default all)")
    q.add_argument("--grid", type=int, choices=(30, 15, 5), default=30)
    q.add_argument("--from", dest="start")
    q.add_argument("--to", dest="end")
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")
    q.set_defaults(func=_query)
    q = hs.add_parser("export", help="bulk file of everything collected (CSV or Parquet)")
    q.add_argument("--db", type=db_target, required=True, help=DB_HELP)
    q.add_argument("--out", type=Path, required=True, help="file; .parquet -> Parquet, else CSV")
    q.add_argument("--format", choices=("csv", "parquet"))
    q.add_argument("--settlement", action="store_true",
                   help="special meters: X, each A_i and Y = X - sum(A_i) per 30-min slot")
    q.add_argument("--grid", type=int, choices=(30, 15, 5), default=30)
    q.add_argument("--from", dest="start")
    q.add_argument("--to", dest="end")
    q.set_defaults(func=_export)
    q = hs.add_parser("fleet", help="emulated fleet + head-end in virtual time (with outages)")
    q.add_argument("--meters", type=int, default=100)
    q.add_argument("--days", type=float, default=2.0)
    q.add_argument("--outages", type=int, default=5, help="meters with a mains outage (max 5)")
    q.add_argument("--hv-every", type=int, default=25, help="every n-th meter is HV (0: none)")
    q.add_argument("--loss", type=float, default=0.0, help="push (datagram) loss probability")
    q.add_argument("--latency-ms", type=float, default=0.0)
    q.add_argument("--db", type=db_target, help="keep the head-end's database here (default: in memory): "
                                                 "a SQLite file or a postgresql:// URL")
    q.add_argument("--board", default="emulated-lv",
                   help="LV board of the meters (emulated-lv-fleet: HAL-level parts, faster, smaller); "
                        "HV meters use its -hv twin")
    q.add_argument("--seed", type=int, default=1, help="seed of loads, push times and link losses")
    q.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="split the fleet into shards run as Ray actors (sumame[ray]); ADDRESS of a running "
                        "cluster, default: start a local one. Results are the same as in one process")
    q.add_argument("--workers", type=int, default=None, metavar="K",
                   help="with --ray: number of shards, one CPU each (default: the cluster's CPUs)")
    q.add_argument("--restarts", type=int, default=1, metavar="N",
                   help="with --ray: a shard lost or too slow is restarted on a new actor and replayed "
                        "(nothing stored twice), at most N times in the run (default 1; 0: stop at once)")
    q.add_argument("--window-timeout", type=float, default=600.0, metavar="S",
                   help="with --ray: wall s a shard may take for one 30-min window before it counts as "
                        "lost (default 600)")
    q.set_defaults(func=fleet_cli.fleet)
    from .lifecycle.provision import add_parser as provision_parser
    provision_parser(hs)
    from .mdms.cli import add_parsers as mdms_parsers
    mdms_parsers(hs)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# ---------------------------------------------------------------- helpers
def default_db() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "sumame" / "hes.sqlite"


class MissingKeys(LookupError):
    """No A-route keys for the meter that answered (reported as one line, never derived)."""

    def __str__(self) -> str:
        return str(self.args[0])


def _keys(path: Path | None, derive: bool = False):
    """The head-end's key store lookup: ``--keys FILE``; else the key files ``sumame emulate``
    wrote in its default state dirs; emulation-derived keys only with ``--derive-emulation-keys``."""
    if derive:
        print("note: --derive-emulation-keys: keys derived from each meter's serial (emulation only)",
              file=sys.stderr)
        return derived_secrets
    store = _key_store(path)
    where = ", ".join(map(str, store.paths)) or "no key file found"

    def lookup(serial: str) -> ARouteSecrets:
        if serial not in store:
            raise MissingKeys(f"no A-route keys for meter {serial} ({where}): pass --keys "
                              f"STATE/a-route-keys.json (sumame emulate writes it) or --derive-emulation-keys")
        return store.current(serial)
    lookup.store = store
    return lookup


def _key_store(path: Path | None):
    from ..aroute_credentials import emulator_key_files
    from .db.keystore import KeyStore, KeyStoreError

    try:
        return KeyStore([path] if path is not None else emulator_key_files())
    except KeyStoreError as exc:
        raise CliError(f"--keys {exc}") from None


def _target(text: str) -> MeterTarget:
    try:
        target = MeterTarget.parse(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if target.transport == "inproc":
        raise CliError("inproc:// meters exist only inside a virtual-time run (see 'sumame hes fleet')")
    return target


def _time(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        return float(parse_jst(text))
    except ValueError:
        raise CliError(f"{what} {text!r}: expected a JST date like 2026-04-02 or 2026-04-02T06:00") from None


def _head_end(args, push_address: str = ""):
    from .engine import HeadEnd, HesConfig

    speed = getattr(args, "speed", 1.0)
    if speed <= 0:
        raise CliError("--speed must be > 0")
    if speed != 1.0 or getattr(args, "clock_origin", None) is not None:
        from ..fleet.realtime import fleet_clock
        clock = fleet_clock(speed, args.clock_origin)
    else:
        clock = RealClock()
    scheduler = Scheduler(clock, strict=False)
    db = getattr(args, "db", None) or default_db()
    if not is_server(db):
        db.parent.mkdir(parents=True, exist_ok=True)
    store = _store(db)
    keys = _keys(args.keys, getattr(args, "derive_keys", False))
    store_of_keys = getattr(keys, "store", None)
    config = HesConfig(push_address=push_address, keys=keys, timeout_s=args.timeout * speed,
                       shared_store=True)      # hes run and one-shot commands on one database
    if store_of_keys is not None:        # a renewal cut half-way: retry with the keys it may have
        config.alternate_keys = store_of_keys.pending
        config.keys_confirmed = store_of_keys.confirm
    return scheduler, HeadEnd(scheduler, store, config)


def _until_ready(scheduler, hes, meters, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not all(m.ready for m in meters):
        failed = [m for m in meters if m.failure]
        if failed:
            raise CliError(f"{failed[0].id}: {failed[0].failure}")
        if time.monotonic() > deadline:
            bad = [m.id for m in meters if not m.ready]
            raise CliError(f"no DLMS answer from {', '.join(bad)} within {limit_s:.0f} s")
        scheduler.run(until=scheduler.clock.now() + 0.05)


def _ready_or_not(scheduler, meters, limit_s: float) -> list:
    """Wait until each meter is discovered or gave up (at most ``limit_s``); the ones not ready."""
    deadline = time.monotonic() + limit_s
    while not all(m.ready or m.failure for m in meters) and time.monotonic() < deadline:
        scheduler.run(until=scheduler.clock.now() + 0.05)
    return [m for m in meters if not m.ready]


def _one_shot(args, make_coro):
    scheduler, hes = _head_end(args)
    hes.config.workers = 1
    hes.start()
    m = hes.add_meter(_target(args.meter))
    _until_ready(scheduler, hes, [m], args.timeout * 3)
    hes.store.commit()             # do not hold the database's write lock through the command
    task = scheduler.spawn(make_coro(hes, m), name="hes-cli", group="hes")
    while not task.done:
        scheduler.run(until=scheduler.clock.now() + 0.05)
    hes.stop()
    hes.store.close()
    if task.exception is not None:
        raise CliError(f"{m.id}: {task.exception}")
    return task.result


def _fmt(t: float | None) -> str:
    return "-" if t is None else format_jst(t)


# ---------------------------------------------------------------- commands
def _poll(args) -> int:
    status = _one_shot(args, lambda hes, m: hes.poll(m.id))
    print(f"meter {args.meter}: {status['state']} since {_fmt(status['since'])}")
    print(f"  clock            {_fmt(status['clock'])}")
    fwd = status["forward_total_kwh"]
    print(f"  +A register      {'no data' if fwd is None else f'{fwd:,.3f} kWh'}")
    print(f"  last power fail  {_fmt(status['last_power_fail'])}   restored {_fmt(status['last_restore'])}")
    print(f"  boot             {_fmt(status['boot_at'])}   uptime {status['uptime_s']} s")
    return 0


def _read(args) -> int:
    from sumame.firmware.routes.aroute import obis_codes as oc

    from sumame.firmware.net.dlms import axdr

    from .session import range_access, range_chunks
    from .db.store import ITEMS

    start, end = _time(args.start, "--from"), _time(args.end, "--to")

    async def read(hes, m):
        rows = []
        async with hes.session(m) as s:       # the meter answers at most 1000 rows per request
            for a, b in range_chunks(start, end, args.grid):
                rows += (await s.get(7, oc.PROFILE_BY_MINUTES[args.grid], 2, range_access(a, b))).value
        return hes.decode_rows(m, args.grid, axdr.array(rows))
    rows = _one_shot(args, read)
    shown = [name for name, item in ITEMS.items() if any(item.column in v for _, v in rows)]
    print("  ".join([f"{'interval end':<20}", *(f"{n} [{ITEMS[n].unit}]" for n in shown)]))
    for t, values in rows:
        cells = []
        for n in shown:
            v = values.get(ITEMS[n].column)
            text = "no data" if v is None else f"{v * ITEMS[n].factor:.3f}"
            cells.append(f"{text:>{len(n) + len(ITEMS[n].unit) + 3}}")
        print("  ".join([f"{format_jst(t, seconds=False):<20}", *cells]))
    print(f"{len(rows)} row(s) of {args.grid}-minute data from {args.meter}", file=sys.stderr)
    return 0


def _command(args) -> int:
    argument = getattr(args, "amps", None) or getattr(args, "minutes", None)
    result = _one_shot(args, lambda hes, m: hes.command(m.id, args.op, argument))
    if not result["ok"]:
        print(f"{args.op}: {result['detail']}", file=sys.stderr)
        return 1
    state = "closed (connected)" if result["output_state"] else "open (disconnected)"
    print(f"{args.op}: done; switch {state}, limit {result['limit_a']:g} A, pushes every {result['grid']} min")
    return 0


def _external(args) -> int:
    verb = "cutoff_external" if args.op == "cutoff" else "reconnect_external"
    result = _one_shot(args, lambda hes, m: getattr(hes, verb)(m.id, args.peer))
    if not result["ok"]:
        print(f"{args.op} {args.peer}: {result['detail']}", file=sys.stderr)
        return 1
    cut = ", ".join(result["cut_off"]) or "none"
    print(f"{args.op} {args.peer}: done; cut off at the meter now: {cut}")
    return 0


def _extlog(args) -> int:
    start, end = _time(args.start, "--from"), _time(args.end, "--to")
    rows = _one_shot(args, lambda hes, m: hes.read_extlog(m.id, start, end))
    if args.peer:
        rows = [r for r in rows if r["peer"] == args.peer]
    if args.refused:
        rows = [r for r in rows if r["verdict"] not in ("accepted", "sent")]
    if args.format == "json":
        print(json.dumps([{**r, "time_jst": format_jst(r["at"])} for r in rows], indent=1))
    elif args.format == "csv":
        print("time_jst,peer,direction,size_bytes,verdict")
        for r in rows:
            print(f"{format_jst(r['at'])},{r['peer']},{r['direction']},{r['size']},{r['verdict']}")
    else:
        print(f"{'time (JST)':<20}  {'peer':<32}  dir  {'size':>6}  verdict")
        for r in rows:
            print(f"{format_jst(r['at']):<20}  {r['peer']:<32}  {r['direction']:<3}  {r['size']:>4} B  {r['verdict']}")
    print(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} of the external-connection log of {args.meter}",
          file=sys.stderr)
    return 0


def _run(args) -> int:
    addresses = list(args.meter or [])
    if args.meters_file is not None:
        try:
            addresses += [line.strip() for line in args.meters_file.read_text().splitlines()
                          if line.strip() and not line.lstrip().startswith("#")]
        except OSError as exc:
            raise CliError(f"--meters-file {args.meters_file}: {exc.strerror or exc}") from None
    if not addresses:
        raise CliError("no meters: give --meter ADDRESS (repeat) or --meters-file FILE")
    scheduler, hes = _head_end(args, args.listen)
    hes.config.realtime_share, hes.config.history_share = args.realtime_share, args.history_share
    if args.workers < 1:
        raise CliError("--workers must be >= 1")
    hes.config.workers = args.workers
    try:
        hes.start()
    except OSError as exc:
        raise CliError(f"cannot listen for pushes on {args.listen}: {exc.strerror or exc}") from None
    for text in addresses:
        hes.add_meter(_target(text))
    hes.choose_5min()
    wall_end = None if args.duration is None else time.monotonic() + args.duration
    from ..stopping import StopOnSignal
    stopping = StopOnSignal(scheduler.stop)     # Ctrl-C / SIGTERM: the loop ends between two steps

    async def ticker():
        """Lowest priority: every wall second commit (readers and other head-end commands on
        the same database see the rows and get the lock), print the status, stop at the end."""
        from sumame.firmware.core.scheduler import sleep
        next_status = time.monotonic()
        while (wall_end is None or time.monotonic() < wall_end) and not stopping.signals:
            hes.store.commit()
            if time.monotonic() >= next_status:
                next_status += args.status_interval
                s = hes.summary()
                print(f"{format_jst(scheduler.clock.now())} meters {s['discovered']}/{s['meters']}, "
                      f"pushes {s.get('pushes', 0)}, rows {s['stored']}, in outage {s['in_outage']}, "
                      f"outages {s.get('outages', 0)}", flush=True)
            await sleep(min(1.0, args.status_interval) * scheduler.clock.ratio)
        scheduler.stop()
    from sumame.firmware.core.scheduler import Priority
    scheduler.spawn(ticker(), name="hes-status", priority=Priority.UI, group="hes-cli")
    with stopping:   # installed before the ready line: a signal right after it still stops the loop
        print(f"sumame hes: {len(addresses)} meter(s), pushes on {args.listen}, database {describe(args.db)}",
              flush=True)
        scheduler.run()     # run() clears the stop flag: a signal before it, the ticker sees at once
    hes.finish_pushes()                   # every push that arrived (held, queued, in the socket) is stored
    drops = hes.push_server.udp_drops() if hes.push_server is not None else None
    hes.stop()
    summary = hes.summary()
    if drops is not None:
        summary["udp_drops"] = drops      # datagrams the kernel dropped (receive buffer full)
    print("summary " + json.dumps(summary, sort_keys=True), flush=True)
    hes.store.close()
    return 0


def _store(target):
    """The head-end store at ``target`` (file or server URL); one-line errors for the CLI."""
    from .db.store import HesStore
    try:
        return HesStore(target)
    except (ConnectionError, RuntimeError, sqlite3.Error) as exc:
        raise CliError(str(exc)) from None


def _open_db(path):
    if not is_server(path) and not path.is_file():
        raise CliError(f"{path}: no such database")
    return _store(path)


def _no_settlement_on_server(args) -> None:
    if args.settlement and is_server(args.db):
        raise CliError("--settlement reads the special-meter tables of a SQLite file; "
                       "a postgresql:// database does not hold them yet")


def _query(args) -> int:
    from .db.store import ITEMS
    _no_settlement_on_server(args)
    store = _open_db(args.db)
    if args.settlement:
        from .settlement import print_settlement
        return print_settlement(store, meters=args.meter, start=_time(args.start, "--from"),
                                end=_time(args.end, "--to"), fmt=args.format)
    if not args.item:
        raise CliError("give --item ITEM (repeat) or --settlement")
    try:
        rows = store.query(args.item, meters=args.meter, grid=args.grid, start=_time(args.start, "--from"),
                           end=_time(args.end, "--to"))
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    cols = ["meter", "interval_end_jst", *args.item]
    if args.format == "csv":
        print(",".join(cols))
        for r in rows:
            print(",".join("" if r[c] is None else str(r[c]) for c in cols))
        return 0
    units = {i: ITEMS[i].unit for i in args.item}
    print("  ".join([f"{'meter':<24}", f"{'interval end':<20}", *(f"{i} [{units[i]}]" for i in args.item)]))
    for r in rows:
        cells = ["no data" if r[i] is None else f"{r[i]:.3f}" for i in args.item]
        print("  ".join([f"{r['meter']:<24}", f"{r['interval_end_jst']:<20}", *(f"{c:>{len(i) + 6}}"
                                                                                for c, i in zip(cells, args.item))]))
    print(f"{len(rows)} row(s)", file=sys.stderr)
    return 0


def _export(args) -> int:
    from .db.export import export_rows, write_csv, write_parquet
    _no_settlement_on_server(args)
    store = _open_db(args.db)
    fmt = args.format or ("parquet" if args.out.suffix == ".parquet" else "csv")
    if args.settlement:
        from .settlement import export_settlement
        try:
            n = export_settlement(store, args.out, fmt, _time(args.start, "--from"), _time(args.end, "--to"))
        except RuntimeError as exc:
            raise CliError(str(exc)) from None
        print(f"wrote {n} settlement slots ({fmt}) to {args.out}")
        return 0
    rows = export_rows(store, grid=args.grid, start=_time(args.start, "--from"), end=_time(args.end, "--to"))
    try:
        n = (write_parquet if fmt == "parquet" else write_csv)(rows, args.out)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {n} rows ({fmt}) to {args.out}")
    return 0
