"""The A-route fleet bench runs and reports its figures (figures, not speed, are checked)."""
from sumame.tools.bench import cli as bench
from sumame.tools.bench import aroute as bench_aroute


def test_bench_registered_and_reports_figures():
    assert "sumame.tools.bench.aroute" in bench.BENCH_MODULES
    figures = {f.name: f for f in bench_aroute.run(quick=True)}
    assert figures["meter-days per wall second (A-route + HES)"].value > 0
    assert "pushes" in figures["meter-days per wall second (A-route + HES)"].note
    assert figures["meters one core serves in real time"].value == \
        figures["meter-days per wall second (A-route + HES)"].value * 86400
