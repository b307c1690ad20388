"""A Journal that remembers what it wrote in ~13 bytes per page instead of Record objects.

``Journal`` keeps, per page, the records it knows are on flash (for eviction checks, the
background scrub and introspection). For the interval journals that is ~11,000 records at
100 days of retention — megabytes of Python objects per meter. ``IndexedJournal`` keeps only
each page's run of offsets and sequence numbers (flat arrays, see ``_Pages``) and reads the records
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
    """One page's view on the journal's ``_Pages`` (made on demand, holds nothing itself):
    offsets and sequence numbers of the page's records, oldest first."""

    __slots__ = ("_pages", "_page")

    def __init__(self, pages: "_Pages", page: int):
        self._pages, self._page = pages, page

    def append(self, record: Record) -> None:
        self._pages._append(self._page, record)

    def __len__(self) -> int:
        return self._pages._count(self._page)

    @property
    def internal(self) -> int:
        """How many of the records are the journal's own markers (RECLAIM, SEALED)."""
        return self._pages._h[4 * self._page + 3]

    @property
    def offsets(self) -> list[int]:
        return self._pages._offsets_seqs(self._page)[0]

    @property
    def seqs(self) -> list[int]:
        return self._pages._offsets_seqs(self._page)[1]


class _Pages:
    """Stands in for ``Journal._page_records`` (page -> records): hands out Records read back
    from flash, and keeps per page, in flat machine arrays of the journal's page count, what
    the records were — a journal writes a page front to back with consecutive sequence numbers
    and (in the interval journals) records of one size, so a page's offsets and sequence
    numbers are an arithmetic progression ``(offset0 + i * step, seq0 + i)``; a record that
    breaks it (a mark-slot RECLAIM, a record of another size) and those after it go to a small
    per-page tail. ~13 bytes per page whatever the retention, instead of 6 bytes per record."""

    def __init__(self, journal: "IndexedJournal"):
        n = journal.page_count
        self._journal = journal
        self._present = bytearray(n)
        # per page, 4 halfwords: records in the progression, first offset, step, internal markers
        # (one array, not four: each array object costs ~80 B beside its data)
        self._h = array("H", bytes(8 * n))
        self._seq0 = array("I", bytes(4 * n))
        self._tail: dict[int, tuple[array, array]] = {}

    # ---------------------------------------------------------------- per page
    def _append(self, page: int, record: Record) -> None:
        offset, seq = record.offset, record.seq
        tail = self._tail.get(page)
        if tail is None:
            h, at = self._h, 4 * page
            prog = h[at]
            if prog == 0:
                h[at + 1], self._seq0[page], h[at] = offset, seq, 1
            elif prog == 1 and seq == self._seq0[page] + 1 and 0 < offset - h[at + 1] < 0x10000:
                h[at + 2], h[at] = offset - h[at + 1], 2
            elif prog > 1 and seq == self._seq0[page] + prog and \
                    offset == h[at + 1] + prog * h[at + 2] and prog < 0xFFFF:
                h[at] = prog + 1
            else:
                tail = self._tail[page] = (array("H"), array("I"))
        if tail is not None:
            tail[0].append(offset)
            tail[1].append(seq)
        if record.kind in _INTERNAL:
            self._h[4 * page + 3] += 1

    def _count(self, page: int) -> int:
        tail = self._tail.get(page)
        return self._h[4 * page] + (0 if tail is None else len(tail[0]))

    def _offsets_seqs(self, page: int) -> tuple[list[int], list[int]]:
        at = 4 * page
        prog, off0, step, seq0 = self._h[at], self._h[at + 1], self._h[at + 2], self._seq0[page]
        offsets = [off0 + i * step for i in range(prog)]
        seqs = list(range(seq0, seq0 + prog))
        tail = self._tail.get(page)
        if tail is not None:
            offsets.extend(tail[0])
            seqs.extend(tail[1])
        return offsets, seqs

    def _clear(self, page: int) -> None:
        self._present[page] = 0
        self._h[4 * page] = self._h[4 * page + 3] = 0
        self._tail.pop(page, None)

    def entry(self, page: int) -> _PageIndex | None:
        return _PageIndex(self, page) if self._present[page] else None

    # ---------------------------------------------------------------- dict-like
    def setdefault(self, page: int, default=None) -> _PageIndex:
        if not self._present[page]:
            self._clear(page)
            self._present[page] = 1
        return _PageIndex(self, page)

    def pop(self, page: int, default=None) -> list[Record]:
        if not self._present[page]:
            return default
        records = self._journal._reread(page, *self._offsets_seqs(page))
        self._clear(page)
        return records

    def get(self, page: int, default=None) -> list[Record]:
        if not self._present[page]:
            return default
        return self._journal._reread(page, *self._offsets_seqs(page))

    def values(self):
        return [self._journal._reread(page, *self._offsets_seqs(page))
                for page in range(len(self._present)) if self._present[page]]

    def counts(self):
        return [(page, _PageIndex(self, page)) for page in range(len(self._present)) if self._present[page]]


class IndexedJournal(Journal):
    """Journal with a compact in-RAM index (see module docstring)."""

    @property
    def _page_records(self) -> _Pages:
        return self._pages_index

    @_page_records.setter
    def _page_records(self, value) -> None:
        pages = _Pages(self)
        for page, records in dict(value).items():
            for record in records:
                pages.setdefault(page).append(record)
        self._pages_index = pages

    def _reread(self, page: int, offsets, seqs) -> list[Record]:
        """The records at the indexed offsets as flash holds them now (damaged ones left out)."""
        data = self.nvm.read((self.first_page + page) * self.page_size, self.page_size)
        out = []
        for offset, seq in zip(offsets, seqs):
            status, _, record = self._parse(data, offset)
            if data[offset] != STATE_WRITING and status == "ok" and record.seq == seq:
                out.append(_at_page(record, page))
        return out

    def verify_page(self, page: int) -> list[tuple[int, int, str, int]]:
        pages = self._page_records
        entry = pages.entry(page)
        if entry is None:
            return []
        offsets, seqs = pages._offsets_seqs(page)
        data = self.nvm.read((self.first_page + page) * self.page_size, self.page_size)
        known = (len(seqs), seqs[0], seqs[-1]) if seqs else None
        cached, key = self._scrub_lookup(page, data, known)
        if cached is not None:
            return list(cached)
        changed = []
        base = (self.first_page + page) * self.page_size
        for offset, seq in zip(offsets, seqs):
            if base + offset == self._finish:
                continue  # rolled forward at boot; its commit byte is finished before the next write
            status, _, parsed = self._parse(data, offset)
            if data[offset] != STATE_COMMITTED or status != "ok" or parsed.seq != seq:
                changed.append((page, offset, "tamper" if status == "bad-mac" else "corruption", seq))
        self._scrub_store(page, key, changed)
        return changed

    def _note_written(self, record: Record) -> None:
        pages, page = self._pages_index, record.page   # _page_records.setdefault(page).append(record)
        if not pages._present[page]:
            pages._clear(page)
            pages._present[page] = 1
        pages._append(page, record)

    def _forget_page(self, page: int) -> None:
        self._page_records._clear(page)   # no read-back: nobody needs the records

    def records_on(self, page: int) -> int:
        entry = self._page_records.entry(page)
        return 0 if entry is None else len(entry) - entry.internal

    @property
    def record_count(self) -> int:
        """Records written and not yet evicted (internal markers excluded)."""
        return sum(len(entry) - entry.internal for _, entry in self._page_records.counts())

    def fill_ratio(self) -> float:
        used = sum(1 for _, entry in self._page_records.counts() if len(entry))
        return used / self.page_count

