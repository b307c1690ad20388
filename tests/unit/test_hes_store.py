"""Head-end store: one row per interval, deadlines, no data, user units in JST, 3-year
retention, CSV and Parquet exports."""
import csv

import pytest

from sumame.tools.hes.db.export import export_rows, write_csv, write_parquet
from sumame.tools.hes.db.store import RETENTION_S, HesStore

T = 1775059200.0          # 2026-04-02 01:00 JST


def filled():
    s = HesStore()
    s.put_interval("m1", 30, T, {"forward_wh": 1230.0, "forward_total_wh": 50_000.0}, received_at=T + 40,
                   source="push", deadline_s=3600)
    s.put_interval("m1", 30, T + 1800, {"forward_wh": None}, received_at=T + 9000, source="poll", deadline_s=3600)
    s.put_interval("m2", 30, T, {"forward_wh": 10.0, "voltage_r_v": 101.2}, received_at=T + 2000,
                   source="push", deadline_s=1800)
    return s


def test_first_value_wins_duplicates_and_conflicts_are_counted():
    s = filled()
    assert not s.put_interval("m1", 30, T, {"forward_wh": 1230.0, "forward_total_wh": 50_000.0},
                              received_at=T + 1800, source="push", deadline_s=3600)
    assert not s.put_interval("m1", 30, T, {"forward_wh": 999.0}, received_at=T + 1800, source="poll",
                              deadline_s=3600)
    assert (s.stats.stored, s.stats.duplicates, s.stats.conflicts) == (3, 1, 1)
    (row,) = s.intervals("m1", 30, T, T)
    assert row["forward_wh"] == 1230.0 and row["source"] == "push" and row["on_time"] == 1
    assert [r["on_time"] for r in s.intervals("m2")] == [0]           # HV deadline 30 min missed


def test_query_gives_user_units_and_jst_and_no_data_as_none():
    rows = filled().query(["forward_kwh", "forward_total_kwh", "voltage_r_v"], meters=["m1"])
    assert rows[0]["interval_end_jst"] == "2026-04-02 01:00 JST"
    assert rows[0]["forward_kwh"] == 1.23 and rows[0]["forward_total_kwh"] == 50.0
    assert rows[1]["forward_kwh"] is None and rows[1]["voltage_r_v"] is None
    with pytest.raises(KeyError):
        filled().query(["nonsense"])


def test_missing_boundaries():
    s = filled()
    assert s.missing("m1", 30, T - 1800, T + 3600) == [T - 1800, T + 3600]
    assert s.missing("m2", 30, T, T) == []


def test_three_year_retention():
    s = filled()
    s.add_poll("m1", T, True, "routine")
    s.open_outage("m1", start_at=T, detected_at=T + 60, how="x", start_source="meter")
    assert s.purge(T + RETENTION_S - 1) == 0
    assert s.purge(T + RETENTION_S + 1801) == 5                       # 3 rows, 1 poll, 1 outage
    assert s.intervals() == [] and RETENTION_S >= 3 * 365 * 86400


def test_exports(tmp_path):
    rows = export_rows(filled())
    assert write_csv(rows, tmp_path / "a.csv") == 3
    got = list(csv.DictReader((tmp_path / "a.csv").open()))
    assert got[0]["forward_kwh"] == "1.23" and got[1]["forward_kwh"] == "" and got[0]["minutes"] == "30"
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (parquet extra) not installed")
    assert write_parquet(rows, tmp_path / "a.parquet") == 3
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.column("forward_kwh").to_pylist() == [1.23, None, 0.01]
    assert table.schema.field("interval_end").type.tz == "Asia/Tokyo"      # (Parquet keeps ms)
    assert table.column("interval_end").to_pylist()[0].timestamp() == T
