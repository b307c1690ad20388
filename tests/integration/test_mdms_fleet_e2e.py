"""End to end: ``sumame hes fleet --meters N --days 2 --db X``, then ``sumame hes serve --db X``:
a day of 30-min values of one supply point through the API equals ``sumame hes export`` of the
same range; a party without consent gets 403; a bulk export of the whole fleet (every meter,
both days) completes as a job with every row. The 100-meter run is ``long`` (make proof; about
80 s of fleet on one core); make test runs the same with 10 meters."""
import csv
import io
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the MDMS API needs the api extra (fastapi, uvicorn)")

from mdms_helpers import Server, data_digest, fleet_store, sumame  # noqa: E402
from sumame.tools.fleet.fleet import supply_point_of  # noqa: E402


def run_e2e(tmp_path, meters: int) -> None:
    db = fleet_store(tmp_path / "hes.sqlite", meters, 2.1, outages=5)
    before = data_digest(db)
    server = Server(db)
    try:
        u = {"X-API-Key": server.utility_key}
        listed = httpx.get(server.url + "/v1/meters", headers=u, timeout=30).json()
        assert listed["count"] == meters
        index = meters // 2
        sp = supply_point_of(index)
        day = {"from": "2026-04-03T00:30", "to": "2026-04-04T00:00"}
        api = httpx.get(server.url + "/v1/intervals", params={"supply_point": sp, "item": "forward_kwh,reverse_kwh",
                                                              "grid": 30, **day}, headers=u, timeout=30).json()
        out = tmp_path / "day.csv"
        e = sumame("hes", "export", "--db", db, "--out", out, "--from", day["from"], "--to", day["to"])
        assert e.returncode == 0, e.stderr
        meter_id = next(m["meter"] for m in listed["meters"] if m["supply_point"] == sp)
        rows = [r for r in csv.DictReader(out.open()) if r["meter"] == meter_id]
        assert api["count"] == len(rows) == 48
        for a, x in zip(api["intervals"], rows):
            for item in ("forward_kwh", "reverse_kwh"):
                want = None if x[item] == "" else float(x[item])
                assert a[item]["value"] == (want if want is None else pytest.approx(want, rel=1e-5, abs=1e-9))
                assert a[item]["unit"] == "kWh"
        r = sumame("hes", "party", "add", "--db", db, "--name", "stranger")
        stranger = {"X-API-Key": r.stdout.split("api-key ")[1].strip()}
        denied = httpx.get(server.url + "/v1/intervals", params={"supply_point": sp, "item": "forward_kwh", **day},
                           headers=stranger, timeout=30)
        assert denied.status_code == 403 and "no consent" in denied.json()["reason"]
        t0 = time.perf_counter()
        job = httpx.post(server.url + "/v1/exports", json={"from": "2026-04-02", "to": "2026-04-05", "grid": 30},
                         headers=u, timeout=30)
        assert job.status_code == 202
        href = server.url + job.json()["href"]
        while (got := httpx.get(href, headers=u, timeout=30)).status_code == 202:
            assert time.perf_counter() - t0 < 300
            time.sleep(0.2)
        assert got.status_code == 200, got.text
        exported = list(csv.DictReader(io.StringIO(got.text)))
        import sqlite3
        total = sqlite3.connect(db).execute("SELECT COUNT(*) FROM intervals WHERE grid=30").fetchone()[0]
        assert len(exported) == total and len({r["meter"] for r in exported}) == meters
        print(f"\n{meters}-meter export job: {len(exported)} rows in {time.perf_counter() - t0:.2f} s")
    finally:
        server.stop()
    assert data_digest(db) == before


@pytest.mark.slow
def test_fleet_then_serve_10_meters(tmp_path):
    run_e2e(tmp_path, 10)


@pytest.mark.long
def test_fleet_then_serve_100_meters(tmp_path):
    run_e2e(tmp_path, 100)
