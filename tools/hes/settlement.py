"""Special-meter values at the head-end/MDMS and settlement by difference (reference §1.6).

``SpecialCollector(hes)`` takes the IoT route's pushes (chained on ``HeadEnd.on_other_push``, so
the joint-reading connection server keeps working beside it), decodes each ``SPECIAL_VALUES``
record (``firmware/routes/iot/special_cosem.py``) and stores, in the head-end's SQLite database:

* ``special_meters``: special meter ID (0x028E D1, hex), smart meter, terminal, device class,
  tolerance class (D2: 1..7 = n1..n7), last sync status (DB);
* ``special_registers``: one row per (special meter, slot end): +A / −A cumulative registers (Wh;
  NULL = no data). The first copy wins; later copies are counted (``stats``), never stored twice;
* ``special_events``: the terminals' event-log entries;
* ``special_dr``: ΔA per (special meter, slot) of a demand-response event (negawatt, Wh).

The pushes are unconfirmed datagrams: one lost on the A-route (or in the meter's RAM queue at a
power cut) leaves a hole. ``start()`` runs the gap fill: every ``GAP_EVERY_S`` each run of
missing slots (between a special meter's first stored slot and ``GAP_GRACE_S`` ago, at most 9
days back) is asked again from its terminal — ``HISTORY_REQUEST`` {first, last slot end} through
the meter's IoT gateway (method 1) — and the terminal sends those slots again.

``settlement(store, ...)`` gives per 30-min slot of each smart meter with special meters:
X (receiving point, net import = +A − −A of the meter's own 30-min values), each Aᵢ (the
special meter's net import over the slot, from its register differences: EV charging +, PV
output −), ΣA and **Y = X − ΣAᵢ** (the retailer's share); with ΔA recorded also X − ΔA and
Aᵢ − ΔAᵢ (the DR variant). Any missing input gives no data (None) for what depends on it — never 0.
Reverse flow is signed: X < 0 when the site exports, Aᵢ < 0 when a device delivers.
"""
from __future__ import annotations

import sqlite3
from collections import Counter, deque

from sumame.firmware.routes.iot import codec as c
from sumame.firmware.routes.iot import special_cosem as sc
from sumame.firmware.core.scheduler import sleep
from sumame.firmware.net.dlms import axdr
from sumame.firmware.routes.iot.gateway import CLASS_ID, GATEWAY_LN, IOT_PUSH_LN, RESULT_NAMES
from sumame.hal.jst import format_jst

SCHEMA = """
CREATE TABLE IF NOT EXISTS special_meters(
    id TEXT PRIMARY KEY, meter TEXT NOT NULL, terminal TEXT, device_class INTEGER,
    tolerance_class INTEGER, sync_status INTEGER, last_seen REAL);
CREATE TABLE IF NOT EXISTS special_registers(
    special TEXT NOT NULL, end_at REAL NOT NULL, forward_total_wh REAL, reverse_total_wh REAL,
    status INTEGER NOT NULL, received_at REAL NOT NULL, PRIMARY KEY(special, end_at));
CREATE TABLE IF NOT EXISTS special_events(
    special TEXT NOT NULL, meter TEXT NOT NULL, at REAL NOT NULL, code INTEGER NOT NULL, name TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS special_dr(
    special TEXT NOT NULL, end_at REAL NOT NULL, delta_wh REAL NOT NULL, PRIMARY KEY(special, end_at));
"""
SLOT = 1800
GAP_EVERY_S = 3600.0
GAP_GRACE_S = 2 * SLOT          # a younger slot may still be on its way
GAP_SPAN_S = 9 * 86400          # the terminals keep 10 days
GAP_RUNS = 8                    # requests per terminal per round
MOD = 1_000_000_000
TOLERANCE_NAMES = {i: f"n{i}" for i in range(1, 8)} | {0xFF: "other"}


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


class SpecialCollector:
    def __init__(self, hes):
        self.hes, self.store = hes, hes.store
        ensure_schema(self.store.db)
        self.stats: Counter[str] = Counter()
        self.copies: Counter[tuple[str, float]] = Counter()
        self.log: deque[tuple[float, str]] = deque(maxlen=2000)     # newest notes (bounded)
        prev = hes.on_other_push

        def chained(m, body):
            if prev is not None:
                prev(m, body)
            self.on_push(m, body)
        hes.on_other_push = chained

    def on_push(self, m, body) -> None:
        if body[0].value != IOT_PUSH_LN:
            return
        now = self.hes.clock.now() if hasattr(self.hes, "clock") else 0.0
        for rec in body[2].value:
            tid, kind, mtype, received, payload = (x.value for x in rec.value)
            if mtype not in (c.SPECIAL_VALUES, c.SPECIAL_EVENT):
                continue
            terminal = bytes(tid).decode("ascii", "replace").strip()
            try:
                if mtype == c.SPECIAL_VALUES:
                    self._values(m.id, terminal, sc.decode_values(bytes(payload)), now)
                else:
                    ev = sc.decode_event(bytes(payload))
                    self.store.db.execute("INSERT INTO special_events VALUES (?,?,?,?,?,?)",
                                          (ev.meter_id.hex().upper(), m.id, ev.at, ev.code,
                                           sc.EVENT_NAMES[ev.code], ev.detail))
                    self.stats["events"] += 1
            except c.IotCodecError as exc:
                self.stats["bad-records"] += 1
                self.log.append((now, f"special record from {terminal} via {m.id} refused: {exc}"))
        self.store.commit()

    def _values(self, meter: str, terminal: str, v: sc.SpecialValues, now: float) -> None:
        sid = v.meter_id.hex().upper()
        self.store.db.execute(
            "INSERT INTO special_meters VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
            "meter=excluded.meter, terminal=excluded.terminal, device_class=excluded.device_class, "
            "tolerance_class=excluded.tolerance_class, sync_status=excluded.sync_status, last_seen=excluded.last_seen",
            (sid, meter, terminal, v.device_class, v.tolerance_class, v.sync_status, now))
        for s in v.slots:
            self.copies[(sid, float(s.end))] += 1
            cur = self.store.db.execute("INSERT OR IGNORE INTO special_registers VALUES (?,?,?,?,?,?)",
                                        (sid, float(s.end), s.forward_wh, s.reverse_wh, s.status, now))
            self.stats["slots-stored" if cur.rowcount else "slots-duplicate"] += 1

    # ---------------------------------------------------------------- gap fill
    def start(self, every_s: float = GAP_EVERY_S) -> None:
        self.hes._spawn(self._gap_loop(every_s), "special-gap-fill")

    async def _gap_loop(self, every_s: float) -> None:
        while True:
            await sleep(every_s)
            await self.fill_gaps()

    def missing(self, now: float) -> dict[tuple[str, str], list[tuple[int, int]]]:
        """{(smart meter, terminal): [(first, last) slot ends of each run of missing slots]}."""
        out = {}
        last = int(now - GAP_GRACE_S) // SLOT * SLOT
        for sm in special_meters(self.store):
            if not sm["terminal"]:
                continue
            have = {int(r[0]) for r in self.store.db.execute(
                "SELECT end_at FROM special_registers WHERE special=?", (sm["id"],))}
            if not have:
                continue
            first = max(min(have), last - GAP_SPAN_S)
            runs, start = [], None
            for t in range(first, last + 2 * SLOT, SLOT):
                if t not in have and t <= last:
                    start = t if start is None else start
                elif start is not None:          # a present slot (or past ``last``) ends the run
                    runs.append((start, t - SLOT))
                    start = None
            if runs:
                out[(sm["meter"], sm["terminal"])] = runs[:GAP_RUNS]
        return out

    async def fill_gaps(self) -> int:
        """Ask each terminal for its missing runs; returns the requests the meters queued."""
        queued = 0
        for (meter, terminal), runs in self.missing(self.hes.clock.now()).items():
            tid = terminal.encode("ascii", "replace")[:8].ljust(8, b" ")
            try:
                async with self.hes.session(self.hes.meter(meter)) as s:
                    for first, last in runs:
                        ret = await s.action(CLASS_ID, GATEWAY_LN, 1, axdr.structure(
                            axdr.octet_string(tid), axdr.unsigned(c.HISTORY_REQUEST),
                            axdr.octet_string(c.history_body(first, last))))
                        code = ret.value if ret is not None else -1
                        self.stats["gap-requests"] += 1
                        queued += code == 0
                        self.log.append((self.hes.clock.now(), f"gap fill {terminal} {format_jst(first)}.."
                                         f"{format_jst(last)}: {RESULT_NAMES.get(code, code)}"))
            except Exception as exc:  # noqa: BLE001 - unreachable meter, refused: tried again next round
                self.stats["gap-request-failed"] += 1
                self.log.append((self.hes.clock.now(), f"gap fill {terminal} via {meter}: {type(exc).__name__}: {exc}"))
        return queued

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.copies.values() if n > 1)


def add_delta(store, special: str, end_at: float, delta_wh: float) -> None:
    """Record ΔA (Wh) of a DR event for one special meter and slot."""
    ensure_schema(store.db)
    store.db.execute("INSERT OR REPLACE INTO special_dr VALUES (?,?,?)", (special, float(end_at), float(delta_wh)))


def special_meters(store, meter: str | None = None) -> list[dict]:
    ensure_schema(store.db)
    cols = ("id", "meter", "terminal", "device_class", "tolerance_class", "sync_status", "last_seen")
    rows = store.db.execute("SELECT * FROM special_meters" + (" WHERE meter=?" if meter else "") + " ORDER BY id",
                            (meter,) if meter else ()).fetchall()
    return [dict(zip(cols, r), tolerance=TOLERANCE_NAMES.get(r[4], "?")) for r in rows]


def _delta(regs: dict, end: float, col: int) -> float | None:
    now, before = regs.get(end), regs.get(end - SLOT)
    if now is None or before is None or now[col] is None or before[col] is None:
        return None
    return (now[col] - before[col]) % MOD


def settlement(store, *, meter: str | None = None, start: float | None = None, end: float | None = None) -> list[dict]:
    """Per-slot X, Aᵢ, ΣA, Y (kWh, signed net import; None = no data); see the module docstring."""
    ensure_schema(store.db)
    specials = special_meters(store, meter)
    by_meter: dict[str, list[str]] = {}
    for s in specials:
        by_meter.setdefault(s["meter"], []).append(s["id"])
    regs: dict[str, dict] = {}
    for sid in (s["id"] for s in specials):
        regs[sid] = {r[0]: (r[1], r[2]) for r in store.db.execute(
            "SELECT end_at, forward_total_wh, reverse_total_wh FROM special_registers WHERE special=?", (sid,))}
    dr = {(r[0], r[1]): r[2] for r in store.db.execute("SELECT special, end_at, delta_wh FROM special_dr")}
    out = []
    for m, ids in sorted(by_meter.items()):
        for row in store.intervals(m, 30, start, end):
            t = row["end_at"]
            fwd, rev = row["forward_wh"], row["reverse_wh"]
            x = None if fwd is None or rev is None else fwd - rev
            a = {}
            for sid in ids:
                df, dv = _delta(regs[sid], t, 0), _delta(regs[sid], t, 1)
                a[sid] = None if df is None or dv is None else df - dv
            known = [v for v in a.values() if v is not None]
            sum_a = sum(known) if len(known) == len(a) else None
            y = None if x is None or sum_a is None else x - sum_a
            rec = {"meter": m, "interval_end_jst": format_jst(t, seconds=False), "end_at": t,
                   "x_kwh": _kwh(x), "a_kwh": {sid: _kwh(v) for sid, v in a.items()},
                   "sum_a_kwh": _kwh(sum_a), "y_kwh": _kwh(y)}
            deltas = {sid: dr[(sid, t)] for sid in ids if (sid, t) in dr}
            if deltas:
                d = sum(deltas.values())
                rec["x_minus_delta_kwh"] = _kwh(None if x is None else x - d)
                rec["a_minus_delta_kwh"] = {sid: _kwh(None if a[sid] is None else a[sid] - dv)
                                            for sid, dv in deltas.items()}
            out.append(rec)
    return out


def _kwh(wh: float | None) -> float | None:
    return None if wh is None else round(wh / 1000.0, 6)


def flat_rows(rows: list[dict]) -> tuple[list[str], list[dict]]:
    """(columns, rows) with one ``A_<id>_kwh`` column per special meter (CSV / Parquet / tables)."""
    ids = sorted({sid for r in rows for sid in r["a_kwh"]})
    cols = ["meter", "interval_end_jst", "x_kwh", *(f"A_{sid}_kwh" for sid in ids), "sum_a_kwh", "y_kwh"]
    if any("x_minus_delta_kwh" in r for r in rows):
        cols.append("x_minus_delta_kwh")
    flat = []
    for r in rows:
        f = {k: r.get(k) for k in cols if not k.startswith("A_")}
        for sid in ids:
            f[f"A_{sid}_kwh"] = r["a_kwh"].get(sid)
        flat.append(f)
    return cols, flat


# ---------------------------------------------------------------- CLI output (sumame hes query|export --settlement)
def print_settlement(store, *, meters=None, start=None, end=None, fmt: str = "table") -> int:
    import json
    import sys
    rows = [r for m in (meters or [None]) for r in settlement(store, meter=m, start=start, end=end)]
    if fmt == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    cols, flat = flat_rows(rows)
    if fmt == "csv":
        print(",".join(cols))
        for r in flat:
            print(",".join("" if r[c] is None else str(r[c]) for c in cols))
        return 0
    for sm in special_meters(store):
        print(f"special meter {sm['id']} (terminal {sm['terminal']}, class 0x{sm['device_class']:04X}, "
              f"tolerance {sm['tolerance']}) on {sm['meter']}", file=sys.stderr)
    labels = [c if c in ("meter", "interval_end_jst") else c.removesuffix("_kwh") + " [kWh]" for c in cols]
    widths = [max(len(label), 10) for label in labels]
    print("  ".join(f"{label:>{w}}" for label, w in zip(labels, widths)))
    for r in flat:
        cells = [r[c] if c in ("meter", "interval_end_jst") else ("no data" if r[c] is None else f"{r[c]:.3f}")
                 for c in cols]
        print("  ".join(f"{cell:>{w}}" for cell, w in zip(cells, widths)))
    print(f"{len(flat)} slot(s)", file=sys.stderr)
    return 0


def export_settlement(store, path, fmt: str, start=None, end=None) -> int:
    """CSV or Parquet (pyarrow) of the settlement rows; returns how many slots."""
    cols, flat = flat_rows(settlement(store, start=start, end=end))
    if fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise RuntimeError("Parquet export needs pyarrow: pip install 'sumame[parquet]'") from None
        pq.write_table(pa.Table.from_pylist(flat), str(path))
        return len(flat)
    import csv
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(flat)
    return len(flat)
