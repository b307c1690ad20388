"""The DLMS bench runs, compares equal APDUs and reports ratios (figures, not speed, are checked)."""
from sumame.tools.bench import cli as bench
from sumame.tools.bench import dlms as bench_dlms


def test_bench_registered_and_reports_ratios():
    assert "sumame.tools.bench.dlms" in bench.BENCH_MODULES
    figures = bench_dlms.run(quick=True)
    names = [f.name for f in figures]
    assert "sumame get-response 48 rows decode" in names
    assert all(f.value > 0 for f in figures)
    try:
        import gurux_dlms  # noqa: F401
    except ImportError:
        return
    assert "ratio data-notification encode" in names
