"""``sumame hes fleet --ray``: the fleet split into shards run as Ray actors on a local Ray the
test starts (2 CPUs), in lock-step windows, into one --db store. ``sumame hes export`` of it and
of the one-process run give the same rows; a worker lost mid-run makes the run fail naming the
meters and slots affected, and what was stored stays, once."""
import csv
import os
import subprocess
import sys
import time

import pytest
from ray_netns import private_network  # noqa: F401 - the module's autouse fixture

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
ARGS = ("--board", "emulated-lv-fleet", "--meters", "6", "--days", "1", "--seed", "3", "--hv-every", "4",
        "--loss", "0.1")

try:
    import ray
except ImportError:     # the ray extra (in the test extra, so CI has it)
    ray = None
    if os.environ.get("CI") == "true":
        raise

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(ray is None, reason="Ray not installed: pip install 'sumame[ray]'")]


def sumame(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "sumame.tools.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def cluster(private_network):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    db = tmp_path_factory.mktemp("one") / "one.sqlite"
    r = sumame("hes", "fleet", *ARGS, "--db", str(db))
    assert r.returncode == 0, r.stderr
    return db


def export(db, out):
    r = sumame("hes", "export", "--db", str(db), "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out.read_text()


def test_ray_run_exports_the_same_rows_as_one_process(cluster, single, tmp_path, capsys):
    from sumame.tools.cli import main

    db = tmp_path / "ray.sqlite"      # in this process: the CLI joins the Ray the test started
    assert main(["hes", "fleet", *ARGS, "--db", str(db), "--ray", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "6 meters x 1 days on Ray, 2 shards" in out and "written twice 0" in out
    one, two = export(single, tmp_path / "one.csv"), export(db, tmp_path / "ray.csv")
    rows = list(csv.DictReader(one.splitlines()))
    assert len(rows) >= 6 * 46 and {row["meter"] for row in rows} == {
        f"inproc://SM{'HV' if i % 4 == 3 else 'LV'}{i:08d}" for i in range(6)}
    assert two == one


def die_past(actor, at):
    """The actor's worker process exits (as on a lost node) when asked to run past ``at`` (epoch
    s). The driver keeps windows queued on every actor, so an outside ``ray.kill`` would race
    with the windows queued; this dies at one simulated time. Call it from ``on_start``."""
    def arm(shard):
        run = shard.fleet.run

        def run_or_die(until):
            if until > at:
                # the reply of the call before is already on its way: let it leave the process
                # (a loaded machine ran the next call before that reply was sent, so the
                # driver saw the earlier call lost too and the test read another window)
                time.sleep(2.0)
                os._exit(1)
            run(until)
        shard.fleet.run = run_or_die
    actor.__ray_call__.remote(arm)


def test_lost_worker_fails_clearly_and_keeps_what_was_stored(cluster, single, tmp_path):
    from sumame.tools.fleet.fleet import DEFAULT_START, FleetSpec
    from sumame.tools.fleet.hes_fleet import FleetScenario, default_outages
    from sumame.tools.fleet.shard import CALL_WINDOWS, ShardLost, run_sharded
    from sumame.tools.hes.db.store import HesStore

    killed_at = DEFAULT_START + 6 * 3600

    def lose_worker(actors):
        die_past(actors[1], killed_at)          # the worker of shard 2 dies after the window to killed_at
    db = tmp_path / "ray.sqlite"
    spec = FleetSpec(meters=6, hv_every=4, board="emulated-lv-fleet", seed=3, loss=0.1)
    with pytest.raises(ShardLost) as err:
        run_sharded(FleetScenario(spec=spec, days=1, db=str(db), outages=default_outages(DEFAULT_START, 6)),
                    workers=2, on_start=lose_worker)
    text = str(err.value)
    # shards are dealt by estimated cost: meter 2 gives 5-min history (3x), so shard 1 has 2 meters
    assert "shard 2/2 (4 meters SMLV00000000, SMLV00000001, SMHV00000003, SMLV00000005)" in text
    assert ("stored up to 2026-04-02 04:00 JST, 40 30-min slots 2026-04-02 04:30 JST .. 2026-04-03 00:00 JST"
            " not collected") in text       # the Ray call 04:30 .. 08:00 it died in is lost
    assert "the other shards: stored up to 2026-04-02 08:00 JST" in text     # the rest of the Ray call
    got = HesStore(db).intervals(grid=30)
    ref = {(r["meter"], r["end_at"]): r for r in HesStore(single).intervals(grid=30)}
    lost_shard = {"inproc://SMLV00000000", "inproc://SMLV00000001", "inproc://SMHV00000003", "inproc://SMLV00000005"}
    assert len({(r["meter"], r["end_at"]) for r in got}) == len(got) > 0      # once each
    for row in got:       # what is stored is what one process stored (same outages as the CLI's default)
        assert row["end_at"] <= killed_at + (0 if row["meter"] in lost_shard else CALL_WINDOWS * 1800)
        mine = ref[(row["meter"], row["end_at"])]
        assert [row[c] for c in ("forward_wh", "reverse_wh")] == [mine[c] for c in ("forward_wh", "reverse_wh")]
    assert {r["meter"] for r in got} >= lost_shard


def test_lost_and_slow_shards_are_restarted_and_the_run_stores_every_row_once(cluster, single, tmp_path):
    from sumame.tools.fleet.fleet import DEFAULT_START, FleetSpec
    from sumame.tools.fleet.hes_fleet import FleetScenario, default_outages
    from sumame.tools.fleet.shard import run_sharded
    from sumame.tools.hes.db.export import export_rows
    from sumame.tools.hes.db.store import HesStore

    def trouble(actors, now):
        if now == DEFAULT_START + 12 * 3600:                      # shard 1 stalls (a slow head-end shard)
            actors[0].__ray_call__.remote(lambda self: time.sleep(120))
    events = []
    db = tmp_path / "ray.sqlite"
    spec = FleetSpec(meters=6, hv_every=4, board="emulated-lv-fleet", seed=3, loss=0.1)
    r = run_sharded(FleetScenario(spec=spec, days=1, db=str(db), outages=default_outages(DEFAULT_START, 6)),
                    workers=2, on_window=trouble, restarts=2, window_timeout_s=10, on_event=events.append,
                    on_start=lambda actors: die_past(actors[1], DEFAULT_START + 6 * 3600))   # lost after 06:00
    assert len(events) == 2 and r.duplicates == 0
    assert events[0].startswith("shard 2/2 (4 meters SMLV00000000, SMLV00000001, SMHV00000003, SMLV00000005) lost (")
    assert "window to 2026-04-02 04:30 JST: restarted; its meters were replayed from the start to " \
           "2026-04-02 04:00 JST" in events[0]
    assert events[1].startswith("shard 1/2 (2 meters SMLV00000002, SMLV00000004) gave no answer within 10 s")
    assert export_rows(HesStore(db), grid=30) == export_rows(HesStore(single), grid=30)
    assert export_rows(HesStore(db), grid=5) == export_rows(HesStore(single), grid=5)
