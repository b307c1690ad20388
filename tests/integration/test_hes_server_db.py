"""The head-end store on a server database (PostgreSQL the test starts itself: Debian's initdb +
pg_ctl into a tmp dir, unix socket only): ``sumame hes fleet --db postgresql://...`` in one
process and on a local Ray (2 shards into the one server database) give exactly the rows the
SQLite file gives for the same seed (``sumame hes export`` and ``query`` output compared)."""
import csv
import io
import os
import uuid

import pytest
from netns import PrivateNetwork

from sumame.tools.cli import main
from sumame.tools.hes.db.pg_local import LocalPostgres, pg_bin_dir

CI = os.environ.get("CI") == "true"
ARGS = ("--board", "emulated-lv-fleet", "--meters", "4", "--days", "0.5", "--seed", "7", "--hv-every", "3",
        "--loss", "0.15", "--outages", "3")

try:
    import psycopg  # noqa: F401
except ImportError:          # in the test extra, so CI has it
    psycopg = None
    if CI:
        raise


@pytest.fixture(scope="module")
def pg():
    if pg_bin_dir() is None or psycopg is None:
        why = "PostgreSQL binaries (apt-get install postgresql) or psycopg missing"
        if CI:
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    server = LocalPostgres().start()
    yield server
    server.stop()


def fresh(pg) -> str:
    return pg.create_database(f"hes_{uuid.uuid4().hex[:8]}")


def cli(capsys, *args) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def export(capsys, db, tmp_path) -> str:
    out = tmp_path / f"{uuid.uuid4().hex[:6]}.csv"
    cli(capsys, "hes", "export", "--db", str(db), "--out", str(out))
    return out.read_text()


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory):
    db = tmp_path_factory.mktemp("lite") / "hes.sqlite"
    assert main(["hes", "fleet", *ARGS, "--db", str(db)]) == 0
    return db


def test_fleet_on_postgresql_exports_the_same_rows_as_sqlite(pg, sqlite_run, tmp_path, capsys):
    capsys.readouterr()
    url = fresh(pg)
    out = cli(capsys, "hes", "fleet", *ARGS, "--db", url)
    assert "4 meters x 0.5 days" in out
    lite, server = export(capsys, sqlite_run, tmp_path), export(capsys, url, tmp_path)
    rows = list(csv.DictReader(io.StringIO(lite)))
    assert len(rows) >= 4 * 20 and len({r["meter"] for r in rows}) == 4
    assert any(r["forward_kwh"] == "" for r in rows) and any(float(r["forward_kwh"] or 0) > 0 for r in rows)
    assert server == lite
    q = ("hes", "query", "--item", "forward_kwh", "--item", "voltage_r_v", "--format", "csv")
    a, b = cli(capsys, *q, "--db", str(sqlite_run)), cli(capsys, *q, "--db", url)
    assert a.count("\n") > 20 and a == b
    from sumame.tools.hes.db.store import HesStore
    one, two = HesStore(sqlite_run), HesStore(url)
    key = lambda o: (o["meter"], o["start_at"], o["end_at"], o["how"])       # noqa: E731
    assert sorted(map(key, two.outages())) == sorted(map(key, one.outages())) and one.outages()
    assert two.meters() == one.meters()
    two.close()


def test_unreachable_server_is_one_line(tmp_path):
    import subprocess
    import sys
    url = f"postgresql:///nodb?host={tmp_path}&user=x"        # no server on that socket dir
    r = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "hes", "query", "--db", url, "--item",
                        "forward_kwh"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "database postgresql:///nodb" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_ray_shards_land_in_the_one_server_database(pg, sqlite_run, tmp_path, capsys):
    ray = pytest.importorskip("ray") if not CI else __import__("ray")
    url = fresh(pg)
    with PrivateNetwork():      # Ray's servers in a namespace of their own (as root); the server is on a Unix socket
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
        try:
            capsys.readouterr()
            out = cli(capsys, "hes", "fleet", *ARGS, "--db", url, "--ray", "--workers", "2")
        finally:
            ray.shutdown()
    assert "on Ray, 2 shards" in out and "written twice 0" in out
    assert export(capsys, url, tmp_path) == export(capsys, sqlite_run, tmp_path)


def test_real_time_head_end_keeps_its_counters_and_polls_on_the_server(pg, tmp_path):
    """``sumame hes poll --db postgresql://...`` against a real-time ``sumame emulate``: the
    invocation counter ceiling and the poll land on the server, and the next poll reads them."""
    import json
    import socket
    import subprocess
    import sys
    import time

    from sumame.tools.hes.db.store import HesStore

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        echonet = s.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "XDG_STATE_HOME": str(tmp_path / "state")}
    emu = subprocess.Popen([sys.executable, "-m", "sumame.tools.cli", "emulate", "--headless", "--state-dir",
                            str(tmp_path / "meter"), "--duration", "40", "--dlms-port", "0", "--push", "none",
                            "--echonet-port", str(echonet), "--status-interval", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = fresh(pg)
    try:
        endpoint, keys = None, None
        deadline = time.monotonic() + 30
        while (endpoint is None or keys is None) and time.monotonic() < deadline:
            line = emu.stdout.readline()
            if line.startswith("endpoint dlms-tcp "):
                endpoint = line.split()[2]
            elif line.startswith("a-route-keys"):
                keys = line.split(None, 1)[1].strip()
        assert endpoint and keys
        for _ in range(2):
            r = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "hes", "poll", "--meter",
                                f"tcp://{endpoint}", "--keys", keys, "--db", url], capture_output=True, text=True,
                               timeout=60, env=env)
            assert r.returncode == 0 and "supplied since" in r.stdout, r.stderr
    finally:
        emu.terminate()
        emu.communicate(timeout=20)
    [serial] = json.loads(open(keys).read())
    store = HesStore(url)
    [(meter, ceiling)] = store.db.execute("SELECT meter, tx_ceiling FROM counters").fetchall()
    assert serial in meter and ceiling > 0
    polls = store.polls()
    assert len(polls) == 2 and all(p["ok"] == 1 for p in polls) and polls[0]["at"] < polls[1]["at"]
    store.close()


def test_bad_restart_flags_are_one_line_and_create_no_database(tmp_path):
    import subprocess
    import sys
    db = tmp_path / "never.sqlite"
    r = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "hes", "fleet", "--meters", "2", "--days", "0.1",
                        "--db", str(db), "--ray", "--restarts", "-1"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "need --restarts >= 0" in r.stderr and "Traceback" not in r.stderr
    assert not db.exists()


def test_settlement_on_a_server_database_is_refused_in_one_line():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "hes", "query", "--db", "postgresql:///x?host=/nonexistent",
                        "--settlement"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--settlement reads the special-meter tables" in r.stderr
    assert "Traceback" not in r.stderr
