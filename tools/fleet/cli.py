"""``sumame fleet``: emulated meters in real time against a real head-end (``realtime.py``).

    sumame fleet --board emulated-lv-fleet --meters 100000 --hes 127.0.0.1:4060 --processes 2
    sumame hes run --meters-file STATE/meters.txt --keys STATE/a-route-keys.json --listen 127.0.0.1:4060 --db hes.sqlite

Each process has one UDP socket (``--listen``; process p uses PORT + p, or an ephemeral port
each for port 0); meter k of a process answers at ``udp://HOST:PORT/WPORT`` (WPORT = 256 + k,
the DLMS wrapper's destination port), so one process holds at most 65,280 meters. The status
line is rewritten in place on a terminal, else printed once per ``--status-interval`` (default:
one 30-min interval): meters up (A-route serving), pushes sent, late (sent more than 2 wall s
after the meter's own push time: the loop fell behind), lost (could not leave the socket),
requests (datagrams delivered to meters), refused (garbage, unknown wPort, flood). The
last line, ``summary {json}``, has the same counters by kind.

Stopping (Ctrl-C / SIGINT, SIGTERM, or ``--duration``): the signal only asks the loop to stop,
so it ends between two scheduler steps — a push has left the socket and is counted, or it has
not left — and the summary counts exactly what left. Then the socket is closed (nothing more is
received or sent), the tasks are cancelled and the process exits without freeing its heap one
object at a time: within about 1 s plus 0.5 CPU-s per 1,000 meters of a process (more wall time
when other work holds the cores: 16 s for 1,000 meters on a machine loaded ~5x). With
``--processes`` the parent passes the signal on to its processes and sums their last counters
(a process that has not stopped 60 s later is killed). A second signal exits at once.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sumame.hal.jst import format_jst

from ..cli import CliError
from ..stopping import StopOnSignal


def add_parser(sub) -> None:
    p = sub.add_parser("fleet", help="many emulated meters in real time, pushing to a real head-end (A-route UDP)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", default="emulated-lv-fleet", help="LV board of every meter (default %(default)s)")
    p.add_argument("--meters", type=int, required=True, help="number of meters")
    p.add_argument("--hes", required=True, metavar="HOST:PORT", help="where the head-end receives pushes")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                   help="the meters' UDP socket (process p: PORT + p; 0: ephemeral; default %(default)s)")
    p.add_argument("--processes", type=int, default=1, metavar="P", help="processes (one event loop and socket each)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--push-interval", type=float, metavar="S",
                       help="compressed time: one 30-min interval every S wall seconds (speed 1800/S)")
    speed.add_argument("--speed", type=float, default=None, metavar="R", help="clock R x real time (default 1)")
    p.add_argument("--clock-origin", type=float, default=None, metavar="EPOCH",
                   help="with --speed: host epoch s at which the clock reads true time (default: now); "
                        "give the head-end the same")
    p.add_argument("--push-window", type=float, default=600.0, metavar="S",
                   help="meters spread their pushes over S s after each boundary (default %(default)s)")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="keys, endpoint list (default $XDG_STATE_HOME/sumame/fleet)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S wall seconds (default: Ctrl-C)")
    p.add_argument("--status-interval", type=float, metavar="S",
                   help="s between status lines when not on a terminal (default: one 30-min interval)")
    p.add_argument("--seed", type=int, default=1, help="seed of the loads")
    p.add_argument("--shard", default=None, help=argparse.SUPPRESS)   # p/P: a child of --processes
    p.set_defaults(func=run)


def _speed(args) -> float:
    if args.push_interval is not None:
        if args.push_interval <= 0:
            raise CliError("--push-interval must be > 0")
        return 1800.0 / args.push_interval
    if args.speed is not None and args.speed <= 0:
        raise CliError("--speed must be > 0")
    return args.speed or 1.0


def _state_dir(args) -> Path:
    if args.state_dir is not None:
        d = args.state_dir
    else:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        d = Path(base) / "sumame" / "fleet"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _listen(args, shard: int) -> str:
    from sumame.firmware.routes.aroute.tcp import parse_address
    host, port = parse_address(args.listen, 0)
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port + shard if port else 0}"


def run(args) -> int:
    from .udp_mux import MAX_METERS

    if args.meters < 1 or args.processes < 1:
        raise CliError("need --meters >= 1 and --processes >= 1")
    if args.processes > args.meters:
        raise CliError(f"--processes {args.processes} > --meters {args.meters}")
    per = -(-args.meters // args.processes)
    if per > MAX_METERS:
        need = -(-args.meters // MAX_METERS)
        raise CliError(f"{args.meters} meters need --processes {need} or more: one UDP socket addresses at "
                       f"most {MAX_METERS} meters by wrapper port")
    speed = _speed(args)
    if args.shard is None and args.clock_origin is None:
        args.clock_origin = time.time()
    interval = args.status_interval or 1800.0 / speed
    if args.shard is not None:
        return _child(args, speed)
    state = _state_dir(args)
    from .realtime import fleet_secret
    fleet_secret(state)                     # one secret for every process of the run
    if args.processes == 1:
        return _single(args, speed, state, interval)
    return _parent(args, speed, state, interval)


def _shard_range(args, shard: int, shards: int) -> tuple[int, int]:
    first = args.meters * shard // shards
    return first, args.meters * (shard + 1) // shards - first


def _build(args, speed, state, shard, shards):
    from .realtime import RealtimeFleet, RealtimeSpec

    first, count = _shard_range(args, shard, shards)
    rspec = RealtimeSpec(meters=args.meters, hes=args.hes, state_dir=state, board=args.board,
                         listen=_listen(args, shard), first=first, count=count, speed=speed,
                         clock_origin=args.clock_origin, push_window_s=args.push_window, seed=args.seed)
    try:
        return RealtimeFleet(rspec)
    except OSError as exc:
        raise CliError(f"cannot open the fleet's UDP socket on {rspec.listen}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _line(s: dict) -> str:
    return (f"{format_jst(s['clock'])} meters up {s['up']}/{s['meters']} (booted {s['booted']}), "
            f"pushes sent {s['pushes']}, late {s['late']}, lost {s['lost']}, "
            f"requests {s['requests']}, refused {s['refused']}")


class _Status:
    """In place (``\\r``) on a terminal every second; one line per ``interval`` otherwise."""

    def __init__(self, interval: float):
        self.tty = sys.stdout.isatty()
        self.every = 1.0 if self.tty else interval
        self.next = time.monotonic() + self.every

    def due(self) -> bool:
        if time.monotonic() < self.next:
            return False
        self.next += self.every
        return True

    def show(self, s: dict, final: bool = False) -> None:
        text = _line(s)
        if self.tty:
            sys.stdout.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()


CHILD_STOP_S = 60.0
"""With ``--processes``: how long the parent waits for its processes after passing a stop on."""


def _loop(fleet, args, on_tick) -> None:
    """Run the fleet's loop until a stop signal or ``--duration`` wall seconds (a lowest-priority
    task shows the status and ends the run; the loop never returns while meters have due work).
    The loop wakes at least every 0.25 wall s, so a stop is seen within that."""
    from sumame.firmware.core.scheduler import Priority, sleep

    wall_end = None if args.duration is None else time.monotonic() + args.duration

    stopping = StopOnSignal(fleet.scheduler.stop)

    async def ticker():
        while (wall_end is None or time.monotonic() < wall_end) and not stopping.signals:
            await sleep(0.25 * fleet.clock.ratio)
            on_tick()
        fleet.scheduler.stop()
    fleet.scheduler.spawn(ticker(), name="fleet-status", priority=Priority.UI, group="fleet-status")
    with stopping:
        fleet.scheduler.run()   # run() clears the stop flag: a signal before it, the ticker sees it
    fleet.mux.close()            # stop receiving and sending: the counters are final


def _exit(code: int) -> None:
    """Exit without tearing down the fleet's heap object by object (seconds for 10^4 meters;
    the OS frees it at once): output flushed first."""
    import logging
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _single(args, speed, state, interval) -> int:
    fleet = _build(args, speed, state, 0, 1)
    meters, keys = fleet.write_files()
    host, port = fleet.mux.address
    print(f"endpoint fleet-udp {host}:{port} wports {fleet.wport(0)}..{fleet.wport(fleet.count - 1)}", flush=True)
    _announce(args, speed, meters, keys)
    fleet.start()
    status = _Status(interval)
    _loop(fleet, args, lambda: status.due() and status.show(fleet.status()))
    final = fleet.status()
    status.show(final, final=True)
    print("summary " + json.dumps(final, sort_keys=True), flush=True)
    fleet.close()
    _exit(0)
    return 0


def _announce(args, speed, meters: Path, keys: Path) -> None:
    print(f"meters-file {meters}", flush=True)
    print(f"a-route-keys {keys}", flush=True)
    print(f"clock speed {speed:g} origin {args.clock_origin:.3f}", flush=True)
    extra = "" if speed == 1 else f" --speed {speed:g} --clock-origin {args.clock_origin:.3f}"
    print(f"head-end: sumame hes run --meters-file {meters} --keys {keys} --listen {args.hes} --db hes.sqlite{extra}",
          flush=True)


def _child(args, speed) -> int:
    """One process of a ``--processes`` run: JSON lines on stdout for the parent."""
    shard, shards = (int(x) for x in args.shard.split("/"))
    state = _state_dir(args)
    fleet = _build(args, speed, state, shard, shards)
    meters, keys = fleet.write_files(tag=f"-{shard}")
    print(json.dumps({"ready": True, "address": list(fleet.mux.address), "meters": str(meters),
                      "keys": str(keys)}), flush=True)
    fleet.start()
    every = {"next": time.monotonic() + 1.0}

    def tick():
        if time.monotonic() >= every["next"]:
            every["next"] += 1.0
            print(json.dumps(fleet.status()), flush=True)
    _loop(fleet, args, tick)
    print(json.dumps(fleet.status()), flush=True)
    fleet.close()
    _exit(0)
    return 0


def _parent(args, speed, state, interval) -> int:
    base = [sys.executable, "-m", "sumame.tools.cli", "fleet", "--board", args.board, "--meters", str(args.meters),
            "--hes", args.hes, "--listen", args.listen, "--processes", str(args.processes),
            "--speed", repr(speed), "--clock-origin", repr(args.clock_origin), "--push-window",
            repr(args.push_window), "--state-dir", str(state), "--seed", str(args.seed)]
    if args.duration is not None:
        base += ["--duration", repr(args.duration)]
    children = [subprocess.Popen(base + ["--shard", f"{p}/{args.processes}"], stdout=subprocess.PIPE, text=True,
                                 start_new_session=True)     # a stop reaches them once: from here
                for p in range(args.processes)]
    latest: list[dict | None] = [None] * len(children)
    stopping = {"at": None}

    def stop() -> None:          # pass the stop on
        stopping["at"] = stopping["at"] or time.monotonic()
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGINT)
    guard = StopOnSignal(stop).__enter__()
    try:
        ready = [json.loads(c.stdout.readline() or "{}") for c in children]
        if not all(r.get("ready") for r in ready):
            raise CliError("a fleet process did not start (see its error above)")
        meters, keys = state / "meters.txt", state / "a-route-keys.json"
        merged_keys: dict = {}
        lines = []
        for r in ready:
            lines.append(Path(r["meters"]).read_text())
            merged_keys.update(json.loads(Path(r["keys"]).read_text()))
        from .realtime import _write_private
        _write_private(meters, "".join(lines))
        _write_private(keys, json.dumps(merged_keys, separators=(",", ":")) + "\n")
        for p, r in enumerate(ready):
            first, count = _shard_range(args, p, args.processes)
            print(f"endpoint fleet-udp {r['address'][0]}:{r['address'][1]} meters {first}..{first + count - 1}",
                  flush=True)
        _announce(args, speed, meters, keys)
        status = _Status(interval)
        import selectors
        sel = selectors.DefaultSelector()
        for k, c in enumerate(children):
            sel.register(c.stdout, selectors.EVENT_READ, k)
        open_ = len(children)
        while open_:
            if stopping["at"] is not None and time.monotonic() - stopping["at"] > CHILD_STOP_S:
                break
            for key, _ in sel.select(timeout=1.0):
                line = key.fileobj.readline()
                if not line:
                    sel.unregister(key.fileobj)
                    open_ -= 1
                    continue
                latest[key.data] = json.loads(line)
            if status.due() and all(latest):
                status.show(_sum(latest))
    finally:
        guard.__exit__()
        for c in children:
            if c.poll() is None:
                c.kill()
            c.wait()
    if all(latest):
        status.show(_sum(latest), final=True)
        print("summary " + json.dumps(_sum(latest), sort_keys=True), flush=True)
    return 0 if all(c.returncode == 0 for c in children) else 1


def _sum(parts: list[dict]) -> dict:
    out = {k: sum(p[k] for p in parts) for k in parts[0] if k not in ("clock", "worst_late_s")}
    out["clock"] = min(p["clock"] for p in parts)
    out["worst_late_s"] = max(p["worst_late_s"] for p in parts)
    return out
