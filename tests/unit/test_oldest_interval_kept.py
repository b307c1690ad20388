"""Independent review (#2, #6): the oldest interval a grid keeps is served, not "no data".

A profile keeps ``days x 48`` 30-minute rows (entry 1 = the row ending retention ago, e.g. 100
days); its value is the difference of the readings at its two boundaries, and the older of
those lies one interval further back. Before, a boundary was served only up to exactly the
retention, so entry 1 of every profile (and the 30/15/5-minute value ending just inside the
retention) read as null — not measured — though it was measured and still on flash; a head-end
reading the whole buffer saw a gap that never happened (found with gurux ``readRowsByEntry(1,
3)`` on a meter that ran 125 days). A boundary is now kept for its retention plus the interval
it starts."""
from sumame.boards import load_board
from sumame.firmware.metrology.registers import IntervalRegisters, Retention, Snapshot
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
SPANS = ((30, 2 * 1440), (15, 2 * 1440), (5, 1440))   # minutes each profile grid is kept


def _oldest_rows(newest: int):
    for grid, span in SPANS:
        end = newest - span
        end -= end % grid                      # (the JST offset is a whole number of 30 minutes)
        if newest - end > span:
            end += grid
        yield grid, end


def test_ram_registers_serve_the_oldest_interval_of_each_grid():
    regs = IntervalRegisters(Retention(days_30=2, days_15=2, days_5=1, minutes_1=60))
    first = START // 60
    for i in range(3 * 1440 + 1):
        regs.add(Snapshot(first + i, 1, 1000 * i, 0, 0, 0, 0, 0, 0))
    for grid, end in _oldest_rows(regs.newest.minute):
        assert regs.energy_mwh("forward", end * 60, grid) == 1000 * grid, grid


def test_a_meter_serves_the_oldest_interval_of_each_grid_from_flash():
    board = load_board("emulated-lv-fleet", {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
                                             "storage": {"page_count": 96, "page_size": 1024},
                                             "aroute": {"push_transport": "none"}})
    rt = build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60)
    try:
        rt.scheduler.run(until=START + 2.3 * 86400)
        regs = rt.meter.registers
        for grid, end in _oldest_rows(regs.newest.minute):
            assert regs.energy_mwh("forward", end * 60, grid) is not None, grid
            assert regs.energy_mwh("forward", (end - grid) * 60, grid) is None   # beyond it
    finally:
        rt.close()


def test_keep_seconds_covers_the_interval_a_boundary_starts():
    r = Retention(days_30=100, days_15=100, days_5=10, minutes_1=60)
    assert r.keep_seconds(30) == 100 * 86400 + 1800
    assert r.keep_seconds(15) == 100 * 86400 + 900
    assert r.keep_seconds(5) == 10 * 86400 + 300
    assert r.keep_seconds(1) == 60 * 60   # EE's readings, not intervals
