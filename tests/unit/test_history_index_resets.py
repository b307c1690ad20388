"""Independent review (#15): the history index forgets a page's minutes and count when the ring
comes back to it (the page was erased), so its per-page count (16 bits) stays at what the page
holds. Without the reset the index still answered right (stale ranges only cost lookups), but
the count of a 1-minute page grew by its ~40 records every time round the ring and overflowed
after ~1,700 turns (~7 months on the default board): OverflowError in the snapshot path."""
from types import SimpleNamespace

from sumame.firmware.metrology.registers import Snapshot, grid_of
from sumame.firmware.metrology.snapshot_history import SnapshotHistory
from sumame.hal.jst import parse_jst

START = parse_jst("2026-04-01T00:00")
PAGES, PER_PAGE = 4, 39


def test_the_per_page_count_follows_the_ring_and_never_overflows():
    journals = {name: SimpleNamespace(write_page=0) for name in ("long", "mid", "short")}
    history = SnapshotHistory(SimpleNamespace(journals=journals))
    short = journals["short"]
    minute, written = int(START // 60) + 1, 0
    while written < 67_000:                  # > 2**16 records through a 4-page 1-minute ring
        if grid_of(minute) == 1:
            short.write_page = (written // PER_PAGE) % PAGES   # the journal's ring, page by page
            history.appended(Snapshot(minute, 1, written, 0, 0, 0, 0, 0, 0))
            written += 1
        minute += 1
    for page in range(PAGES):
        newest, count = history.page_newest("short", page)
        assert count <= PER_PAGE, (page, count)
    # and the index still finds what the newest page holds, not what an erased turn held
    assert history.page_newest("short", short.write_page)[1] == (written - 1) % PER_PAGE + 1
