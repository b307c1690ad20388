"""Eviction without read-back: a snapshot page whose newest value (as the history index noted
it) is past every retention of its journal is erased unread; any page that might hold a value
still within its retention is read back and checked exactly as before."""
from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.metrology.registers import Retention, Snapshot
from sumame.firmware.metrology.snapshot_history import SnapshotHistory
from sumame.firmware.storage.journal_index import IndexedJournal
from sumame.firmware.storage.store import Storage, plan_layout

KEY = bytes(range(32))
START_MIN = 29_584_260                   # a JST midnight, minutes since the epoch


def _store(boot_retention, layout_retention=None, *, hint=True):
    clock = VirtualClock(START_MIN * 60.0)
    flash = EmulatedFlash(None, page_size=4096, page_count=64)
    layout = plan_layout(4096, 64, layout_retention or boot_retention, event_pages=2, state_pages=2)
    store = Storage(flash, layout, KEY, clock)
    report = store.boot(boot_retention)
    history = SnapshotHistory(store)
    history.load(report.recoveries)
    if hint:
        store.page_hint = history.page_newest
    return store, history, clock


def _fill(store, history, clock, start, count):
    for m in range(start, start + count):
        clock.advance_to(m * 60.0)
        snap = Snapshot(m, 1, m * 10, 0, 0, 0, 0, 0, 0)
        store.append_snapshot(snap)
        history.appended(snap)


def _count_rereads(monkeypatch):
    reads = []
    original = IndexedJournal._reread

    def counted(self, page, offsets, seqs):
        reads.append((self.name, page))
        return original(self, page, offsets, seqs)
    monkeypatch.setattr(IndexedJournal, "_reread", counted)
    return reads


def test_a_page_past_its_retention_is_evicted_unread(monkeypatch):
    store, history, clock = _store(Retention(days_30=1, days_15=1, days_5=1, minutes_1=60))
    pages = store.journals["short"].page_count
    reads = _count_rereads(monkeypatch)
    _fill(store, history, clock, START_MIN, 3 * pages * 60)     # the short ring wraps twice
    assert store.journals["short"].appended > 2 * pages * 40
    assert store.retention_shortfalls == 0
    assert [r for r in reads if r[0] == "short"] == []          # no page read back to evict it


def test_a_page_that_may_still_be_needed_is_read_back_and_the_shortfall_reported(monkeypatch):
    small = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)
    store, history, clock = _store(Retention(days_30=1, days_15=1, days_5=1, minutes_1=6000), small)
    reads = _count_rereads(monkeypatch)
    _fill(store, history, clock, START_MIN, 3 * store.journals["short"].page_count * 60)
    assert store.retention_shortfalls >= 1
    assert any(r[0] == "short" for r in reads)


def test_without_a_hint_or_with_records_the_hint_does_not_know_the_page_is_read_back(monkeypatch):
    retention = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)
    store, history, clock = _store(retention, hint=False)
    reads = _count_rereads(monkeypatch)
    _fill(store, history, clock, START_MIN, 3 * store.journals["short"].page_count * 60)
    unhinted = len([r for r in reads if r[0] == "short"])
    assert unhinted > 0
    # a hint that knows fewer snapshots on the page than the journal holds is not trusted
    store, history, clock = _store(retention)
    store.page_hint = lambda name, page: (0, 0) if store.journals[name].records_on(page) else None
    reads.clear()
    _fill(store, history, clock, START_MIN, 3 * store.journals["short"].page_count * 60)
    assert len([r for r in reads if r[0] == "short"]) == unhinted


def test_a_hint_newer_than_the_retention_bound_makes_the_check_read_back(monkeypatch):
    """The bound is the newest minute on the page: one value within the retention is enough."""
    retention = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)
    store, history, clock = _store(retention)
    reads = _count_rereads(monkeypatch)
    store.page_hint = lambda name, page: (int(clock.now() // 60), 10_000)
    _fill(store, history, clock, START_MIN, 3 * store.journals["short"].page_count * 60)
    assert any(r[0] == "short" for r in reads)
    assert store.retention_shortfalls == 0          # read back: every record is old enough
