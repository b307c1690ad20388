"""A Journal that remembers what it wrote in 6 bytes per record instead of a Record object.

``Journal`` keeps, per page, the records it knows are on flash (for eviction checks, the
background scrub and introspection). For the interval journals that is ~11,000 records at
100 days of retention — megabytes of Python objects per meter. ``IndexedJournal`` keeps only
each record's offset and sequence number per page (two machine arrays) and reads the records
themselves back from flash when they are needed: before a page is erased (eviction check),
when it is scrubbed, when a test lists them. Recovery, the on-flash format and the commit
protocol are ``Journal``'s, unchanged: this class only swaps the container they fill.

The scrub compares what is on flash with what was written: a record must still sit at its
offset, committed, with a valid CRC and HMAC and the same sequence number (a valid record
copied from elsewhere carries another sequence number and fails the HMAC chain position).
"""
from __future__ import annotations

from array import array

from .journal import _INTERNAL, STATE_COMMITTED, STATE_WRITING, Journal, Record, _at_page


class _PageIndex:
    """Offsets and sequence numbers of the records of one page, oldest first."""

    __slots__ = ("offsets", "seqs", "internal")

    def __init__(self):
        self.offsets = array("H")
        self.seqs = array("I")
        self.internal = 0   # how many of them are the journal's own markers (RECLAIM, SEALED)

    def append(self, record: Record) -> None:
        self.offsets.append(record.offset)
        self.seqs.append(record.seq)
        if record.kind in _INTERNAL:
            self.internal += 1

    def __len__(self) -> int:
        return len(self.offsets)


class _Pages:
    """Stands in for ``Journal._page_records`` (page -> records): stores _PageIndex entries,
    hands out Records read back from flash."""

    def __init__(self, journal: "IndexedJournal"):
        self._journal = journal
        self._index: dict[int, _PageIndex] = {}

    def setdefault(self, page: int, default=None) -> _PageIndex:
        entry = self._index.get(page)
        if entry is None:
            entry = self._index[page] = _PageIndex()
        return entry

    def pop(self, page: int, default=None) -> list[Record]:
        entry = self._index.pop(page, None)
        return default if entry is None else self._journal._reread(page, entry)

    def get(self, page: int, default=None) -> list[Record]:
        entry = self._index.get(page)
        return default if entry is None else self._journal._reread(page, entry)

    def values(self):
        return [self._journal._reread(page, entry) for page, entry in sorted(self._index.items())]

    def counts(self):
        return self._index.items()


class IndexedJournal(Journal):
    """Journal with a compact in-RAM index (see module docstring)."""

    @property
    def _page_records(self) -> _Pages:
        return self.__dict__["_pages"]

    @_page_records.setter
    def _page_records(self, value) -> None:
        pages = _Pages(self)
        for page, records in dict(value).items():
            for record in records:
                pages.setdefault(page).append(record)
        self.__dict__["_pages"] = pages

    def _reread(self, page: int, entry: _PageIndex) -> list[Record]:
        """The records at the indexed offsets as flash holds them now (damaged ones left out)."""
        data = self.nvm.read((self.first_page + page) * self.page_size, self.page_size)
        out = []
        for offset, seq in zip(entry.offsets, entry.seqs):
            status, _, record = self._parse(data, offset)
            if data[offset] != STATE_WRITING and status == "ok" and record.seq == seq:
                out.append(_at_page(record, page))
        return out

    def verify_page(self, page: int) -> list[tuple[int, int, str, int]]:
        entry = self._page_records._index.get(page)
        if entry is None:
            return []
        data = self.nvm.read((self.first_page + page) * self.page_size, self.page_size)
        known = (len(entry), entry.seqs[0], entry.seqs[-1]) if len(entry) else None
        cached, key = self._scrub_lookup(page, data, known)
        if cached is not None:
            return list(cached)
        changed = []
        base = (self.first_page + page) * self.page_size
        for offset, seq in zip(entry.offsets, entry.seqs):
            if base + offset == self._finish:
                continue  # rolled forward at boot; its commit byte is finished before the next write
            status, _, parsed = self._parse(data, offset)
            if data[offset] != STATE_COMMITTED or status != "ok" or parsed.seq != seq:
                changed.append((page, offset, "tamper" if status == "bad-mac" else "corruption", seq))
        self._scrub_store(page, key, changed)
        return changed

    @property
    def record_count(self) -> int:
        """Records written and not yet evicted (internal markers excluded)."""
        return sum(len(entry) - entry.internal for _, entry in self._page_records.counts())

    def fill_ratio(self) -> float:
        used = sum(1 for _, entry in self._page_records.counts() if len(entry))
        return used / self.page_count

