"""The scrub's per-page cache (a page whose bytes and known records did not change is not
re-parsed) costs a few bytes per page, not a tuple of digest, facts and findings per page:
a fleet meter's 376 pages held ~110 KiB of it once the background scrub had seen them all.
It still answers like a fresh check: a hit gives the same findings, a changed page is found."""
import gc
import tracemalloc

from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.storage.journal import Journal
from sumame.firmware.storage.journal_index import IndexedJournal

KEY = bytes(range(32))
PAGES = 40


def _journal(cls):
    flash = EmulatedFlash(None, page_size=512, page_count=PAGES)
    j = cls(flash, 0, PAGES, name="t", key=KEY)
    j.recover()
    for i in range(PAGES * 11):                   # every page written, the ring wrapped
        j.append(1, bytes([i & 0xFF]) * 20)
    return flash, j


def _held_by_the_cache(j) -> int:
    """Bytes still allocated after a scrub of every page (the cache; the rest is transient)."""
    for page in range(PAGES):                     # settle the journal's own lazily made parts
        j.verify_page(page)
    j._scrub_cache = None
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for page in range(PAGES):
            assert j.verify_page(page) == []
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_the_scrub_cache_costs_a_few_bytes_per_page():
    for cls in (Journal, IndexedJournal):
        _, j = _journal(cls)
        held = _held_by_the_cache(j)
        assert held <= 40 * PAGES + 400, (cls.__name__, held / PAGES)   # was ~300 B per page


def test_a_cached_page_that_changes_is_found_and_findings_are_kept():
    for cls in (Journal, IndexedJournal):
        flash, j = _journal(cls)
        page = (j._cur + 2) % PAGES
        assert j.verify_page(page) == [] and j.verify_page(page) == []     # miss, then hit
        offsets, seqs = j._page_records._offsets_seqs(page) if cls is IndexedJournal else \
            ([r.offset for r in j._page_records[page]], [r.seq for r in j._page_records[page]])
        address = (j.first_page + page) * flash.page_size + offsets[1] + 20
        flash.program(address, bytes([flash.read(address, 1)[0] & 0x0F]))   # rot inside record 2
        first = j.verify_page(page)
        assert [(f[0], f[1], f[3]) for f in first] == [(page, offsets[1], seqs[1])]
        assert j.verify_page(page) == first                                  # the cached findings
        assert all(j.verify_page(p) == [] for p in range(PAGES) if p != page)
