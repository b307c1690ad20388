"""Random multi-cut sequences over a simulated year, at storage level.

A workload writes what the meter writes, minute by minute (a snapshot every minute into the
long / mid / short journal of its grid, a state checkpoint every 20 minutes, an event every 3
hours, a session record and a boot event at every boot) into ``Storage`` on an emulated flash.
A reference year is run once, keeping the flash image and the model of what is on it at every
checkpoint. Each sequence starts at a random checkpoint and runs on with 2-5 power cuts at
random operations (NOR bit-level tears); the gaps between cuts are drawn so that many cuts hit
the writes of the boot that recovers from the previous cut. After every cut ``Storage.boot``
(with the board's monotonic counter, kept across the cuts) recovers the image and is judged
against the model: committed records lost, torn records
served, false corruption/tamper alarms — all must be 0.
"""
from __future__ import annotations

import random
import struct
from contextlib import contextmanager

from sumame.drivers.emulated.storage.counter import EmulatedBackupCounter
from sumame.drivers.emulated.storage.flash import EmulatedFlash, nor_tear
from sumame.firmware.core.events import MeterEvent, Severity
from sumame.firmware.storage.journal import _INTERNAL, KIND_RECLAIM, Journal
from sumame.firmware.metrology.registers import Snapshot
from sumame.firmware.storage.store import Storage
from sumame.hal.errors import PowerCut

from powercut_proof import Figures, owner

CHECKPOINT_EVERY = 20
EVENT_EVERY = 180


class Clock:
    def __init__(self, t):
        self.t = t

    def now(self):
        return self.t


@contextmanager
def instrumented():
    """Memoise page scans (pure) and log every record write: yields the write log."""
    cache = {}
    scan, write = Journal._scan_page, Journal._write
    log = []

    def _scan_page(self, page, data, out, partial):
        key = (self.name, page, data)
        hit = cache.get(key)
        if hit is None:
            o, p = [], []
            end, found = scan(self, page, data, o, p)
            hit = cache[key] = (end, found, o, p)
            if len(cache) > 100_000:
                cache.clear()
        out.extend(hit[2])
        partial.extend(hit[3])
        return hit[0], list(hit[1])

    def _write(self, kind, payload, at=None):
        entry = [self.name, self._next_seq, kind, bytes(payload), self._cur, False]
        log.append(entry)
        record = write(self, kind, payload, at)
        entry[5] = True
        return record

    Journal._scan_page, Journal._write = _scan_page, _write
    try:
        yield log
    finally:
        Journal._scan_page, Journal._write = scan, write


class Run:
    """One meter's storage on one flash, with the model of what must / may be on it."""

    def __init__(self, flash, layout, key, retention, log, minute, present=None):
        self.flash, self.layout, self.key, self.retention, self.log = flash, layout, key, retention, log
        self.minute = minute
        self.present = {n: {} for n in layout.partitions} if present is None else \
            {n: dict(v) for n, v in present.items()}
        self.extra = {n: {} for n in layout.partitions}     # may be served (evicted, in flight)
        self.clock = Clock(minute * 60)
        self.storage = None
        self.counter = EmulatedBackupCounter()   # the board's RTC backup register: survives cuts
        self._seen = len(log)
        apply = flash.apply

        def hooked(op, torn=None):
            apply(op, torn)
            if op[0] == "erase":
                name, rel = owner(self.layout, op[1])
                if name is not None:
                    gone = {s: v for s, v in self.present[name].items() if v[1] == rel}
                    for s in gone:
                        del self.present[name][s]
                    if torn is not None:
                        self.extra[name].update(gone)
        flash.apply = hooked

    def sync(self) -> None:
        """Fold the writes logged since the last call into the model."""
        for name, seq, kind, payload, page, done in self.log[self._seen:]:
            if kind == KIND_RECLAIM:
                named = int.from_bytes(payload[:2], "big")
                for s, v in list(self.present[name].items()):
                    if v[1] == named:
                        self.extra[name][s] = v
                        del self.present[name][s]
            if kind in _INTERNAL:
                continue
            if done:
                self.present[name][seq] = (payload, page)
            else:
                self.extra[name][seq] = (payload, page)
        self._seen = len(self.log)

    def boot(self, figures: Figures | None, where: str, first: bool = False) -> None:
        self.storage = Storage(self.flash, self.layout, self.key, self.clock, counter=self.counter)
        report = self.storage.boot(self.retention)
        if first:   # the counter as it stood when the checkpoint image was taken
            self.counter.advance_to(self.storage.committed_total())
        self._seen = len(self.log)
        if figures is not None:
            for name, rec in report.recoveries.items():
                if name not in self.present:   # storage-wide findings (rollback)
                    figures.false_alarms += len(rec.findings)
                    figures.problems.extend(f"{where}: false {f.kind}: {f.detail}" for f in rec.findings)
                    continue
                must = {s: v[0] for s, v in self.present[name].items()}
                may = {**{s: v[0] for s, v in self.extra[name].items()}, **must}
                served = {r.seq: r.payload for r in rec.records}
                for s, p in must.items():
                    if served.get(s) != p:
                        figures.lost += 1
                        figures.problems.append(f"{where}: {name} seq {s} lost")
                for s, p in served.items():
                    if may.get(s) != p:
                        figures.torn_served += 1
                        figures.problems.append(f"{where}: {name} seq {s} served, never written whole")
                for f in rec.findings:
                    if f.kind != "torn":
                        figures.false_alarms += 1
                        figures.problems.append(f"{where}: false {f.kind}: {f.detail}")
            notes = [n for n in report.notes if "CORRUPTION" in n]
            figures.false_alarms += len(notes)
            figures.problems.extend(f"{where}: {n}" for n in notes)
        self.present = {n: {r.seq: (r.payload, r.page) for r in report.recoveries[n].records}
                        for n in self.layout.partitions}
        self.extra = {n: {} for n in self.layout.partitions}
        # what the meter writes at every boot: its session number and a boot event
        self.storage.save("meter.session", struct.pack(">I", self.minute & 0xFFFF))
        self.storage.event_sink(MeterEvent(self.clock.t, "boot", "firmware", f"boot at minute {self.minute}",
                                           Severity.INFO))
        self.sync()

    def step(self) -> None:
        """One minute of the meter's writes."""
        m = self.minute
        self.clock.t = m * 60
        self.storage.append_snapshot(Snapshot(m, 1, m * 417, m * 3, m * 29, m, m * 6000, m * 6000, m * 60000))
        if m % CHECKPOINT_EVERY == 0:
            self.storage.save("metering.checkpoint", struct.pack(">dI", m * 60.0, m))
        if m % EVENT_EVERY == 0:
            self.storage.event_sink(MeterEvent(m * 60.0, "note", "proof", f"minute {m}: three-hourly note",
                                               Severity.INFO))
        self.minute += 1
        self.sync()


def reference(layout, key, retention, geometry, start_minute, minutes, every):
    """Run ``minutes`` of the workload; keep (image, minute, model) every ``every`` minutes."""
    page_size, page_count = geometry
    checkpoints = []
    with instrumented() as log:
        flash = EmulatedFlash(None, page_size=page_size, page_count=page_count)
        run = Run(flash, layout, key, retention, log, start_minute)
        run.boot(None, "first boot", first=True)
        for i in range(minutes):
            if i % every == 0:
                checkpoints.append((flash.image(), run.minute, {n: dict(v) for n, v in run.present.items()}))
            run.step()
        erases = {name: [flash.erase_count(p) for p in range(first, first + count)]
                  for name, (first, count) in layout.partitions.items()}
    return checkpoints, erases


GAPS = ((1, 40), (1, 400), (1, 1500))
BOOT_GAP = (1, 8)   # ops: a cut this soon after the previous one lands in the recovering boot


def sequences(checkpoints, layout, key, retention, geometry, count, seed) -> Figures:
    page_size, page_count = geometry
    figures = Figures()
    rng = random.Random(seed)
    with instrumented() as log:
        for n in range(count):
            image, minute, present = rng.choice(checkpoints)
            flash = EmulatedFlash(None, page_size=page_size, page_count=page_count)
            flash.load_image(image)
            run = Run(flash, layout, key, retention, log, minute, present)
            run.boot(figures, f"sequence {n} start", first=True)
            cuts, done, booting = rng.randint(2, 5), 0, False
            lo, hi = rng.choice(GAPS)
            flash.cut_power_at(flash.ops + rng.randint(lo, hi), torn=nor_tear(rng.getrandbits(48)))
            while done < cuts:
                try:
                    if booting:
                        run.boot(figures, f"sequence {n} after cut {done} (minute {run.minute})")
                        booting = False
                    while True:
                        run.step()
                except PowerCut:
                    run.sync()
                    figures.cuts += 1
                    figures.recovery_cuts += booting
                    done, booting = done + 1, True
                    lo, hi = BOOT_GAP if rng.random() < 0.4 else rng.choice(GAPS)
                    flash.cut_power_at(flash.ops + rng.randint(lo, hi), torn=nor_tear(rng.getrandbits(48)))
            flash.cut_power_at(None)
            run.boot(figures, f"sequence {n} after its last cut")
            for _ in range(3):
                run.step()
            run.boot(figures, f"sequence {n} final boot")
            log.clear()
    return figures
