"""Proof: cut power at EVERY flash operation of one simulated WEEK; nothing committed is lost.

The board is a small-flash variant (1 KiB pages, 96 pages, 2/2/1-day and 60-minute retention)
and the week carries an event every 20 minutes, so every journal — state, events, long
(30/15-min), mid (5-min) and short (1-min) — wraps round its ring and erases every page at
least once (asserted). A reference run of the real meter records every flash operation and
every record write. For each operation k the image after a power cut at k is rebuilt by
replaying operations 1..k-1 and tearing operation k — a prefix tear, and two NOR bit-level
tears (a cut program clears a random subset of the bits it was to clear; a cut erase leaves
the page partly erased). The journal owning the page is recovered from that image and
  * serves every record committed before the cut (still inside its ring) exactly as written,
  * serves nothing that was not written whole (no torn record),
  * reports only torn-write traces, never corruption or tamper;
then the recovery's own writes (the journal's next records) are cut at every one of their
operations, recovered again and checked the same way, and the journal writes on and reboots
cleanly. Figures: committed records lost, torn records served, false alarms — all 0.

The full proof is ``long`` (make proof); make test runs a seeded sample of the operations.
Whole-meter reboots (registers, cumulative counters, events) are checked on a seeded sample of
cuts, and real cuts inside the running firmware show the replayed images are the images a real
cut leaves.
"""
import random

import pytest

from powercut_proof import Figures, cut_recovery, judge, make_journal, owner, record_writes, Model
from sumame.boards import load_board
from sumame.drivers.emulated.storage.flash import EmulatedFlash, nor_tear
from sumame.firmware.storage.journal import _INTERNAL, KIND_RECLAIM, Journal
from sumame.firmware.metrology.registers import grid_of
from sumame.firmware.core.scheduler import Priority, sleep
from sumame.hal.errors import PowerCut
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
DAY = 86400
WEEK = 7 * DAY
# the proof replays recorded flash ops, so nothing the host does may change what a run writes: no
# wall-clock watchdog events (a loaded host stretches steps; the watchdog has its own tests) and no
# pushes to the board's fixed head-end port (another test may hold it)
OVERRIDES = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
             "storage": {"page_count": 96, "page_size": 1024},
             "watchdog": {"budget_ms": 60000}, "aroute": {"push_transport": "none"}}
EVENT_EVERY_S = 1200


@pytest.fixture(scope="module")
def board():
    return load_board("emulated-lv", OVERRIDES)


def boot(board, at, image=None, **kw):
    rt = build_runtime(board, virtual=True, start_epoch=at, poll_interval_s=60, boot=False, **kw)
    if image is not None:
        rt.built.emulated["flash"].load_image(image)
    rt.boot()
    return rt


async def _events(meter):
    n = 0
    while True:
        await sleep(EVENT_EVERY_S)
        n += 1
        meter.events.record("test-note", source="proof", detail=f"note {n}: something worth keeping happened")


@pytest.fixture(scope="module")
def reference(board):
    rt = build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60,
                       record_flash_ops=True, boot=False)
    flash = rt.built.emulated["flash"]
    op_times, commits = [], []
    operation = flash._operation

    def timed(op):
        op_times.append(rt.clock.now())
        operation(op)
    flash._operation = timed
    append = rt.meter.storage.append_snapshot

    def tracked(snap):
        before = flash.ops
        append(snap)
        commits.append((before, flash.ops, snap))
    rt.meter.storage.append_snapshot = tracked
    writes, undo = record_writes(Journal)
    try:
        rt.boot()
        rt.scheduler.spawn(_events(rt.meter), name="proof-events", priority=Priority.STORAGE)
        rt.scheduler.run(until=START + WEEK)
    finally:
        undo()
    storage = rt.meter.storage
    erases = {name: [flash.erase_count(p) for p in range(first, first + count)]
              for name, (first, count) in storage.layout.partitions.items()}
    ref = {"ops": list(flash.op_log), "times": op_times, "commits": commits, "writes": writes,
           "layout": storage.layout, "key": storage._key, "erases": erases,
           "geometry": (flash.page_size, flash.page_count)}
    rt.close()
    return ref


def test_the_week_wraps_every_journal(reference):
    for name, counts in reference["erases"].items():
        assert min(counts) >= 1, f"journal {name} did not wrap and erase every page: {counts}"
    assert len(reference["ops"]) > 20_000


def replay(reference, chosen, every_recovery=True, seed=0) -> Figures:
    """Cut each operation in ``chosen`` (3 tears each); see the module docstring."""
    ops, layout, key = reference["ops"], reference["layout"], reference["key"]
    page_size, page_count = reference["geometry"]
    figures = Figures()
    by_last, inflight, later = {}, {}, {}
    for w in reference["writes"]:
        by_last[w.last] = w
        for k in range(w.first, w.last + 1):
            inflight[k] = w
        if w.kind not in _INTERNAL:
            later.setdefault(w.name, []).append(w)
    models = {name: Model() for name in layout.partitions}
    live = EmulatedFlash(None, page_size=page_size, page_count=page_count)
    chosen = set(chosen)
    last = max(chosen) if chosen else 0
    for k in range(1, last + 1):
        op = ops[k - 1]
        page = op[1] // page_size if op[0] == "program" else op[1]
        name, rel = owner(layout, page)
        if k in chosen and name is not None:
            follow = [(w.kind, w.payload) for w in later[name] if w.first > k][:3]
            for t, torn in enumerate((0.5, nor_tear(seed * 1_000_003 + 2 * k), nor_tear(seed * 1_000_003 + 2 * k + 1))):
                base = live.image()
                live.apply(op, torn=torn)
                cut = live.image()
                live.load_image(base)
                must = models[name].must()
                may = dict(must)
                if op[0] == "erase":  # the page being erased was evicted: may be gone
                    for s in [s for s, (_, pg) in models[name].present.items() if pg == rel]:
                        del must[s]
                w = inflight.get(k)
                if w is not None and w.name == name and w.kind not in _INTERNAL:
                    may[w.seq] = w.payload
                if w is not None and w.name == name and w.kind == KIND_RECLAIM:
                    named = int.from_bytes(w.payload[:2], "big")  # a cut commit may roll forward
                    for s in [s for s, (_, pg) in models[name].present.items() if pg == named]:
                        del must[s]
                flash = EmulatedFlash(None, page_size=page_size, page_count=page_count)
                flash.load_image(cut)
                rec = make_journal(flash, layout, key, name).recover()
                where = f"cut at op {k} ({op[0]} in {name}, tear {t})"
                judge(rec, must, may, figures, where)
                figures.cuts += 1
                if follow:
                    cut_recovery(cut, (page_size, page_count), layout, key, name, rec, follow,
                                 seed * 7 + k * 3 + t, figures, where, every=every_recovery and t == 2)
        live.apply(op)
        if name is not None and op[0] == "erase":
            models[name].erase(rel)
        w = by_last.get(k)
        if w is not None:
            models[w.name].commit(w)
    return figures


def test_power_cut_sample_of_the_week(reference):
    """make test: a seeded sample of the week's operations (every kind of op, every journal)."""
    ops = reference["ops"]
    rng = random.Random(9)
    erases = [k for k, op in enumerate(ops, 1) if op[0] == "erase"]
    sample = set(rng.sample(range(1, len(ops) + 1), 60)) | set(rng.sample(erases, 12))
    figures = replay(reference, sample, seed=1)
    print("power-cut sample of the week:", figures.line())
    assert figures.cuts >= 3 * 60 and figures.recovery_cuts > 100
    assert (figures.lost, figures.torn_served, figures.false_alarms) == (0, 0, 0), figures.problems


CHUNKS = 8


@pytest.mark.long
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_power_cut_at_every_flash_operation_of_a_week(reference, chunk):
    ops = reference["ops"]
    first = chunk * len(ops) // CHUNKS + 1
    last = (chunk + 1) * len(ops) // CHUNKS
    figures = replay(reference, range(first, last + 1), seed=chunk + 11)
    print(f"power-cut proof, week ops {first}..{last}:", figures.line())
    assert figures.cuts >= 3 * (last - first + 1) * 0.95
    assert (figures.lost, figures.torn_served, figures.false_alarms) == (0, 0, 0), figures.problems


# ---------------------------------------------------------------------- whole-meter reboots
def check_reboot(board, image, at, commits, k):
    rt = boot(board, at, image)
    try:
        committed = [snap for _, done, snap in commits if done < k]
        started = {snap.minute: snap for before, _, snap in commits if before < k}
        restored = {s.minute: s for s in rt.meter.registers.snapshots()}
        newest = committed[-1].minute if committed else None
        for snap in committed:
            keep = rt.config.retention.keep_seconds(grid_of(snap.minute)) // 60
            if newest - snap.minute < keep - 1 and restored.get(snap.minute) != snap:
                return f"committed snapshot of minute {snap.minute} lost or changed"
        for minute, snap in restored.items():
            if started.get(minute) != snap:
                return f"snapshot of minute {minute} served but never written"
        alarms = [e for e in rt.meter.events if e.source == "storage" and e.kind in ("corruption", "tamper")]
        if alarms:
            return f"false alarm after a power cut: {alarms[0]}"
        if committed and rt.meter.metering.counters["forward"] < committed[-1].forward_mwh:
            return "cumulative energy went backwards"
        rt.scheduler.run(until=at + 300)
        newest_after = rt.meter.registers.newest
        if newest_after is None or newest_after.epoch < at + 240:
            return "meter did not keep measuring after the reboot"
        again = boot(board, at + 400, rt.built.emulated["flash"].image())
        again.close()
        bad = [e for e in again.meter.events if e.kind in ("corruption", "tamper")]
        if bad:
            return f"second boot found damage: {bad[0]}"
        if again.meter.registers.newest != rt.meter.registers.newest:
            return "snapshots written after the reboot were not kept"
    finally:
        rt.close()
    return None


def meter_cuts(board, reference, ks, seed):
    ops, times, commits = reference["ops"], reference["times"], reference["commits"]
    page_size, page_count = reference["geometry"]
    failures = []
    live = EmulatedFlash(None, page_size=page_size, page_count=page_count)
    done = 0
    for k in sorted(ks):
        for op in ops[done:k - 1]:
            live.apply(op)
        done = k - 1
        base = live.image()
        live.apply(ops[k - 1], torn=nor_tear(seed + k))
        problem = check_reboot(board, live.image(), times[k - 1] + 90, commits, k)
        live.load_image(base)
        if problem:
            failures.append(f"cut at op {k} ({ops[k - 1][0]}): {problem}")
    return failures


def test_meter_reboots_after_sampled_cuts(board, reference):
    rng = random.Random(4)
    ks = [1, 2] + rng.sample(range(3, len(reference["ops"]) + 1), 10)
    failures = meter_cuts(board, reference, ks, seed=5)
    assert not failures, "\n".join(failures)


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_meter_reboots_after_many_cuts(board, reference):
    rng = random.Random(40)
    ks = rng.sample(range(1, len(reference["ops"]) + 1), 400)
    failures = meter_cuts(board, reference, ks, seed=50)
    assert not failures, "\n".join(failures[:10])


@pytest.mark.parametrize("k", [3, 17, 250, 1001, 2602, 9000])
@pytest.mark.parametrize("tear", ["prefix", "nor"])
def test_replayed_image_equals_a_real_power_cut(board, reference, k, tear):
    """The firmware really dies at operation k: its flash equals the replayed image."""
    ops = reference["ops"]
    torn = 0.5 if tear == "prefix" else nor_tear(k)
    rt = build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60, boot=False)
    flash = rt.built.emulated["flash"]
    flash.cut_power_at(k, torn=torn)
    with pytest.raises(PowerCut):
        rt.boot()
        rt.scheduler.spawn(_events(rt.meter), name="proof-events", priority=Priority.STORAGE)
        rt.scheduler.run(until=START + WEEK)
    rt.close()
    page_size, page_count = reference["geometry"]
    replayed = EmulatedFlash(None, page_size=page_size, page_count=page_count)
    for op in ops[:k - 1]:
        replayed.apply(op)
    replayed.apply(ops[k - 1], torn=torn)
    assert flash.image() == replayed.image()
