"""The per-page indexes of the snapshot journals (journal_index._Pages, SnapshotHistory) are
grown to the highest page written, not sized for the whole retention at boot: a fleet meter
hours old held ~10 KiB of index for pages of its 100-day ring it had never written. Once the
ring has wrapped they cover every page, and answer as before (the golden record and the
fleet comparison guard that)."""
import gc
import tracemalloc

from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.storage.journal import Journal
from sumame.firmware.storage.journal_index import IndexedJournal

KEY = bytes(range(32))
PAGES = 300


def _journal(cls, records: int, flash=None):
    flash = flash or EmulatedFlash(None, page_size=512, page_count=PAGES)
    j = cls(flash, 0, PAGES, name="t", key=KEY)
    j.recover()
    for i in range(records):
        j.append(1, bytes([i & 0xFF]) * 20)
    return j


def test_a_young_journal_indexes_only_the_pages_it_wrote():
    flash = EmulatedFlash(None, page_size=512, page_count=PAGES)
    _journal(IndexedJournal, 30, flash)            # settle what the first journal makes lazily
    flash = EmulatedFlash(None, page_size=512, page_count=PAGES)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        j = _journal(IndexedJournal, 30, flash)    # 5 of 300 pages
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(j._page_records._present) == 5
    assert held < 13 * PAGES, held                 # the full index alone is 13 B x 300 pages


def test_the_grown_index_answers_like_the_record_lists_across_a_wrap():
    plain, compact = _journal(Journal, PAGES * 12), _journal(IndexedJournal, PAGES * 12)
    assert len(compact._page_records._present) == PAGES
    assert [(r.seq, r.page, r.offset) for r in compact.records_in_ram()] == \
        [(r.seq, r.page, r.offset) for r in plain.records_in_ram()]
    assert compact.record_count == plain.record_count and compact.fill_ratio() == plain.fill_ratio()
    assert compact._page_records.get(PAGES - 1) is not None and compact._page_records.entry(PAGES + 5) is None


def test_a_young_fleet_meters_snapshot_history_covers_only_its_written_pages():
    from sumame.tools.fleet.fleet import FleetSpec, build_fleet

    fleet = build_fleet(FleetSpec(meters=1, board="emulated-lv-fleet", retention_days=None, flash_pages=None))
    try:
        fleet.run(fleet.clock.now() + 3 * 3600)
        meter = fleet.runtimes[0].meter
        history, journals = meter.history, meter.storage.journals
        assert journals["long"].page_count > 200
        for name in ("long", "mid", "short"):
            assert len(history._lo[name]) == journals[name].write_page + 1
            assert len(journals[name]._page_records._present) == journals[name].write_page + 1
        assert history.at(history.all()[0].minute) == history.all()[0]
    finally:
        fleet.close()
