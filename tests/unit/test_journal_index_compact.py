"""IndexedJournal's flat per-page index (progression + tail) answers exactly what Journal's
record lists answer: same records, counts, evictions and scrub findings, for fixed-size runs
(the interval journals) and mixed sizes (the state journal), across wraps and a reboot."""
import pytest

from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.storage.journal import Journal
from sumame.firmware.storage.journal_index import IndexedJournal

KEY = bytes(range(32))
PAGES = 6


def _pair(sizes, *, reboot_at=None):
    """The same appends on a Journal and an IndexedJournal, each on its own flash."""
    out = []
    for cls in (Journal, IndexedJournal):
        flash = EmulatedFlash(None, page_size=512, page_count=PAGES)
        evicted = []
        j = cls(flash, 0, PAGES, name="t", key=KEY, on_evict=lambda recs, e=evicted: e.extend(r.seq for r in recs))
        j.recover()
        for i, size in enumerate(sizes):
            if i == reboot_at:
                j = cls(flash, 0, PAGES, name="t", key=KEY, on_evict=lambda recs, e=evicted: e.extend(r.seq for r in recs))
                j.recover()
            j.append(1, bytes([i & 0xFF]) * size)
        out.append((flash, j, evicted))
    return out


def _view(j):
    return ([(r.seq, r.page, r.offset, r.payload) for r in j.records_in_ram()], j.record_count,
            j.fill_ratio(), [j.verify_page(p) for p in range(PAGES)])


@pytest.mark.parametrize("sizes", [
    [20] * 120,                                       # one record size: pure progressions, wraps
    [(i * 7) % 45 + 1 for i in range(120)],           # every size different: tails
    [20] * 30 + [33] + [20] * 60,                     # a progression broken once
])
@pytest.mark.parametrize("reboot_at", [None, 50])
def test_compact_index_matches_the_record_lists(sizes, reboot_at):
    (_, plain, ev_plain), (flash, compact, ev_compact) = _pair(sizes, reboot_at=reboot_at)
    assert _view(compact) == _view(plain)
    assert ev_compact == ev_plain and ev_plain     # the pages that were reclaimed evicted the same records
    assert not compact._page_records._tail or sizes[0] != sizes[1] or 33 in sizes


def test_a_changed_record_is_found_by_the_scrub_on_the_compact_index():
    (_, _, _), (flash, compact, _) = _pair([20] * 40)
    page = compact._cur
    offsets, seqs = compact._page_records._offsets_seqs(page)
    address = (compact.first_page + page) * flash.page_size + offsets[-1] + 12
    flash.program(address, bytes([flash.read(address, 1)[0] & 0x0F]))   # clear bits of a stored record
    findings = compact.verify_page(page)
    assert [(f[0], f[1], f[3]) for f in findings] == [(page, offsets[-1], seqs[-1])]
