"""A fleet split into shards stores exactly what the whole fleet in one process stores: every
meter is seeded by itself (loads, push offsets, link losses), not by a fleet-wide random stream,
and the 5-min shares are chosen over the whole fleet. In-process shards, no Ray (the Ray run is
tests/integration/test_hes_fleet_ray.py)."""
from sumame.tools.fleet.fleet import DEFAULT_START, FleetSpec
from sumame.tools.hes.engine import HesConfig
from sumame.tools.hes.db.export import export_rows
from sumame.tools.fleet.hes_fleet import FleetScenario, default_outages, run_scenario
import pytest

from sumame.tools.fleet.fleet import kind_of
from sumame.tools.fleet.shard import (COST_HISTORY, COST_PLAIN, COST_REALTIME, FleetShard, StoreMerger, _meters_text,
                                      balance, meter_costs, split)
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


def test_shards_are_dealt_by_the_cost_known_before_the_run():
    """The meters the head-end reads 5-min data from cost 3-5x: a shard with them gets fewer
    meters; equal meters are dealt in turn; every meter is in exactly one shard."""
    costs = meter_costs(scenario(":memory:"))
    assert costs == [COST_HISTORY, COST_REALTIME, COST_PLAIN, COST_PLAIN]   # shares 0.25 / 0.5 of 4
    assert balance(costs, 2) == [[1], [0, 2, 3]]            # 5 and 5 (contiguous blocks: 8 and 2)
    assert balance([1.0] * 5, 2) == [[0, 2, 4], [1, 3]]
    assert balance([1.0] * 2, 5) == [[0], [1]]
    costs = [1.0 + (i * 7919 % 13 == 0) * 2 + (i % 17 == 0) * 4 for i in range(200)]
    blocks = balance(costs, 3)
    assert sorted(i for b in blocks for i in b) == list(range(200)) and all(b == sorted(b) for b in blocks)
    loads = [sum(costs[i] for i in b) for b in blocks]
    assert max(loads) - min(loads) <= max(costs)


def test_a_shard_of_scattered_meters_is_named_meter_by_meter_and_runs_as_ranges():
    spec = scenario(":memory:").spec
    kind = lambda i: kind_of(spec, i)      # noqa: E731 - hv_every 3: meters 2, 5, 8 are HV
    assert _meters_text(spec, [0, 1, 2, 3, 5, 7, 8], kind) == \
        "7 meters SMLV00000000 .. SMLV00000003, SMHV00000005, SMLV00000007, SMHV00000008"
    assert _meters_text(spec, [4], kind) == "1 meter SMLV00000004"
    text = _meters_text(spec, list(range(0, 60, 2)), kind)       # 30 meters, 12 named
    assert text.startswith("30 meters SMLV00000000, SMHV00000002, SMLV00000004") and text.endswith(" and 18 more")


@pytest.mark.parametrize("dealt", ["blocks", "balanced"])
def test_shards_store_the_same_rows_as_one_process(tmp_path, dealt):
    one = run_scenario(scenario(tmp_path / "one.sqlite"))
    lost_one = one.fleet.network.pushes_lost
    one.hes.store.close()
    sharded = scenario(tmp_path / "shards.sqlite")
    blocks = split(METERS, 2) if dealt == "blocks" else balance(meter_costs(sharded), 2)
    assert dealt == "blocks" or blocks == [[1], [0, 2, 3]]       # not contiguous
    shards = [FleetShard(sharded, block) for block in blocks]
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
