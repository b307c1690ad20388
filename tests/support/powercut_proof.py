"""Power-cut proof machinery: replay a flash op log, cut one operation (NOR tear model),
recover the journal that owns the page, cut the recovery's own writes, and count

* ``lost``         committed records (still inside the ring) not served, or served changed
* ``torn_served``  served records that were never written whole (or differ from what was)
* ``false_alarms`` corruption / tamper findings after nothing but power cuts

Recovery of one journal reads only that journal's pages, so a cut in journal J is checked by
recovering J alone (the other journals' bytes are those of the uncut image). Page scans are
memoised by page content (``_scan_page`` is a pure function of the bytes), which makes tens of
thousands of recoveries affordable; nothing else of the journal is replaced.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from sumame.drivers.emulated.storage.flash import EmulatedFlash, nor_tear
from sumame.firmware.storage.journal import _INTERNAL, KIND_RECLAIM, Journal
from sumame.firmware.storage.store import KIND_STATE, decode_state, encode_state
from sumame.hal.errors import PowerCut


class CachedJournal(Journal):
    """A Journal whose page scans are memoised by (page, bytes); behaviour is unchanged."""

    _cache: dict = {}

    def _scan_page(self, page, data, out, partial):
        key = (self.name, self._key, page, data)
        hit = self._cache.get(key)
        if hit is None:
            o, p = [], []
            end, found = super()._scan_page(page, data, o, p)
            hit = (end, found, o, p)
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = hit
        end, found, o, p = hit
        out.extend(o)
        partial.extend(p)
        return end, list(found)


@dataclass
class Figures:
    cuts: int = 0
    recovery_cuts: int = 0
    lost: int = 0
    torn_served: int = 0
    false_alarms: int = 0
    wraps: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)

    def add(self, other: "Figures") -> None:
        self.cuts += other.cuts
        self.recovery_cuts += other.recovery_cuts
        self.lost += other.lost
        self.torn_served += other.torn_served
        self.false_alarms += other.false_alarms
        self.problems.extend(other.problems[:20 - len(self.problems)])

    def line(self) -> str:
        return (f"{self.cuts} cuts + {self.recovery_cuts} cuts during recovery: committed records "
                f"lost {self.lost}, torn records served {self.torn_served}, false corruption/tamper "
                f"alarms {self.false_alarms}")


@dataclass(frozen=True)
class Write:
    """One record write seen in a run: ops first..last (global numbers), its content, its page."""
    first: int
    last: int
    name: str
    seq: int
    kind: int
    payload: bytes
    page: int


def make_journal(flash, layout, key, name, state=None):
    """A journal built as Storage builds it (the state journal re-writes its live values)."""
    first, count = layout.partitions[name]
    live = None
    if name == "state":
        state = {} if state is None else state
        live = lambda: [(KIND_STATE, encode_state(n, v)) for n, v in state.items()]  # noqa: E731
    return CachedJournal(flash, first, count, name=name, key=key, live=live)


def record_writes(journal_cls=Journal):
    """Patch ``Journal._write`` to log every record write; returns (log, undo)."""
    log: list[Write] = []
    original = journal_cls._write

    def _write(self, kind, payload, at=None):
        first, seq, page = self.nvm.ops + 1, self._next_seq, self._cur
        record = original(self, kind, payload, at)
        log.append(Write(first, self.nvm.ops, self.name, seq, kind, bytes(payload), page))
        return record

    journal_cls._write = _write
    return log, lambda: setattr(journal_cls, "_write", original)


def owner(layout, page):
    for name, (first, count) in layout.partitions.items():
        if first <= page < first + count:
            return name, page - first
    return None, None


def judge(rec, must: dict, may: dict, figures: Figures, where: str) -> dict:
    """Compare a Recovery with what must / may be served ({seq: payload}); returns served."""
    served = {r.seq: r.payload for r in rec.records}
    for seq, payload in must.items():
        if served.get(seq) != payload:
            figures.lost += 1
            figures.problems.append(f"{where}: committed record seq {seq} lost or changed")
    for seq, payload in served.items():
        if seq not in must and may.get(seq) != payload:
            figures.torn_served += 1
            figures.problems.append(f"{where}: record seq {seq} served but never written whole")
    for f in rec.findings:
        if f.kind != "torn":
            figures.false_alarms += 1
            figures.problems.append(f"{where}: false {f.kind}: {f.detail}")
    return served


class Model:
    """What one journal holds on flash: committed records {seq: (payload, page)}."""

    def __init__(self):
        self.present: dict[int, tuple[bytes, int]] = {}

    def commit(self, w: Write) -> None:
        if w.kind not in _INTERNAL:
            self.present[w.seq] = (w.payload, w.page)

    def erase(self, page: int) -> dict:
        gone = {s: p for s, (p, pg) in self.present.items() if pg == page}
        for s in gone:
            del self.present[s]
        return gone

    def must(self) -> dict:
        return {s: p for s, (p, _) in self.present.items()}


def state_of(rec) -> dict:
    state = {}
    for r in rec.records:
        if r.kind == KIND_STATE:
            n, v = decode_state(r.payload)
            state[n] = v
    return state


def track(journal) -> list:
    """Log every record write of this journal instance: [first_op, last_op|None, seq, kind, payload]
    (last_op None = the write the power cut interrupted)."""
    log = []
    original = journal._write

    def _write(kind, payload, at=None):
        entry = [journal.nvm.ops + 1, None, journal._next_seq, kind, bytes(payload)]
        log.append(entry)
        record = original(kind, payload, at)
        entry[1] = journal.nvm.ops
        return record

    journal._write = _write
    return log


def cut_recovery(image: bytes, geometry, layout, key, name, rec, follow: list[tuple[int, bytes]],
                 tear_seed: int, figures: Figures, where: str, every: bool = True) -> None:
    """The journal recovered (``rec``) from ``image`` writes ``follow`` (its next records); cut
    each of those operations (NOR tear), recover, check; then write on and reboot once more."""
    page_size, page_count = geometry
    first_page = layout.partitions[name][0]
    served = {r.seq: r.payload for r in rec.records}
    pages = {r.seq: r.page for r in rec.records}
    rec_state = state_of(rec)
    probe = EmulatedFlash(None, page_size=page_size, page_count=page_count)
    probe.load_image(image)
    j = make_journal(probe, layout, key, name, dict(rec_state))
    j.recover()
    for kind, payload in follow:
        j.append(kind, payload)
    n_ops = probe.ops
    steps = range(1, n_ops + 1) if every else [random.Random(tear_seed).randint(1, max(1, n_ops))]
    for step in steps:
        g = EmulatedFlash(None, page_size=page_size, page_count=page_count, record_ops=True)
        g.load_image(image)
        state = dict(rec_state)
        jj = make_journal(g, layout, key, name, state)
        jj.recover()
        log = track(jj)
        g.cut_power_at(step, torn=nor_tear(tear_seed * 131 + step))
        try:
            for kind, payload in follow:
                jj.append(kind, payload)
                if kind == KIND_STATE:
                    n, v = decode_state(payload)
                    state[n] = v
        except PowerCut:
            pass
        figures.recovery_cuts += 1
        must, may = dict(served), dict(served)
        for index, op in enumerate(g.op_log, 1):
            if op[0] == "erase":
                page = op[1] - first_page
                for s in [s for s in must if pages.get(s) == page]:
                    del must[s]
                    if index < len(g.op_log):
                        del may[s]
        for first, last, seq, kind, payload in log:
            if kind == KIND_RECLAIM:   # from its commit on, the named page is evicted
                for s in [s for s in must if pages.get(s) == int.from_bytes(payload[:2], "big")]:
                    del must[s]
            if kind in _INTERNAL:
                continue
            may[seq] = payload
            if last is not None:
                must[seq] = payload
        again = make_journal(g, layout, key, name, dict(rec_state))
        rec2 = again.recover()
        judge(rec2, must, may, figures, f"{where}, recovery cut at its op {step}")
        # keep running: two more records, then a reboot that serves them and finds nothing
        again.live = make_journal(g, layout, key, name, state_of(rec2)).live
        written = {again.append(kind, payload).seq: payload for kind, payload in follow[:2]}
        rec3 = make_journal(g, layout, key, name).recover()
        kept = {r.seq: r.payload for r in rec3.records}
        if any(kept.get(s) != p for s, p in written.items()):
            figures.lost += 1
            figures.problems.append(f"{where}, after recovery cut {step}: records written after it lost")
        for f in rec3.findings:
            if f.kind != "torn":
                figures.false_alarms += 1
                figures.problems.append(f"{where}, reboot after recovery cut {step}: false {f.kind}: {f.detail}")
