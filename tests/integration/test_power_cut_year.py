"""Proof: random multi-cut sequences over a simulated year (storage level, NOR bit-level tears).

See tests/support/multicut.py. The flash is the small-flash proof board's (1 KiB x 96 pages,
2/2/1-day and 60-minute retention), so over a year every journal wraps many times. make test
runs a short budget (four days, a few hundred sequences); make proof runs the year and 10^4
sequences. Figures printed: committed records lost, torn records served, false alarms (all 0).
"""
import pytest

from multicut import reference, sequences
from sumame.firmware.metrology.registers import Retention
from sumame.firmware.storage.store import plan_layout
from sumame.hal.jst import parse_jst

GEOMETRY = (1024, 96)
RETENTION = Retention(2, 2, 1, 60)
KEY = bytes(range(7, 39))
START_MINUTE = int(parse_jst("2026-04-01T00:00") // 60)
LAYOUT = plan_layout(*GEOMETRY, RETENTION)


def run(minutes, every, count, seed):
    checkpoints, erases = reference(LAYOUT, KEY, RETENTION, GEOMETRY, START_MINUTE, minutes, every)
    for name, counts in erases.items():
        # the events journal wraps within the year, not within 4 days; this model sends no
        # external-device frames, so the extlog journal (issue 11) stays empty here — its own
        # power-cut proof is tests/unit/test_extsec_log.py
        if name not in ("events", "extlog"):
            assert counts[0] >= 1, f"{name} did not wrap round its ring: {counts}"
    return erases, sequences(checkpoints, LAYOUT, KEY, RETENTION, GEOMETRY, count, seed)


def test_multi_cut_sequences_short_budget():
    _, figures = run(4 * 1440, 120, 300, seed=2)
    print("multi-cut sequences, 4 days:", figures.line())
    assert figures.cuts >= 600 and figures.recovery_cuts > 50
    assert (figures.lost, figures.torn_served, figures.false_alarms) == (0, 0, 0), figures.problems


@pytest.fixture(scope="module")
def year():
    return reference(LAYOUT, KEY, RETENTION, GEOMETRY, START_MINUTE, 365 * 1440, 720)


CHUNKS = 10


@pytest.mark.long
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_ten_thousand_multi_cut_sequences_over_a_year(year, chunk):
    checkpoints, erases = year
    # as in run(): no external-device frames in this model, so the extlog journal stays empty
    # (its own power-cut proof is tests/unit/test_extsec_log.py); every other journal wraps
    assert "extlog" in erases and all(min(c) >= 1 for name, c in erases.items() if name != "extlog"), erases
    figures = sequences(checkpoints, LAYOUT, KEY, RETENTION, GEOMETRY, 10_000 // CHUNKS, seed=100 + chunk)
    print(f"multi-cut sequences over a year, chunk {chunk}:", figures.line())
    assert figures.cuts >= 2 * 10_000 // CHUNKS
    assert (figures.lost, figures.torn_served, figures.false_alarms) == (0, 0, 0), figures.problems
