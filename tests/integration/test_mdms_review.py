"""Review of the MDMS API (``tools/hes/mdms``) as a hostile outsider: each test here is a defect the
review found (it failed before its fix): records outside a consent's period, dates no JST date
can be written for, export files after revocation, an unbounded export queue, slow clients."""
import socket
import sqlite3
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the MDMS API needs the api extra (fastapi, uvicorn)")
from fastapi.testclient import TestClient  # noqa: E402

from mdms_helpers import Server, data_digest, fleet_store  # noqa: E402
from sumame.tools.hes.mdms import exports as exports_mod  # noqa: E402
from sumame.tools.hes.mdms.app import create_app  # noqa: E402
from sumame.hal.jst import parse_jst  # noqa: E402
from sumame.tools.hes.mdms.data import iso_jst  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = fleet_store(tmp_path_factory.mktemp("review") / "hes.sqlite", 3, 1.1, outages=1)
    # this short fleet reads no event log: record the outage's power-fail/restore events and a
    # command, and one event hours before, as the head-end does for a longer one
    db = sqlite3.connect(path)
    meter, start, end = db.execute("SELECT meter, start_at, end_at FROM outages WHERE start_at IS NOT NULL").fetchone()
    db.executemany("INSERT INTO meter_events VALUES (?,?,?,?,?)", [
        (meter, "power", start - 5 * 3600, 2, "power-restore"), (meter, "power", start, 1, "power-fail"),
        (meter, "power", end or start + 600, 2, "power-restore")])
    db.execute("INSERT INTO commands(meter, at, op, argument, ok, detail) VALUES (?,?,?,?,?,?)",
               (meter, start + 60, "read-event-log", "power", 1, "review"))
    db.commit()
    db.close()
    return path


@pytest.fixture(scope="module")
def app(store, tmp_path_factory):
    a = create_app(store, export_dir=tmp_path_factory.mktemp("exports"), rate=1000, burst=1000)
    yield a
    a.state.exports.close()


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def util(app):
    return {"X-API-Key": app.state.access.add_party("util", "utility")}


def H(key):
    return {"X-API-Key": key}


def outage_of(store):
    """(supply point, outage start) of the store's one outage (epoch s)."""
    db = sqlite3.connect(store)
    meter, start = db.execute("SELECT meter, start_at FROM outages WHERE start_at IS NOT NULL").fetchone()
    sp = db.execute("SELECT supply_point FROM meters WHERE id=?", (meter,)).fetchone()[0]
    assert db.execute("SELECT COUNT(*) FROM meter_events WHERE meter=? AND at>=?", (meter, start)).fetchone()[0]
    return sp, start


def test_events_and_outages_outside_the_consent_period_stay_hidden(client, app, store):
    sp, start = outage_of(store)
    acc = app.state.access
    key = acc.add_party("early", "third_party")
    acc.grant("early", sp, valid_from=start - 6 * 3600, valid_to=start - 3600, by="test")   # ends before
    ev = client.get("/v1/events", params={"supply_point": sp}, headers=H(key))
    assert ev.status_code == 200, ev.text
    body = ev.json()
    assert [e["at"] for e in body["events"]] == [iso_jst(start - 5 * 3600)], body   # inside: shown
    assert body["commands"] == [], body      # the power-fail, restore and command are after the period
    for params in ({"supply_point": sp}, {}):
        out = client.get("/v1/outages", params=params, headers=H(key))
        assert out.status_code == 200 and out.json()["outages"] == [], out.text
    # a consent that covers the outage shows it (the filter is by period, not a blanket refusal)
    acc.grant("early", sp, valid_from=start - 60, valid_to=None, by="test")
    assert client.get("/v1/outages", params={"supply_point": sp}, headers=H(key)).json()["outages"]
    assert [e for e in client.get("/v1/events", params={"supply_point": sp}, headers=H(key)).json()["events"]
            if e["at"] >= iso_jst(start)]


@pytest.mark.parametrize("when", ["0001-01-01", "0001-01-01T00:00+14:00", "9999-12-31T23:59-12:00",
                                  "1900-01-01"])
def test_dates_no_jst_date_can_be_written_for_get_400_not_500(client, util, store, when):
    before = data_digest(store)
    sp = sqlite3.connect(store).execute("SELECT supply_point FROM meters").fetchone()[0]
    r = client.get("/v1/intervals", params={"supply_point": sp, "item": "forward_kwh", "from": when, "to": when},
                   headers=util)
    assert r.status_code == 400 and "1970-01-01" in r.json()["reason"], r.text
    r = client.post("/v1/exports", json={"from": when, "to": when}, headers=util)
    assert r.status_code == 400, r.text
    r = client.post("/v1/consents", json={"party": "util", "supply_point": sp, "from": when}, headers=util)
    assert r.status_code == 400, r.text
    assert client.get("/v1/exports", headers=util).status_code == 200     # once a 500 for every later listing
    assert data_digest(store) == before


def wait_done(client, href, headers):
    deadline = time.monotonic() + 30
    while (got := client.get(href, headers=headers)).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def test_an_export_file_is_refused_once_its_consent_is_revoked(client, app, store):
    sp = sqlite3.connect(store).execute("SELECT supply_point FROM meters").fetchone()[0]
    acc = app.state.access
    key = acc.add_party("revokee", "third_party")
    c = acc.grant("revokee", sp, valid_from=0, valid_to=None, by="test")
    r = client.post("/v1/exports", json={"from": "2026-04-02", "to": "2026-04-02T06:00"}, headers=H(key))
    assert r.status_code == 202, r.text
    href = r.json()["href"]
    assert wait_done(client, href, H(key)).status_code == 200
    acc.revoke(c.id, by="test")
    got = client.get(href, headers=H(key))
    assert got.status_code == 403 and "revoked" in got.json()["reason"], got.text[:200]


def test_a_party_cannot_fill_the_export_queue(client, app, monkeypatch):
    gate = threading.Event()
    real = exports_mod.export_rows

    def slow(*a, **k):
        gate.wait(20)
        return real(*a, **k)

    monkeypatch.setattr(exports_mod, "export_rows", slow)
    acc = app.state.access
    greedy, other = H(acc.add_party("greedy", "utility")), H(acc.add_party("patient", "utility"))
    body = {"from": "2026-04-02", "to": "2026-04-02T01:00"}
    try:
        codes = [client.post("/v1/exports", json=body, headers=greedy).status_code
                 for _ in range(exports_mod.MAX_PENDING)]
        assert codes == [202] * exports_mod.MAX_PENDING
        r = client.post("/v1/exports", json=body, headers=greedy)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "queued" in r.json()["reason"]
        assert client.post("/v1/exports", json=body, headers=other).status_code == 202   # others still can
    finally:
        gate.set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
            j["status"] in ("queued", "running") for j in client.get("/v1/exports", headers=greedy).json()["exports"]):
        time.sleep(0.05)
    assert client.post("/v1/exports", json=body, headers=greedy).status_code == 202     # room again


def test_a_slow_client_is_closed_and_others_are_served(store):
    from sumame.tools.hes.mdms.access import Access
    acc = Access(store)
    key = acc.add_party("slowtest", "utility")
    acc.close()
    srv = Server(store, "--header-timeout", "1")
    try:
        host, port = srv.url[len("http://"):].rsplit(":", 1)
        slow = socket.create_connection((host, int(port)))
        slow.sendall(b"GET /v1/meters HTTP/1.1\r\nHost: x\r\n")
        idle = socket.create_connection((host, int(port)))
        t0, closed = time.monotonic(), False
        while time.monotonic() - t0 < 8:
            time.sleep(0.25)
            try:
                slow.sendall(b"X-Trickle: 1\r\n")        # one header line at a time, never the blank line
            except OSError:
                closed = True
                break
        assert closed, "a client trickling headers was kept open"
        idle.settimeout(5)
        assert idle.recv(10) == b""                     # one that sends nothing is closed too
        fast = socket.create_connection((host, int(port)))
        fast.sendall(f"GET /v1/meters HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
                     f"Connection: close\r\n\r\n".encode())
        fast.settimeout(10)
        assert fast.recv(12).startswith(b"HTTP/1.1 200")
    finally:
        srv.stop()


def test_the_interval_ending_at_the_consent_start_is_not_handed_out(client, app, store):
    """An interval ending at t holds the energy of (t - 30 min, t]: the one ending at the consent's
    start is data from before it."""
    sp = sqlite3.connect(store).execute("SELECT supply_point FROM meters").fetchone()[0]
    acc = app.state.access
    key = acc.add_party("edge", "third_party")
    acc.grant("edge", sp, ["intervals"], valid_from=float(parse_jst("2026-04-02T06:00")), valid_to=None, by="test")
    q = {"supply_point": sp, "item": "forward_kwh", "to": "2026-04-02T09:00"}
    early = client.get("/v1/intervals", params={**q, "from": "2026-04-02T06:00"}, headers=H(key))
    assert early.status_code == 403 and "outside the consent" in early.json()["reason"], early.text
    ok = client.get("/v1/intervals", params={**q, "from": "2026-04-02T06:30"}, headers=H(key))
    assert ok.status_code == 200 and ok.json()["intervals"][0]["interval_end"] == "2026-04-02T06:30:00+09:00"
    assert client.get("/v1/intervals", params={**q, "from": "2026-04-02T06:10"}, headers=H(key)).status_code == 200
    r = client.post("/v1/exports", json={"from": "2026-04-02T06:00", "to": "2026-04-02T09:00"}, headers=H(key))
    assert r.status_code == 403, r.text


def test_x_forwarded_for_does_not_pick_the_rate_limit_key(store):
    from sumame.tools.hes.mdms.access import Access
    Access(store).close()
    srv = Server(store, "--rate", "0.01", "--burst", "5")
    try:
        import httpx
        codes = [httpx.get(f"{srv.url}/v1/meters", headers={"X-API-Key": f"smk_guess{i}",
                                                              "X-Forwarded-For": f"10.0.0.{i}"}).status_code
                 for i in range(12)]
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}, codes     # one client, one bucket
    finally:
        srv.stop()
    audit = Access(store)
    try:
        clients = {r["client"] for r in audit.audit_rows(12)}
    finally:
        audit.close()
    assert clients == {"127.0.0.1"}, clients


def test_a_huge_or_chunked_body_is_refused_before_it_is_read(client, util):
    big = b'{"from": "2026-04-02", "to": "2026-04-03", "supply_points": [' + b'"0300000000000000000015",' * 60000 \
        + b'"0300000000000000000015"]}'
    r = client.post("/v1/exports", content=big, headers={**util, "content-type": "application/json"})
    assert r.status_code == 413 and "bytes" in r.json()["reason"], r.text[:200]

    def chunks():
        yield b'{"from": "2026-04-02", '
        yield b'"to": "2026-04-03"}'
    r = client.post("/v1/exports", content=chunks(), headers={**util, "content-type": "application/json"})
    assert r.status_code == 411 and "Content-Length" in r.json()["reason"], r.text[:200]
    ok = client.post("/v1/exports", json={"from": "2026-04-02", "to": "2026-04-02T01:00"}, headers=util)
    assert ok.status_code == 202, ok.text
