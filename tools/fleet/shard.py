"""A virtual-time fleet split into shards run as Ray actors (``sumame hes fleet --ray``).

Each shard (``FleetShard``) is the same ``FleetScenario`` with some of the fleet's meters, dealt
by their estimated cost so shards take equal work (``balance``, ``COST_*``): its
own virtual clock, scheduler, in-process network and head-end (with a private in-memory store).
Every meter runs exactly as in the whole fleet (serial, load seed, push offset and link
conditions are per meter, the 5-min shares are chosen over the whole fleet), so the stored
interval values do not depend on how the fleet is split.

The driver (``run_sharded``) advances all shards in lock-step windows (default 30 simulated
minutes): each shard runs to the window end and returns what its head-end stored since the last
window; the driver merges the deltas of all shards, window by window, into the one ``--db``
SQLite store (committed at most once a wall second, ``COMMIT_EVERY_S``), so ``sumame hes
query`` / ``export`` read the whole fleet. One Ray call advances a shard by ``CALL_WINDOWS``
windows, and the next calls are queued on every shard before the current one is collected
(``LEAD``), so the shards simulate on while the driver stores (the barrier costs no shard time).

A shard that dies (its worker process or node lost, or an error in it) or misses the window
timeout (slow, hung) is named with its meters and the 30-min slots it has not delivered. With
``restarts`` left, a new actor takes the same meters, replays them in virtual time up to what is
stored (that output is discarded: the run is deterministic, so it is what was already merged)
and the run goes on; otherwise the run stops. Either way everything stored up to the last
complete window stays and no row is written twice (meters belong to exactly one shard;
intervals are keyed by meter, grid and interval end).

Ray is the optional extra ``sumame[ray]``.
"""
from __future__ import annotations

import heapq
import time
from functools import partial
from dataclasses import dataclass, field, replace
from collections import Counter, deque

from sumame.hal.jst import format_jst

from .fleet import kind_of, serial_of
from .hes_fleet import FleetScenario, fleet_ids, start_scenario
from ..hes.db.store import HesStore
from ..hes.engine import five_min_shares

WINDOW_S = 1800.0
CALL_WINDOWS = 8
"""Windows one Ray call advances a shard by (each window's delta still returned and stored by
itself): every call is a few thread wake-ups in the actor and the driver, which on a loaded
machine cost milliseconds each, as much as a small shard's window (4 a call: the longer-waiting
shard spent ~0.09 s of a 1.7 s 2-worker run between windows; 8: ~0.03 s)."""
LEAD = 2
"""Calls queued ahead on every shard: the lock-step is loose enough that a shard never waits
for the driver or for a shard the machine ran a little later (they share no state)."""
COMMIT_EVERY_S = 1.0
"""Wall s between the driver's commits: a commit (fsync) per 30-min window cost more wall time
than a small shard's window (the one-process head-end batches its commits too); merged windows
are committed before any shard loss is handled or reported and at the end. A driver killed
outright loses at most the last second's uncommitted windows of a run that then fails."""
APPEND_ONLY = {
    "intervals": ("meter, grid, end_at, forward_wh, reverse_wh, reactive_varh, forward_total_wh, "
                  "reverse_total_wh, reactive_total_varh, voltage_r_v, voltage_t_v, received_at, source, on_time"),
    "polls": "meter, at, ok, why, state, detail",
    "meter_events": "meter, log, at, code, kind",
    "commands": "meter, at, op, argument, ok, detail",
}
KEYED = {   # table -> (key column, columns): small tables sent when a row changed
    "meters": ("id", "id, target, serial, kind, supply_point, system_title, grid, info, added_at"),
    "outages": ("id", "id, meter, start_at, end_at, detected_at, restored_detected_at, how, start_source"),
    "counters": ("meter", "meter, tx_ceiling"),
}


class ShardLost(RuntimeError):
    """A shard failed; the message names its meters and the slots not collected."""


COST_PLAIN, COST_HISTORY, COST_REALTIME = 1.0, 3.0, 5.0
"""Estimated run cost of a meter with its share of the head-end, relative to one the head-end
only takes pushes and polls from (LV or HV alike): the 5-min history a tenth of the fleet gives
every 6 h costs ~3x, near-real-time 5-min reads ~5x (emulated-lv-fleet, 1 simulated day: ~0.25,
~0.8 and ~1.25 CPU s). Known before the run, so shards are balanced by it (``balance``)."""


def split(meters: int, shards: int) -> list[list[int]]:
    """Contiguous blocks of meter indices, sizes differing by at most one."""
    shards = max(1, min(shards, meters))
    size, extra = divmod(meters, shards)
    out, i = [], 0
    for k in range(shards):
        n = size + (k < extra)
        out.append(list(range(i, i + n)))
        i += n
    return out


def meter_costs(scenario: FleetScenario) -> list[float]:
    """``COST_*`` of every meter of the fleet, by index (the head-end's 5-min shares, chosen over
    the whole fleet exactly as ``HeadEnd.choose_5min`` does)."""
    ids = fleet_ids(scenario.spec)
    realtime, history = five_min_shares(sorted(ids), scenario.hes)
    return [COST_REALTIME if i in realtime else COST_HISTORY if i in history else COST_PLAIN for i in ids]


def balance(costs: list[float], shards: int) -> list[list[int]]:
    """Meter indices per shard with near-equal estimated cost: meters by decreasing cost (then
    index) each go to the shard with the least cost so far (then the fewest meters, then the
    lowest number), so equal-cost meters are dealt in turn; every shard's indices sorted.
    Deterministic; which shard runs a meter changes nothing it stores."""
    shards = max(1, min(shards, len(costs)))
    out = [[] for _ in range(shards)]
    heap = [(0.0, 0, k) for k in range(shards)]       # (cost so far, meters, shard): least first
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        load, n, k = heapq.heappop(heap)
        out[k].append(i)
        heapq.heappush(heap, (load + costs[i], n + 1, k))
    return [sorted(block) for block in out]


class FleetShard:
    """Meters ``indices`` of ``scenario`` and their head-end, advanced by ``advance(until)``."""

    def __init__(self, scenario: FleetScenario, indices: list[int]):
        scenario = replace(scenario, db=":memory:", progress=None, hes=replace(scenario.hes))
        self.indices = list(indices)
        self.fleet, self.hes, self.boot_wall_s = start_scenario(scenario, self.indices)
        self._marks = dict.fromkeys(APPEND_ONLY, 0)
        self._sent: dict[str, dict] = {t: {} for t in KEYED}
        self.cpu_s = 0.0
        self.busy_s = 0.0       # wall s inside advance: the rest of a run it waited for the driver
        self.between_s = 0.0    # of which between two windows (the rest: before the first, after the last)
        self._left_at = None
        self.first_at = None    # perf_counter (system-wide monotonic) at the first window's start

    def now(self) -> float:
        return self.fleet.clock.now()

    def advance(self, until: float) -> dict:
        """Run to ``until`` (epoch s); returns the rows stored since the last call."""
        c0, w0 = time.process_time(), time.perf_counter()
        if self._left_at is not None:
            self.between_s += w0 - self._left_at
        else:
            self.first_at = w0
        self.fleet.run(until)
        self.hes.store.commit()
        delta = self._delta()
        self.cpu_s += time.process_time() - c0
        self._left_at = time.perf_counter()
        self.busy_s += self._left_at - w0
        return delta

    def _delta(self) -> dict:
        db = self.hes.store.db
        out = {}
        for table, cols in APPEND_ONLY.items():
            rows = db.execute(f"SELECT rowid, {cols} FROM {table} WHERE rowid > ? ORDER BY rowid",
                              (self._marks[table],)).fetchall()
            if rows:
                self._marks[table] = rows[-1][0]
            out[table] = [r[1:] for r in rows]
        for table, (key, cols) in KEYED.items():
            sent, changed = self._sent[table], []
            names = [c.strip() for c in cols.split(",")]
            k = names.index(key)
            for row in db.execute(f"SELECT {cols} FROM {table}"):
                if sent.get(row[k]) != row:
                    sent[row[k]] = row
                    changed.append(row)
            out[table] = changed
        return out

    def advance_windows(self, ends: list[float]) -> list[dict]:
        """``advance`` to each of ``ends`` (epoch s) in turn: one round trip for several windows."""
        return [self.advance(t) for t in ends]

    def summary(self) -> dict:
        return {"stats": dict(self.hes.stats), "pushes_lost": self.fleet.network.pushes_lost,
                "in_outage": sum(m.in_outage for m in self.hes.meters.values()),
                "history_meters": sum(m.history for m in self.hes.meters.values()),
                "cpu_s": self.cpu_s, "busy_s": self.busy_s, "between_s": self.between_s,
                "first_at": self.first_at, "last_at": self._left_at, "boot_wall_s": self.boot_wall_s}

    def close(self) -> None:
        self.fleet.close()


class StoreMerger:
    """Writes shard deltas into one ``HesStore`` (outage ids are renumbered per store)."""

    def __init__(self, store: HesStore):
        self.store = store
        self._outage_ids: dict[tuple[int, int], int] = {}
        self.duplicates = 0
        self.intervals = 0
        self.committed_at = time.perf_counter()
        self.committed_to = 0.0     # epoch s every shard's rows are committed up to

    def merge(self, shard: int, delta: dict) -> None:
        db = self.store.db
        rows = delta["intervals"]
        if rows:        # one statement for the window's rows; a row already there is counted, not written
            cur = db.executemany(f"INSERT INTO intervals({APPEND_ONLY['intervals']}) VALUES"
                                 f" ({','.join('?' * len(rows[0]))}) ON CONFLICT DO NOTHING", rows)
            self.intervals += cur.rowcount
            self.duplicates += len(rows) - cur.rowcount
        for table in ("polls", "commands"):
            cols = APPEND_ONLY[table]
            db.executemany(f"INSERT INTO {table}({cols}) VALUES ({','.join('?' * 6)})", delta[table])
        db.executemany("INSERT INTO meter_events(meter, log, at, code, kind) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                       delta["meter_events"])
        cols = KEYED["meters"][1]
        db.executemany(f"INSERT INTO meters({cols}) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                       + ", ".join(f"{c}=excluded.{c}" for c in cols.replace(" ", "").split(",")[1:]),
                       delta["meters"])
        db.executemany("INSERT INTO counters(meter, tx_ceiling) VALUES (?,?) ON CONFLICT(meter) DO UPDATE SET"
                       " tx_ceiling=excluded.tx_ceiling", delta["counters"])
        for local_id, *rest in delta["outages"]:
            gid = self._outage_ids.get((shard, local_id))
            if gid is None:
                cur = db.execute("INSERT INTO outages(meter, start_at, end_at, detected_at, restored_detected_at,"
                                 " how, start_source) VALUES (?,?,?,?,?,?,?) RETURNING id", rest)
                self._outage_ids[(shard, local_id)] = cur.fetchone()[0]
            else:
                db.execute("UPDATE outages SET meter=?, start_at=?, end_at=?, detected_at=?,"
                           " restored_detected_at=?, how=?, start_source=? WHERE id=?", (*rest, gid))

    def commit(self, upto: float | None = None) -> None:
        """Commit; ``upto`` (epoch s): every shard's rows to there are now committed."""
        self.store.commit()
        self.committed_at = time.perf_counter()
        if upto is not None:
            self.committed_to = max(self.committed_to, upto)


@dataclass
class ShardedResult:
    shards: list[list[int]]
    start: float
    end: float
    collect_from: float
    wall_s: float
    summaries: list[dict]
    duplicates: int
    stats: Counter = field(default_factory=Counter)
    started_at: float = 0.0
    """perf_counter when the timed run began (the shards' ``first_at``/``last_at`` are on it)."""

    @property
    def meters(self) -> int:
        return sum(len(s) for s in self.shards)

    @property
    def meter_days_per_s(self) -> float:
        return self.meters * (self.end - self.start) / 86400 / self.wall_s


def _ray():
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs Ray: pip install 'sumame[ray]'") from None
    return ray


def connect(address: str | None, workers: int | None):
    """Join the Ray cluster at ``address`` (None or "local": start a local one); returns ray."""
    ray = _ray()
    if not ray.is_initialized():
        if address in (None, "", "local"):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     _node_ip_address="127.0.0.1")      # a local cluster stays on loopback
        else:
            ray.init(address=address, log_to_driver=False)
    return ray


MAX_NAMED = 12
"""Runs of meters a message names before it says how many more there are."""


def _meters_text(spec, indices: list[int], kind) -> str:
    """"5 meters SMLV00000000 .. SMLV00000002, SMHV00000007, SMLV00000009": runs of 3 or more
    consecutive indices as first .. last (a shard's meters need not be contiguous)."""
    name = lambda i: serial_of(i, kind(i))      # noqa: E731
    runs, i = [], 0
    while i < len(indices):
        j = i
        while j + 1 < len(indices) and indices[j + 1] == indices[j] + 1:
            j += 1
        if j - i >= 2:
            runs.append((f"{name(indices[i])} .. {name(indices[j])}", j - i + 1))
        else:
            runs.extend((name(x), 1) for x in indices[i:j + 1])
        i = j + 1
    more = sum(n for _, n in runs[MAX_NAMED:])
    named = ", ".join(text for text, _ in runs[:MAX_NAMED]) + (f" and {more} more" if more else "")
    return f"{len(indices)} meter{'s' * (len(indices) != 1)} {named}"


def _slots_text(after: float, end: float) -> str:
    first = (int(after) // 1800 + 1) * 1800
    n = max(0, (int(end) - first) // 1800 + 1)
    return (f"{n} 30-min slots {format_jst(first, seconds=False)} .. {format_jst(end, seconds=False)}"
            if n else "no slots")


def run_sharded(scenario: FleetScenario, *, workers: int | None = None, address: str | None = None,
                window_s: float = WINDOW_S, window_timeout_s: float | None = None, restarts: int = 0,
                on_window=None, on_event=None, on_start=None) -> ShardedResult:
    """Run ``scenario`` as ``workers`` Ray actors (default: the cluster's CPUs) in lock-step
    windows of ``window_s`` simulated s; results go to ``scenario.db``. ``progress(done, now)``
    is called after every window, ``on_window(actors, now)`` too, and ``on_start(actors)`` once
    every shard has booted, before any window is asked for (bench: CPU figures; tests: lose a
    worker). Each Ray call advances a shard by ``CALL_WINDOWS`` windows, so a lost shard loses
    the windows of the call it was in (named by the first of them); the others store on.
    A shard that fails or misses ``window_timeout_s`` (wall s) is restarted and replayed, at most
    ``restarts`` times in the run, each said through ``on_event(text)``; past that, ``ShardLost``."""
    _refuse_used(scenario.db)
    ray = connect(address, workers)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    workers = workers or cpus
    if workers > cpus:
        raise RuntimeError(f"--workers {workers} needs {workers} CPUs; the Ray cluster has {cpus}")
    spec = scenario.spec
    shards = balance(meter_costs(scenario), workers)
    kind = partial(kind_of, spec)
    # no task events: they are for Ray's dashboard / state API, which a run does not read, and
    # cost the driver, the actor and the GCS a report per call (~0.7 ms of CPU a call here)
    actor_class = ray.remote(num_cpus=1, max_restarts=0, enable_task_events=False)(FleetShard)
    remote = replace(scenario, progress=None, db=":memory:")
    actors = [actor_class.remote(remote, block) for block in shards]
    start = spec.start_epoch
    end = start + scenario.days * 86400
    store = HesStore(scenario.db)
    merger = StoreMerger(store)
    merger.committed_to = start
    done = [start] * len(shards)          # stored up to, per shard
    tried: set[int] = set()               # shards restarted once already
    try:
        ray.get([a.now.remote() for a in actors], timeout=window_timeout_s)   # all booted
    except Exception as exc:  # noqa: BLE001 - a shard that cannot even boot
        _kill(ray, actors)
        raise ShardLost(f"a shard failed to start: {_short(exc)}") from None
    if on_start is not None:
        on_start(actors)
    t1 = time.perf_counter()
    try:
        return _run_windows(ray, scenario, spec, shards, kind, actors, actor_class, remote, store, merger,
                            done, tried, start, end, window_s, window_timeout_s, restarts, on_window,
                            on_event, t1)
    except KeyboardInterrupt:       # Ctrl-C: what is committed stays, the merged rest is dropped
        store.db.rollback()
        store.close()
        _kill(ray, actors)
        raise ShardLost(f"interrupted: every shard is stored up to {format_jst(merger.committed_to, seconds=False)}"
                        f" (the windows after it were not committed); a new run needs a new --db") from None


def _run_windows(ray, scenario, spec, shards, kind, actors, actor_class, remote, store, merger, done, tried,
                 start, end, window_s, window_timeout_s, restarts, on_window, on_event, t1) -> ShardedResult:
    ends = _window_ends(start, end, window_s)
    calls = [ends[i:i + CALL_WINDOWS] for i in range(0, len(ends), CALL_WINDOWS)]
    # up to LEAD calls queued on every actor (it runs its calls in order): a shard runs on while
    # the driver waits for a slower one, merges and commits
    queued = [deque(a.advance_windows.remote(c) for c in calls[:LEAD]) for a in actors]
    for i, call in enumerate(calls):
        first, now = call[0], call[-1]
        timeout = None if window_timeout_s is None else window_timeout_s * len(call)
        refs = [q.popleft() for q in queued]
        if i + LEAD < len(calls):
            for a, q in zip(actors, queued):
                q.append(a.advance_windows.remote(calls[i + LEAD]))
        got, lost = {}, []
        for k, ref in enumerate(refs):
            try:
                got[k] = ray.get(ref, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - RayActorError, task error, GetTimeoutError
                lost.append((k, exc))
        for j in range(len(call)):              # window by window, as one process stores them
            for k in got:
                merger.merge(k, got[k][j])
        for k in got:
            done[k] = now
        if lost or i + 1 == len(calls) or time.perf_counter() - merger.committed_at >= COMMIT_EVERY_S:
            merger.commit(min(done))
        while lost and restarts > 0:
            k, exc = lost.pop(0)
            restarts -= 1
            what = (f"shard {k + 1}/{len(shards)} ({_meters_text(spec, shards[k], kind)}) "
                    f"{_why(ray, exc, window_timeout_s)} in the window to {format_jst(first, seconds=False)}")
            _kill(ray, [actors[k]])          # a slow one still holds its CPU
            tried.add(k)
            try:
                actors[k] = _replayed(ray, actor_class, remote, shards[k], done[k], start, window_s,
                                      window_timeout_s)
                deltas = ray.get(actors[k].advance_windows.remote(call), timeout=timeout)
            except Exception as again:  # noqa: BLE001 - the restart failed too: stop as below
                lost.insert(0, (k, again))
                break
            for delta in deltas:
                merger.merge(k, delta)
            merger.commit()
            # the calls queued went to the old actor
            queued[k] = deque(actors[k].advance_windows.remote(c) for c in calls[i + 1:i + 1 + LEAD])
            if on_event is not None:
                on_event(f"{what}: restarted; its meters were replayed from the start to "
                         f"{format_jst(done[k], seconds=False)} (stored up to there, not written again) "
                         f"and are stored up to {format_jst(now, seconds=False)}")
            done[k] = now
        if lost:
            _kill(ray, actors)
            store.close()
            parts = [f"shard {k + 1}/{len(shards)} ({_meters_text(spec, shards[k], kind)}) "
                     f"{_why(ray, exc, window_timeout_s)}{' after a restart' if k in tried else ''} in the window "
                     f"to {format_jst(first, seconds=False)}: its meters are stored up to "
                     f"{format_jst(done[k], seconds=False)}, {_slots_text(done[k], end)} not collected"
                     for k, exc in lost]
            kept = f"stored up to {format_jst(now, seconds=False)}" if len(lost) < len(shards) else "none ran on"
            raise ShardLost("; ".join(parts) + f"; the other shards: {kept}; nothing stored was lost")
        for t in call:
            if scenario.progress is not None:
                scenario.progress((t - start) / (end - start), t)
            if on_window is not None:
                on_window(actors, t)
    wall = time.perf_counter() - t1
    try:
        summaries = ray.get([a.summary.remote() for a in actors], timeout=window_timeout_s)
    except Exception:  # noqa: BLE001 - every window is stored; only the counters are missing
        summaries = [{"stats": {}, "pushes_lost": 0, "in_outage": 0, "history_meters": 0, "cpu_s": 0.0,
                      "busy_s": 0.0, "between_s": 0.0, "boot_wall_s": 0.0} for _ in actors]
    _kill(ray, actors)
    store.close()
    stats = Counter()
    for s in summaries:
        stats.update(s["stats"])
    return ShardedResult(shards, start, end, start + 3600.0, wall, summaries, merger.duplicates, stats, t1)


def _refuse_used(db: str) -> None:
    """A sharded run writes into a store no earlier run wrote (a rerun would add its polls, events
    and outages a second time and keep the earlier run's 30-min values)."""
    store = HesStore(db)
    try:
        n = store.db.execute("SELECT count(*) FROM intervals").fetchone()[0]
        used = n or any(store.db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()
                        for t in ("polls", "outages", "meter_events", "commands"))
    finally:
        store.close()
    if used:
        raise RuntimeError(f"--db {db} already holds an earlier run's rows ({n} interval values): "
                           f"give a new file (a stopped run is not resumed; run again into a new --db)")


def _window_ends(start: float, end: float, window_s: float) -> list[float]:
    """The lock-step window ends (epoch s) from ``start`` to ``end``; the last may be short."""
    ends, now = [], start
    while now < end:
        now = min(end, now + window_s)
        ends.append(now)
    return ends


def _replayed(ray, actor_class, remote, block, upto: float, start: float, window_s: float,
              window_timeout_s: float | None):
    """A new actor for ``block``, run in virtual time to ``upto`` (what is already stored);
    its output to there is dropped. The replay may take as long as the windows it covers."""
    actor = actor_class.remote(remote, block)
    windows = max(1.0, (upto - start) / window_s)
    try:
        ray.get(actor.advance.remote(upto), timeout=None if window_timeout_s is None
                else window_timeout_s * (windows + 1))
    except Exception:
        _kill(ray, [actor])
        raise
    return actor


def _why(ray, exc: BaseException, timeout_s: float | None) -> str:
    if isinstance(exc, ray.exceptions.GetTimeoutError):
        return f"gave no answer within {timeout_s:g} s a window (slow or hung)"
    return f"lost ({_short(exc)})"


def _kill(ray, actors) -> None:
    for a in actors:
        try:
            ray.kill(a)
        except Exception:  # noqa: BLE001 - already gone
            pass


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
