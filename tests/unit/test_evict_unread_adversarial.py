"""Evicting a snapshot page unread (``Storage.page_hint``) must never change what the meter
concludes: the same flash, driven the same way with and without the hint, reports the same
retention shortfalls — through clock jumps (time sync backwards and forwards), a retention
longer than the flash was sized for, poll lag inside the minute, mixed grids on one journal
(30- and 15-minute values share ``long``), the rings wrapping, power cuts (prefix and NOR
bit-level tears) at awkward operations, including the erase of an evicted page, and the boot
that recovers the pages afterwards."""
import random

import pytest

from sumame.drivers.emulated.storage.flash import EmulatedFlash, nor_tear
from sumame.firmware.metrology.registers import Retention, Snapshot
from sumame.firmware.metrology.snapshot_history import SnapshotHistory
from sumame.firmware.storage.store import Storage, plan_layout
from sumame.hal.errors import PowerCut

KEY = bytes(range(32))
START_MIN = 29_584_260                   # a JST midnight, minutes since the epoch
PAGE, PAGES = 1024, 128
SIZED_FOR = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)


class _Side:
    """One storage + history over ``flash``, booted with ``retention``; ``hint`` wires the
    history index as the eviction hint (as firmware/app.py does)."""

    def __init__(self, flash, clock, retention, hint):
        self.flash, self.clock, self.hint = flash, clock, hint
        self.store = Storage(flash, plan_layout(PAGE, PAGES, SIZED_FOR, event_pages=2, state_pages=2),
                             KEY, clock)
        report = self.store.boot(retention)
        self.history = SnapshotHistory(self.store)
        self.history.load(report.recoveries)
        if hint:
            self.store.page_hint = self.history.page_newest

    def append(self, minute, lag):
        self.clock.t = minute * 60.0 + lag     # may step back: a time sync
        snap = Snapshot(minute, 1, minute * 10, 0, 0, 0, 0, 0, 0)
        self.store.append_snapshot(snap)
        self.history.appended(snap)


def _script(seed, steps):
    """(minute, lag s) appends: mostly one a minute, with time-sync jumps back and forth."""
    rng, minute, out = random.Random(seed), START_MIN, []
    for _ in range(steps):
        r = rng.random()
        if r < 0.004:
            minute -= rng.choice((5, 61, 600, 1500))        # clock set backwards
        elif r < 0.008:
            minute += rng.choice((59, 60, 61, 1439, 2000))  # clock set forwards
        else:
            minute += 1
        out.append((minute, rng.choice((0.0, 0.5, 59.0, 59.999))))
    return out


class _SteppedClock:
    """The meter's wall clock as the storage sees it: set by time syncs, so it can step back."""

    def __init__(self, t):
        self.t = t

    def now(self):
        return self.t


def _clock():
    return _SteppedClock(START_MIN * 60.0)


def _run(image, retention, script, hint, cut=None, torn=0.5):
    flash = EmulatedFlash(None, page_size=PAGE, page_count=PAGES)
    flash.load_image(image)
    clock = _clock()
    side = _Side(flash, clock, retention, hint)
    done = 0
    if cut is not None:
        flash.cut_power_at(flash.ops + cut, torn=torn)
    try:
        for minute, lag in script:
            side.append(minute, lag)
            done += 1
    except PowerCut:
        pass
    flash.cut_power_at(10 ** 9)
    shortfalls = side.store.retention_shortfalls
    after = _Side(flash, clock, retention, hint)      # reboot, then carry on
    for minute, lag in script[done:done + 400]:
        after.append(minute, lag)
    return shortfalls, after.store.retention_shortfalls, flash.image()


def _blank():
    flash = EmulatedFlash(None, page_size=PAGE, page_count=PAGES)
    Storage(flash, plan_layout(PAGE, PAGES, SIZED_FOR, event_pages=2, state_pages=2), KEY,
            _clock()).boot(SIZED_FOR)
    return flash.image()


@pytest.mark.parametrize("retention", [
    SIZED_FOR,                                                    # as sized: no shortfall
    Retention(days_30=1, days_15=1, days_5=1, minutes_1=90),      # a little longer than sized
    Retention(days_30=3, days_15=2, days_5=2, minutes_1=60),      # long/mid rings too small
    Retention(days_30=2, days_15=1, days_5=1, minutes_1=60),      # only the 30-min values of long
])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_hint_changes_no_shortfall_through_clock_jumps(retention, seed):
    image, script = _blank(), _script(seed, 3000)
    with_hint = _run(image, retention, script, hint=True)
    without = _run(image, retention, script, hint=False)
    assert with_hint == without


def test_the_hint_changes_no_shortfall_through_power_cuts_at_page_turns():
    retention = Retention(days_30=1, days_15=1, days_5=1, minutes_1=75)
    image, script = _blank(), _script(7, 1600)
    probe = EmulatedFlash(None, page_size=PAGE, page_count=PAGES)
    probe.load_image(image)
    probe.record_ops = True
    side = _Side(probe, _clock(), retention, True)
    start = len(probe.op_log)
    for minute, lag in script:
        side.append(minute, lag)
    ops = probe.op_log[start:]
    erases = [i + 1 for i, op in enumerate(ops) if op[0] == "erase"]
    assert len(erases) > 20 and side.store.retention_shortfalls > 0
    cuts = []
    for e in erases[2::len(erases) // 6][:6]:   # six page turns spread over the run
        cuts += [e - 1, e, e + 1]          # the reclaim mark, the erase itself, the first write after
    for cut in cuts:
        for torn in (0.5, nor_tear(cut)):
            assert _run(image, retention, script, True, cut, torn) == \
                _run(image, retention, script, False, cut, torn), f"cut at op {cut} ({torn})"
