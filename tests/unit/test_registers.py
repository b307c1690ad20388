"""Interval registers: sums, no-data rules, retention edges, JST grids, register rollover."""
from hypothesis import given, settings, strategies as st

from sumame.firmware.metrology.metering import register_value
from sumame.firmware.metrology.registers import IntervalRegisters, Retention, Snapshot, grid_of
from sumame.hal.jst import from_jst

T0 = from_jst(2028, 2, 28, 22, 0)  # crosses the leap day


def build(increments, gaps, retention=Retention(), start=T0):
    """Snapshots minute by minute; a minute in ``gaps`` is not measured (new session after)."""
    regs = IntervalRegisters(retention)
    total, session = 0, 1
    for i, inc in enumerate(increments):
        minute = start // 60 + i
        total += inc
        if i in gaps:
            session += 1
            continue
        regs.add(Snapshot(minute, session, total, 0, 0, 0))
    return regs


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=61, max_size=200), st.sets(st.integers(0, 199), max_size=3))
def test_one_minute_values_sum_to_the_coarser_intervals(increments, gaps):
    regs = build(increments, gaps, Retention(minutes_1=1440))
    end_time = T0 + (len(increments) - 1) * 60
    for grid in (5, 15, 30):
        for end in regs.boundaries(grid, T0 + grid * 60, end_time):
            coarse = regs.energy_mwh("forward", end, grid)
            fine = [regs.energy_mwh("forward", end - k * 60, 1) for k in range(grid)]
            if coarse is None:
                assert None in fine  # a gap inside makes the whole interval no data
            else:
                assert None not in fine and sum(fine) == coarse


def test_gap_makes_no_data_never_zero():
    increments = [100] * 40
    regs = build(increments, gaps={12})
    end = T0 + 30 * 60
    assert regs.energy_mwh("forward", end, 30) is None
    assert regs.energy_mwh("forward", end - 15 * 60, 1) is not None  # after the gap: new session
    assert regs.energy_mwh("forward", T0 + 10 * 60, 5) == 500


def test_retention_edges():
    retention = Retention(days_30=3, days_15=2, days_5=1, minutes_1=60)
    regs = build([10] * (4 * 1440), set(), retention)
    newest = regs.newest.epoch
    for grid, keep in ((30, 3 * 86400), (15, 2 * 86400), (5, 86400), (1, 3600)):
        keep += grid * 60 if grid > 1 else 0   # a profile boundary: retention + the interval it starts
        inside = [m for m in regs.boundaries(grid, newest - keep + 60, newest) if grid_of(m // 60) == grid]
        outside = [m for m in regs.boundaries(grid, T0, newest - keep - 60) if grid_of(m // 60) == grid]
        assert inside and all(regs.at(m) is not None for m in inside), grid
        assert outside and all(regs.at(m) is None for m in outside), grid


def test_grids_follow_jst_wall_time():
    assert grid_of(from_jst(2028, 2, 29, 0, 0) // 60) == 30
    assert grid_of(from_jst(2028, 2, 29, 0, 45) // 60) == 15
    assert grid_of(from_jst(2028, 2, 29, 0, 50) // 60) == 5
    assert grid_of(from_jst(2028, 2, 29, 0, 51) // 60) == 1


def test_voltage_average_over_an_interval():
    regs = IntervalRegisters()
    regs.add(Snapshot(T0 // 60, 1, 0, 0, 0, 0, 0, 0, 0))
    regs.add(Snapshot(T0 // 60 + 5, 1, 0, 0, 0, 0, 101_000 * 300, 99_000 * 300, 300_000))
    assert regs.voltage(T0 + 300, 5) == (101.0, 99.0)


@given(st.integers(0, 10**16), st.integers(0, 10**9), st.sampled_from([0.0001, 0.001, 0.01, 0.1, 1.0, 10.0]),
       st.integers(1, 8))
def test_register_rolls_over_like_the_meter(counter, increment, unit, digits):
    before = register_value(counter, unit, digits)
    after = register_value(counter + increment, unit, digits)
    unit_mwh = round(unit * 1_000_000)
    assert 0 <= before < 10 ** digits and 0 <= after < 10 ** digits
    step = (counter + increment) // unit_mwh - counter // unit_mwh
    assert (before + step) % 10 ** digits == after


def test_eight_digit_register_rolls_over_at_10_to_the_8():
    unit_mwh = 10_000  # 0.01 kWh
    assert register_value(99_999_999 * unit_mwh, 0.01, 8) == 99_999_999
    assert register_value(100_000_000 * unit_mwh, 0.01, 8) == 0
    assert register_value(100_000_001 * unit_mwh + 9_999, 0.01, 8) == 1


def test_snapshot_pack_round_trip():
    s = Snapshot(29_000_000, 7, 1, 2, 3, 4, 5, 6, 7)
    assert Snapshot.unpack(s.pack()) == s and len(s.pack()) == Snapshot.SIZE


class _NoHistory:
    """A flash history that holds nothing: only what the registers keep in RAM is served."""

    def at(self, minute):
        return None

    def all(self):
        return []

    def count(self):
        return 0


def test_recent_ring_keeps_what_the_dict_kept():
    """With a history attached, the last 62 minutes sit in one ring buffer: the same snapshots
    as the per-minute dict trimmed per grid (1-minute values 60 min, boundaries of coarser grids
    62 min), discards honoured, a slot reused 64 minutes later not mistaken for the old one."""
    ring = IntervalRegisters(Retention())
    ring.attach_history(_NoHistory())
    plain = IntervalRegisters(Retention(days_30=1, days_15=1, days_5=1, minutes_1=60))
    plain._keep = dict(ring._keep)   # the same RAM horizon, kept in a dict
    start = T0 // 60
    for i in range(300):
        for regs in (ring, plain):
            regs.add(Snapshot(start + i, 1, 10 * i, i, 0, 0))
        if i == 250:
            ring.discard(start + 240)
            plain.discard(start + 240)
        newest = start + i
        for back in (0, 1, 5, 59, 60, 61, 62, 63, 64, 65, 128):
            m = newest - back
            assert ring.at(m * 60) == plain.at(m * 60), (i, back)
    assert ring.at((start + 299 - 64) * 60) is None          # slot of minute 299 reused
    assert ring.at((start + 240) * 60) is None               # discarded
    assert len(ring._by_minute) == len(plain._by_minute) > 55
    assert [s.minute for s in ring.snapshots()] == sorted(plain._by_minute)
    ring.add(Snapshot(start + 299 - 64, 1, 0, 0, 0, 0))      # a late, too-old snapshot (restore)
    assert ring.at((start + 299) * 60).forward_mwh == 2990   # does not take the newest's slot
