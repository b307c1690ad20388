"""Head-end ingest benchmark (``make bench``): pushes per core-second through ``HeadEnd.on_push``
(wrapper decode, HLS-GMAC decipher, APDU decode, duplicate / conflict check, store).

The pushes are real: a virtual-time fleet (``emulated-lv-fleet``, loss 0) runs once with its
head-end and every push datagram it receives is recorded with its arrival time. They are then fed
again, in arrival order, to that head-end (its meters' keys and capture objects already learnt)
with a fresh store each time, one transaction per 30-min window of arrival:

* decode only (the peer in the same run: what any head-end pays before storing),
* into a SQLite file (the single-machine default; the default synchronous mode),
* into PostgreSQL on a unix socket (a throwaway server the bench starts, when Debian's
  postgresql and psycopg are installed); here the figure is per wall second, the server's CPU
  included, since the work is split between two processes.

Each push holds the meter's last 30-min interval(s); "rows" counts what was stored.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .cli import Bench, Figure

WINDOW_S = 1800.0


def capture(meters: int, days: float):
    """Run a fleet once; returns (head-end, [(arrival epoch s, push datagram)]) ."""
    from ..fleet.fleet import FleetSpec
    from ..fleet.hes_fleet import FleetScenario, start_scenario

    scenario = FleetScenario(spec=FleetSpec(meters=meters, hv_every=25, board="emulated-lv-fleet", seed=11),
                             days=days, outages=[])
    fleet, hes, _ = start_scenario(scenario)
    frames = []
    original = hes._open_push          # every push datagram is opened here, once

    def record(data: bytes):
        frames.append((fleet.clock.now(), bytes(data)))
        return original(data)
    hes._open_push = record
    fleet.run(fleet.clock.now() + days * 86400)
    hes._open_push = original
    fleet.close()
    return hes, frames


def fresh_guards(hes) -> None:
    """Forget the invocation counters seen, so the recorded pushes are accepted again (the
    counter check itself still runs on every push)."""
    from sumame.firmware.net.dlms.security import ReplayGuard
    for m in hes.meters.values():
        m.push_client.guard = ReplayGuard()


def decode_only(hes, frames) -> float:
    """Process s to decode (and decipher) every push, storing nothing."""
    from sumame.firmware.net.dlms.wrapper import WrapperPdu

    fresh_guards(hes)
    c0 = time.process_time()
    for _, data in frames:
        apdu = WrapperPdu.decode(data).apdu
        m = hes.by_title[bytes(apdu[2:10])]
        m.push_client.parse_notification(apdu)
    return time.process_time() - c0


def ingest(hes, frames, target, recent_rows: int | None = None) -> tuple[float, float, int]:
    """Feed ``frames`` into a fresh store at ``target``; returns (process s, wall s, rows stored).
    ``recent_rows=0``: without the store's cache of the last rows (every copy checked in SQL)."""
    from ..hes.db.store import HesStore

    store = HesStore(target)
    if recent_rows is not None:
        store.recent_rows = recent_rows
    for m in hes.meters.values():       # the meters as discovery registered them
        store.add_meter(m.id, str(m.target), serial=m.serial, kind=m.kind, system_title=m.secrets.system_title,
                        grid=m.grid)
    store.commit()
    hes.store, saved_now = store, hes.clock.now
    fresh_guards(hes)
    hes.stats.clear()
    window_end = None
    c0, w0 = time.process_time(), time.perf_counter()
    try:
        for at, data in frames:
            if window_end is None or at >= window_end:
                store.commit()           # one transaction per 30-min window of arrival
                window_end = (at // WINDOW_S + 1) * WINDOW_S
            hes.clock.now = lambda at=at: at
            hes.on_push(data)
        store.commit()
    finally:
        hes.clock.now = saved_now
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    rows = store.stats.stored
    store.close()
    return cpu, wall, rows


def run(quick: bool) -> list[Figure]:
    meters, days = (6, 0.5) if quick else (24, 2.0)
    t0 = time.perf_counter()
    hes, frames = capture(meters, days)
    made = time.perf_counter() - t0
    n = len(frames)
    dec = decode_only(hes, frames)
    with tempfile.TemporaryDirectory(prefix="sumame-bench-ingest-") as tmp:
        cpu, wall, rows = ingest(hes, frames, Path(tmp) / "hes.sqlite")
        uncached, _, rows0 = ingest(hes, frames, Path(tmp) / "uncached.sqlite", recent_rows=0)
    if rows0 != rows:
        raise RuntimeError(f"ingest without the recent-row cache stored {rows0} rows, with it {rows}")
    figures = [
        Figure("push ingest into SQLite (decode, check, store)", n / cpu, "pushes/core-s",
               f"{n} pushes of {meters} meters x {days:g} day ({made:.0f} s to record), {rows} rows, "
               f"one transaction per 30-min window"),
        Figure("push decode + decipher alone (peer)", n / dec, "pushes/core-s", "same pushes, nothing stored"),
        Figure("row decode, check and store: share of ingest", (1 - dec / cpu) * 100, "%",
               "SQLite, same run"),
        Figure("ingest speed-up of the recent-row cache", uncached / cpu, "x",
               "vs every repeated interval checked by SELECT (the previous store), same pushes"),
    ]
    figures += _server(hes, frames, n, wall)
    return figures


def _server(hes, frames, n: int, sqlite_wall: float) -> list[Figure]:
    from ..hes.db.pg_local import LocalPostgres, pg_bin_dir
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return [Figure("push ingest into PostgreSQL", 0, "-", "needs sumame[postgres] (psycopg)")]
    if pg_bin_dir() is None:
        return [Figure("push ingest into PostgreSQL", 0, "-", "needs Debian's postgresql")]
    server = LocalPostgres(fsync=True).start()
    try:
        url = server.create_database("bench")
        _, wall, rows = ingest(hes, frames, url)
    finally:
        server.stop()
    return [Figure("push ingest into PostgreSQL (unix socket)", n / wall, "pushes/wall-s",
                   f"{rows} rows; client and server CPU both counted (one wall s on a shared machine)"),
            Figure("PostgreSQL vs SQLite ingest (wall)", sqlite_wall / wall, "x", "same pushes, same run")]


BENCHES = [Bench("hes-ingest", run, "head-end push ingest (decode, check, store): pushes per core-second, "
                                    "SQLite and PostgreSQL")]
