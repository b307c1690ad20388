"""What the head-end collects, in SQLite (or a server database, ``sqldb.py``): interval values,
outages, polls, commands, meter events.

Units in the database are base units (Wh, varh, V, epoch s UTC); the query API and the exports
show kWh / kvarh / V and JST. One row per (meter, grid, interval end): the first value received
wins; a later copy is counted as a duplicate (or, if it differs, as a conflict — never stored).
An interval the meter did not measure is a row with NULL values (no data), not a missing row.

Retention: ``purge(now)`` deletes everything older than ``RETENTION_S`` (3 years, the period the
head-end must keep 30-minute values); the engine calls it once a day.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sumame.hal.jst import format_jst

from .sqldb import connect, is_server

RETENTION_S = 3 * 365 * 86400 + 86400       # three years (one leap day included)
BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another head-end process's transaction (``hes run`` commits every
second; a one-shot ``hes poll`` / ``limit`` on the same database waits for it), s."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meters(
    id TEXT PRIMARY KEY, target TEXT NOT NULL, serial TEXT, kind TEXT, supply_point TEXT,
    system_title BLOB, grid INTEGER, info TEXT, added_at REAL);
CREATE TABLE IF NOT EXISTS intervals(
    meter TEXT NOT NULL, grid INTEGER NOT NULL, end_at REAL NOT NULL,
    forward_wh REAL, reverse_wh REAL, reactive_varh REAL,
    forward_total_wh REAL, reverse_total_wh REAL, reactive_total_varh REAL,
    voltage_r_v REAL, voltage_t_v REAL,
    received_at REAL NOT NULL, source TEXT NOT NULL, on_time INTEGER NOT NULL,
    PRIMARY KEY(meter, grid, end_at));
CREATE TABLE IF NOT EXISTS outages(
    id INTEGER PRIMARY KEY, meter TEXT NOT NULL, start_at REAL, end_at REAL,
    detected_at REAL NOT NULL, restored_detected_at REAL, how TEXT NOT NULL, start_source TEXT);
CREATE TABLE IF NOT EXISTS polls(
    meter TEXT NOT NULL, at REAL NOT NULL, ok INTEGER NOT NULL, why TEXT, state TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS commands(
    id INTEGER PRIMARY KEY, meter TEXT NOT NULL, at REAL NOT NULL, op TEXT NOT NULL, argument TEXT,
    ok INTEGER NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS meter_events(
    meter TEXT NOT NULL, log TEXT NOT NULL, at REAL NOT NULL, code INTEGER NOT NULL, kind TEXT,
    PRIMARY KEY(meter, log, at, code));
CREATE TABLE IF NOT EXISTS counters(meter TEXT PRIMARY KEY, tx_ceiling INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases(meter TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS intervals_end ON intervals(grid, end_at);
"""

VALUE_COLUMNS = ("forward_wh", "reverse_wh", "reactive_varh", "forward_total_wh", "reverse_total_wh",
                 "reactive_total_varh", "voltage_r_v", "voltage_t_v")


@dataclass(frozen=True)
class Item:
    column: str
    factor: float
    unit: str
    doc: str


ITEMS = {
    "forward_kwh": Item("forward_wh", 1e-3, "kWh", "active energy imported in the interval (+A)"),
    "reverse_kwh": Item("reverse_wh", 1e-3, "kWh", "active energy exported in the interval (-A)"),
    "reactive_kvarh": Item("reactive_varh", 1e-3, "kvarh", "lagging reactive energy in the interval"),
    "forward_total_kwh": Item("forward_total_wh", 1e-3, "kWh", "+A register at the interval end"),
    "reverse_total_kwh": Item("reverse_total_wh", 1e-3, "kWh", "-A register at the interval end"),
    "reactive_total_kvarh": Item("reactive_total_varh", 1e-3, "kvarh", "reactive register at the interval end"),
    "voltage_r_v": Item("voltage_r_v", 1.0, "V", "average voltage of element R over the interval"),
    "voltage_t_v": Item("voltage_t_v", 1.0, "V", "average voltage of element T over the interval"),
}


@dataclass
class StoreStats:
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0


_INSERT_INTERVAL = (f"INSERT INTO intervals(meter, grid, end_at, {', '.join(VALUE_COLUMNS)}, received_at, source,"
                    f" on_time) VALUES (?,?,?,{','.join('?' * len(VALUE_COLUMNS))},?,?,?) ON CONFLICT DO NOTHING")
_SELECT_INTERVAL = f"SELECT {', '.join(VALUE_COLUMNS)} FROM intervals WHERE meter=? AND grid=? AND end_at=?"


class HesStore:
    """SQLite store; ``path`` ":memory:" for tests and virtual-time runs, or a
    ``postgresql://`` URL for a server database (same rows, same queries).

    Ingest keeps the last ``recent_rows`` intervals stored per meter and grid in RAM: a push
    repeats the previous interval(s), and such a copy is judged (duplicate or conflict) without a
    round trip to the database. The store must be the only writer of its meters' intervals."""

    recent_rows = 4

    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        self.db = connect(path if is_server(path) else self.path, busy_timeout_s=BUSY_TIMEOUT_S)
        self.db.executescript(SCHEMA)
        self.db.commit()
        self.stats = StoreStats()
        self._dirty = 0
        self._recent: dict[tuple[str, int], dict[float, tuple]] = {}

    @classmethod
    def open_read_only(cls, path: str | Path) -> "HesStore":
        """The same queries over a connection SQLite itself refuses to write through (MDMS read
        paths): ``mode=ro`` and ``query_only``; usable from any one thread at a time."""
        store = cls.__new__(cls)
        store.path = str(path)
        store.db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False)
        store.db.execute("PRAGMA query_only=ON")
        store.stats, store._dirty, store._recent = StoreStats(), 0, {}
        return store

    def close(self) -> None:
        self.commit()
        self.db.close()

    def commit(self) -> None:
        self.db.commit()
        self._dirty = 0

    def _touch(self, n: int = 1) -> None:
        self._dirty += n
        if self._dirty >= 500:
            self.commit()

    # ---------------------------------------------------------------- meters
    def add_meter(self, meter_id: str, target: str, *, serial=None, kind=None, supply_point=None,
                  system_title: bytes | None = None, grid: int | None = None, info: dict | None = None,
                  now: float = 0.0) -> None:
        self.db.execute("INSERT INTO meters(id, target, serial, kind, supply_point, system_title, grid, info, added_at)"
                        " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET target=excluded.target,"
                        " serial=excluded.serial, kind=excluded.kind, supply_point=excluded.supply_point,"
                        " system_title=excluded.system_title, grid=excluded.grid, info=excluded.info",
                        (meter_id, target, serial, kind, supply_point, system_title, grid,
                         json.dumps(info or {}), now))
        self._touch()

    def meters(self) -> list[dict]:
        cur = self.db.execute("SELECT id, target, serial, kind, supply_point, grid FROM meters ORDER BY id")
        return [dict(zip(("id", "target", "serial", "kind", "supply_point", "grid"), r)) for r in cur]

    # ---------------------------------------------------------------- intervals
    def put_interval(self, meter: str, grid: int, end_at: float, values: dict, *, received_at: float,
                     source: str, deadline_s: float) -> bool:
        """Store one interval (values in base units, None = no data). False if already there."""
        row = tuple(values.get(c) for c in VALUE_COLUMNS)
        recent = self._recent.get((meter, grid))
        old = None if recent is None else recent.get(end_at)
        if old is None:
            cur = self.db.execute(_INSERT_INTERVAL, (meter, grid, end_at, *row, received_at, source,
                                                     int(received_at - end_at <= deadline_s)))
            if cur.rowcount:
                self.stats.stored += 1
                self._remember(meter, grid, end_at, row)
                self._touch()
                return True
            old = self.db.execute(_SELECT_INTERVAL, (meter, grid, end_at)).fetchone()
            if old is not None:
                self._remember(meter, grid, end_at, tuple(old))
        if old is not None and any(o != n for o, n in zip(old, row) if n is not None or o is not None):
            self.stats.conflicts += 1
        else:
            self.stats.duplicates += 1
        return False

    def _remember(self, meter: str, grid: int, end_at: float, row: tuple) -> None:
        recent = self._recent.setdefault((meter, grid), {})
        recent[end_at] = row
        if len(recent) > self.recent_rows:
            del recent[min(recent)]

    def last_interval(self, meter: str, grid: int) -> float | None:
        row = self.db.execute("SELECT MAX(end_at) FROM intervals WHERE meter=? AND grid=?", (meter, grid)).fetchone()
        return row[0]

    def missing(self, meter: str, grid: int, start: float, end: float) -> list[float]:
        """Boundaries of ``grid`` in [start, end] with no row stored."""
        step = grid * 60
        first = -(-int(start) // step) * step
        have = {r[0] for r in self.db.execute("SELECT end_at FROM intervals WHERE meter=? AND grid=? AND end_at"
                                              " BETWEEN ? AND ?", (meter, grid, start, end))}
        return [float(t) for t in range(first, int(end) + 1, step) if float(t) not in have]

    def has_interval(self, meter: str, grid: int, end_at: float) -> bool:
        return self.db.execute("SELECT 1 FROM intervals WHERE meter=? AND grid=? AND end_at=?",
                               (meter, grid, end_at)).fetchone() is not None

    def intervals(self, meter: str | None = None, grid: int = 30, start: float | None = None,
                  end: float | None = None) -> list[dict]:
        """Raw rows (base units) for checks and exports, ordered by meter and time."""
        where, args = ["grid=?"], [grid]
        if meter is not None:
            where.append("meter=?")
            args.append(meter)
        if start is not None:
            where.append("end_at>=?")
            args.append(start)
        if end is not None:
            where.append("end_at<=?")
            args.append(end)
        cols = ("meter", "grid", "end_at", *VALUE_COLUMNS, "received_at", "source", "on_time")
        cur = self.db.execute(f"SELECT {', '.join(cols)} FROM intervals WHERE {' AND '.join(where)}"
                              f" ORDER BY meter, end_at", args)
        return [dict(zip(cols, r)) for r in cur]

    # ---------------------------------------------------------------- query API (user units)
    def query(self, items: Iterable[str], *, meters: Iterable[str] | None = None, grid: int = 30,
              start: float | None = None, end: float | None = None) -> list[dict]:
        """Chosen items for chosen meters and period, in kWh / kvarh / V with JST times.
        Each row: meter, interval_end_jst, end_at (epoch s), one key per item (None = no data)."""
        items = list(items)
        unknown = [i for i in items if i not in ITEMS]
        if unknown:
            raise KeyError(f"unknown item(s) {', '.join(unknown)}; known: {', '.join(ITEMS)}")
        wanted = None if meters is None else set(meters)
        out = []
        for row in self.intervals(None, grid, start, end):
            if wanted is not None and row["meter"] not in wanted:
                continue
            rec = {"meter": row["meter"], "interval_end_jst": format_jst(row["end_at"], seconds=False),
                   "end_at": row["end_at"]}
            for name in items:
                item = ITEMS[name]
                v = row[item.column]
                rec[name] = None if v is None else round(v * item.factor, 6)
            out.append(rec)
        return out

    # ---------------------------------------------------------------- outages, polls, commands, events
    def open_outage(self, meter: str, *, start_at: float | None, detected_at: float, how: str,
                    start_source: str) -> int:
        cur = self.db.execute("INSERT INTO outages(meter, start_at, detected_at, how, start_source) VALUES (?,?,?,?,?)"
                              " RETURNING id", (meter, start_at, detected_at, how, start_source))
        outage_id = cur.fetchone()[0]
        self.commit()
        return outage_id

    def close_outage(self, outage_id: int, *, end_at: float | None, restored_detected_at: float,
                     start_at: float | None = None, start_source: str | None = None) -> None:
        if start_at is not None:
            self.db.execute("UPDATE outages SET start_at=?, start_source=? WHERE id=?",
                            (start_at, start_source, outage_id))
        self.db.execute("UPDATE outages SET end_at=?, restored_detected_at=? WHERE id=?",
                        (end_at, restored_detected_at, outage_id))
        self.commit()

    def outages(self, meter: str | None = None) -> list[dict]:
        cols = ("id", "meter", "start_at", "end_at", "detected_at", "restored_detected_at", "how", "start_source")
        sql = f"SELECT {', '.join(cols)} FROM outages" + (" WHERE meter=?" if meter else "") + " ORDER BY id"
        return [dict(zip(cols, r)) for r in self.db.execute(sql, (meter,) if meter else ())]

    def add_poll(self, meter: str, at: float, ok: bool, why: str, state: str | None = None, detail: str = "") -> None:
        self.db.execute("INSERT INTO polls(meter, at, ok, why, state, detail) VALUES (?,?,?,?,?,?)", (meter, at, int(ok), why, state, detail))
        self._touch()

    def polls(self, meter: str | None = None) -> list[dict]:
        cols = ("meter", "at", "ok", "why", "state", "detail")
        sql = f"SELECT {', '.join(cols)} FROM polls" + (" WHERE meter=?" if meter else "") + " ORDER BY at"
        return [dict(zip(cols, r)) for r in self.db.execute(sql, (meter,) if meter else ())]

    def add_command(self, meter: str, at: float, op: str, argument, ok: bool, detail: str) -> None:
        self.db.execute("INSERT INTO commands(meter, at, op, argument, ok, detail) VALUES (?,?,?,?,?,?)",
                        (meter, at, op, None if argument is None else str(argument), int(ok), detail))
        self.commit()

    def commands(self) -> list[dict]:
        cols = ("meter", "at", "op", "argument", "ok", "detail")
        return [dict(zip(cols, r)) for r in self.db.execute(f"SELECT {', '.join(cols)} FROM commands ORDER BY id")]

    def put_meter_event(self, meter: str, log: str, at: float, code: int, kind: str) -> None:
        self.db.execute("INSERT INTO meter_events(meter, log, at, code, kind) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                        (meter, log, at, code, kind))
        self._touch()

    def meter_events(self, meter: str) -> list[dict]:
        cols = ("log", "at", "code", "kind")
        return [dict(zip(cols, r)) for r in self.db.execute(
            f"SELECT {', '.join(cols)} FROM meter_events WHERE meter=? ORDER BY at", (meter,))]

    # ---------------------------------------------------------------- invocation counter of the head-end
    def tx_ceiling(self, meter: str) -> int:
        """The highest invocation counter value any head-end process reserved towards ``meter``."""
        row = self.db.execute("SELECT tx_ceiling FROM counters WHERE meter=?", (meter,)).fetchone()
        return 0 if row is None else row[0]

    def reserve_tx_block(self, meter: str, block: int) -> int:
        """Reserve the next ``block`` invocation counter values towards ``meter`` in one atomic
        statement and commit; returns the new ceiling N: the caller owns N - block + 1 .. N, and
        no other process on this store (now or after a restart) is ever given them. The
        read-and-raise is one UPSERT, so two processes reserving at once get disjoint blocks
        (SQLite: one writer at a time; PostgreSQL: the row lock, re-read on conflict)."""
        row = self.db.execute("INSERT INTO counters(meter, tx_ceiling) VALUES (?,?) ON CONFLICT(meter) DO UPDATE SET"
                              " tx_ceiling = counters.tx_ceiling + ? RETURNING tx_ceiling",
                              (meter, block, block)).fetchone()
        self.commit()
        return row[0]

    def take_lease(self, meter: str, holder: str, expires_at: float, now: float) -> bool:
        """Take (or renew) the lease on ``meter`` for ``holder`` until ``expires_at`` (host epoch
        s); False while another holder's lease has not expired at ``now``. Committed at once."""
        row = self.db.execute("INSERT INTO leases(meter, holder, expires_at) VALUES (?,?,?) ON CONFLICT(meter)"
                              " DO UPDATE SET holder=excluded.holder, expires_at=excluded.expires_at"
                              " WHERE leases.holder = excluded.holder OR leases.expires_at < ? RETURNING holder",
                              (meter, holder, expires_at, now)).fetchone()
        self.commit()
        return row is not None

    def drop_lease(self, meter: str, holder: str) -> None:
        self.db.execute("DELETE FROM leases WHERE meter=? AND holder=?", (meter, holder))
        self.commit()

    # ---------------------------------------------------------------- retention
    def purge(self, now: float) -> int:
        """Delete what is older than the retention period; returns the number of rows removed."""
        horizon = now - RETENTION_S
        removed = 0
        self._recent.clear()
        for sql in ("DELETE FROM intervals WHERE end_at < ?", "DELETE FROM polls WHERE at < ?",
                    "DELETE FROM commands WHERE at < ?", "DELETE FROM meter_events WHERE at < ?",
                    "DELETE FROM outages WHERE COALESCE(end_at, detected_at) < ?"):
            removed += self.db.execute(sql, (horizon,)).rowcount
        self.commit()
        return removed
