"""Special meters end to end in virtual time (issue 11 points 2, 3, 5, 6): a site with PV and two
special meters (EV charger/discharger, PV inverter), their IoT-route terminals, the smart meter and
the head-end/MDMS; a terminal outage, a wrong terminal clock at start and a head-end cut-off."""
import json

import pytest

from sumame.tools.cli import main
from sumame.tools.fleet.specialmeters import SpecialScenario, run_scenario
from sumame.tools.hes.settlement import settlement, special_meters

KEYS = {"slots_expected", "slots_delivered", "slots_duplicates", "max_settlement_error_kwh", "time_sync_ok",
        "cutoff_effective_s", "reconnect_ok"}
X_RESOLUTION_KWH = 0.01          # the smart meter's 30-min values (A-route, 0.01 kWh steps)
A_RESOLUTION_KWH = 0.001         # the special meters' registers (0x028E D4 = 0x03)


@pytest.fixture(scope="module")
def three_days():
    res = run_scenario(SpecialScenario(days=3, meters=2, outage=(1.0, 6.0), clock_error_s=1500.0,
                                       cutoff=(1.6, 3.0)))
    yield res
    res.fleet.close()


def test_every_value_reaches_the_mdms_once_and_the_gaps_are_filled(three_days):
    r = three_days
    fig = r.figures()
    assert fig["slots_expected"] == 2 * len(range(r.fleet.since, int(r.end) + 1, 1800)) >= 2 * 140
    assert fig["slots_delivered"] == fig["slots_expected"]
    assert fig["slots_duplicates"] == 0
    rows = r.hes.store.db.execute("SELECT special, end_at, COUNT(*) FROM special_registers GROUP BY special, end_at")
    assert all(n == 1 for _, _, n in rows)
    outage_term, cut_term = r.fleet.terminals
    assert outage_term.stats["gap-filled"] >= 12          # 6 h outage = 12 slots read back from E1/E3
    assert any("power off" in text for _, text in outage_term.log)
    nulls = r.hes.store.db.execute("SELECT COUNT(*) FROM special_registers WHERE forward_total_wh IS NULL").fetchone()
    assert nulls[0] == 0


def test_sum_a_and_y_match_the_load_model_within_register_resolution(three_days):
    r = three_days
    model = r.model_rows()
    rows = [x for x in settlement(r.hes.store, start=r.fleet.since, end=r.end) if x["y_kwh"] is not None]
    assert len(rows) >= 140
    worst_a = max(abs(x["sum_a_kwh"] - model[x["end_at"]]["sum_a"]) for x in rows)
    worst_y = max(abs(x["y_kwh"] - model[x["end_at"]]["y"]) for x in rows)
    assert worst_a <= 2 * A_RESOLUTION_KWH + 1e-9
    assert worst_y <= X_RESOLUTION_KWH + 2 * A_RESOLUTION_KWH + 1e-9
    # both directions happen: PV export (X < 0, A_pv < 0), V2H discharge, EV charging
    assert min(x["x_kwh"] for x in rows) < -0.5 and max(x["sum_a_kwh"] for x in rows) > 1.0
    pv = next(s["id"] for s in special_meters(r.hes.store) if s["device_class"] == 0x0279)
    ev = next(s["id"] for s in special_meters(r.hes.store) if s["device_class"] == 0x027E)
    assert min(x["a_kwh"][pv] for x in rows) < -1.0 and min(x["a_kwh"][ev] for x in rows) < -0.5
    assert r.figures()["max_settlement_error_kwh"] <= X_RESOLUTION_KWH + 2 * A_RESOLUTION_KWH + 1e-9


def test_tolerance_class_and_sync_state_are_recorded(three_days):
    r = three_days
    classes = {s["device_class"]: s["tolerance"] for s in special_meters(r.hes.store)}
    assert classes == {0x027E: "n3", 0x0279: "n5"}
    assert all(s["sync_status"] == 1 for s in special_meters(r.hes.store))
    t0 = r.fleet.terminals[0]
    assert t0.stats["clock-corrected"] >= 1 and abs(t0.local_now() - r.fleet.clock.now()) <= 2
    assert all(m.sync_status == 1 and m.sets for m in r.fleet.meters)        # DA set by the terminal
    assert r.figures()["time_sync_ok"] is True


def test_cut_off_stops_the_terminal_and_reconnect_fills_its_gap(three_days):
    fig = three_days.figures()
    assert fig["cutoff_effective_s"] is not None and 0 <= fig["cutoff_effective_s"] < 10
    assert fig["reconnect_ok"] is True
    iot = next(x for x in three_days.fleet.meter(0).services if x.name == "iot-route")
    assert iot.stats["event-iot-cut-off-refused"] + iot.stats["cut-off-dropped"] >= 1     # it kept trying
    ops = [(c["op"], c["argument"], c["ok"]) for c in three_days.hes.store.commands()]
    assert ("cutoff", "iot:SPT00002", 1) in ops and ("reconnect", "iot:SPT00002", 1) in ops


def test_cli_contract_and_hes_query_export(tmp_path, capsys):
    out, db = tmp_path / "sm.json", tmp_path / "hes.sqlite"
    assert main(["specialmeters", "--days", "1", "--meters", "2", "--seed", "3", "--json", str(out),
                 "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "kWh" in text and "values" in text
    fig = json.loads(out.read_text())
    assert KEYS <= set(fig)
    assert fig["slots_delivered"] == fig["slots_expected"] > 0 and fig["reconnect_ok"] is True
    assert main(["hes", "query", "--db", str(db), "--settlement", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[0].split(",")
    assert head[:3] == ["meter", "interval_end_jst", "x_kwh"] and head[-2:] == ["sum_a_kwh", "y_kwh"]
    assert sum(h.startswith("A_") for h in head) == 2 and len(lines) > 40
    assert main(["hes", "export", "--db", str(db), "--settlement", "--out", str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_text().splitlines()[0].split(",") == head


def test_cli_refuses_more_than_four_special_meters(capsys):
    assert main(["specialmeters", "--days", "1", "--meters", "5"]) == 2
    assert "at most 4" in capsys.readouterr().err


@pytest.mark.long
def test_a_week_with_four_special_meters():
    res = run_scenario(SpecialScenario(days=7, meters=4, outage=(2.0, 6.0), clock_error_s=-2400.0,
                                       cutoff=(4.3, 5.0), seed=5))
    try:
        fig = res.figures()
        assert fig["slots_delivered"] == fig["slots_expected"] == 4 * len(range(res.fleet.since, int(res.end) + 1, 1800))
        assert fig["slots_duplicates"] == 0 and fig["time_sync_ok"] and fig["reconnect_ok"]
        assert fig["max_settlement_error_kwh"] <= X_RESOLUTION_KWH + 4 * A_RESOLUTION_KWH + 1e-9
    finally:
        res.fleet.close()
