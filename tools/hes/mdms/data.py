"""Read paths over the head-end store: meters with their status, intervals, events, outages.

Every call opens the store read-only (``HesStore.open_read_only``: SQLite ``mode=ro`` and
``query_only``), one connection per thread, so no read path can change what was collected.
Times go out as ISO 8601 JST (``2026-04-02T00:30:00+09:00``), figures as ``{"value", "unit"}``
with ``value`` null for *no data* (never 0).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

from sumame.hal.jst import jst_datetime

from ..db.store import ITEMS, HesStore

DEADLINE_S = {"lv": 3600.0, "hv": 1800.0}    # push deadline of a 30-min value (LV 60 min, HV 30 min)


T_MIN = -32400.0            # 1970-01-01T00:00 JST: the earliest time the API takes (epoch s)
T_MAX = 253402268399.0      # 9999-12-31T23:59:59 JST: the latest one can be written as a date


def within(t: float | None, periods: list[tuple[float, float | None]] | None) -> bool:
    """True if ``t`` (epoch s) lies in one of ``periods`` ([from, to], open end None); None: no limit."""
    if periods is None:
        return True
    return t is not None and any(a <= t and (b is None or t <= b) for a, b in periods)


def iso_jst(t: float | None) -> str | None:
    return None if t is None else jst_datetime(t).isoformat()


def figure(value, unit: str) -> dict:
    return {"value": value, "unit": unit}


class Reader:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self.store  # fail early (no such file, not a database)

    @property
    def store(self) -> HesStore:
        s = getattr(self._local, "store", None)
        if s is None:
            s = self._local.store = HesStore.open_read_only(self.path)
        return s

    # ---------------------------------------------------------------- meters
    def as_of(self) -> float | None:
        """The store's own 'now': the latest time it received anything (virtual-time fleets too)."""
        row = self.store.db.execute("SELECT MAX(received_at) FROM intervals").fetchone()
        return row[0]

    def meters(self, visible: set[str] | None = None) -> list[dict]:
        db = self.store.db
        last = dict(db.execute("SELECT meter, MAX(end_at) FROM intervals WHERE grid=30 GROUP BY meter"))
        open_outages = {r[0] for r in db.execute(
            "SELECT meter FROM outages WHERE end_at IS NULL AND restored_detected_at IS NULL")}
        as_of = self.as_of()
        out = []
        for mid, serial, kind, sp, grid, info in db.execute(
                "SELECT id, serial, kind, supply_point, grid, info FROM meters ORDER BY supply_point, id"):
            if visible is not None and sp not in visible:
                continue
            try:
                extra = json.loads(info or "{}")
            except ValueError:
                extra = {}
            end = last.get(mid)
            if mid in open_outages:
                status = "outage"
            elif as_of is None or end is None or as_of - end > DEADLINE_S.get(kind or "lv", 3600.0) + 1800:
                status = "late"
            else:
                status = "up"
            out.append({"supply_point": sp, "receiving_point": extra.get("receiving_point") or None,
                        "meter": mid, "serial": serial, "kind": kind, "pushed_grid_min": grid, "status": status,
                        "last_interval_end": iso_jst(end), "as_of": iso_jst(as_of)})
        return out

    def meter_of(self, supply_point: str) -> str | None:
        row = self.store.db.execute("SELECT id FROM meters WHERE supply_point=? ORDER BY added_at DESC",
                                    (supply_point,)).fetchone()
        return None if row is None else row[0]

    def supply_point_of(self) -> dict[str, str]:
        return dict(self.store.db.execute("SELECT id, supply_point FROM meters"))

    # ---------------------------------------------------------------- intervals
    def intervals(self, meter: str, items: list[str], grid: int, start: float, end: float) -> list[dict]:
        """Rows with interval end in [start, end] (the same range rule as ``sumame hes export``)."""
        out = []
        for row in self.store.intervals(meter, grid, start, end):
            rec = {"interval_end": iso_jst(row["end_at"])}
            for name in items:
                item = ITEMS[name]
                v = row[item.column]
                rec[name] = figure(None if v is None else round(v * item.factor, 6), item.unit)
            out.append(rec)
        return out

    # ---------------------------------------------------------------- events, commands, outages
    def events(self, meter: str, periods=None) -> list[dict]:
        """Meter events; with ``periods`` only those dated inside them (a consent's data period)."""
        return [{"at": iso_jst(e["at"]), "log": e["log"], "code": e["code"], "kind": e["kind"]}
                for e in self.store.meter_events(meter) if within(e["at"], periods)]

    def commands(self, meter: str, periods=None) -> list[dict]:
        rows = self.store.db.execute("SELECT at, op, argument, ok, detail FROM commands WHERE meter=? ORDER BY id",
                                     (meter,))
        return [{"at": iso_jst(at), "op": op, "argument": arg, "ok": bool(ok), "detail": detail}
                for at, op, arg, ok, detail in rows if within(at, periods)]

    def outages(self, meters: dict[str, str], windows: dict | None = None) -> list[dict]:
        """Outages; with ``windows`` (supply point -> periods) only the supply points in it and
        only outages whose start (or, unknown, detection) lies in one of its periods."""
        out = []
        for o in self.store.outages():
            sp = meters.get(o["meter"])
            if windows is not None and not within(o["start_at"] if o["start_at"] is not None
                                                  else o["detected_at"], windows.get(sp, [])):
                continue
            length = None if o["start_at"] is None or o["end_at"] is None else o["end_at"] - o["start_at"]
            out.append({"id": o["id"], "supply_point": sp, "meter": o["meter"], "start": iso_jst(o["start_at"]),
                        "end": iso_jst(o["end_at"]), "duration": figure(length, "s"),
                        "detected": iso_jst(o["detected_at"]), "how": o["how"],
                        "restoration_detected": iso_jst(o["restored_detected_at"])})
        return out
