"""Independent review (#2, #15), found probing restarts on a state dir: the board schema accepts
flash pages of 256..8192 bytes, but the state journal (one page must hold every live state
record: session, outage history, breaker, checkpoint, ...) does not fit small pages. After a page
turn it rewrites the live records and then writes the new record without checking that it
still fits: the program crosses the page boundary and the record is dropped ("state: record not
stored"), or the turn raises JournalFull out of the meter. With 512-byte pages that happens on
the first day; with 1 KiB pages once the outage history (16 entries, ~49 bytes each, one per
restart) has grown over ~10 restarts. Not a small fix (a layout/schema bound on the live state
set, or a record that re-checks its fit after the turn): left failing."""
import pytest

from sumame.boards import load_board
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
ALARMS = ("corruption", "tamper", "flash-fault")


def _overrides(pages, size):
    return {"aroute": {"push_transport": "none"}, "storage": {"page_count": pages, "page_size": size},
            "registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60}}


@pytest.mark.xfail(strict=True, reason="state journal: a record written after a page turn is not re-checked "
                                       "for fit (crosses the page, dropped); small pages accepted by the schema")
@pytest.mark.parametrize("board", ["emulated-lv-fleet", "emulated-lv"])
def test_state_records_are_stored_on_restarted_meters_with_small_pages(tmp_path, board):
    t = START
    for run in range(12):
        rt = build_runtime(load_board(board, _overrides(96, 1024)), virtual=True, start_epoch=t,
                           state_dir=tmp_path, poll_interval_s=60)
        rt.scheduler.watchdog_budget_s = None
        try:
            rt.scheduler.run(until=t + 6 * 3600)
            alarms = [e.detail for e in rt.meter.events if e.kind in ALARMS]
            assert not alarms, f"run {run}: {alarms[:2]}"
            rt.meter.shutdown()
        finally:
            rt.close()
        t += 6 * 3600 + 60


@pytest.mark.xfail(strict=True, reason="state journal: live state does not fit a 512-byte page; the schema accepts it")
def test_a_fresh_meter_with_512_byte_pages_stores_its_state_or_is_refused(tmp_path):
    from sumame.tools.cli import CliError

    try:
        rt = build_runtime(load_board("emulated-lv", _overrides(192, 512)), virtual=True, start_epoch=START,
                           poll_interval_s=60)
    except (ValueError, CliError):
        return                                   # refused at build: fine
    rt.scheduler.watchdog_budget_s = None
    try:
        rt.scheduler.run(until=START + 86400)
        assert not [e.detail for e in rt.meter.events if e.kind in ALARMS]
    finally:
        rt.close()
