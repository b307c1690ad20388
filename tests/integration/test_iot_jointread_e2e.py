"""IoT route end to end in virtual time through ``sumame jointread`` (the CLI contract of
issue 10 point 6): terminals (some behind the relay, one lossy link) -> Enhanced HAN -> meter
-> A-route -> head-end -> connection server -> gas/water companies, with a meter outage whose
missing days are filled from the terminals' stores; valve commands round-trip."""
import json

import pytest

from sumame.tools.cli import main
from sumame.tools.fleet.jointread import JointReadScenario, run_scenario

KEYS = ("hourly_expected", "hourly_delivered", "hourly_duplicates", "valve_ok", "valve_sent",
        "alarm_latency_p95_s", "round_trip_p95_s", "network_entry_p95_s", "collection_rate",
        "command_success_rate")


def _check(fig: dict, days: float, terminals: int) -> None:
    for key in KEYS:
        assert key in fig, key
    assert fig["hourly_expected"] == terminals * 24 * days
    assert fig["hourly_delivered"] == fig["hourly_expected"]           # every hourly value ...
    assert fig["hourly_duplicates"] == 0                                # ... exactly once
    assert fig["collection_rate"] == 1.0
    assert fig["gap_requests"] > 0                                      # the outage was filled from the stores
    assert fig["valve_sent"] >= 2
    assert fig["valve_ok"] + fig["valve_refused_by_terminal"] == fig["valve_sent"]   # every command answered
    assert fig["command_success_rate"] == 1.0
    assert fig["alarms_delivered"] == fig["alarms_raised"] >= 1                      # each alarm once
    assert fig["round_trip_p95_s"] is not None and fig["network_entry_p95_s"] is not None
    assert set(fig["network_entry_by_hops"]) == {"1", "2"}              # some terminals only via the relay
    assert all(j > 0 for j in fig["radio_j_per_day"].values())


def test_jointread_cli_short_run(tmp_path, capsys):
    out = tmp_path / "fig.json"
    csv = tmp_path / "values.csv"
    rc = main(["jointread", "--days", "2", "--gas", "2", "--water", "2", "--relay-share", "0.5",
               "--outage", "0.95:8", "--seed", "3", "--json", str(out), "--export", str(csv)])
    assert rc == 0
    fig = json.loads(out.read_text())
    _check(fig, 2, 4)
    assert fig["valve_ok"] == fig["valve_sent"]
    assert "hourly values:" in capsys.readouterr().out
    assert len(csv.read_text().splitlines()) >= 1 + fig["hourly_delivered"]      # header + every stored value


def test_daily_uploads_alone_deliver_every_value():
    """No outage and no gap fill: the terminals' once-a-day uploads carry every hourly value."""
    r = run_scenario(JointReadScenario(days=1, gas=1, water=1, relay_share=0.0, outage=None, gap_fill=False,
                                       valves_per_day=0, alarms=False, tail_s=3 * 3600))
    fig = r.figures()
    r.fleet.close()
    assert fig["gap_requests"] == 0
    assert fig["hourly_delivered"] == fig["hourly_expected"] == 48 and fig["hourly_duplicates"] == 0


def test_jointread_cli_rejects_bad_outage(capsys):
    assert main(["jointread", "--days", "2", "--outage", "soon", "--json", "/dev/null"]) == 2
    assert "DAY:HOURS" in capsys.readouterr().err


@pytest.mark.long
def test_jointread_eight_days_two_day_outage(tmp_path):
    """Issue 10 point 5: 3 gas + 3 water for 8 days with a 2-day meter outage and a lossy link."""
    out = tmp_path / "fig.json"
    assert main(["jointread", "--days", "8", "--gas", "3", "--water", "3", "--outage", "3:48",
                 "--seed", "1", "--json", str(out)]) == 0
    fig = json.loads(out.read_text())
    _check(fig, 8, 6)
    assert fig["valve_refused_by_terminal"] <= 1      # reopening after the leak shut-off needs a site visit
    assert fig["round_trip_p95_s"] < 180 and fig["alarm_latency_p95_outside_outage_s"] < 120


def test_jointread_item_period_query_on_the_command_line():
    """Like `sumame hes query`: one terminal's stored hourly values for a JST period."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "sumame.tools.cli", "jointread", "--days", "1", "--gas", "1", "--water", "1",
           "--query", "GAS00001", "--from", "2026-04-02T03:00", "--to", "2026-04-02T06:00"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("GAS00001")]
    assert [r.split()[2:4] for r in rows] == [["2026-04-02", "03:00:00"], ["2026-04-02", "04:00:00"],
                                             ["2026-04-02", "05:00:00"]]
    assert "3 values" in out.stdout
    bad = subprocess.run(cmd[:-4] + ["--query", "NOPE"], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "no terminal 'NOPE'" in bad.stderr


def test_more_terminals_than_the_meter_admits_are_announced(tmp_path, capsys):
    """12 terminals: the run says up front that the meter admits 10, and the figures agree."""
    out = tmp_path / "f.json"
    assert main(["jointread", "--days", "0.1", "--gas", "6", "--water", "6", "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "admits at most 10 IoT-route devices" in err and "of 12 terminals" in err
    assert json.loads(out.read_text())["collection_rate"] < 1
