"""A fleet split into shards stores exactly what the whole fleet in one process stores: every
meter is seeded by itself (loads, push offsets, link losses), not by a fleet-wide random stream,
and the 5-min shares are chosen over the whole fleet. In-process shards, no Ray (the Ray run is
tests/integration/test_hes_fleet_ray.py)."""
from sumame.tools.fleet.fleet import DEFAULT_START, FleetSpec
from sumame.tools.hes.engine import HesConfig
from sumame.tools.hes.db.export import export_rows
from sumame.tools.fleet.hes_fleet import FleetScenario, default_outages, run_scenario
from sumame.tools.fleet.shard import FleetShard, StoreMerger, split
from sumame.tools.hes.db.store import HesStore

METERS, DAYS = 4, 0.5


def scenario(db) -> FleetScenario:
    spec = FleetSpec(meters=METERS, hv_every=3, board="emulated-lv-fleet", seed=5, loss=0.2,
                     latency_s=0.05, jitter_s=0.5)
    return FleetScenario(spec=spec, days=DAYS, outages=default_outages(DEFAULT_START, METERS)[:3], db=str(db),
                         hes=HesConfig(realtime_share=0.25, history_share=0.5))


def test_split_covers_every_meter_once():
    assert split(7, 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert split(2, 5) == [[0], [1]]


def test_shards_store_the_same_rows_as_one_process(tmp_path):
    one = run_scenario(scenario(tmp_path / "one.sqlite"))
    lost_one = one.fleet.network.pushes_lost
    one.hes.store.close()
    sharded = scenario(tmp_path / "shards.sqlite")
    shards = [FleetShard(sharded, block) for block in split(METERS, 2)]
    merger = StoreMerger(HesStore(sharded.db))
    now, end = DEFAULT_START, DEFAULT_START + DAYS * 86400
    while now < end:
        now = min(end, now + 1800)
        for k, shard in enumerate(shards):
            merger.merge(k, shard.advance(now))
        merger.commit()
    merger.store.close()
    assert lost_one > 0 and sum(s.fleet.network.pushes_lost for s in shards) == lost_one
    a, b = HesStore(tmp_path / "one.sqlite"), HesStore(tmp_path / "shards.sqlite")
    for grid in (30, 5):
        rows = export_rows(a, grid=grid)
        assert len(rows) > (20 * METERS if grid == 30 else 50)
        assert export_rows(b, grid=grid) == rows
    assert merger.duplicates == 0
    assert [m["id"] for m in b.meters()] == [m["id"] for m in a.meters()]
    key = lambda o: (o["meter"], o["start_at"], o["end_at"])       # noqa: E731
    assert sorted(map(key, b.outages())) == sorted(map(key, a.outages())) and len(a.outages()) >= 2


def test_ray_flags_need_a_db_and_each_other():
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "sumame.tools.cli", "hes", "fleet", "--meters", "2",
                               "--days", "0.1", *args], capture_output=True, text=True, timeout=120)
    r = run("--ray")
    assert r.returncode != 0 and "--ray needs --db FILE" in r.stderr and "Traceback" not in r.stderr
    r = run("--workers", "2", "--db", "x.sqlite")
    assert r.returncode != 0 and "--workers needs --ray" in r.stderr and "Traceback" not in r.stderr
