"""A record the background scrub found changed is reported once — and a record written later
in the same slot (the ring came round, the page was erased and rewritten) that goes bad too is
reported again: a weak NOR cell flips again at the same place, and the meter must say so.
The report was deduplicated on (journal, page, offset) only, so the second one was never raised."""
from sumame.boards import load_board
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
OVERRIDES = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
             "storage": {"page_size": 1024, "page_count": 128}}


def _scrub_events(rt):
    return [e for e in rt.meter.events if e.kind == "corruption" and "scrub" in e.detail]


def test_a_slot_that_goes_bad_again_after_a_rewrite_is_reported_again():
    rt = build_runtime(load_board("emulated-lv", OVERRIDES), virtual=True, start_epoch=START,
                       poll_interval_s=60)
    try:
        rt.scheduler.run(until=START + 3 * 3600)
        storage, flash = rt.meter.storage, rt.built.emulated["flash"]
        journal = storage.journals["mid"]                       # 5-min values: a ring of ~20 h
        page = 0
        assert journal.write_page > page
        record = journal.read_page(page)[1]
        address = (journal.first_page + page) * storage.layout.page_size + record.offset + 30
        round_s = (storage.layout.pages_used + 2) * rt.config.scrub_interval_s

        flash.flip_bit(address, 3)
        rt.scheduler.run(until=rt.clock.now() + round_s)
        first = _scrub_events(rt)
        assert len(first) == 1 and f"seq {record.seq} " in first[0].detail, [e.detail for e in first]
        rt.scheduler.run(until=rt.clock.now() + round_s)
        assert len(_scrub_events(rt)) == 1                      # the same damage: not again

        while journal.write_page != page:                       # the ring comes round to the page
            rt.scheduler.run(until=rt.clock.now() + 1800)
        while journal.write_page == page:                       # and writes it full again
            rt.scheduler.run(until=rt.clock.now() + 1800)
        again = journal.read_page(page)[1]
        assert again.offset == record.offset and again.seq != record.seq
        flash.flip_bit(address, 3)
        rt.scheduler.run(until=rt.clock.now() + round_s)
        found = _scrub_events(rt)
        assert len(found) == 2 and f"seq {again.seq} " in found[1].detail, [e.detail for e in found]
    finally:
        rt.close()
