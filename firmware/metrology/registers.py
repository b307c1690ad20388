"""Interval registers: 30-, 15-, 5- and 1-minute values, aligned to JST wall time.

The meter captures a *snapshot* of its cumulative counters at every minute boundary. Every
interval value is the difference of two snapshots, so 1-minute values always add up to the 5-,
15- and 30-minute values, and the 30-minute cumulative readings (ECHONET E2/E4 history) are the
snapshots themselves.

An interval is valid only when both of its boundary snapshots exist **and** belong to the same
measurement session. A session ends whenever measuring stopped (outage, reboot, a chip that
could not be read in time), so any interval touching a gap is *no data* (None) — never zero,
never interpolated.

Retention is per grid (board setting): a snapshot is kept as long as the longest-kept grid it
lies on needs it (a 30-minute boundary is also a 15-, 5- and 1-minute boundary).
"""
from __future__ import annotations

import struct
from array import array
from collections import deque
from dataclasses import dataclass

from sumame.hal.jst import JST_OFFSET_S

GRIDS = (30, 15, 5, 1)
_SNAPSHOT = struct.Struct(">IIQQQQQQQ")


@dataclass(slots=True)
class Snapshot:
    """Cumulative counters captured at a minute boundary.

    minute:          the boundary, in minutes since the epoch (UTC; 60 s x minute = epoch s)
    session:         measurement session number (changes after every gap)
    forward_mwh / reverse_mwh / reactive_pos_mvarh / reactive_neg_mvarh: cumulative, mWh / mvarh
    volt_mvs_r / volt_mvs_t: cumulative integral of RMS voltage over time, mV·s (R and T)
    volt_time_ms:    cumulative time covered by the voltage integrals, ms
    """

    minute: int
    session: int
    forward_mwh: int
    reverse_mwh: int
    reactive_pos_mvarh: int
    reactive_neg_mvarh: int
    volt_mvs_r: int = 0
    volt_mvs_t: int = 0
    volt_time_ms: int = 0

    SIZE = _SNAPSHOT.size

    @property
    def epoch(self) -> int:
        return self.minute * 60

    def pack(self) -> bytes:
        return _SNAPSHOT.pack(self.minute, self.session, self.forward_mwh, self.reverse_mwh,
                              self.reactive_pos_mvarh, self.reactive_neg_mvarh,
                              self.volt_mvs_r, self.volt_mvs_t, self.volt_time_ms)

    @classmethod
    def unpack(cls, data: bytes) -> "Snapshot":
        return cls(*_SNAPSHOT.unpack(data))

    def counter(self, quantity: str) -> int:
        return getattr(self, _FIELD[quantity])


_FIELD = {"forward": "forward_mwh", "reverse": "reverse_mwh",
          "reactive_lag": "reactive_pos_mvarh", "reactive_lead": "reactive_neg_mvarh"}


def _coarsest(local: int) -> int:
    for grid in GRIDS[:-1]:
        if local % grid == 0:
            return grid
    return 1


_GRID_BY_MOD = tuple(_coarsest(r) for r in range(GRIDS[0]))
"""grid_of by JST minute modulo 30 (every grid divides 30)."""
_JST_MINUTES = JST_OFFSET_S // 60


def grid_of(minute: int) -> int:
    """The coarsest grid (30, 15, 5 or 1 minutes) this minute boundary lies on (JST)."""
    return _GRID_BY_MOD[(minute + _JST_MINUTES) % 30]


@dataclass(frozen=True)
class Retention:
    """How long each grid is kept: days for 30/15/5-minute values, minutes for 1-minute."""

    days_30: int = 100
    days_15: int = 100
    days_5: int = 10
    minutes_1: int = 60

    def keep_seconds(self, grid: int) -> int:
        """Seconds a snapshot on ``grid`` (its coarsest grid) must be kept: the retention of
        the 30/15/5-minute grids plus the interval the snapshot starts, so the oldest value
        they keep (a profile's entry 1, ending 100 days ago) still has both of its boundaries;
        the 1-minute readings (ECHONET EE: cumulative values, not intervals) for their span."""
        spans = {30: self.days_30 * 86400 + 1800, 15: self.days_15 * 86400 + 900,
                 5: self.days_5 * 86400 + 300, 1: self.minutes_1 * 60}
        return max(span for g, span in spans.items() if g <= grid)

    def validate(self) -> list[str]:
        problems = []
        for name in ("days_30", "days_15", "days_5", "minutes_1"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.minutes_1 < 60:
            problems.append("minutes_1 must be >= 60 (B-route gap recovery needs 60 minutes)")
        return problems


CACHE_MINUTES = 62
"""With a history on flash, snapshots younger than this (minutes) stay in RAM: the 60 minutes of
1-minute values (and so both ends of the latest 30-minute interval)."""


_COUNTERS = 7          # forward, reverse, reactive +/-, volt_mvs_r/t, volt_time_ms (Snapshot order)
_U32 = 1 << 32


class _RecentRing:
    """The snapshots of the last ``CACHE_MINUTES`` minutes (slot = minute mod ``SLOTS``), with
    the dict calls ``IntervalRegisters`` makes, in ~2.3 KiB per meter: the minute and session of
    each slot in int32/uint32 arrays, its seven counters as uint32 offsets from one base (an
    hour of counters spans far less than 2^32 mWh, mvarh, mV·s or ms), so a slot costs 32 B
    instead of the 64 B of a packed snapshot. A snapshot whose counters do not fit even after
    moving the base to the live minimum is kept whole in ``_whole`` (never on an LV meter).
    ``get`` gives back exactly the bytes stored.

    keep: minutes each grid is held (``grid_of``); a snapshot older than the newest minus its
    grid's keep reads as absent, like a trimmed dict entry.
    """

    SLOTS = 64
    __slots__ = ("_minutes", "_sessions", "_offsets", "_base", "_whole", "_keep", "newest")

    def __init__(self, keep: dict[int, int]):
        if max(keep.values()) >= self.SLOTS:
            raise ValueError("the ring holds at most 63 minutes")
        self._minutes = array("i", [-1]) * self.SLOTS   # minutes since the epoch (int32: to 6053)
        self._sessions = array("I", [0]) * self.SLOTS
        self._offsets = array("I", [0]) * (self.SLOTS * _COUNTERS)
        self._base: tuple | None = None      # the counters offsets count from
        self._whole: dict[int, bytes] | None = None   # slot -> packed snapshot that did not fit
        self._keep = keep
        self.newest = -1

    def _live(self, minute: int) -> bool:
        return self._minutes[minute % self.SLOTS] == minute and \
            minute >= self.newest - self._keep[grid_of(minute)]

    def get(self, minute: int, default=None):
        if not self._live(minute):
            return default
        slot = minute % self.SLOTS
        whole = self._whole
        if whole is not None and slot in whole:
            return whole[slot]
        at, base = slot * _COUNTERS, self._base
        o = self._offsets
        return _SNAPSHOT.pack(minute, self._sessions[slot], base[0] + o[at], base[1] + o[at + 1],
                              base[2] + o[at + 2], base[3] + o[at + 3], base[4] + o[at + 4],
                              base[5] + o[at + 5], base[6] + o[at + 6])

    def __contains__(self, minute: int) -> bool:
        return self._live(minute)

    def __setitem__(self, minute: int, raw: bytes) -> None:
        if minute > self.newest:
            self.newest = minute
        elif minute < self.newest - self._keep[grid_of(minute)]:
            return   # older than the ring keeps: it would be trimmed at once (and take a live slot)
        slot = minute % self.SLOTS
        if self._whole is not None:
            self._whole.pop(slot, None)
        self._minutes[slot] = minute
        values = _SNAPSHOT.unpack(raw)
        if values[0] != minute or not self._fits(values[2:], slot):
            if self._whole is None:
                self._whole = {}
            self._whole[slot] = bytes(raw)
            return
        self._sessions[slot] = values[1]
        base, at = self._base, slot * _COUNTERS
        self._offsets[at:at + _COUNTERS] = array("I", [v - b for v, b in zip(values[2:], base)])

    def _fits(self, counters: tuple, slot: int) -> bool:
        """Whether ``counters`` (for ``slot``) can be held as offsets (moving the base down if
        that makes them fit and every other live slot still fits; ``slot`` itself still holds
        its previous occupant's offsets, which must not count)."""
        base = self._base
        if base is None:
            self._base = tuple(counters)
            return True
        if all(0 <= v - b < _U32 for v, b in zip(counters, base)):
            return True
        whole = self._whole or {}
        held = [(m % self.SLOTS, _SNAPSHOT.unpack(self.get(m))[2:]) for m in self       # old base
                if m % self.SLOTS != slot and m % self.SLOTS not in whole]
        columns = list(zip(counters, *(values for _, values in held)))
        low = tuple(min(column) for column in columns)
        if any(max(column) - lo >= _U32 for column, lo in zip(columns, low)):
            return False
        self._base = low
        for other, values in held:
            at = other * _COUNTERS
            self._offsets[at:at + _COUNTERS] = array("I", [v - b for v, b in zip(values, low)])
        return True

    def pop(self, minute: int, default=None):
        raw = self.get(minute)
        if raw is None:
            return default
        self._minutes[minute % self.SLOTS] = -1
        if self._whole is not None:
            self._whole.pop(minute % self.SLOTS, None)
        return raw

    def __iter__(self):
        return iter(sorted(m for m in self._minutes if m >= 0 and self._live(m)))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self):
        return [(m, self.get(m)) for m in self]


class IntervalRegisters:
    """Interval registers: the live snapshots in RAM, the rest read from storage on demand.

    transmitted_interval_min: the soft switch — 30 or 15: the interval the routes push;
    both grids are always recorded.
    Without ``attach_history`` (unit tests, tools) every snapshot of the retention stays in RAM.
    """

    def __init__(self, retention: Retention = Retention(), transmitted_interval_min: int = 30):
        if transmitted_interval_min not in (15, 30):
            raise ValueError("the soft switch selects 30- or 15-minute values")
        self.retention = retention
        self.transmitted_interval_min = transmitted_interval_min
        self._by_minute: dict[int, bytes] = {}
        """Snapshots held in RAM, packed (Snapshot.pack(): 56 bytes each)."""
        self._by_grid: dict[int, deque[int]] = {g: deque() for g in GRIDS}
        self._keep = {g: retention.keep_seconds(g) // 60 for g in GRIDS}
        self._retain = dict(self._keep)   # minutes each grid is served (RAM or flash)
        self.newest: Snapshot | None = None
        self.added = 0
        self.history = None
        self._discarded: set[int] = set()

    def attach_history(self, history) -> None:
        """Read snapshots older than ``CACHE_MINUTES`` through ``history.at(minute)`` (the
        flash journals) instead of keeping them in RAM; ``history.all()`` lists them."""
        self.history = history
        self._keep = {g: min(k, CACHE_MINUTES) for g, k in self._keep.items()}
        ring = _RecentRing(self._keep)
        for minute in sorted(self._by_minute):
            ring[minute] = self._by_minute[minute]
        self._by_minute = ring
        self._by_grid = None   # the ring forgets by itself

    # ------------------------------------------------------------------ writing
    def add(self, snap: Snapshot) -> None:
        """Record a snapshot (boundaries must arrive in time order, except at restore)."""
        minute = snap.minute
        if minute in self._by_minute:
            self._by_minute[minute] = snap.pack()
            return
        self._by_minute[minute] = snap.pack()
        if self.newest is None or minute > self.newest.minute:
            self.newest = snap
        self.added += 1
        if self._by_grid is None:   # the recent ring (history on flash)
            return
        grid = grid_of(minute)
        queue = self._by_grid[grid]
        if queue and queue[-1] > minute:  # restore out of order: keep queue sorted
            items = sorted([*queue, minute])
            queue.clear()
            queue.extend(items)
        else:
            queue.append(minute)
        self._trim(self.newest.minute)

    def restore(self, snapshots) -> int:
        """Load snapshots read from storage (any order); returns how many were kept."""
        for snap in sorted(snapshots, key=lambda s: s.minute):
            self.add(snap)
        return len(self._by_minute)

    def discard(self, minute: int) -> None:
        """Forget a snapshot (it was found to be invalid)."""
        if self.history is not None:
            self._discarded.add(minute)
        if self._by_minute.pop(minute, None) is not None and self._by_grid is not None:
            self._by_grid[grid_of(minute)].remove(minute)

    def _retained(self, minute: int) -> bool:
        newest = self.newest
        return newest is not None and newest.minute - minute <= self._retain[grid_of(minute)]

    def _trim(self, now_minute: int) -> None:
        if self._by_grid is None:
            return
        for grid, queue in self._by_grid.items():
            horizon = now_minute - self._keep[grid]
            while queue and queue[0] < horizon:
                self._by_minute.pop(queue.popleft(), None)

    # ------------------------------------------------------------------ reading
    def at(self, boundary_epoch: float) -> Snapshot | None:
        """Snapshot taken at this minute boundary (epoch s), or None."""
        if boundary_epoch % 60:
            return None
        minute = int(boundary_epoch) // 60
        raw = self._by_minute.get(minute)
        if raw is not None:
            return Snapshot.unpack(raw)
        if self.history is None:
            return None
        if minute in self._discarded or not self._retained(minute):
            return None
        snap = self.history.at(minute)
        return snap if snap is not None and self._retained(minute) else None

    def interval(self, end_epoch: float, minutes: int) -> tuple[Snapshot, Snapshot] | None:
        """The two snapshots bounding (end - minutes, end], if it was measured throughout."""
        end = self.at(end_epoch)
        start = self.at(end_epoch - minutes * 60)
        if end is None or start is None or end.session != start.session:
            return None
        return start, end

    def energy_mwh(self, quantity: str, end_epoch: float, minutes: int) -> int | None:
        pair = self.interval(end_epoch, minutes)
        if pair is None:
            return None
        return pair[1].counter(quantity) - pair[0].counter(quantity)

    def voltage(self, end_epoch: float, minutes: int) -> tuple[float | None, float | None]:
        """Average RMS voltage (R, T) in V over the interval, None where not measured."""
        pair = self.interval(end_epoch, minutes)
        if pair is None:
            return None, None
        a, b = pair
        seconds = (b.volt_time_ms - a.volt_time_ms) / 1000
        if seconds <= 0:
            return None, None
        vr = (b.volt_mvs_r - a.volt_mvs_r) / seconds / 1000
        vt = (b.volt_mvs_t - a.volt_mvs_t) / seconds / 1000
        return round(vr, 2), (round(vt, 2) if vt > 0 else None)

    def boundaries(self, minutes: int, start_epoch: float, end_epoch: float) -> list[int]:
        """Every boundary of the ``minutes`` grid in [start, end] (epoch s)."""
        step = minutes * 60
        first = -(-int(start_epoch) // step) * step
        return list(range(first, int(end_epoch) + 1, step))

    def count(self, grid: int | None = None) -> int:
        minutes = [s.minute for s in self.snapshots()] if self.history is not None else self._by_minute
        if grid is None:
            return len(minutes)
        return sum(1 for m in minutes if m % grid == 0)

    def __len__(self) -> int:
        """Snapshots held: in RAM, or (with a history) records on flash."""
        if self.history is not None:
            return max(len(self._by_minute), self.history.count())
        return len(self._by_minute)

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot served, oldest first (with a history: reads the whole flash)."""
        if self.history is None:
            return [Snapshot.unpack(self._by_minute[m]) for m in sorted(self._by_minute)]
        merged = {s.minute: s for s in self.history.all()
                  if s.minute not in self._discarded and self._retained(s.minute)}
        merged.update((m, Snapshot.unpack(raw)) for m, raw in self._by_minute.items())
        return [merged[m] for m in sorted(merged)]
