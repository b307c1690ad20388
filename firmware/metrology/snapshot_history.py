"""Interval history read from flash on demand, as a meter MCU does it.

The registers keep only the live snapshots (the last ~1.5 hours) in RAM; older boundaries are
looked up here. For every page of the snapshot journals (``long``, ``mid``, ``short``) the
index keeps the first and last minute it holds and its record count — three machine integers
per page, not one object per snapshot — so a lookup reads one page (or two), verifies its
records (CRC-32 and HMAC, as at boot) and decodes the one asked for. The last page decoded is
cached, so a range read (a profile of 48 half-hours) costs about one page read per page.

A record damaged after boot simply is not found (no data), as it would be on the real meter.
"""
from __future__ import annotations

from array import array

from .registers import Snapshot, grid_of

_PARTITION = {30: "long", 15: "long", 5: "mid", 1: "short"}
SNAPSHOT_JOURNALS = ("long", "mid", "short")


class SnapshotHistory:
    """Index of the snapshot journals of ``storage`` (a firmware.storage.Storage after boot)."""

    def __init__(self, storage):
        self.storage = storage
        self._lo: dict[str, array] = {}
        self._hi: dict[str, array] = {}
        self._n: dict[str, array] = {}
        self._last_page: dict[str, int] = {}
        self._cache: tuple[str, int, int, dict[int, Snapshot]] | None = None
        self.page_reads = 0
        for name in SNAPSHOT_JOURNALS:
            journal = storage.journals[name]
            count = journal.page_count
            self._lo[name] = array("i", [-1]) * count   # minutes since the epoch fit 31 bits
            self._hi[name] = array("i", [-1]) * count
            self._n[name] = array("H", [0]) * count
            self._last_page[name] = journal.write_page

    def load(self, recoveries) -> None:
        """Index what recovery found intact."""
        for name in SNAPSHOT_JOURNALS:
            recovery = recoveries.get(name)
            for record in (recovery.records if recovery is not None else ()):
                if len(record.payload) == Snapshot.SIZE:
                    self._note(name, record.page, int.from_bytes(record.payload[:4], "big"))
            self._last_page[name] = self.storage.journals[name].write_page

    def appended(self, snap: Snapshot) -> None:
        """A snapshot was just committed to its journal (on a page that may be freshly erased)."""
        name = _PARTITION[grid_of(snap.minute)]
        page = self.storage.journals[name].write_page
        if page != self._last_page[name]:   # the ring moved on: that page was erased
            self._lo[name][page] = self._hi[name][page] = -1
            self._n[name][page] = 0
            self._last_page[name] = page
        self._note(name, page, snap.minute)
        if self._cache is not None and self._cache[:2] == (name, page):
            self._cache = None

    def page_newest(self, name: str, page: int) -> tuple[int, int] | None:
        """(newest minute, snapshots noted) on ``page`` of journal ``name`` since the page was
        last erased — an upper bound of what it holds (a record damaged later still counts) —
        or None when nothing is noted (``Storage.page_hint``)."""
        hi = self._hi.get(name)
        if hi is None or hi[page] < 0:
            return None
        return hi[page], self._n[name][page]

    def _note(self, name: str, page: int, minute: int) -> None:
        lo, hi, n = self._lo[name], self._hi[name], self._n[name]
        if lo[page] < 0 or minute < lo[page]:
            lo[page] = minute
        if minute > hi[page]:
            hi[page] = minute
        n[page] += 1

    # ------------------------------------------------------------------ reading
    def at(self, minute: int) -> Snapshot | None:
        name = _PARTITION[grid_of(minute)]
        lo, hi = self._lo[name], self._hi[name]
        for page in range(len(lo)):
            if lo[page] <= minute <= hi[page] and lo[page] >= 0:
                snap = self._page(name, page).get(minute)
                if snap is not None:
                    return snap
        return None

    def _page(self, name: str, page: int) -> dict[int, Snapshot]:
        cache = self._cache
        n = self._n[name][page]
        if cache is not None and cache[0] == name and cache[1] == page and cache[2] == n:
            return cache[3]
        self.page_reads += 1
        decoded = {}
        for record in self.storage.journals[name].read_page(page):
            if len(record.payload) == Snapshot.SIZE:
                snap = Snapshot.unpack(record.payload)
                decoded[snap.minute] = snap
        self._cache = (name, page, n, decoded)
        return decoded

    def all(self) -> list[Snapshot]:
        """Every snapshot on flash that still verifies (slow: reads every used page)."""
        out: dict[int, Snapshot] = {}
        for name in SNAPSHOT_JOURNALS:
            for page, count in enumerate(self._n[name]):
                if count:
                    out.update(self._page(name, page))
        return [out[m] for m in sorted(out)]

    def count(self) -> int:
        """Snapshot records on flash (as written; damage found later is not subtracted)."""
        return sum(sum(n) for n in self._n.values())
