"""Independent review of the memory pass: the scrub's flat key cache, the extlog ring's peer
numbers and the indexes grown to the highest page written. Each test pins a behaviour a plain
reading of the change could get wrong (a finding kept after the page was rewritten clean, a
number beyond the 2-byte array, a hit that re-checks anyway, a page beyond the grown index)."""
from __future__ import annotations

import random
from collections import deque

from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.security.extlog import Direction, Entry, EntryRing, Verdict
from sumame.firmware.storage.journal import Journal
from sumame.firmware.storage.journal_index import IndexedJournal

KEY = bytes(range(32))
PAGES = 8


def _journal(cls, records: int):
    flash = EmulatedFlash(None, page_size=512, page_count=PAGES)
    j = cls(flash, 0, PAGES, name="t", key=KEY)
    j.recover()
    for i in range(records):
        j.append(1, bytes([i & 0xFF]) * 20)
    return flash, j


def _offsets(j, page):
    if isinstance(j, IndexedJournal):
        return j._page_records._offsets_seqs(page)[0]
    return [r.offset for r in j._page_records[page]]


# ---------------------------------------------------------------- (a) scrub cache
def test_a_finding_is_gone_once_the_page_is_rewritten_clean():
    """A page with a rotten record, scrubbed (finding cached), then erased and rewritten by the
    ring: every later scrub of it reports nothing (the cached finding must not outlive its key)."""
    for cls in (Journal, IndexedJournal):
        flash, j = _journal(cls, PAGES * 11)
        page = (j._cur + 2) % PAGES
        address = (j.first_page + page) * flash.page_size + _offsets(j, page)[1] + 20
        flash.program(address, bytes([flash.read(address, 1)[0] & 0x0F]))
        assert len(j.verify_page(page)) == 1 and len(j.verify_page(page)) == 1
        start = j._cur
        while j._cur != page:                        # the ring turns onto the page: erased, rewritten
            j.append(1, b"x" * 20)
        while j._cur == page:
            j.append(1, b"y" * 20)
        assert j._cur != start
        assert j.verify_page(page) == [], cls.__name__   # a miss: checked afresh
        assert j.verify_page(page) == [], cls.__name__   # a hit: must not bring the old finding back


def test_a_scrub_hit_does_not_parse_the_page_again():
    """After one round over every page, a second round over unchanged pages is all hits (each
    page's key sits in its own slot: storing one page's key does not spoil another's)."""
    for cls in (Journal, IndexedJournal):
        _, j = _journal(cls, PAGES * 11)
        for page in reversed(range(PAGES)):         # highest first: the array grows once
            j.verify_page(page)
        calls = []
        parse = j._parse
        j._parse = lambda data, offset: calls.append(offset) or parse(data, offset)
        for page in range(PAGES):
            assert j.verify_page(page) == []
        assert calls == [], (cls.__name__, len(calls))


# ---------------------------------------------------------------- (b) extlog ring numbers
def _peer_entry(i: int, peer: str) -> Entry:
    return Entry(float(i), peer, Direction(i & 1), i % 1500, Verdict.SENT)


def test_a_full_two_byte_ring_takes_ever_new_peers():
    """The largest ring whose numbers are 2 bytes (65,536 entries), every entry from a new
    peer, well past one turn: no number outgrows the array, every entry reads back with its
    own peer."""
    for maxlen in (0x10000, 0x10001):
        ring = EntryRing(maxlen)
        total = maxlen + 3000
        ring.extend(_peer_entry(i, f"ip:{i}") for i in range(total))
        assert len(ring) == maxlen and len(ring._name_of) <= maxlen
        assert ring[0] == _peer_entry(total - maxlen, f"ip:{total - maxlen}")
        assert ring[-1] == _peer_entry(total - 1, f"ip:{total - 1}")
        assert all(e.peer == f"ip:{int(e.at)}" for e in ring)


def test_a_reused_number_never_renames_an_entry_still_in_the_ring():
    """Random peers (some frequent, many one-off) into small rings: after every append the ring
    reads exactly like a bounded deque of what was appended (an old entry never shows the peer
    that took over its name's number)."""
    rng = random.Random(17)
    for maxlen in (1, 2, 3, 7, 64):
        ring, ref = EntryRing(maxlen), deque(maxlen=maxlen)
        for i in range(3000):
            r = rng.random()
            peer = "inproc:hes" if r < 0.3 else f"ip:10.0.{rng.randrange(4)}.1" if r < 0.6 else f"ip:{i}"
            e = _peer_entry(i, peer)
            ring.append(e)
            ref.append(e)
            assert list(ring) == list(ref)
            assert sorted(ring._names) == sorted({x.peer for x in ref})
            assert len(ring._name_of) <= maxlen


# ---------------------------------------------------------------- (c) grown indexes
def test_a_reboot_rebuilds_the_grown_index_as_the_record_lists():
    """A journal younger than its ring, rebooted at every record count across its first wrap:
    the rebuilt index (covering only what recovery found) answers like the record lists."""
    for records in range(0, PAGES * 12, 7):
        images = []
        for cls in (Journal, IndexedJournal):
            flash, j = _journal(cls, records)
            j2 = cls(flash, 0, PAGES, name="t", key=KEY)
            j2.recover()
            for i in range(30):                           # then carry on writing
                j2.append(1, bytes([i]) * 20)
            images.append(([(r.seq, r.page, r.offset) for r in j2.records_in_ram()],
                           j2.record_count, j2.fill_ratio(),
                           [j2.records_on(p) for p in range(PAGES)],
                           [j2.verify_page(p) for p in range(PAGES)], flash.image()))
        assert images[0] == images[1], records


def test_the_grown_index_refuses_a_page_outside_the_journal():
    """Growing on demand must not turn a wrong page number into a silently grown index: a page
    outside the journal is refused as it was when the arrays had the journal's size; a page
    inside it but beyond what was written holds nothing."""
    import pytest

    _, j = _journal(IndexedJournal, 20)
    pages = j._page_records
    grown = len(pages._present)
    for bad in (PAGES, PAGES + 100):
        with pytest.raises(IndexError):
            pages.setdefault(bad)
    assert len(pages._present) == grown < PAGES
    assert pages.get(PAGES - 1) is None and pages.pop(PAGES - 1) is None and j.records_on(PAGES - 1) == 0
    assert j.verify_page(PAGES - 1) == [] and len(pages._present) == grown
