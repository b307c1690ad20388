"""Proof: cut power at EVERY flash operation of one simulated day; nothing committed is lost.

A reference run records every flash operation (and when it happened). For each operation k the
flash image after a power cut at k is rebuilt by replaying operations 1..k-1 and tearing
operation k (nothing, half, or all but the last byte of it written). A fresh meter boots from
that image and must:
  * serve every snapshot committed before the cut (within retention) exactly as written,
  * serve nothing that was not committed (no torn record),
  * report only torn-write traces, never corruption or tamper,
  * keep running: measure, store, and reboot cleanly again.
A sample of cuts is also made for real (PowerCut raised inside the running firmware) to show the
replayed images are the images a real cut leaves.
"""
import pytest

from sumame.boards import load_board
from sumame.firmware.registers import grid_of
from sumame.hal.errors import PowerCut
from sumame.hal.jst import parse_jst
from sumame.tools.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
DAY = 86400
OVERRIDES = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
             "storage": {"page_count": 96, "page_size": 4096}}
TORN = (0.0, 0.5, 0.99)


@pytest.fixture(scope="module")
def board():
    return load_board("emulated-lv", OVERRIDES)


def boot(board, at, image=None, **kw):
    rt = build_runtime(board, virtual=True, start_epoch=at, poll_interval_s=60, boot=False, **kw)
    if image is not None:
        rt.built.emulated["flash"].load_image(image)
    rt.boot()
    return rt


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
        append(snap)
        commits.append((flash.ops, snap))
    rt.meter.storage.append_snapshot = tracked
    rt.boot()
    rt.scheduler.run(until=START + DAY)
    rt.close()
    assert len(commits) >= 1440
    return {"ops": list(flash.op_log), "times": op_times, "commits": commits}


def image_after_cut(board, ops, k, torn):
    flash = build_runtime(board, virtual=True, start_epoch=START, boot=False).built.emulated["flash"]
    for op in ops[:k - 1]:
        flash.apply(op)
    flash.apply(ops[k - 1], torn=torn)
    return flash


CHUNKS = 4


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_power_cut_at_every_flash_operation(board, reference, chunk):
    ops, times, commits = reference["ops"], reference["times"], reference["commits"]
    assert len(ops) > 2500  # a day: snapshots, page reclaims and erases, state, events
    first = chunk * len(ops) // CHUNKS + 1
    last = (chunk + 1) * len(ops) // CHUNKS
    # incremental replay: one flash image, advanced one operation per trial
    live = build_runtime(board, virtual=True, start_epoch=START, boot=False).built.emulated["flash"]
    for op in ops[:first - 1]:
        live.apply(op)
    failures = []
    for k in range(first, last + 1):
        torn = TORN[k % 3]
        base = live.image()
        live.apply(ops[k - 1], torn=torn)
        cut_image = live.image()
        live.load_image(base)
        live.apply(ops[k - 1])
        problem = check_reboot(board, cut_image, times[k - 1] + 90, commits, k)
        if problem:
            failures.append(f"cut at op {k} ({ops[k - 1][0]}, torn {torn}): {problem}")
            if len(failures) > 5:
                break
    assert not failures, "\n".join(failures)


def check_reboot(board, image, at, commits, k):
    rt = boot(board, at, image)
    try:
        committed = [snap for ops_done, snap in commits if ops_done < k]
        restored = {s.minute: s for s in rt.meter.registers.snapshots()}
        newest = committed[-1].minute if committed else None
        for snap in committed:
            keep = rt.config.retention.keep_seconds(grid_of(snap.minute)) // 60
            if newest - snap.minute < keep - 1 and restored.get(snap.minute) != snap:
                return f"committed snapshot of minute {snap.minute} lost or changed"
        committed_by_minute = {s.minute: s for s in committed}
        for minute, snap in restored.items():
            if committed_by_minute.get(minute) != snap:
                return f"snapshot of minute {minute} served but never committed"
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


@pytest.mark.parametrize("k", [3, 17, 250, 1001, 1999, 2602])
def test_replayed_image_equals_a_real_power_cut(board, reference, k):
    """The firmware really dies at operation k: its flash equals the replayed image."""
    ops = reference["ops"]
    if k > len(ops):
        pytest.skip(f"reference run has only {len(ops)} operations")
    rt = build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60, boot=False)
    flash = rt.built.emulated["flash"]
    flash.cut_power_at(k, torn=0.5)
    with pytest.raises(PowerCut):
        rt.boot()
        rt.scheduler.run(until=START + DAY)
    rt.close()
    assert flash.image() == image_after_cut(board, ops, k, 0.5).image()
