"""The head-end simulator's collection logic (HES / MDMS side of the A-route).

``HeadEnd(scheduler, store, config, network=None)`` runs as tasks on a scheduler (virtual time
with the in-process network, or real time with sockets) and, for every meter added with
``add_meter(target)``:

* discovery: public association -> device ID -> keys (``config.keys``) -> HLS-GMAC ciphered
  association -> supply point, soft switch, the profiles' capture objects and every register's
  scaler-unit (so rows are decoded from what the meter declares, not from assumptions);
* receives the interval pushes (and alarm pushes), stores every row once, and marks whether it
  arrived within its deadline (30-min values: 60 min LV / 30 min HV);
* ``check_delay_s`` after every 30-min boundary, chases meters whose value is missing: polls
  them (range read of the missing rows + the supply status); no answer -> a second poll
  ``double_check_s`` later -> still none: **outage** declared (start = last contact, refined later
  from the meter's own record). A row that arrives with no data also triggers a status poll, so
  an outage shorter than a push period is found too;
* polls meters in outage every ``outage_poll_s``; the first answer (or a "power restored" alarm
  push) is the **restoration**: the meter's own outage record gives the start and end times, the
  rows of the gap are fetched, the power event log is read;
* 5-minute data: ``realtime_share`` of the meters every 5 min (deadline 10 min),
  ``history_share`` every ``history_interval_s`` (deadline ``history_deadline_s``);
* routine liveness polls every ``liveness_interval_s``; commands (open / close / ampere limit,
  soft switch) on request, always over the ciphered HLS association.

Everything goes to the ``HesStore``; counters in ``stats``.
"""
from __future__ import annotations

import logging
import os
import socket
import sqlite3
import time
import uuid
from functools import lru_cache
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.acse import Mechanism
from sumame.firmware.net.dlms.axdr import Data, DataType
from sumame.firmware.net.dlms.client import ClientSettings, DlmsClient
from sumame.firmware.net.dlms.cosem_time import octets_to_epoch
from sumame.firmware.net.dlms.errors import DlmsError, SecurityError
from sumame.firmware.net.dlms.notify import DataNotification
from sumame.firmware.net.dlms.security import TxCounter
from sumame.firmware.net.dlms.wrapper import WrapperPdu
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.routes.aroute.keys import HES_SYSTEM_TITLE, ARouteSecrets, derived_secrets
from sumame.firmware.routes.aroute.server import HES_SAP, PUBLIC_SAP
from sumame.firmware.core.scheduler import Priority, Queue, sleep, sleep_until
from sumame.hal.jst import floor_boundary, next_boundary

from .links import MeterTarget
from .session import ROWS_PER_READ, DlmsRefused, DlmsSession, MeterSession, range_access
from .outage import OutageTracking
from .db.values import PersistedCounter, spread, status_dict, status_text
from .db.store import HesStore
from ..log_limit import LogLimit

log = logging.getLogger("sumame.hes")

_interval_end = lru_cache(maxsize=4096)(octets_to_epoch)
"""Interval ends repeat across pushes and meters (every meter ends its 30 min at the same
boundary): the date-time octets are parsed once. Malformed octets raise, and are not cached."""
GROUP = "hes"
CHASE, RESTORE, REALTIME, HISTORY, LIVENESS, DISCOVER, STATUS = (
    "chase", "restore", "realtime", "history", "liveness", "discover", "status")

COLUMN_OF = {(8, oc.CLOCK): "end_at",
             (3, oc.ACTIVE_IMPORT_INTERVAL): "forward_wh", (3, oc.ACTIVE_EXPORT_INTERVAL): "reverse_wh",
             (3, oc.REACTIVE_LAG_INTERVAL): "reactive_varh", (3, oc.ACTIVE_IMPORT): "forward_total_wh",
             (3, oc.ACTIVE_EXPORT): "reverse_total_wh", (3, oc.REACTIVE_LAG): "reactive_total_varh",
             (3, oc.VOLTAGE_R_AVG): "voltage_r_v", (3, oc.VOLTAGE_T_AVG): "voltage_t_v"}
ENERGY_COLUMNS = ("forward_wh", "reverse_wh", "reactive_varh")
GAP_WINDOW_S = 2 * 86400.0
"""How far back a poll looks for holes in the stored rows, s."""
PUSH_STORE_RETRY_S = 1.0
"""A push the store could not take (database locked by another process) is retried after, s."""
LEASE_S = 120.0
"""A ciphered session's lease on its meter in a shared store lasts this long (host wall s; a
process that died holding one delays the others' sessions with that meter at most this long)."""
LEASE_RETRY_S = 0.05
"""How often a session waiting for another process's lease on its meter asks again, wall s."""


@dataclass
class HesConfig:
    """Times in s. ``push_address``: where the head-end receives pushes (the meters' ``hes``).
    ``keys(serial) -> ARouteSecrets``: the head-end's key store (default: the emulator's derived
    keys)."""

    push_address: str = "127.0.0.1:4060"
    check_delay_s: float = 1200.0
    double_check_s: float = 60.0
    outage_poll_s: float = 300.0
    liveness_interval_s: float = 6 * 3600.0
    realtime_share: float = 0.03
    history_share: float = 0.10
    realtime_delay_s: float = 60.0
    history_interval_s: float = 6 * 3600.0
    deadline_lv_s: float = 3600.0
    deadline_hv_s: float = 1800.0
    realtime_deadline_s: float = 600.0
    history_deadline_s: float = 3 * 86400.0
    workers: int = 8
    timeout_s: float = 20.0
    keys: Callable[[str], ARouteSecrets] = derived_secrets
    alternate_keys: Callable[[str], ARouteSecrets | None] | None = None
    """Keys the head-end is unsure of (a renewal cut before the meter confirmed it,
    ``tools/hes/db/keystore.py``): tried when the meter refuses ``keys``."""
    keys_confirmed: Callable[[str, ARouteSecrets], None] | None = None
    """Called with the keys an association with the meter just worked with."""
    shared_store: bool = False
    """Other head-end processes use the same store (``hes run`` and the one-shot CLI commands):
    each ciphered session first takes a lease on its meter in the store, so sessions of two
    processes with one meter never interleave (the meter refuses an invocation counter not above
    the last it accepted). Off for a store only this process uses (virtual-time fleets)."""


def five_min_shares(ids: list[str], config: HesConfig) -> tuple[set[str], set[str]]:
    """(near-real-time, history) meter ids of ``ids`` (sorted) for 5-min collection: the
    configured shares spread evenly in id order; the near-real-time ones count as history too.
    Deterministic and known before a run (``fleet/shard.py`` balances shards by it)."""
    realtime = spread(ids, int(round(config.realtime_share * len(ids))))
    history = set(realtime)
    others = [i for i in ids if i not in history]
    history |= set(spread(others, max(0, int(round(config.history_share * len(ids))) - len(history))))
    return set(realtime), history


@dataclass
class MeterState:
    id: str
    target: MeterTarget
    kind: str | None = None
    secrets: ARouteSecrets | None = None
    serial: str | None = None
    supply_point: str | None = None
    receiving_point: str | None = None
    grid: int = 30
    columns: dict = field(default_factory=dict)     # minutes -> [(column name | None, scaler)]
    realtime: bool = False
    history: bool = False
    since: float = 0.0                               # first boundary the head-end expects
    last_seen: float | None = None
    outage_id: int | None = None
    outage_start_estimate: float | None = None
    last_fail_seen: float | None = None
    pending: set = field(default_factory=set)
    tx_counter: TxCounter | None = None
    push_client: DlmsClient | None = None
    lock: Queue | None = None                        # one association at a time
    failure: str | None = None                       # why discovery gave up (e.g. no keys)

    @property
    def ready(self) -> bool:
        return self.secrets is not None and bool(self.columns)

    @property
    def in_outage(self) -> bool:
        return self.outage_id is not None


class HeadEnd(OutageTracking):
    def __init__(self, scheduler, store: HesStore | None = None, config: HesConfig | None = None, *,
                 network=None):
        self.scheduler, self.clock = scheduler, scheduler.clock
        self.store = store or HesStore()
        self.config = config or HesConfig()
        self.network = network
        self.meters: dict[str, MeterState] = {}
        self.by_title: dict[bytes, MeterState] = {}
        self.by_serial: dict[str, MeterState] = {}
        self.jobs: Queue = Queue()
        self.push_inbox: Queue = Queue()
        self.stats: Counter[str] = Counter()
        self._push_log = LogLimit(log)
        """Rejected pushes: one line per kind every 10 wall s (a fleet of unknown meters floods)."""
        self.tasks: list = []
        self.push_server = None
        self._counters: dict[str, TxCounter] = {}
        self._locks: dict[str, Queue] = {}
        self.lease_holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held = None             # (sender, meter, body): an opened push not stored yet
        self._receiver = None         # the push receiver task (hes-push)
        self.on_other_push = None
        """``(meter state, push body values)`` for pushes of other push setups (IoT route)."""

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        spawn = self._spawn
        if self.network is not None:
            self.network.listen(self.config.push_address, self.push_inbox)
        elif self.config.push_address:
            from .links import PushListener
            self.push_server = PushListener(self.scheduler, self.config.push_address, self.push_inbox)
        for i in range(self.config.workers):
            spawn(self._worker(), f"hes-worker-{i}")
        self._receiver = spawn(self._push_receiver(), "hes-push")
        spawn(self._checker(), "hes-check")
        spawn(self._outage_poller(), "hes-outage-poll")
        spawn(self._realtime(), "hes-realtime")
        spawn(self._history(), "hes-history")
        spawn(self._liveness(), "hes-liveness")
        spawn(self._retention(), "hes-retention")

    def _spawn(self, coro, name: str):
        task = self.scheduler.spawn(coro, name=name, priority=Priority.ROUTE, group=GROUP)
        self.tasks.append(task)
        return task

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        if self.push_server is not None:
            self.push_server.close()
        self.store.commit()

    # ---------------------------------------------------------------- inventory
    def add_meter(self, target: MeterTarget | str, *, kind: str | None = None, realtime: bool = False,
                  history: bool = False, since: float | None = None) -> MeterState:
        """Register a meter and queue its discovery (``realtime`` / ``history``: 5-min collection;
        ``since``: the first interval end the head-end collects, default the next 30-min boundary)."""
        target = MeterTarget.parse(target) if isinstance(target, str) else target
        m = MeterState(str(target), target, kind=kind, realtime=realtime, history=history or realtime,
                       since=float(next_boundary(self.clock.now(), 30) if since is None else since))
        self.meters[m.id] = m
        self._queue(m, DISCOVER, self._discover)
        return m

    def choose_5min(self, ids: list[str] | None = None) -> None:
        """Mark the configured shares of the meters for 5-minute collection, spread evenly over
        the meters in id order (deterministic; ``ids``: the whole fleet's, for a head-end shard): ``realtime_share`` near-real-time, and as many
        more as make ``history_share`` in all (the near-real-time ones count as history too)."""
        ids = sorted(ids or self.meters)
        realtime, history = five_min_shares(ids, self.config)
        for mid in ids:
            if mid not in self.meters:       # a head-end shard: chosen over the whole fleet, kept its own
                continue
            self.meters[mid].realtime = mid in realtime
            self.meters[mid].history = mid in history

    def deadline(self, m: MeterState) -> float:
        return self.config.deadline_hv_s if m.kind == "hv" else self.config.deadline_lv_s

    # ---------------------------------------------------------------- jobs
    def _queue(self, m: MeterState, kind: str, fn, *args) -> bool:
        if kind in m.pending:
            return False
        m.pending.add(kind)
        self.jobs.put_nowait((m, kind, fn, args))
        return True

    async def _worker(self) -> None:
        while True:
            m, kind, fn, args = await self.jobs.get()
            try:
                await fn(m, *args)
            except Exception as exc:  # noqa: BLE001 - one meter's trouble must not stop the head-end
                self.stats[f"job_error_{kind}"] += 1
                log.warning("%s job for %s failed: %s", kind, m.id, exc)
            finally:
                m.pending.discard(kind)

    def _settings(self, m: MeterState, public: bool = False) -> ClientSettings:
        if public:
            return ClientSettings(client_sap=PUBLIC_SAP)
        if m.tx_counter is None:        # one counter per meter key, i.e. per serial (not per address)
            key = m.serial or m.id
            if key not in self._counters:
                self._counters[key] = PersistedCounter(lambda n: self.store.reserve_tx_block(key, n),
                                                        lambda: self.store.tx_ceiling(key))
            m.tx_counter = self._counters[key]
        if isinstance(m.tx_counter, PersistedCounter):
            m.tx_counter.resync()       # another head-end process on this store may have used some
        s = m.secrets
        return ClientSettings(client_sap=HES_SAP, mechanism=Mechanism.HIGH_GMAC, ciphered=True,
                              system_title=HES_SYSTEM_TITLE, ek=s.ek, ak=s.ak, tx_counter=m.tx_counter)

    async def take_lease(self, m: MeterState) -> None:
        """Wait until this process holds the store's lease on ``m`` (``config.shared_store``);
        at most ``LEASE_S`` wall s, when another holder's lease runs out."""
        key = m.serial or m.id
        while True:
            now = time.time()
            if self.store.take_lease(key, self.lease_holder, now + LEASE_S, now):
                return
            self.stats["lease_waits"] += 1
            await sleep(LEASE_RETRY_S * getattr(self.clock, "ratio", 1.0))

    def drop_lease(self, m: MeterState) -> None:
        self.store.drop_lease(m.serial or m.id, self.lease_holder)

    def session(self, m: MeterState, public: bool = False) -> "MeterSession":
        """``async with head_end.session(meter) as s:`` — connected and associated; raises OSError /
        TimeoutError when the meter does not answer, DlmsError when it refuses. One association
        per meter at a time: the invocation counter towards a meter must reach it in order."""
        return MeterSession(self, m, public)

    async def resolved_session(self, m: MeterState) -> "_Opened":
        """A ciphered association with ``m.secrets``; when the meter refuses them and the key
        store holds keys it is unsure of (``config.alternate_keys``), the association is retried
        with those, and the keys that worked are reported (``config.keys_confirmed``)."""
        tried = [m.secrets]
        alternate = self.config.alternate_keys(m.serial) if self.config.alternate_keys else None
        if alternate is not None and alternate != m.secrets:
            tried.append(alternate)
        for i, secrets in enumerate(tried):
            m.secrets = secrets
            ctx = self.session(m)
            try:
                s = await ctx.__aenter__()
            except (SecurityError, TimeoutError) as exc:
                if i + 1 == len(tried):
                    raise
                log.info("%s refused its current keys (%s): trying the renewed ones", m.id, exc)
                self.stats["key_retries"] += 1
                continue
            if self.config.keys_confirmed is not None:
                self.config.keys_confirmed(m.serial, secrets)
            if m.push_client is not None:
                m.push_client = DlmsClient(ClientSettings(ek=secrets.ek, ak=secrets.ak))
            return _Opened(ctx, s)
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- discovery
    async def _discover(self, m: MeterState) -> None:
        delay = self.config.double_check_s
        while True:
            try:
                return await self._discover_once(m)
            except LookupError as exc:                  # no keys for this meter: retrying cannot help
                m.failure = str(exc).strip("'\"")
                log.warning("discovery of %s: %s", m.id, m.failure)
                return
            except SecurityError as exc:               # the meter refuses the keys we hold
                m.failure = f"the meter refused the head-end's A-route keys ({exc})"
                log.warning("discovery of %s: %s", m.id, m.failure)
                return
            except (OSError, TimeoutError) as exc:
                self.stats["discovery_retries"] += 1
                log.info("discovery of %s: %s; retrying in %.0f s", m.id, exc, delay)
                await sleep(delay)
                delay = min(delay * 2, self.config.outage_poll_s)

    async def _discover_once(self, m: MeterState) -> None:
        async with self.session(m, public=True) as s:
            m.serial = (await s.get(1, oc.DEVICE_ID, 2)).value
        m.secrets = self.config.keys(m.serial)
        async with await self.resolved_session(m) as s:
            sp, rp, soft, *captures = await s.get_list(
                [(1, oc.SUPPLY_POINT_NUMBER, 2), (1, oc.RECEIVING_POINT_NUMBER, 2), (1, oc.SOFT_SWITCH, 2)]
                + [(7, oc.PROFILE_BY_MINUTES[g], 3) for g in (30, 15, 5)])
            m.supply_point = sp.value if isinstance(sp, Data) else None
            m.receiving_point = (rp.value or None) if isinstance(rp, Data) else None   # "": no sold generation
            m.grid = soft.value if isinstance(soft, Data) else 30
            defs = {g: [] if isinstance(c, int) else [(i.value[0].value, i.value[1].value) for i in c.value]
                    for g, c in zip((30, 15, 5), captures)}
            registers = sorted({ln for cols in defs.values() for cid, ln in cols if cid == 3})
            scalers = dict(zip(registers, await s.get_list([(3, ln, 3) for ln in registers])))
        for g, cols in defs.items():
            m.columns[g] = [(COLUMN_OF.get((cid, ln)),
                             scalers[ln].value[0].value if cid == 3 and isinstance(scalers.get(ln), Data) else 0)
                            for cid, ln in cols]
        if m.kind is None:   # HV meters record reactive energy every 30 min (see profiles_model)
            m.kind = "hv" if any(c == "reactive_varh" for c, _ in m.columns[30]) else "lv"
        self.meters.pop(m.id, None)
        self.meters[m.id] = m
        self.by_title[m.secrets.system_title] = m
        self.by_serial[m.serial] = m
        m.push_client = DlmsClient(ClientSettings(ek=m.secrets.ek, ak=m.secrets.ak))
        m.last_seen = self.clock.now()
        self.store.add_meter(m.id, str(m.target), serial=m.serial, kind=m.kind, supply_point=m.supply_point,
                             system_title=m.secrets.system_title, grid=m.grid,
                             info={"realtime": m.realtime, "history": m.history,
                                   "receiving_point": m.receiving_point}, now=self.clock.now())
        self.stats["discovered"] += 1

    # ---------------------------------------------------------------- rows
    def decode_rows(self, m: MeterState, minutes: int, rows: Data) -> list[tuple[float, dict]]:
        """Profile rows -> [(interval end epoch s, {column: value in Wh / varh / V or None})],
        using the capture objects and scalers the meter declared at discovery."""
        cols = m.columns.get(minutes) or []
        out = []
        for row in rows.value:
            values, end = {}, None
            for (name, scaler), cell in zip(cols, row.value):
                if name == "end_at":
                    end = _interval_end(bytes(cell.value))
                elif name is not None:
                    values[name] = None if cell.type is DataType.NULL else cell.value * 10.0 ** scaler
            if end is not None:
                out.append((end, values))
        return out

    def _store_rows(self, m: MeterState, minutes: int, rows: Data, source: str, deadline: float) -> int:
        now = self.clock.now()
        new = 0
        for end, values in self.decode_rows(m, minutes, rows):
            if end < m.since:
                continue
            if self.store.put_interval(m.id, minutes, end, values, received_at=now, source=source,
                                       deadline_s=deadline):
                new += 1
                if minutes == m.grid and all(values.get(c) is None for c in ENERGY_COLUMNS):
                    self.stats["no_data_rows"] += 1
                    if not m.in_outage:
                        self._queue(m, STATUS, self._status)
        self.stats[f"rows_{source}"] += new
        return new

    async def _read_range(self, s: DlmsSession, m: MeterState, minutes: int, source: str, deadline: float) -> int:
        """Fetch the rows of ``minutes`` data the store lacks (holes of the last ``GAP_WINDOW_S``
        and everything after the last stored row), up to the latest boundary."""
        latest = floor_boundary(self.clock.now(), minutes)
        missing = self.store.missing(m.id, minutes, max(m.since, latest - GAP_WINDOW_S), latest)
        if not missing:
            return 0
        first = missing[0]
        last = min(latest, first + (ROWS_PER_READ - 1) * minutes * 60)   # the rest at the next poll
        rows = await s.get(7, oc.PROFILE_BY_MINUTES[minutes], 2, range_access(first, last))
        return self._store_rows(m, minutes, rows, source, deadline)

    # ---------------------------------------------------------------- pushes
    async def _push_receiver(self) -> None:
        while True:
            sender, data = await self.push_inbox.get()
            opened = self._open_or_reject(sender, data)
            if opened is None:
                continue
            self._held = (sender, *opened)   # deciphered once (its invocation counter is spent): keep it
            while not self._store_push(*self._held):
                await sleep(PUSH_STORE_RETRY_S)
            self._held = None

    def _open_or_reject(self, sender, data: bytes):
        try:
            return self._open_push(data)
        except (DlmsError, ValueError, IndexError, AttributeError, TypeError) as exc:
            self.stats["bad_pushes"] += 1
            self._push_log.warning(type(exc).__name__, f"push from {sender} rejected: {exc}")
            return None

    def _store_push(self, sender, m: MeterState, body: list) -> bool:
        """Ingest an opened push; False when the store could not take it yet (retry the same)."""
        try:
            self._ingest_push(m, body)
        except sqlite3.Error as exc:     # e.g. "database is locked" by another head-end process
            self.stats["push_store_retries"] += 1
            log.warning("push from %s not stored yet (%s): retrying in %g s (later pushes wait)",
                        sender, exc, PUSH_STORE_RETRY_S)
            return False
        except (DlmsError, ValueError, IndexError, AttributeError, TypeError) as exc:
            self.stats["bad_pushes"] += 1
            self._push_log.warning(type(exc).__name__, f"push from {sender} rejected: {exc}")
        return True

    def finish_pushes(self, budget_s: float = 60.0) -> int:
        """At shutdown, with the loop stopped: store the push the receiver holds, every datagram
        still in the push socket and every queued push (each opened once; a store error retried
        for up to ``budget_s`` wall s in all), so every push that arrived is accounted for.
        Returns how many queued pushes were taken."""
        if self.push_server is not None:
            self.push_server.drain()
        give_up = time.monotonic() + budget_s
        taken = 0
        receiver = self._receiver
        handed = receiver.take_handed() if receiver is not None and not receiver.done else None
        first = [handed] if isinstance(handed, tuple) else []   # given to the receiver, not run yet
        while self._held is not None or first or len(self.push_inbox):
            if self._held is None:
                sender, data = first.pop() if first else self.push_inbox.get_nowait()
                taken += 1
                opened = self._open_or_reject(sender, data)
                if opened is None:
                    continue
                self._held = (sender, *opened)
            if self._store_push(*self._held):
                self._held = None
            elif time.monotonic() > give_up:
                self.stats["pushes_not_stored_at_exit"] += 1
                self._held = None
            else:
                time.sleep(PUSH_STORE_RETRY_S)
        return taken

    def on_push(self, data: bytes) -> None:
        """Decipher, check and store one push (wrapper PDU bytes); raises on a bad push."""
        self._ingest_push(*self._open_push(data))

    def _open_push(self, data: bytes) -> tuple[MeterState, list]:
        """The sending meter and the push body values; deciphering spends the push's invocation
        counter, so a push is opened once (a retried store must not open it again)."""
        apdu = WrapperPdu.decode(data).apdu
        if apdu[:1] == b"\xDB":
            m = self.by_title.get(bytes(apdu[2:10]))
        else:
            m = None
        if m is None:
            self.stats["pushes_unknown_sender"] += 1
            raise ValueError("push from a meter the head-end does not know (or not ciphered)")
        note = m.push_client.parse_notification(apdu)
        if not isinstance(note, DataNotification):
            raise ValueError(f"unexpected push APDU {type(note).__name__}")
        self.stats["pushes"] += 1
        return m, note.body.value

    def _ingest_push(self, m: MeterState, body: list) -> None:
        """Act on an opened push; the store is written before any state changes, so a store error
        (sqlite3.Error) leaves nothing half done and the same call can be retried."""
        now = self.clock.now()
        came_back = m.in_outage
        m.last_seen = now
        if body[0].value not in (oc.PUSH_INTERVAL, oc.PUSH_ALARM) and self.on_other_push is not None:
            self.on_other_push(m, body)        # e.g. the IoT route's pushes (tools/jointread_hes.py)
        elif body[0].value == oc.PUSH_INTERVAL:
            minutes = body[2].value
            m.grid = minutes
            self._store_rows(m, minutes, body[3], "push", self.deadline(m))
        elif body[0].value == oc.PUSH_ALARM:
            code = body[2].value
            status = status_dict(body[3])
            if code == 1 and not m.in_outage:            # last gasp: power failed
                self._open_outage(m, status["last_power_fail"] or now, "last-gasp push", "meter")
                came_back = False
            elif code == 2:
                came_back = True
                if not m.in_outage:          # back before the head-end noticed: learn what happened
                    self._queue(m, STATUS, self._status, "power-restored alarm")
            self.stats["alarms"] += 1
        if came_back and m.in_outage:
            self._queue(m, RESTORE, self._restore)

    # ---------------------------------------------------------------- 5-minute data
    async def _realtime(self) -> None:
        while True:
            await sleep_until(next_boundary(self.clock.now(), 5) + self.config.realtime_delay_s)
            for m in list(self.meters.values()):
                if m.ready and m.realtime and not m.in_outage:
                    self._queue(m, REALTIME, self._collect_5min, self.config.realtime_deadline_s)

    async def _history(self) -> None:
        while True:
            await sleep(self.config.history_interval_s)
            for m in list(self.meters.values()):
                if m.ready and m.history and not m.realtime and not m.in_outage:
                    self._queue(m, HISTORY, self._collect_5min, self.config.history_deadline_s)

    async def _collect_5min(self, m: MeterState, deadline: float) -> None:
        try:
            async with self.session(m) as s:
                await self._read_range(s, m, 5, "5min", deadline)
            m.last_seen = self.clock.now()
        except (OSError, TimeoutError) as exc:
            self.stats["5min_unreachable"] += 1
            log.info("5-min collection from %s failed: %s", m.id, exc)

    # ---------------------------------------------------------------- liveness and retention
    async def _liveness(self) -> None:
        while True:
            await sleep(self.config.liveness_interval_s)
            for m in list(self.meters.values()):
                if m.ready and not m.in_outage:
                    self._queue(m, LIVENESS, self._routine_poll)

    async def _routine_poll(self, m: MeterState) -> None:
        try:
            await self._poll_status(m, "routine", fetch_rows=False)
        except (OSError, TimeoutError) as exc:
            self.store.add_poll(m.id, self.clock.now(), False, "routine", detail=str(exc))
            self._queue(m, CHASE, self._chase)

    async def _retention(self) -> None:
        while True:
            await sleep(86400)
            self.stats["purged"] += self.store.purge(self.clock.now())

    # ---------------------------------------------------------------- on-demand API
    def meter(self, meter_id: str) -> MeterState:
        m = self.meters.get(meter_id) or self.by_serial.get(meter_id)
        if m is None:
            raise KeyError(f"unknown meter {meter_id!r}")
        if not m.ready:
            raise RuntimeError(f"meter {meter_id} not discovered yet")
        return m

    async def poll(self, meter_id: str) -> dict:
        """Liveness poll now: supply status, clock, +A register (kWh)."""
        m = self.meter(meter_id)
        async with self.session(m) as s:
            status = status_dict(await s.get(1, oc.SUPPLY_STATUS, 2))
            clock, fwd, scaler = await s.get_list([(8, oc.CLOCK, 2), (3, oc.ACTIVE_IMPORT, 2),
                                                   (3, oc.ACTIVE_IMPORT, 3)])
        now = self.clock.now()
        m.last_seen = now
        self.store.add_poll(m.id, now, True, "on demand", status["state"], status_text(status))
        status["clock"] = octets_to_epoch(clock.value)
        status["forward_total_kwh"] = (None if fwd.type is DataType.NULL
                                       else fwd.value * 10.0 ** scaler.value[0].value / 1000)
        return status

    async def command(self, meter_id: str, op: str, argument: int | None = None) -> dict:
        """``op``: "open", "close", "limit" (argument: amperes), "soft-switch" (argument: 30/15).
        Returns {"ok", "detail", "output_state", "limit_a", "grid"}; recorded in the store."""
        m = self.meter(meter_id)
        now = self.clock.now()
        result = {"ok": False, "detail": ""}
        try:
            async with self.session(m) as s:
                if op in ("open", "close"):
                    await s.action(70, oc.DISCONNECT_CONTROL, 1 if op == "open" else 2, axdr.integer(0))
                elif op == "limit":
                    await s.set(71, oc.LIMITER, 4, axdr.long_unsigned(int(argument) * 10))
                elif op == "soft-switch":
                    await s.set(1, oc.SOFT_SWITCH, 2, axdr.unsigned(int(argument)))
                    m.grid = int(argument)
                else:
                    raise ValueError(f"unknown command {op!r}")
                state, limit, soft = await s.get_list([(70, oc.DISCONNECT_CONTROL, 2), (71, oc.LIMITER, 4),
                                                       (1, oc.SOFT_SWITCH, 2)])
            result.update(ok=True, detail="done", output_state=state.value, limit_a=limit.value / 10,
                          grid=soft.value)
        except DlmsRefused as exc:
            result["detail"] = f"refused by the meter: {exc}"
        except (OSError, TimeoutError) as exc:
            result["detail"] = f"meter unreachable: {exc}"
        self.store.add_command(m.id, now, op, argument, result["ok"], result["detail"])
        return result

    async def cutoff_external(self, meter_id: str, peer: str) -> dict:
        """Cut external device ``peer`` off at the meter (tools/hes/extsec.py)."""
        from .extsec import external_command
        return await external_command(self, meter_id, "cutoff", peer)

    async def reconnect_external(self, meter_id: str, peer: str) -> dict:
        from .extsec import external_command
        return await external_command(self, meter_id, "reconnect", peer)

    async def read_extlog(self, meter_id: str, start: float | None = None, end: float | None = None) -> list[dict]:
        """The meter's external-connection log between ``start`` and ``end`` (epoch s, None: open)."""
        from .extsec import read_extlog
        return await read_extlog(self, meter_id, start, end)

    # ---------------------------------------------------------------- reporting
    def summary(self) -> dict:
        return {"meters": len(self.meters), "discovered": sum(m.ready for m in self.meters.values()),
                "in_outage": sum(m.in_outage for m in self.meters.values()), **self.stats,
                "stored": self.store.stats.stored, "duplicates": self.store.stats.duplicates,
                "conflicts": self.store.stats.conflicts}


class _Opened:
    """``async with`` around an already associated MeterSession."""

    def __init__(self, ctx: MeterSession, session: DlmsSession):
        self.ctx, self.session = ctx, session

    async def __aenter__(self) -> DlmsSession:
        return self.session

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self.ctx.__aexit__(exc_type, exc, tb)
