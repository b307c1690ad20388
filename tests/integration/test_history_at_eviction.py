"""Independent review (#3, #15): a reader asking for the oldest retained boundary at the very
moment the 30/15-minute journal evicts its oldest page gets it — just before the erase and just
after (the page read back unread, ``Storage._evict_wanted``, and the history index), on a
small-flash meter whose ring turns twice a day; and no eviction cuts a retention short."""
from sumame.boards import load_board
from sumame.firmware.metrology.readings import Quantity
from sumame.firmware.metrology.registers import grid_of
from sumame.firmware.routes.broute import edt
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime
from snapshot_shadow import shadow_snapshots

START = parse_jst("2026-04-01T00:00")
OVERRIDES = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
             "storage": {"page_count": 96, "page_size": 1024},
             "watchdog": {"budget_ms": 60000}, "aroute": {"push_transport": "none"}}


def test_the_oldest_retained_boundaries_are_served_across_every_eviction():
    board = load_board("emulated-lv-fleet", OVERRIDES)
    rt = build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60)
    rt.scheduler.watchdog_budget_s = None
    meter, nvm = rt.meter, rt.built.hardware.nvm
    shadow = shadow_snapshots(meter)
    first, count = meter.storage.layout.partitions["long"]
    problems, evictions = [], []
    erase = nvm.erase

    def check(when):
        newest = meter.registers.newest.minute
        oldest = [m for m in shadow if grid_of(m) >= 15 and
                  newest - m <= meter.config.retention.keep_seconds(grid_of(m)) // 60]
        for minute in sorted(oldest)[:8] + sorted(oldest)[-3:]:
            if meter.registers.at(minute * 60) != shadow[minute]:
                problems.append(f"{when}: boundary {minute} (age {newest - minute} min) not served")
        day = meter.config.retention.days_30 - 1      # the oldest whole day E2 offers
        mid = edt.jst_midnight(meter.clock.now(), day)
        for k in range(48):
            m = int(mid) // 60 + 30 * k
            if m in shadow and meter.readings.cumulative_at(Quantity.FORWARD, m * 60) is None:
                problems.append(f"{when}: E2 day {day} slot {k} no data")

    def watched(page):
        if first <= page < first + count and meter.registers.newest is not None:
            evictions.append(page)
            check(f"before erasing page {page}")
            erase(page)
            check(f"after erasing page {page}")
        else:
            erase(page)
    nvm.erase = watched
    try:
        rt.scheduler.run(until=START + 5 * 86400)
        assert len(evictions) >= 6, evictions
        assert meter.storage.retention_shortfalls == 0
        assert not problems, problems[:5]
    finally:
        rt.close()
