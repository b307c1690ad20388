"""Joint-reading connection server (接続サーバ) simulator, between the head-end and the gas/water
companies' MDMS. Server-to-server formats here are our own (the real interface spec is not
public, reference/iot-route.md §4).

* Collects the IoT route's pushes through the head-end (``HeadEnd.on_other_push``) and stores
  every hourly value per terminal for ``retention_days`` (≥ 7); duplicates are counted, kept once.
* Models: ``store`` (store-and-forward: a daily batch per company at ``batch_at_s`` after JST
  midnight, plus late values in the next batch) or ``transparent`` (each value forwarded as it
  arrives). Either way a value reaches its company exactly once (``delivered`` set).
* Gap fill: every ``gap_check_s`` it finds hours missing up to the last uploaded day and asks the
  terminal's history for them (HISTORY_REQUEST through the head-end's gateway method).
* Valve commands from a company (``Company.valve``): sealed by the company with its per-terminal
  key and counter; the server and head-end carry them; the result comes back sealed by the
  terminal and is checked by the company. Every hop logs (server ``log``, head-end command store,
  meter event log, terminal log).
"""
from __future__ import annotations

import csv
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sumame.firmware.net.dlms import axdr
from sumame.firmware.routes.iot import codec as c
from sumame.firmware.routes.iot.gateway import CLASS_ID, GATEWAY_LN, IOT_PUSH_LN, RESULT_NAMES
from sumame.firmware.core.scheduler import sleep, sleep_until
from sumame.hal.jst import format_jst

log = logging.getLogger("sumame.jointread")
HOUR, DAY, JST = 3600, 86400, 9 * 3600


@dataclass
class Company:
    """A gas or water company's MDMS side: its terminals' command keys and counters."""

    name: str
    kind: int
    keys: dict[bytes, bytes] = field(default_factory=dict)          # terminal id -> command key
    counters: Counter = field(default_factory=Counter)
    batches: list[tuple[float, list]] = field(default_factory=list)
    received: dict[tuple[bytes, int], int] = field(default_factory=dict)
    duplicates: int = 0
    alarms: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    def seal(self, tid: bytes, op: int, now: float) -> tuple[int, bytes]:
        self.counters[tid] += 1
        n = self.counters[tid]
        return n, c.SealedCommand(tid, n, op, int(now)).seal(self.keys[tid])

    def take(self, rows: list[tuple[bytes, int, int, int]], at: float) -> None:
        for tid, hour, litres, flags in rows:
            if (tid, hour) in self.received:
                self.duplicates += 1
            self.received[(tid, hour)] = litres
        self.batches.append((at, rows))


@dataclass
class PendingCommand:
    company: Company
    tid: bytes
    counter: int
    op: int
    sent_at: float
    done_at: float | None = None
    ok: bool = False
    answered: bool = False
    """The terminal's authenticated result came back (ok, or refused by its safety rules)."""
    detail: str = ""


class ConnectionServer:
    def __init__(self, scheduler, hes, companies: list[Company], *, meter_of: dict[bytes, str],
                 model: str = "store", retention_days: int = 10, since: float = 0.0,
                 gap_check_s: float = 3 * HOUR, batch_at_s: float = 4 * HOUR, gap_fill: bool = True):
        if model not in ("store", "transparent"):
            raise ValueError("model must be 'store' or 'transparent'")
        self.scheduler, self.clock, self.hes = scheduler, scheduler.clock, hes
        self.companies = {co.kind: co for co in companies}
        self.meter_of = meter_of
        self.model = model
        self.retention_days = retention_days
        self.since = since
        self.gap_check_s, self.batch_at_s, self.gap_fill = gap_check_s, batch_at_s, gap_fill
        self.values: dict[tuple[bytes, int], tuple[int, int, float]] = {}
        self.kind_of: dict[bytes, int] = {}
        self.delivered: set[tuple[bytes, int]] = set()
        self.stats: Counter[str] = Counter()
        self.commands: list[PendingCommand] = []
        self.log: list[tuple[float, str]] = []
        self.tasks: list = []
        self._alarms_seen: set = set()
        hes.on_other_push = self.on_push

    def start(self) -> None:
        spawn = self.scheduler.spawn
        self.tasks += [spawn(self._batches(), name="jointread-batch", group="jointread"),
                       spawn(self._gap_checks(), name="jointread-gaps", group="jointread")]

    def _note(self, text: str) -> None:
        self.log.append((self.clock.now(), text))
        log.info("%s", text)

    # ---------------------------------------------------------------- uplink
    def on_push(self, m, body) -> None:
        if body[0].value != IOT_PUSH_LN:
            return
        now = self.clock.now()
        self.stats["pushes"] += 1
        for rec in body[2].value:
            tid, kind, mtype, received, payload = (x.value for x in rec.value)
            tid, payload = bytes(tid), bytes(payload)
            try:
                self._record(tid, kind, mtype, received, payload, now)
            except c.IotCodecError as exc:
                self.stats["bad-records"] += 1
                self._note(f"record from {tid!r} via {m.id} refused: {exc}")

    def _record(self, tid: bytes, kind: int, mtype: int, received: float, payload: bytes, now: float) -> None:
        if kind in self.companies:
            self.kind_of[tid] = kind
        if mtype == c.VALUES:
            values = c.Values.decode(payload)
            fresh = []
            for hour, litres, flags in values.hours():
                key = (tid, hour)
                if key in self.values:
                    self.stats["values-duplicate"] += 1
                    continue
                self.values[key] = (litres, flags, now)
                self.stats["values"] += 1
                fresh.append(key)
            if self.model == "transparent":
                self._deliver(fresh, now)
        elif mtype == c.ALARM:
            alarm = c.Alarm.decode(payload)
            key = (tid, alarm.code, alarm.at)
            if key in self._alarms_seen:             # repeated by the terminal (its ACK was lost)
                self.stats["alarms-duplicate"] += 1
                return
            self._alarms_seen.add(key)
            co = self.companies.get(kind)
            entry = {"terminal": tid.decode().strip(), "alarm": c.ALARM_NAMES[alarm.code], "at": alarm.at,
                     "received": now, "latency_s": now - alarm.at}
            self.stats["alarms"] += 1
            if co is not None:
                co.alarms.append(entry)
            self._note(f"alarm {entry['alarm']} from {entry['terminal']} after {entry['latency_s']:.0f} s")
        elif mtype == c.COMMAND_RESULT:
            self._result(tid, payload, now)

    def _result(self, tid: bytes, blob: bytes, now: float) -> None:
        _, counter = c.result_terminal(blob)
        cmd = next((p for p in self.commands if p.tid == tid and p.counter == counter), None)
        if cmd is None:
            self.stats["results-unmatched"] += 1
            return
        try:
            res = c.open_result(cmd.company.keys[tid], blob)
        except c.IotCodecError as exc:
            self.stats["results-forged"] += 1
            self._note(f"result for {tid!r} #{counter} rejected by {cmd.company.name}: {exc}")
            return
        if cmd.done_at is not None:
            self.stats["results-duplicate"] += 1
            return
        cmd.done_at, cmd.ok, cmd.answered = now, res.result == c.RESULT_OK, True
        cmd.detail = f"terminal: {c.RESULT_NAMES[res.result]}, valve {'open' if res.valve_open else 'closed'}"
        cmd.company.results.append({"terminal": tid.decode().strip(), "counter": counter,
                                    "result": c.RESULT_NAMES[res.result], "valve_open": res.valve_open,
                                    "round_trip_s": now - cmd.sent_at})
        self._note(f"valve {c.OP_NAMES[cmd.op]} #{counter} for {tid.decode().strip()}: {cmd.detail} "
                   f"({now - cmd.sent_at:.0f} s)")

    # ---------------------------------------------------------------- delivery to companies
    def _deliver(self, keys, now: float) -> int:
        per: dict[int, list] = defaultdict(list)
        for key in sorted(keys):
            if key in self.delivered:
                continue
            tid, hour = key
            litres, flags, _ = self.values[key]
            per[self.kind_of.get(tid, 0)].append((tid, hour, litres, flags))
            self.delivered.add(key)
        for kind, rows in per.items():
            co = self.companies.get(kind)
            if co is not None and rows:
                co.take(rows, now)
        return sum(len(r) for r in per.values())

    async def _batches(self) -> None:
        while True:
            now = self.clock.now()
            midnight = (int(now + JST) // DAY) * DAY - JST
            at = midnight + self.batch_at_s
            if at <= now:
                at += DAY
            await sleep_until(at)
            n = self._deliver([k for k in self.values if k not in self.delivered], self.clock.now())
            self._prune()
            self._note(f"daily batch: {n} hourly values delivered")

    def _prune(self) -> None:
        horizon = self.clock.now() - self.retention_days * DAY
        for key in [k for k, v in self.values.items() if k[1] < horizon]:
            del self.values[key]

    # ---------------------------------------------------------------- gap fill
    def uploaded_until(self, now: float) -> int:
        """The last hour whose daily upload should have arrived (previous JST day's end)."""
        midnight = (int(now + JST) // DAY) * DAY - JST
        return midnight if now - midnight >= 2 * HOUR else midnight - DAY

    def missing(self, tid: bytes, now: float) -> list[int]:
        last = self.uploaded_until(now)
        first = max(self.since, now - 7 * DAY)
        first = int(first // HOUR * HOUR + (HOUR if first % HOUR else 0))
        return [h for h in range(first, last + 1, HOUR) if (tid, h) not in self.values]

    async def _gap_checks(self) -> None:
        while True:
            await sleep(self.gap_check_s)
            if self.gap_fill:
                await self.fill_gaps()

    async def fill_gaps(self) -> int:
        now = self.clock.now()
        asked = 0
        for tid, meter in self.meter_of.items():
            if tid not in self.kind_of and tid not in self._known():
                continue
            gaps = self.missing(tid, now)
            if not gaps:
                continue
            first, last = gaps[0], min(gaps[-1], gaps[0] + 2 * DAY - HOUR)
            ok, detail = await self.submit(meter, tid, c.HISTORY_REQUEST, c.history_body(first, last))
            self.stats["gap-requests"] += 1
            self._note(f"gap fill {tid.decode().strip()} {len(gaps)} h missing, asked {first}..{last}: {detail}")
            asked += ok
        return asked

    def _known(self) -> set:
        return {t for co in self.companies.values() for t in co.keys}

    # ---------------------------------------------------------------- downlink through the head-end
    async def submit(self, meter_id: str, tid: bytes, mtype: int, body: bytes) -> tuple[bool, str]:
        hes = self.hes
        try:
            m = hes.meter(meter_id)
            async with hes.session(m) as s:
                ret = await s.action(CLASS_ID, GATEWAY_LN, 1, axdr.structure(
                    axdr.octet_string(tid), axdr.unsigned(mtype), axdr.octet_string(body)))
            code = ret.value if ret is not None else -1
            ok, detail = code == 0, f"meter: {RESULT_NAMES.get(code, code)}"
        except Exception as exc:  # noqa: BLE001 - DlmsRefused, timeouts, unknown meter: all reported
            ok, detail = False, f"head-end: {type(exc).__name__}: {exc}"
        hes.store.add_command(meter_id, self.clock.now(), f"iot-{c.NAMES.get(mtype, mtype)}",
                              tid.decode(errors="replace").strip(), ok, detail)
        return ok, detail

    async def valve(self, company: Company, tid: bytes, op: int) -> PendingCommand:
        """Send a sealed valve command. A company may command only its own terminals: another
        company's terminal (or an unknown one) is refused here, logged, never sent."""
        now = self.clock.now()
        if tid not in company.keys or tid not in self.meter_of:
            cmd = PendingCommand(company, tid, 0, op, now)
            cmd.done_at, cmd.detail = now, f"refused: {tid.decode(errors='replace').strip()!r} is not a terminal of {company.name}"
            self.commands.append(cmd)
            self._note(f"valve {c.OP_NAMES.get(op, op)} from {company.name}: {cmd.detail}")
            return cmd
        counter, blob = company.seal(tid, op, now)
        cmd = PendingCommand(company, tid, counter, op, now)
        self.commands.append(cmd)
        ok, detail = await self.submit(self.meter_of[tid], tid, c.COMMAND, blob)
        if not ok:
            cmd.done_at, cmd.detail = now, detail
        self._note(f"valve {c.OP_NAMES[op]} #{counter} for {tid.decode().strip()} from {company.name}: {detail}")
        return cmd

    async def terminal_table(self, meter_id: str) -> dict[str, dict]:
        """The meter's IoT terminal table (gateway attribute 2) through the head-end; {} when
        the meter cannot be reached."""
        try:
            m = self.hes.meter(meter_id)
            async with self.hes.session(m) as s:
                rows = await s.get(CLASS_ID, GATEWAY_LN, 2)
        except Exception:  # noqa: BLE001 - unreachable: the caller waits and asks again
            return {}
        out = {}
        for row in rows.value:
            tid, kind, joined, hops, cut, seen = (x.value for x in row.value)
            out[bytes(tid).decode(errors="replace").strip()] = {
                "kind": kind, "joined": bool(joined), "hops": hops, "cut_off": bool(cut), "last_seen": seen}
        return out

    async def cut_off(self, tid: bytes, cut: bool = True) -> tuple[bool, str]:
        """Cut a terminal off the IoT route (or reconnect it) through the head-end's gateway."""
        meter_id = self.meter_of[tid]
        try:
            m = self.hes.meter(meter_id)
            async with self.hes.session(m) as s:
                ret = await s.action(CLASS_ID, GATEWAY_LN, 2 if cut else 3, axdr.octet_string(tid))
            ok, detail = ret is not None and ret.value == 0, "done" if ret is not None and ret.value == 0 else "unknown"
        except Exception as exc:  # noqa: BLE001 - reported
            ok, detail = False, f"head-end: {type(exc).__name__}: {exc}"
        self.hes.store.add_command(meter_id, self.clock.now(), "iot-cut-off" if cut else "iot-reconnect",
                                   tid.decode(errors="replace").strip(), ok, detail)
        self._note(f"{'cut off' if cut else 'reconnect'} {tid.decode().strip()}: {detail}")
        return ok, detail

    async def raw_command(self, tid: bytes, blob: bytes) -> tuple[bool, str]:
        """Send a command blob as is (tests: replays, forged tags)."""
        return await self.submit(self.meter_of[tid], tid, c.COMMAND, blob)

    # ---------------------------------------------------------------- outputs
    def query(self, terminal: str | None = None, start: float = 0, end: float = float("inf")) -> list[dict]:
        """Stored hourly values (item/period query): terminal ID (None = all), [start, end);
        ``hour_end`` epoch s and ``hour_end_jst`` text (as ``sumame hes export``), volumes m³."""
        rows = []
        for (tid, hour), (litres, flags, at) in sorted(self.values.items()):
            name = tid.decode().strip()
            if (terminal is None or name == terminal) and start <= hour < end:
                rows.append({"terminal": name, "kind": c.KIND_NAMES.get(self.kind_of.get(tid, 0), "?"),
                             "hour_end": hour, "hour_end_jst": format_jst(hour, seconds=False), "cubic_m": litres / 1000, "abnormal": bool(flags & c.FLAG_ABNORMAL),
                             "valve_closed": bool(flags & c.FLAG_VALVE_CLOSED), "received": at})
        return rows

    def export(self, path: str | Path) -> int:
        """CSV (or Parquet by suffix, needs pyarrow) of every stored value."""
        rows = self.query()
        path = Path(path)
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq
            pq.write_table(pa.Table.from_pylist(rows), path)
            return len(rows)
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["terminal"])
            w.writeheader()
            w.writerows(rows)
        return len(rows)
