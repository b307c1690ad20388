"""The MDMS API (``tools/hes/mdms``) over a store made by ``sumame hes fleet``: identity numbers read
over the A-route, interval values equal to ``sumame hes export``, consent (403 without, after
revocation, outside scope or period), 401 for bad keys, 429 past the rate limit, clear 4xx for
bad input and injection in every parameter (each logged), export jobs, and a store that no read
path changes."""
import csv
import io
import time
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi", reason="the MDMS API needs the api extra (fastapi, uvicorn)")
from fastapi.testclient import TestClient  # noqa: E402

from mdms_helpers import data_digest, fleet_store, sumame  # noqa: E402
from sumame.tools.fleet.fleet import receiving_point_of, supply_point_of  # noqa: E402
from sumame.tools.hes.db.store import ITEMS  # noqa: E402
from sumame.tools.hes.mdms.app import create_app  # noqa: E402
from sumame.tools.hes.mdms.ids import parse  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")
METERS = 6
DAY = {"from": "2026-04-03T00:30", "to": "2026-04-04T00:00"}     # one full JST day of 30-min values


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return fleet_store(tmp_path_factory.mktemp("mdms") / "hes.sqlite", METERS, 2.1)


@pytest.fixture(scope="module")
def app(store, tmp_path_factory):
    a = create_app(store, export_dir=tmp_path_factory.mktemp("exports"), rate=1000, burst=1000)
    yield a
    a.state.exports.close()


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def keys(app):
    acc = app.state.access
    k = {"utility": acc.add_party("util", "utility"), "aggr": acc.add_party("aggr", "third_party"),
         "none": acc.add_party("nobody", "third_party")}
    acc.grant("aggr", supply_point_of(1), ["intervals", "events"], valid_from=0, valid_to=None, by="test")
    return k


def H(key):
    return {"X-API-Key": key}


def test_meters_carry_supply_and_receiving_points_read_over_the_a_route(client, keys):
    body = client.get("/v1/meters", headers=H(keys["utility"])).json()
    assert body["count"] == METERS and body["role"] == "utility"
    by_serial = {m["serial"]: m for m in body["meters"]}
    for i in range(METERS):
        m = by_serial[f"SMLV{i:08d}"]
        assert m["supply_point"] == supply_point_of(i) and parse(m["supply_point"]).sumame_check_ok
        assert m["receiving_point"] == (receiving_point_of(i) or None)
        assert m["status"] in ("up", "late", "outage")
    assert sum(body["status_counts"].values()) == METERS


def test_a_day_of_30_min_values_equals_hes_export(client, keys, store, tmp_path):
    sp = supply_point_of(2)
    r = client.get("/v1/intervals", params={"supply_point": sp, "item": list(ITEMS), "grid": 30, **DAY},
                   headers=H(keys["utility"]))
    assert r.status_code == 200, r.text
    api = r.json()
    assert api["count"] == 48 and api["intervals"][0]["interval_end"] == "2026-04-03T00:30:00+09:00"
    out = tmp_path / "day.csv"
    e = sumame("hes", "export", "--db", store, "--out", out, "--from", DAY["from"], "--to", DAY["to"])
    assert e.returncode == 0, e.stderr
    rows = [row for row in csv.DictReader(out.open()) if row["meter"] == "inproc://SMLV00000002"]
    assert len(rows) == 48
    nulls = 0
    for a, x in zip(api["intervals"], rows):
        assert a["interval_end"][:16].replace("T", " ") + " JST" == x["interval_end_jst"]
        for name, item in ITEMS.items():
            fig = a[name]
            assert fig["unit"] == item.unit
            if x[name] == "":
                assert fig["value"] is None      # no data stays no data, never 0
                nulls += 1
            else:
                assert fig["value"] == pytest.approx(float(x[name]), rel=1e-5, abs=1e-9)
    assert nulls > 0    # LV meters have no reactive column: those are null in both


def test_no_data_is_null_never_zero(client, keys, store):
    import sqlite3
    db = sqlite3.connect(store)
    meter, end = db.execute("SELECT meter, end_at FROM intervals WHERE grid=30 AND forward_wh IS NULL").fetchone()
    sp = db.execute("SELECT supply_point FROM meters WHERE id=?", (meter,)).fetchone()[0]
    from sumame.tools.hes.mdms.data import iso_jst
    r = client.get("/v1/intervals", params={"supply_point": sp, "item": "forward_kwh", "from": iso_jst(end - 1800),
                                            "to": iso_jst(end)}, headers=H(keys["utility"])).json()
    row = next(x for x in r["intervals"] if x["interval_end"] == iso_jst(end))
    assert row["forward_kwh"] == {"value": None, "unit": "kWh"}


def test_third_party_sees_only_what_it_has_consent_for(client, keys, app):
    body = client.get("/v1/meters", headers=H(keys["aggr"])).json()
    assert [m["supply_point"] for m in body["meters"]] == [supply_point_of(1)]
    ok = client.get("/v1/intervals", params={"supply_point": supply_point_of(1), "item": "forward_kwh", **DAY},
                    headers=H(keys["aggr"]))
    assert ok.status_code == 200 and ok.json()["count"] == 48
    no = client.get("/v1/intervals", params={"supply_point": supply_point_of(0), "item": "forward_kwh", **DAY},
                    headers=H(keys["aggr"]))
    assert no.status_code == 403 and "no consent" in no.json()["reason"]
    none = client.get("/v1/intervals", params={"supply_point": supply_point_of(1), "item": "forward_kwh", **DAY},
                      headers=H(keys["none"]))
    assert none.status_code == 403 and none.json()["error"] == "forbidden"
    scope = client.get("/v1/outages", params={"supply_point": supply_point_of(1)}, headers=H(keys["aggr"]))
    assert scope.status_code == 403 and "does not cover outages" in scope.json()["reason"]
    assert client.get("/v1/meters", headers=H(keys["none"])).json()["meters"] == []
    assert client.get("/v1/outages", headers=H(keys["none"])).json()["outages"] == []
    assert client.get("/v1/outages", headers=H(keys["utility"])).json()["outages"]


def test_consent_period_and_revocation_are_enforced_and_audited(client, keys, app):
    acc = app.state.access
    key = acc.add_party("shortterm", "third_party")
    sp = supply_point_of(3)
    u = H(keys["utility"])
    r = client.post("/v1/consents", json={"party": "shortterm", "supply_point": sp, "scope": ["intervals"],
                                          "from": "2026-04-02T00:00", "to": "2026-04-02T12:00"}, headers=u)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    inside = {"supply_point": sp, "item": "forward_kwh", "from": "2026-04-02T01:00", "to": "2026-04-02T11:00"}
    assert client.get("/v1/intervals", params=inside, headers=H(key)).status_code == 200
    outside = client.get("/v1/intervals", params={**inside, "to": "2026-04-02T18:00"}, headers=H(key))
    assert outside.status_code == 403 and "outside the consent" in outside.json()["reason"]
    assert client.post("/v1/consents", json={"party": "shortterm", "supply_point": sp, "from": "2026-04-02"},
                       headers=H(key)).status_code == 403        # only the utility records consent
    assert client.delete(f"/v1/consents/{cid}", headers=u).json()["active"] is False
    for bad in (2 ** 63, 0, -1):       # schemathesis found 2**63 once gave a 500 (SQLite integer overflow)
        r = client.delete(f"/v1/consents/{bad}", headers=u)
        assert r.status_code == 400 and "consent_id" in r.json()["reason"], r.text
    assert client.delete("/v1/consents/12345", headers=u).status_code == 404
    revoked = client.get("/v1/intervals", params=inside, headers=H(key))
    assert revoked.status_code == 403 and "revoked" in revoked.json()["reason"]
    log = [r for r in acc.db.execute("SELECT action, by_party FROM mdms_consent_log WHERE consent=?", (cid,))]
    assert log == [("grant", "util"), ("revoke", "util")]
    assert acc.consent(cid).revoked_at is not None          # kept as a record


@pytest.mark.parametrize("headers, reason", [
    ({}, "no API key"), ({"X-API-Key": "smk_wrong"}, "unknown API key"),
    ({"Authorization": "Bearer nope"}, "unknown API key"), ({"Authorization": "Basic eDp5"}, "no API key")])
def test_bad_keys_get_401_with_a_reason(client, headers, reason):
    r = client.get("/v1/meters", headers=headers)
    assert r.status_code == 401 and reason in r.json()["reason"] and "Traceback" not in r.text


def test_bearer_token_works_like_the_header(client, keys):
    assert client.get("/v1/meters", headers={"Authorization": f"Bearer {keys['utility']}"}).status_code == 200


INJECTIONS = ["' OR 1=1 --", "0300000000000000000015'; DROP TABLE intervals;--", "<script>alert(1)</script>",
              "../../etc/passwd", "%00", "\u202e\u0000", "9" * 5000]


def bad_requests(sp):
    day = dict(DAY)
    yield "/v1/intervals", {"supply_point": sp, "item": "forward_kwh", "from": "2026-02-30", "to": day["to"]}, "not a date"
    yield "/v1/intervals", {"supply_point": sp, "item": "forward_kwh", "from": "yesterday", "to": day["to"]}, "not a date"
    yield "/v1/intervals", {"supply_point": sp, "item": "kwh", **day}, "unknown item"
    yield "/v1/intervals", {"supply_point": sp, "item": "forward_kwh", "grid": 7, **day}, "30, 15 or 5"
    yield "/v1/intervals", {"supply_point": sp, "item": "forward_kwh", "from": day["to"], "to": day["from"]}, "before"
    yield "/v1/intervals", {"supply_point": sp, "item": "forward_kwh", "from": "2026-01-01", "to": "2026-04-01"}, \
        "POST /v1/exports"
    yield "/v1/intervals", {"supply_point": "12345", "item": "forward_kwh", **day}, "22 digits"
    yield "/v1/intervals", {"supply_point": "9900000000000000000000", "item": "forward_kwh", **day}, "area"
    yield "/v1/intervals", {"item": "forward_kwh", **day}, "supply_point"
    for bad in INJECTIONS:
        for param in ("supply_point", "item", "grid", "from", "to"):
            q = {"supply_point": sp, "item": "forward_kwh", "grid": 30, **day, param: bad}
            yield "/v1/intervals", q, ""
        yield "/v1/events", {"supply_point": bad}, ""
        yield "/v1/outages", {"supply_point": bad}, ""
        yield "/v1/meters", {"supply_point": bad}, ""
        yield f"/v1/exports/{quote(bad, safe='')}", {}, ""


def test_bad_input_and_injection_get_clear_4xx_logged_and_never_change_the_store(client, keys, app, store):
    before = data_digest(store)
    u = H(keys["utility"])
    n = 0
    for path, params, reason in bad_requests(supply_point_of(1)):
        r = client.get(path, params=params, headers=u)
        assert 400 <= r.status_code < 500, (path, params, r.status_code, r.text)
        body = r.json()
        assert body["reason"] and reason in body["reason"] and "Traceback" not in r.text, (params, body)
        n += 1
    bodies = [{"from": "2026-04-02"}, {"from": "x", "to": "y"}, {"from": "2026-04-02", "to": "2026-04-03", "grid": 1},
              {"from": "2026-04-02", "to": "2026-04-03", "format": "xls"},
              {"from": "2026-04-02", "to": "2026-04-03", "supply_points": ["' OR 1=1"]}, "not json"]
    for b in bodies:
        r = client.post("/v1/exports", json=b, headers=u)
        assert r.status_code == 400 and r.json()["reason"], (b, r.text)
        n += 1
    audit = app.state.access.audit_rows(1000)
    refused = [a for a in audit if a["party"] == "util" and 400 <= a["status"] < 500]
    assert len(refused) >= n and all(a["reason"] for a in refused)
    assert data_digest(store) == before


def test_rate_limit_gives_429_with_retry_after(store, tmp_path):
    a = create_app(store, export_dir=tmp_path, rate=0.5, burst=3)
    c = TestClient(a)
    k = a.state.access.add_party(f"burst{time.monotonic_ns()}", "utility")
    codes = [c.get("/v1/items", headers=H(k)).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    r = c.get("/v1/items", headers=H(k))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "rate limit" in r.json()["reason"]
    a.state.exports.close()


def test_export_job_csv_and_parquet(client, keys, store):
    u = H(keys["utility"])
    r = client.post("/v1/exports", json={"from": "2026-04-02", "to": "2026-04-03", "grid": 30}, headers=u)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "done")
    deadline = time.monotonic() + 30
    while (got := client.get(job["href"], headers=u)).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    import sqlite3
    want = sqlite3.connect(store).execute("SELECT COUNT(*) FROM intervals WHERE grid=30 AND end_at BETWEEN ? AND ?",
                                          (1775055600, 1775142000)).fetchone()[0]
    assert len(rows) == want > 0
    # a third party's job holds only its consented supply point; others cannot fetch it
    r = client.post("/v1/exports", json={"from": "2026-04-02", "to": "2026-04-03", "format": "parquet"},
                    headers=H(keys["aggr"]))
    assert r.status_code == 202
    href = r.json()["href"]
    while (got := client.get(href, headers=H(keys["aggr"]))).status_code == 202:
        time.sleep(0.05)
    assert got.status_code == 200 and got.content[:4] == b"PAR1"
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(io.BytesIO(got.content))
    assert set(table.column("meter").to_pylist()) == {"inproc://SMLV00000001"}
    assert client.get(href, headers=H(keys["none"])).status_code == 404
    denied = client.post("/v1/exports", json={"from": "2026-04-02", "to": "2026-04-03",
                                               "supply_points": [supply_point_of(0)]}, headers=H(keys["aggr"]))
    assert denied.status_code == 403


def test_openapi_document_lists_the_endpoints(client):
    doc = client.get("/openapi.json").json()
    for path in ("/v1/meters", "/v1/intervals", "/v1/events", "/v1/outages", "/v1/exports", "/v1/exports/{job_id}"):
        assert path in doc["paths"]
    params = {p["name"] for p in doc["paths"]["/v1/intervals"]["get"]["parameters"]}
    assert {"supply_point", "item", "grid", "from", "to"} <= params


def test_read_paths_use_a_connection_sqlite_refuses_to_write_through(app, store):
    import sqlite3
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        app.state.reader.store.db.execute("DELETE FROM intervals")


def test_an_internal_failure_is_a_500_with_a_reason_not_a_traceback(store, tmp_path, monkeypatch):
    a = create_app(store, export_dir=tmp_path)
    k = a.state.access.add_party("crash", "utility")

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(a.state.reader, "meters", broken)
    r = TestClient(a, raise_server_exceptions=False).get("/v1/meters", headers=H(k))
    assert r.status_code == 500 and r.json() == {"error": "internal", "reason": "internal error (logged on the server)"}
    assert "disk on fire" not in r.text and "Traceback" not in r.text
    assert a.state.access.audit_rows(1)[0]["status"] == 500
    a.state.exports.close()


def test_cli_parties_and_consents(tmp_path, store):
    import shutil
    db = tmp_path / "copy.sqlite"
    shutil.copy(store, db)
    r = sumame("hes", "party", "add", "--db", db, "--name", "agg-9", "--role", "third_party")
    assert r.returncode == 0 and "api-key smk_" in r.stdout
    assert "exists already" in sumame("hes", "party", "add", "--db", db, "--name", "agg-9").stderr
    g = sumame("hes", "consent", "grant", "--db", db, "--party", "agg-9", "--supply-point", supply_point_of(0),
               "--scope", "intervals,events", "--from", "2026-04-02", "--to", "2026-04-03")
    assert g.returncode == 0 and "agg-9 may read intervals,events" in g.stdout, g.stderr
    assert sumame("hes", "consent", "revoke", "--db", db, "--id", "1").returncode == 0
    listed = sumame("hes", "consent", "list", "--db", db).stdout
    assert "agg-9" in listed and "revoked" in listed
    for args, message in ((["--scope", "everything"], "scope everything"), (["--from", "soon"], "expected a JST date"),
                          (["--party", "ghost"], "no party 'ghost'")):
        base = {"--party": "agg-9", "--supply-point": supply_point_of(0), "--from": "2026-04-02", "--scope": "intervals"}
        base[args[0]] = args[1]
        bad = sumame("hes", "consent", "grant", "--db", db, *[x for kv in base.items() for x in kv])
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr
    assert sumame("hes", "consent", "revoke", "--db", db, "--id", "99").returncode == 2
