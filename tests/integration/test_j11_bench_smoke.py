"""``make bench`` J11 figures can be produced (smoke run; speed itself is not asserted)."""
from sumame.tools.bench import j11 as bench_j11


def test_bench_quick_run_produces_all_figures():
    figures = bench_j11.run(quick=True)
    assert [f.unit for f in figures] == ["round trips/s", "ms", "round trips/s", "ms", "ratio"]
    assert all(f.value > 0 for f in figures)
    assert "sumame.tools.bench.j11" in __import__("sumame.tools.bench.cli", fromlist=["x"]).BENCH_MODULES
