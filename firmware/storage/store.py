"""The meter's non-volatile store: journals for interval snapshots, events and state.

Flash layout (pages)::

    0            superblock: partition table (committed like a journal record)
    state        named state records (breaker, selectors, checkpoints) — snapshot journal
    events       event log — FIFO
    long         snapshots on the 30/15-minute grids — FIFO, sized for their retention
    mid          snapshots on the 5-minute grid only — FIFO
    short        other 1-minute snapshots — FIFO, sized for 60 minutes (+ margin)
    extlog       external-connection log batches (firmware/security/extlog.py) — FIFO; last, so
                 the partitions before it keep their pages; omitted when the flash is too small

Each journal (firmware/storage/journal.py) gives CRC-checked, HMAC-chained, power-cut-safe records.
At boot ``boot()`` recovers every journal, returns what is intact and reports damage as events:
``corruption`` / ``tamper`` (alarm) or ``torn-write`` (info, the trace of a power cut). The
meter starts with whatever survived; what did not survive is simply absent (no data).
``scrub()`` re-verifies one page at a time while running, so rot is found without a reboot.

A program that fails on a bad bit (e.g. a flipped bit in erased flash ahead of the write
position) makes the journal abandon the rest of that page and write on; storage raises one
``flash-fault`` alarm per abandoned page. If a journal cannot be written at all, the record is
dropped with an alarm and the meter keeps running (metering never dies on a storage fault); the
records it drops after that raise no further alarm until it stores again (``health()["dropped"]``
counts them), so a stuck journal cannot flood the event log out of its own journal.

Rollback: where the board has a monotonic counter (``[storage] counter``), storage raises it to
the number of records committed over all journals after every append; at boot fewer records
on flash than the counter holds means the image was rolled back (tamper). Without a counter a
rollback to an older genuine image, or the newest records cut off, cannot be detected.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from ..core.events import EventLog, MeterEvent, Severity
from sumame.hal.errors import CounterFault, NvmError

from .journal import OVERHEAD, Finding, Journal, JournalFault, Recovery, Record, _crc32, note_fault
from .journal_index import IndexedJournal
from ..metrology.registers import GRIDS, Retention, Snapshot, grid_of

KIND_SNAPSHOT = 1
KIND_EVENT = 2
KIND_STATE = 3
KIND_EXTLOG = 4
SUPER_MAGIC = b"SUMAMEFS"
SUPER_VERSION = 1
PARTITIONS = ("state", "events", "long", "mid", "short", "extlog")
_GRID_PARTITION = {30: "long", 15: "long", 5: "mid", 1: "short"}
_SEVERITY = {s: i for i, s in enumerate(Severity)}


@dataclass(frozen=True)
class StorageLayout:
    """First page and page count of every partition (page 0 is the superblock)."""

    page_size: int
    partitions: dict[str, tuple[int, int]]

    @property
    def pages_used(self) -> int:
        return 1 + sum(count for _, count in self.partitions.values())

    def encode(self) -> bytes:
        body = SUPER_MAGIC + bytes((SUPER_VERSION, len(self.partitions))) + struct.pack(">I", self.page_size)
        for name, (first, count) in self.partitions.items():
            body += name.encode().ljust(8, b"\0") + struct.pack(">HH", first, count)
        return b"\xff" + body + _crc32(body).to_bytes(4, "big")

    @classmethod
    def decode(cls, data: bytes) -> "StorageLayout | None":
        """None when the superblock is absent; raises ValueError when it is damaged."""
        if data[0] == 0xFF and data[1:].count(0xFF) == len(data) - 1:
            return None
        if data[0] != 0x00:
            raise ValueError("superblock was never committed (torn write at first boot)")
        if data[1:9] != SUPER_MAGIC:
            raise ValueError("superblock magic is wrong")
        version, n = data[9], data[10]
        size = 10 + 4 + 12 * n
        body = data[1:1 + size]
        if version != SUPER_VERSION or _crc32(body) != int.from_bytes(data[1 + size:5 + size], "big"):
            raise ValueError("superblock CRC or version is wrong")
        page_size = struct.unpack_from(">I", body, 10)[0]
        parts = {}
        for i in range(n):
            entry = body[14 + 12 * i:26 + 12 * i]
            parts[entry[:8].rstrip(b"\0").decode()] = struct.unpack(">HH", entry[8:])
        return cls(page_size, parts)


_PER_DAY = {g: sum(1 for m in range(0, 1440) if grid_of(m) == g) for g in GRIDS}
"""Snapshots per day whose coarsest grid is 30, 15, 5 and 1 minutes (48, 48, 192, 1152)."""


def plan_layout(page_size: int, page_count: int, retention: Retention, *,
                event_pages: int = 16, state_pages: int = 3, margin: float = 1.15,
                extlog_pages: int = 8) -> StorageLayout:
    """Size the partitions for the retention (with a margin and two spare pages each). The
    external-connection log gets ``extlog_pages`` when they fit after the others (else none)."""
    per_page = (page_size - 2 * OVERHEAD - 8) // (OVERHEAD + Snapshot.SIZE)
    per_day = _PER_DAY
    need = {
        "long": (per_day[30] + per_day[15]) * max(retention.days_30, retention.days_15),
        "mid": per_day[5] * retention.days_5,
        "short": math.ceil(per_day[1] / 24 * retention.minutes_1 / 60),
    }
    pages = {"state": state_pages, "events": event_pages}
    for name, records in need.items():
        pages[name] = math.ceil(records * margin / per_page) + 2
    layout, first = {}, 1
    for name in PARTITIONS[:-1]:
        layout[name] = (first, pages[name])
        first += pages[name]
    if extlog_pages >= 2 and first + extlog_pages <= page_count:
        layout["extlog"] = (first, extlog_pages)
        first += extlog_pages
    if first > page_count:
        raise ValueError(f"flash of {page_count} pages x {page_size} B is too small for the retention: "
                         f"needs {first} pages")
    return StorageLayout(page_size, layout)


@dataclass
class BootReport:
    """What ``Storage.boot`` found."""

    snapshots: list[Snapshot] = field(default_factory=list)
    events: list[MeterEvent] = field(default_factory=list)
    state: dict[str, bytes] = field(default_factory=dict)
    extlog: list[bytes] = field(default_factory=list)
    """Payloads of the external-connection log batches, oldest first."""
    recoveries: dict[str, Recovery] = field(default_factory=dict)
    record_counts: dict[str, int] = field(default_factory=dict)
    """Intact records recovery found per journal (kept when the records themselves are dropped)."""
    notes: list[str] = field(default_factory=list)

    def findings(self, kind: str | None = None):
        out = [f for r in self.recoveries.values() for f in r.findings]
        return out if kind is None else [f for f in out if f.kind == kind]


class Storage:
    """Journals on an Nvm, plus the StateStore and event sink the firmware uses.

    nvm:     the Nvm device; layout: planned layout (used when the flash is blank)
    key:     per-device HMAC key (bytes, >= 16)
    counter: optional MonotonicCounter (hal.counter) for rollback detection
    """

    def __init__(self, nvm, layout: StorageLayout, key: bytes, clock, counter=None):
        if len(key) < 16:
            raise ValueError("device key must be at least 16 bytes")
        self.nvm, self.layout, self._key, self.clock = nvm, layout, key, clock
        self.journals: dict[str, Journal] = {}
        self._state: dict[str, bytes] = {}
        self.retention_shortfalls = 0
        self._retention: Retention | None = None
        self._scrub_next = 0
        self.events: EventLog | None = None
        self.counter = counter
        self.faults: list[str] = []
        self._pending: list[tuple[str, str]] = []   # (kind, detail) alarms not yet recorded
        self._reporting = False
        self._failing: set[str] = set()
        """Journals whose last append failed: alarmed once, until one stores again."""
        self.dropped: dict[str, int] = {}
        """Records not stored, per journal (health())."""
        self.page_hint: Callable[[str, int], tuple[int, int] | None] | None = None
        """Optional (journal, page) -> (newest minute, snapshots) of what was appended to or
        recovered on that page of a snapshot journal since its last erase, or None when
        unknown (the firmware's history index, which holds exactly that): lets an eviction
        that cannot cut any retention short drop the page unread (see ``_evict_wanted``)."""

    # ------------------------------------------------------------------ boot
    def boot(self, retention: Retention) -> BootReport:
        self._retention = retention
        self.__dict__.pop("_scrub_plan", None)   # the journals are made anew below
        report = BootReport()
        self._check_superblock(report)
        on_evict = self._on_evict   # one bound method for every snapshot journal
        for name, (first, count) in self.layout.partitions.items():
            kind = IndexedJournal   # offsets + sequence numbers in RAM, records read back from flash
            self.journals[name] = kind(
                self.nvm, first, count, name=name, key=self._key,
                live=self._live_state if name == "state" else None,
                on_evict=on_evict if name in ("long", "mid", "short") else None,
                on_fault=partial(self._on_fault, name),
                evict_check=partial(self._evict_wanted, name) if name in ("long", "mid", "short") else None)
        for name, journal in self.journals.items():
            recovery = journal.recover()
            report.recoveries[name] = recovery
            report.record_counts[name] = len(recovery.records)
            for record in recovery.records:
                self._load(name, record, report)
        self._check_rollback(report)
        report.state = dict(self._state)
        report.snapshots.sort(key=lambda s: s.minute)
        return report

    def committed_total(self) -> int:
        """Records committed over all journals since the flash was formatted."""
        return sum([j._next_seq for j in self.journals.values()])

    def _check_rollback(self, report: BootReport) -> None:
        if self.counter is None:
            return
        total = self.committed_total()
        try:
            stored = self.counter.read()
        except CounterFault as exc:     # the register itself rotted: a fault, not a rollback
            self._pending.append(("counter-fault", f"{exc}; re-seated at {total} committed records "
                                                   f"(rollback detection resumes from here)"))
            self.counter.reseat(total)
            return
        if total < stored:
            report.recoveries["rollback"] = Recovery(findings=[Finding(
                "tamper", 0, 0, f"flash holds {total} committed records but the monotonic counter "
                                f"says {stored} were committed: the image was rolled back or cut")])

    def _check_superblock(self, report: BootReport) -> None:
        data = self.nvm.read(0, self.nvm.page_size)
        if data[0] not in (0x00, 0xFF):
            # the commit byte was cut with some of its bits cleared (NOR): the body, programmed
            # first, is complete if it verifies; then finish the commit (roll forward)
            try:
                stored = StorageLayout.decode(b"\x00" + data[1:])
            except ValueError:
                stored = None
            if stored is not None:
                self.nvm.program(0, b"\x00")
                report.notes.append("superblock commit byte was cut by a power cut; completed")
                data = b"\x00" + data[1:]
        try:
            stored = StorageLayout.decode(data)
        except ValueError as exc:
            report.notes.append(f"superblock unreadable ({exc}); using the board's layout")
            stored = None
            torn = data[0] == 0xFF
            if not torn:
                report.notes.append("CORRUPTION: superblock damaged")
            self.nvm.erase(0)
        if stored is None:
            self.nvm.program(1, self.layout.encode()[1:])
            self.nvm.program(0, b"\x00")
        elif stored != self.layout:
            report.notes.append("flash was formatted with another layout; keeping the stored one")
            self.layout = stored

    def _load(self, journal: str, record: Record, report: BootReport) -> None:
        try:
            if record.kind == KIND_SNAPSHOT and journal in ("long", "mid", "short"):
                report.snapshots.append(Snapshot.unpack(record.payload))
            elif record.kind == KIND_EVENT and journal == "events":
                report.events.append(decode_event(record.payload))
            elif record.kind == KIND_EXTLOG and journal == "extlog":
                report.extlog.append(record.payload)
            elif record.kind == KIND_STATE and journal == "state":
                name, value = decode_state(record.payload)
                self._state[name] = value
            else:
                report.notes.append(f"{journal}: record seq {record.seq} of unexpected kind {record.kind}")
        except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
            report.notes.append(f"{journal}: record seq {record.seq} does not decode: {exc}")

    # ------------------------------------------------------------------ writing
    def _append(self, name: str, kind: int, payload: bytes) -> Record | None:
        """Append to one journal; a flash fault is an alarm (None), never an exception."""
        try:
            record = self.journals[name].append(kind, payload)
        except (JournalFault, NvmError) as exc:
            self.dropped[name] = self.dropped.get(name, 0) + 1
            if name not in self._failing:   # one alarm per run of failures, not one per record:
                self._failing.add(name)     # a stuck journal must not flood out the event log
                self._queue(name, f"{name}: record not stored: {exc} (its next records are dropped "
                                  f"without another alarm until one is stored)")
            record = None
        else:
            self._failing.discard(name)
        if record is not None and self.counter is not None:
            self.counter.advance_to(self.committed_total())
        if self._pending:
            self._report_faults()
        return record

    def _on_fault(self, name: str, detail: str) -> None:
        """A page abandoned on a failed program: one alarm per page, but none while the journal
        is known not to store (its abandons come round again with every record it drops). An
        event page abandoned while an alarm is written is alarmed too: the journal writes on
        at its next page, and each abandon uses up a page, so this cannot loop."""
        note_fault(self.faults, detail)
        if name not in self._failing:
            self._pending.append(("flash-fault", detail))

    def _queue(self, name: str, detail: str) -> None:
        """An alarm to record — except one the event journal raises while an alarm is being
        written to it: that one would be written to the same journal, fail, raise another, ...
        (it stays in ``faults`` and ``dropped``)."""
        if not (self._reporting and name == "events"):
            self._pending.append(("flash-fault", detail))

    def _report_faults(self) -> None:
        if self._reporting or self.events is None:
            return
        self._reporting = True
        try:
            while self._pending:
                kind, detail = self._pending.pop(0)
                self.events.record(kind, source="storage", severity=Severity.ALARM, detail=detail)
        finally:
            self._reporting = False

    def append_snapshot(self, snap: Snapshot) -> Record | None:
        return self._append(_GRID_PARTITION[grid_of(snap.minute)], KIND_SNAPSHOT, snap.pack())

    def event_sink(self, event: MeterEvent) -> None:
        self._append("events", KIND_EVENT, encode_event(event))

    def append_extlog(self, payload: bytes) -> Record | None:
        """One batch of the external-connection log; None when this flash has no ``extlog``
        partition (formatted by an older layout) or the write failed (alarm raised)."""
        if "extlog" not in self.journals:
            return None
        return self._append("extlog", KIND_EXTLOG, payload)

    @property
    def extlog_capacity(self) -> int:
        """Bytes of log payload the extlog partition holds before the oldest page is evicted."""
        journal = self.journals.get("extlog")
        return 0 if journal is None else (journal.page_count - 1) * self.layout.page_size

    def load(self, name: str) -> bytes | None:
        return self._state.get(name)

    def save(self, name: str, data: bytes) -> None:
        """StateStore: durable when it returns (unless a flash-fault alarm says otherwise)."""
        self._append("state", KIND_STATE, encode_state(name, data))
        self._state[name] = bytes(data)

    def _live_state(self):
        return [(KIND_STATE, encode_state(n, v)) for n, v in self._state.items()]

    def _evict_wanted(self, name: str, page: int) -> bool:
        """Whether ``_on_evict`` must see the records of ``page`` of journal ``name``: False
        only when none of them can be a shortfall — no retention is checked, or ``page_hint``
        knows of at least as many snapshots on the page as the journal and the newest of them
        is already older than the longest retention of the journal's grids (every record read
        back would be at most as new). Otherwise the page is read back and checked as before."""
        if self._retention is None:
            return False
        hint = self.page_hint(name, page) if self.page_hint is not None else None
        if hint is None or hint[1] < self.journals[name].records_on(page):
            return True
        keep = max(self._retention.keep_seconds(g) for g, part in _GRID_PARTITION.items() if part == name)
        return max(self.clock.now(), 0) - hint[0] * 60 < keep - 60

    def _on_evict(self, records: list[Record]) -> None:
        if self._retention is None or not records:
            return
        newest = max(self.clock.now(), 0)
        for record in records:
            snap = Snapshot.unpack(record.payload)
            if newest - snap.epoch < self._retention.keep_seconds(grid_of(snap.minute)) - 60:
                self.retention_shortfalls += 1
                if self.events is not None:
                    self.events.record("retention", source="storage", severity=Severity.WARNING,
                                       detail=f"flash too small: snapshot of minute {snap.minute} "
                                              f"evicted before its retention ended")
                return

    # ------------------------------------------------------------------ run time
    def scrub(self) -> list:
        """Re-verify one page of one journal (round robin); returns new findings."""
        journals = self.journals
        plan = self.__dict__.get("_scrub_plan")
        if plan is None or plan[0] is not journals or len(plan[2]) != len(journals):
            order = [(name, j, j.page_count) for name, j in journals.items()]
            plan = self.__dict__["_scrub_plan"] = (journals, sum(n for _, _, n in order), order)
        index = self._scrub_next % plan[1]
        self._scrub_next += 1
        for name, journal, count in plan[2]:
            if index < count:
                changed = journal.verify_page(index)
                return [(name, page, offset, kind, seq) for page, offset, kind, seq in changed] if changed else []
            index -= count
        return []

    def health(self) -> dict:
        wear = [self.nvm.erase_count(p) for p in range(self.layout.pages_used)]
        return {
            "records": {n: j.record_count for n, j in self.journals.items()},
            "appended": {n: j.appended for n, j in self.journals.items()},
            "max_erase_count": max(wear) if wear else 0,
            "retention_shortfalls": self.retention_shortfalls,
            "dropped": dict(self.dropped),
        }


def encode_event(event: MeterEvent) -> bytes:
    def text(s: str, limit: int) -> bytes:
        raw = s.encode("utf-8")[:limit]
        return bytes((len(raw),)) + raw
    return struct.pack(">dB", event.at, _SEVERITY[event.severity]) + text(event.kind, 32) + \
        text(event.source, 32) + text(event.detail, 200)


def decode_event(payload: bytes) -> MeterEvent:
    at, severity = struct.unpack_from(">dB", payload)
    pos, fields = 9, []
    for _ in range(3):
        n = payload[pos]
        fields.append(payload[pos + 1:pos + 1 + n].decode("utf-8", "replace"))
        pos += 1 + n
    return MeterEvent(at, fields[0], fields[1], fields[2], list(Severity)[severity])


def encode_state(name: str, value: bytes) -> bytes:
    raw = name.encode()
    if len(raw) > 64:
        raise ValueError(f"state name {name!r} longer than 64 bytes")
    return bytes((len(raw),)) + raw + value


def decode_state(payload: bytes) -> tuple[str, bytes]:
    n = payload[0]
    return payload[1:1 + n].decode(), payload[1 + n:]
