"""``make bench`` Wi-SUN figures can be produced (smoke run; speed itself is not asserted)."""
from sumame.tools.bench import wisun as bench_wisun


def test_bench_quick_run_produces_all_figures():
    figures = bench_wisun.run(quick=True)
    assert [f.unit for f in figures] == ["round trips/s", "round trips/s", "ms", "ratio"]
    assert all(f.value > 0 for f in figures)
    assert "sumame.tools.bench.wisun" in __import__("sumame.tools.bench.cli", fromlist=["x"]).BENCH_MODULES


def test_dongle_timing_bench_reports_model_next_to_published_figures():
    figures = bench_wisun.run_timing(quick=True)
    scan, manual, join, rtt = figures
    assert 17.0 < scan.value < 18.5 and "17.7 s" in scan.note      # model vs the real BP35C2
    assert manual.value == 18.2
    assert 1.0 < join.value < 10.0 and rtt.unit == "ms" and 10 < rtt.value < 500
