"""The head-end ingest bench runs and reports its figures (figures, not speed, are checked)."""
from sumame.tools.bench import cli as bench
from sumame.tools.bench import hes_ingest


def test_bench_registered_and_reports_pushes_per_core_second():
    assert "sumame.tools.bench.hes_ingest" in bench.BENCH_MODULES
    hes, frames = hes_ingest.capture(3, 0.25)
    assert len(frames) >= 3 * 10
    cpu, wall, rows = hes_ingest.ingest(hes, frames, ":memory:")
    assert cpu > 0 and wall > 0
    assert hes.stats["pushes"] == len(frames) and rows == hes.store.stats.stored
    assert len(frames) - 2 * 3 <= rows <= len(frames)    # one new interval per push (none before install)
    again = hes_ingest.ingest(hes, frames, ":memory:", recent_rows=0)
    assert again[2] == rows
