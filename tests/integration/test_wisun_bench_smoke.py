"""``make bench`` Wi-SUN figures can be produced (smoke run; speed itself is not asserted)."""
from sumame.tools import bench_wisun


def test_bench_quick_run_produces_all_figures():
    figures = bench_wisun.run(quick=True)
    assert [f.unit for f in figures] == ["round trips/s", "round trips/s", "ms", "ratio"]
    assert all(f.value > 0 for f in figures)
    assert "sumame.tools.bench_wisun" in __import__("sumame.tools.bench", fromlist=["x"]).BENCH_MODULES
