"""``sumame hes fleet --ray`` as a user breaks it (review of the queued-calls driver): a rerun into
the --db of a stopped run, Ctrl-C between commits, results against the one-process run when
meters have outages, and where the local Ray listens. On a local Ray of 2 CPUs started through
the product's own ``connect`` (the loopback claim is what is checked)."""
import os
import signal
import subprocess
import sys

import pytest
from ray_netns import private_network  # noqa: F401 - the module's autouse fixture

try:
    import ray
except ImportError:     # the ray extra (in the test extra, so CI has it)
    ray = None
    if os.environ.get("CI") == "true":
        raise

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(ray is None, reason="Ray not installed: pip install 'sumame[ray]'")]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def cluster(private_network):
    from sumame.tools.fleet.shard import connect
    connect(None, 2)
    yield private_network
    ray.shutdown()


def scenario(db, meters, days, seed=4, hv=3):
    from sumame.tools.fleet.fleet import DEFAULT_START, FleetSpec
    from sumame.tools.fleet.hes_fleet import FleetScenario, default_outages
    spec = FleetSpec(meters=meters, hv_every=hv, loss=0.1, board="emulated-lv-fleet", seed=seed)
    return FleetScenario(spec=spec, days=days, db=str(db), outages=default_outages(DEFAULT_START, meters))


def counts(db):
    from sumame.tools.hes.db.store import HesStore
    s = HesStore(db)
    try:
        return {t: s.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("intervals", "polls", "outages", "meter_events")}
    finally:
        s.close()


def test_a_rerun_into_the_db_of_an_earlier_run_fails_before_writing(cluster, tmp_path):
    """A driver killed between commits leaves a store; running again into it added the polls,
    outages and events a second time (outages listed twice) and kept the first run's values."""
    from sumame.tools.fleet.shard import run_sharded
    db = tmp_path / "f.sqlite"
    run_sharded(scenario(db, 2, 0.3), workers=2)
    before = counts(db)
    assert before["outages"] >= 1 and before["polls"] > 0
    with pytest.raises(RuntimeError, match="already holds an earlier run's rows .*new --db"):
        run_sharded(scenario(db, 2, 0.3), workers=2)
    assert counts(db) == before


def test_ctrl_c_says_in_one_line_what_is_stored_and_the_store_holds_exactly_that(tmp_path):
    from sumame.tools.hes.db.store import HesStore
    db = tmp_path / "f.sqlite"
    p = subprocess.Popen([sys.executable, "-m", "sumame.tools.cli", "hes", "fleet", "--board", "emulated-lv-fleet",
                          "--meters", "4", "--days", "6", "--seed", "4", "--hv-every", "3", "--db", str(db),
                          "--ray", "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=ENV)
    try:
        for line in p.stderr:
            if line.startswith("progress  3"):
                break
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 2 and "Traceback" not in err, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("sumame hes: error: interrupted: every shard is stored up to 2026-04-0"), last
    upto = last.split("stored up to ")[1][:20]          # "2026-04-03 19:30 JST"
    store = HesStore(db)
    rows = store.intervals(grid=30)
    ends = {r["end_at"] for r in rows}
    from sumame.hal.jst import format_jst
    assert rows and len({(r["meter"], r["end_at"]) for r in rows}) == len(rows)
    # nothing past what the line says; its last slot's push may come in the next window
    assert upto in (format_jst(max(ends), seconds=False), format_jst(max(ends) + 1800, seconds=False))
    per_meter = {}
    for r in rows:
        per_meter[r["meter"]] = max(per_meter.get(r["meter"], 0), r["end_at"])
    assert sorted(per_meter.values())[1:] == [max(ends)] * 3   # every live meter up to there (SMLV0 is out)


def test_outages_on_the_second_day_give_the_same_rows_in_shards_as_in_one_process(cluster, tmp_path):
    """A meter with two outages (meter 0) and meters with outages after them: before the fix the
    rebooted meter's tasks joined its mains' group, so its second power cut killed every mains
    of the process and the whole-fleet run differed from shards (tests/integration/
    test_fleet_repeated_outages.py pins the cause)."""
    from sumame.tools.fleet.hes_fleet import run_scenario
    from sumame.tools.fleet.shard import run_sharded
    from sumame.tools.hes.db.export import export_rows
    from sumame.tools.hes.db.store import HesStore
    one, two = tmp_path / "one.sqlite", tmp_path / "two.sqlite"
    run_scenario(scenario(one, 3, 2)).hes.store.close()
    run_sharded(scenario(two, 3, 2), workers=2)
    a, b = HesStore(one), HesStore(two)
    events = "SELECT meter, log, at, code FROM meter_events ORDER BY meter, at"
    assert b.db.execute(events).fetchall() == a.db.execute(events).fetchall()
    assert export_rows(b, grid=30) == export_rows(a, grid=30)


def _listening(pids):
    """(address, port) of every TCP socket in LISTEN that one of ``pids`` holds (Linux /proc)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                f = line.split()
                if f[3] == "0A" and f[9] in inodes:
                    addr, port = f[1].split(":")
                    raw = bytes.fromhex(addr)
                    if v6:
                        words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
                        import ipaddress
                        ip = str(ipaddress.IPv6Address(b"".join(words)))
                    else:
                        ip = ".".join(str(b) for b in raw[::-1])
                    out.append((ip, int(port, 16)))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_the_local_ray_listens_on_loopback_only(cluster, tmp_path):
    """Ray 2.60 by itself listens on every address (and its runtime-env agent on the host's
    external one) whatever _node_ip_address says, so the test cluster runs in a network
    namespace of its own, where it finds only lo and binds there."""
    from netns import private_network_reason
    from sumame.tools.bench.scale import _proc_cpu_s
    if not cluster.active:
        assert os.environ.get("CI") != "true", private_network_reason()
        pytest.skip(private_network_reason() or "no private network namespace here")
    from sumame.tools.fleet.shard import run_sharded
    seen = []
    run_sharded(scenario(tmp_path / "f.sqlite", 2, 0.1), workers=2,
                on_start=lambda actors: seen.extend(_listening(_proc_cpu_s())))
    assert seen
    assert [s for s in seen if not _loopback(s[0])] == []


def _loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 or an IPv4-mapped loopback (``::ffff:7f00:1``: a dual-stack socket bound to 127.0.0.1)."""
    import ipaddress
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)
