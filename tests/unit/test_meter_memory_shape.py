"""Issue 15 memory (<= 64 KiB per fleet meter): structural checks that fail when a saving is
undone. Each test names the saving it guards; none measures time."""
from __future__ import annotations

import types

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.scheduler import Event, Queue, Scheduler, readable, sleep, sleep_until, yield_now


def _parked_on(task):
    """What a parked task's own coroutine is suspended on."""
    return task.coro.cr_await


def test_a_parked_task_holds_no_frame_but_its_own():
    """Scheduler primitives are awaitable objects, not coroutines over a generator: a waiting
    task keeps one frame (~250 B less per task, 14 tasks per fleet meter)."""
    s = Scheduler(VirtualClock(0.0))
    ev, q = Event(), Queue()
    got = []

    async def sleeper():
        await sleep(5)
        await sleep_until(20)
        got.append("slept")

    async def waiter():
        got.append(await ev.wait(timeout=3))     # times out: False
        got.append(await ev.wait())               # set by setter: True
        got.append(await ev.wait())               # already set: True at once

    async def getter():
        got.append(await q.get())
        try:
            await q.get(timeout=1)
        except TimeoutError:
            got.append("timeout")

    async def setter():
        await yield_now()
        await sleep(4)
        ev.set()
        q.put_nowait(None)          # a None item is handed as the value, not as "resume"
    tasks = [s.spawn(c(), name=n) for c, n in ((sleeper, "s"), (waiter, "w"), (getter, "g"), (setter, "x"))]
    s.run(until=1)
    for task in tasks[:3]:
        request = _parked_on(task)
        assert not isinstance(request, (types.CoroutineType, types.GeneratorType)), request
        assert not hasattr(request, "__dict__")
    s.run(until=30)
    assert all(t.done and t.exception is None for t in tasks)
    assert got == [False, True, True, None, "timeout", "slept"]


def test_readable_is_an_awaitable_request():
    request = readable(object(), timeout=1)
    assert not isinstance(request, types.CoroutineType)
    assert request.__await__() is request


def _fleet(meters=2, hours=0.5):
    from sumame.tools.fleet.fleet import FleetSpec, build_fleet

    fleet = build_fleet(FleetSpec(meters=meters, board="emulated-lv-fleet", retention_days=None, flash_pages=None))
    fleet.run(fleet.clock.now() + hours * 3600)
    return fleet


def test_the_fleet_chip_keeps_its_attributes_in_shared_keys():
    """HalMeteringAsic stays under CPython's shared-key limit (29 instance attributes here): one
    more and each chip carries a 1.5 KiB dict of its own instead of ~300 B of values."""
    import sys

    fleet = _fleet()
    try:
        chip = fleet.runtimes[0].built.hardware.asic
        assert len(vars(chip)) <= 29, sorted(vars(chip))
        assert sys.getsizeof(vars(chip)) < 600
        assert chip.elements == ("R", "T")     # 1p3w board: element C summed
    finally:
        fleet.close()


def test_fleet_chips_share_their_configuration_words():
    """The calibration words the fleet chip writes at start() are one read-only table for all
    chips of the same configuration (~630 B per meter otherwise)."""
    fleet = _fleet()
    try:
        a, b = (rt.built.hardware.asic for rt in fleet.runtimes)
        assert a._config_words is b._config_words
        with __import__("pytest").raises(TypeError):
            a._config_words[0] = 1
    finally:
        fleet.close()


def test_storage_journals_share_the_storage_callbacks():
    """The snapshot journals of a meter get the same bound on_evict instead of a bound-method
    object each (on_fault is a partial naming the journal, one each)."""
    fleet = _fleet(meters=1)
    try:
        journals = fleet.runtimes[0].meter.storage.journals
        evicts = [j.on_evict for j in journals.values() if j.on_evict is not None]
        assert len(evicts) == 3 and all(e is evicts[0] for e in evicts)
    finally:
        fleet.close()


def test_event_log_ring_is_a_list_bounded_by_capacity():
    """The meter's RAM event ring is a plain list (a deque costs a 600 B block per meter from the
    first event), still bounded: the oldest event leaves when one more arrives."""
    from sumame.firmware.core.events import EventLog

    log = EventLog(VirtualClock(0.0), capacity=3)
    for i in range(5):
        log.record(f"k{i}", source="test")
    assert type(log._events) is list
    assert [e.kind for e in log] == ["k2", "k3", "k4"] and len(log) == 3
    assert [e.kind for e in log.recent(2)] == ["k3", "k4"]
    assert log.counts["k0"] == 1


def test_recent_ring_gives_back_every_snapshot_it_holds_in_half_the_bytes():
    """The recent-snapshot ring keeps counters as uint32 offsets from a base (32 B a slot, not
    a 64-B packed snapshot): every read returns exactly the bytes stored, like a dict trimmed to
    each grid's keep, also across a base move and for counters that do not fit (kept whole)."""
    import random
    import sys

    from sumame.firmware.metrology.registers import _RecentRing, Snapshot, grid_of

    keep = {30: 62, 15: 62, 5: 62, 1: 62}
    ring, model = _RecentRing(keep), {}
    rng = random.Random(7)
    counters = [10 ** 9] * 7
    for minute in range(29_000_000, 29_000_400):
        step = rng.choice([1, 1, 1, 1000, 2 ** 31, 2 ** 33])    # now and then a jump past 2^32
        counters = [c + rng.randrange(step) for c in counters]
        if minute % 97 == 0:
            counters = [c - 5000 for c in counters]               # below the base: the base moves
        raw = Snapshot(minute, minute // 50, *counters).pack()
        ring[minute] = raw
        model[minute] = raw
        for m in list(model):
            if m < minute - keep[grid_of(m)]:
                del model[m]
        assert list(ring) == sorted(model)
        assert all(ring.get(m) == model[m] for m in model)
        if minute % 50 == 0 and minute - 3 in model:
            assert ring.pop(minute - 3) == model.pop(minute - 3)
            assert minute - 3 not in ring
    held = sys.getsizeof(ring._minutes) + sys.getsizeof(ring._sessions) + sys.getsizeof(ring._offsets)
    assert held < 2600, held
    assert ring._whole, "the jumps past 2^32 were meant to exercise whole snapshots"


def test_meters_share_their_register_specs():
    """Every meter's A-route register of a kind holds the one interned spec tuple."""
    from sumame.firmware.routes.aroute.registers_model import MeterRegister

    fleet = _fleet()
    try:
        a, b = ([o for svc in rt.meter.services if hasattr(svc, "server")
                 for o in svc.server.objects if isinstance(o, MeterRegister)] for rt in fleet.runtimes)
        assert len(a) == len(b) >= 10
        assert all(x._spec is y._spec for x, y in zip(a, b))
    finally:
        fleet.close()


def test_journal_hmac_keeps_its_pads_as_bytes_and_tags_as_rfc2104():
    """A journal keeps its HMAC key pads as bytes, not two SHA-256 states to copy (each holds
    ~350 B of OpenSSL memory that tracemalloc does not see; 12 per meter); tags unchanged."""
    import hashlib
    import hmac

    fleet = _fleet(meters=1)
    try:
        for journal in fleet.runtimes[0].meter.storage.journals.values():
            body = b"\x01record body" * 5
            tag = journal._tag(body)
            assert all(type(p) is bytes for p in journal._hmac_pads)
            assert tag == hmac.new(journal._key, journal.name.encode() + body, hashlib.sha256).digest()[:len(tag)]
    finally:
        fleet.close()


def test_the_mains_task_starts_with_the_first_outage():
    """A meter whose mains never fail holds no emulated-mains task (frame, event, waiter); the
    first outage scheduled starts it, and the outage still takes the meter down and back."""
    fleet = _fleet(meters=1, hours=0.1)
    try:
        names = lambda: [t.name for t in fleet.scheduler.live_tasks()]   # noqa: E731
        assert "emulated-mains" not in names()
        mains = fleet.mains(0)
        now = fleet.clock.now()
        mains.schedule_outage(now + 60, 600)
        assert names().count("emulated-mains") == 1
        fleet.run(now + 3600)
        assert mains.outages_done == 1 and mains.reboots == 1
        mains.schedule_outage(fleet.clock.now() + 60, 300)     # the same task serves the next
        assert names().count("emulated-mains") == 1
        fleet.run(fleet.clock.now() + 3600)
        assert mains.outages_done == 2
    finally:
        fleet.close()


def test_fleet_board_sections_that_differ_by_a_seed_are_overlays():
    """A fleet meter's [asic] and [aroute] sections differ from the first meter's only by the
    seed: they hold that key over the shared first section, and read the same as a full dict."""
    from collections import ChainMap

    from sumame.boards import load_board

    fleet = _fleet(meters=3, hours=0.01)
    try:
        boards = [rt.board for rt in fleet.runtimes]
        for name in ("asic", "aroute"):
            first, *later = (b[name] for b in boards)
            for section in later:
                assert "seed" in section and section["seed"] != first["seed"]
                assert dict(section) == {**dict(first), "seed": section["seed"]}
                assert list(section) == list(first)
        plain = load_board("emulated-lv-fleet", {"asic": {"seed": 99}})["asic"]
        assert plain["seed"] == 99 and dict(plain) == {**dict(boards[0]["asic"]), "seed": 99}
        overlay = boards[1]["aroute"]
        maps = [m for m in gc_referents(overlay) if isinstance(m, ChainMap)]
        assert maps and len(maps[0].maps[0]) <= 3
    finally:
        fleet.close()


def gc_referents(obj):
    import gc
    return gc.get_referents(obj)


_HEAP_CHILD = """
import gc, sys, tracemalloc
from sumame.tools.fleet.fleet import FleetSpec, build_fleet

n = int(sys.argv[1])
build_fleet(FleetSpec(meters=1, board="emulated-lv-fleet", retention_days=None, flash_pages=None)).close()
gc.collect()
tracemalloc.start()
fleet = build_fleet(FleetSpec(meters=n, board="emulated-lv-fleet", retention_days=None, flash_pages=None))
fleet.run(fleet.clock.now() + 1800)
gc.collect()
print(tracemalloc.get_traced_memory()[0])
"""


def _heap(n: int) -> int:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _HEAP_CHILD, str(n)], capture_output=True, text=True,
                         check=True, timeout=300)
    return int(out.stdout.strip().splitlines()[-1])


def test_python_heap_per_fleet_meter_stays_under_its_measured_bound():
    """tracemalloc growth per fleet meter, 4 vs 8 meters after 30 simulated minutes, each in a
    fresh interpreter as the bench runs them (virtual time, seeded: deterministic). Fails when
    the savings this file guards are undone together or a new per-meter structure of a few KiB
    appears: 121.6 KiB before this pass, 109.4 after it (small N: process-wide tables still
    grow with the first meters; the bench's 100 vs 200 reads less)."""
    per_meter_kib = (_heap(8) - _heap(4)) / 4 / 1024
    assert per_meter_kib < BOUND_KIB, f"{per_meter_kib:.1f} KiB per fleet meter"


BOUND_KIB = 113


def test_meters_share_their_route_media_sets():
    fleet = _fleet(hours=0.01)
    try:
        a, b = (rt.meter.switchgear.comms._routes for rt in fleet.runtimes)
        assert a.keys() == b.keys() and a
        assert all(a[name].media is b[name].media for name in a)
    finally:
        fleet.close()
