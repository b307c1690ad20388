"""MDMS API benchmark (``make bench``): interval queries per second and their p99 latency over
HTTP on a 100-meter, 2-day head-end store, and export rows per second (as a job, and the writer
alone).

The peer in the same run is the store read directly in-process (``HesStore.intervals`` for the
same supply point and day), so "API cost per query" is a ratio that cancels machine speed. The
server is the real one (uvicorn + FastAPI, audit and rate limit on) on an ephemeral loopback port,
its store in a private temporary directory; the client is one keep-alive connection.
"""
from __future__ import annotations

import http.client
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

from .cli import Bench, Figure

DAY = ("2026-04-03T00:30", "2026-04-04T00:00")


def _store(path: Path, meters: int, days: float) -> None:
    from ..fleet.fleet import FleetSpec
    from ..fleet.hes_fleet import FleetScenario, run_scenario
    r = run_scenario(FleetScenario(spec=FleetSpec(meters=meters, hv_every=25), days=days, db=str(path)))
    r.hes.store.close()
    r.fleet.close()


def _serve(app):
    import uvicorn
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, sock.getsockname()[1]


def _get(conn, path: str, key: str, method="GET", body=None):
    conn.request(method, path, body=body, headers={"X-API-Key": key, "Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def run(quick: bool) -> list[Figure]:
    try:
        from ..hes.mdms.app import create_app
    except ImportError:
        return [Figure("MDMS API", 0, "-", "needs sumame[api] (fastapi, uvicorn)")]
    from urllib.parse import urlencode

    from sumame.hal.jst import parse_jst

    from ..fleet.fleet import supply_point_of
    from ..hes.db.export import export_rows, write_csv
    from ..hes.db.store import HesStore

    meters, days, seconds = (10, 2.1, 1.0) if quick else (100, 2.1, 5.0)
    with tempfile.TemporaryDirectory(prefix="sumame-bench-mdms-") as tmp:
        db = Path(tmp) / "hes.sqlite"
        t0 = time.perf_counter()
        _store(db, meters, days)
        fleet_s = time.perf_counter() - t0
        app = create_app(db, export_dir=Path(tmp) / "exports", rate=1e9, burst=10 ** 9)
        key = app.state.access.add_party("bench", "utility")
        server, thread, port = _serve(app)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        lat = []
        i = 0
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            q = urlencode({"supply_point": supply_point_of(i % meters), "item": "forward_kwh,reverse_kwh", "grid": 30,
                           "from": DAY[0], "to": DAY[1]})
            t = time.perf_counter()
            status, body = _get(conn, "/v1/intervals?" + q, key)
            lat.append(time.perf_counter() - t)
            if status != 200:
                raise RuntimeError(f"bench query failed: {status} {body[:200]!r}")
            i += 1
        qps = len(lat) / sum(lat)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        # the peer: the same reads straight from the store, in-process
        store = HesStore.open_read_only(db)
        start, end = float(parse_jst(DAY[0])), float(parse_jst(DAY[1]))
        ids = {sp: mid for mid, sp in store.db.execute("SELECT id, supply_point FROM meters")}
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds / 2:
            store.intervals(ids[supply_point_of(n % meters)], 30, start, end)
            n += 1
        direct = n / (time.perf_counter() - t)
        # export: as a job over HTTP, and the writer alone
        t = time.perf_counter()
        status, body = _get(conn, "/v1/exports", key, "POST",
                            json.dumps({"from": "2026-04-02", "to": "2026-04-05", "grid": 30}))
        href = json.loads(body)["href"]
        while (got := _get(conn, href, key))[0] == 202:
            time.sleep(0.01)
        job_s = time.perf_counter() - t
        job_rows = got[1].count(b"\n") - 1
        t = time.perf_counter()
        rows = export_rows(store, grid=30)
        write_csv(rows, Path(tmp) / "direct.csv")
        direct_export = len(rows) / (time.perf_counter() - t)
        conn.close()
        server.should_exit = True
        thread.join(10)
        app.state.exports.close()
    return [
        Figure("interval queries per second (HTTP, 1 client)", qps, "queries/s",
               f"a day of 30-min fwd+rev of one supply point; {meters}-meter store ({fleet_s:.0f} s to build)"),
        Figure("interval query latency p99", p99, "ms", f"{len(lat)} queries over {seconds:g} s"),
        Figure("direct store reads (peer, in-process)", direct, "queries/s", "HesStore.intervals, same query"),
        Figure("API cost vs direct read", direct / qps, "x", "same run"),
        Figure("export job rows per second", job_rows / job_s, "rows/s", f"{job_rows} rows, POST to file, CSV"),
        Figure("export writer rows per second", direct_export, "rows/s", "export_rows + write_csv alone"),
    ]


BENCHES = [Bench("mdms-api", run, "MDMS HTTP API: interval queries/s, p99 latency, export rows/s")]
