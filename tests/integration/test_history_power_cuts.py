"""Independent review (#2, #9, #15): power cuts at awkward moments of the history path, checked
through what the routes read — ``registers.at`` (the on-demand flash lookup behind E2/E4, EE,
and the DLMS profiles), not only the whole-flash listing.

A small-flash LV meter (1 KiB pages, 2-day 30/15-min retention, 1 day of 5-min values) runs
2.6 days in virtual time, so the 30/15-minute journal has wrapped and evicts a page about every
half day; every flash operation is logged with its virtual time, every snapshot with the
operations its append took. The image after a power cut at chosen operations — the body and the
commit byte of the 30-minute snapshot across a boundary, of the snapshot at JST midnight and of
the one just after it, the erase of an evicted page (and the page-turn record before it) in
the interval journals — is rebuilt by replaying the log and tearing that operation (NOR bit
model). The meter boots from it 90 s later and then, 70 minutes later (when what the RAM ring held at
boot is read from flash), and again after another clean reboot:

* serves every committed snapshot within its retention exactly as written, through ``at``;
* serves nothing that was not written (the snapshot being appended may be there or not);
* gives 30-min values equal to the sum of their 15- and 5-min values, equal to the
  difference of the counters written at their boundaries;
* raises no corruption / tamper / flash-fault alarm.
"""
import pytest

from sumame.boards import load_board
from sumame.drivers.emulated.storage.flash import EmulatedFlash, nor_tear
from sumame.firmware.metrology.registers import grid_of
from sumame.hal.jst import JST_OFFSET_S, parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
DAY = 86400
OVERRIDES = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
             "storage": {"page_count": 96, "page_size": 1024},
             "watchdog": {"budget_ms": 60000}, "aroute": {"push_transport": "none"}}
RUN_S = 2.6 * DAY


@pytest.fixture(scope="module")
def board():
    return load_board("emulated-lv", OVERRIDES)


@pytest.fixture(scope="module")
def reference(board):
    rt = build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60,
                       record_flash_ops=True, boot=False)
    flash = rt.built.emulated["flash"]
    times = []
    operation = flash._operation

    def timed(op):
        times.append(rt.clock.now())
        operation(op)
    flash._operation = timed
    rt.boot()
    append = rt.meter.storage.append_snapshot
    commits = []

    def tracked(snap):
        before = flash.ops
        append(snap)
        commits.append((before, flash.ops, snap))
    rt.meter.storage.append_snapshot = tracked
    rt.scheduler.run(until=START + RUN_S)
    ref = {"ops": list(flash.op_log), "times": times, "commits": commits,
           "layout": rt.meter.storage.layout, "geometry": (flash.page_size, flash.page_count),
           "retention": rt.config.retention}
    rt.close()
    return ref


def _jst_minute(minute: int) -> int:
    return (minute + JST_OFFSET_S // 60) % 1440


def _awkward(ref) -> dict[str, int]:
    """Operation numbers (1-based) of the moments named in the module docstring."""
    ops, commits, layout = ref["ops"], ref["commits"], ref["layout"]
    page_size = ref["geometry"][0]
    late = [c for c in commits if c[2].minute * 60 > START + 2 * DAY]
    chosen = {}
    at_30 = next(c for c in late if _jst_minute(c[2].minute) % 30 == 0 and _jst_minute(c[2].minute) % 60)
    chosen["30-min append, body"] = at_30[0] + 1
    chosen["30-min append, commit byte"] = at_30[1]
    midnight = next(c for c in commits if c[2].minute * 60 >= START + 2 * DAY and _jst_minute(c[2].minute) == 0)
    chosen["midnight append, body"] = midnight[0] + 1
    chosen["midnight append, commit byte"] = midnight[1]
    after = next(c for c in commits if c[2].minute == midnight[2].minute + 1)
    chosen["first append after midnight"] = after[1]
    for name in ("long", "mid", "short"):
        first, count = layout.partitions[name]
        erases = [k for k, op in enumerate(ops, 1) if op[0] == "erase" and first <= op[1] < first + count
                  and ref["times"][k - 1] > START + 2 * DAY]
        assert erases, f"the {name} journal never evicted a page after day 2"
        chosen[f"{name}: erase of an evicted page"] = erases[0]
        chosen[f"{name}: page turn before the erase"] = erases[0] - 1
    for k in chosen.values():
        op = ops[k - 1]
        page = op[1] // page_size if op[0] == "program" else op[1]
        assert page >= 1, "the chosen operation must be in a journal"
    return chosen


def _boot(board, at, image):
    rt = build_runtime(board, virtual=True, start_epoch=at, poll_interval_s=60, boot=False)
    rt.built.emulated["flash"].load_image(image)
    rt.boot()
    return rt


def _check(rt, ref, k) -> list[str]:
    """What the module docstring promises, for a meter booted after a cut at operation k."""
    problems = []
    commits = ref["commits"]
    committed = {s.minute: s for _, done, s in commits if done < k}
    written = {s.minute: s for before, _, s in commits if before < k}
    regs = rt.meter.registers
    newest = max(max(committed), regs.newest.minute if regs.newest is not None else 0)
    retention = ref["retention"]
    for minute, snap in written.items():
        keep = retention.keep_seconds(grid_of(minute)) // 60
        served = regs.at(minute * 60)
        if minute in committed and newest - minute < keep - 1 and served != snap:
            problems.append(f"committed snapshot of minute {minute} (grid {grid_of(minute)}) "
                            f"served as {served}")
        elif served is not None and served != snap:
            problems.append(f"snapshot of minute {minute} served changed")
    checked = 0
    for minute in sorted(committed):
        if grid_of(minute) != 30 or newest - minute >= 24 * 60 - 30:
            continue
        end = minute * 60
        e30 = regs.energy_mwh("forward", end, 30)
        if e30 is None:
            continue
        checked += 1
        e15 = [regs.energy_mwh("forward", end - 900 * i, 15) for i in range(2)]
        e5 = [regs.energy_mwh("forward", end - 300 * i, 5) for i in range(6)]
        start = committed.get(minute - 30)
        if start is None or start.session != committed[minute].session or \
                e30 != committed[minute].forward_mwh - start.forward_mwh:
            problems.append(f"30-min value ending at minute {minute} is {e30}, not what was written")
        if None in e15 or None in e5 or sum(e15) != e30 or sum(e5) != e30:
            problems.append(f"30-min value ending at minute {minute}: {e30} != 15-min {e15} / 5-min {e5}")
    if checked < 30:
        problems.append(f"only {checked} 30-min values checked")
    alarms = [e for e in rt.meter.events if e.kind in ("corruption", "tamper", "flash-fault")]
    if alarms:
        problems.append(f"false alarm after a power cut: {alarms[0].kind}: {alarms[0].detail}")
    return problems


@pytest.mark.slow
def test_history_reads_right_after_awkward_power_cuts(board, reference):
    ops, times = reference["ops"], reference["times"]
    page_size, page_count = reference["geometry"]
    chosen = _awkward(reference)
    live = EmulatedFlash(None, page_size=page_size, page_count=page_count)
    done = 0
    failures = []
    for what, k in sorted(chosen.items(), key=lambda item: item[1]):
        for op in ops[done:k - 1]:
            live.apply(op)
        done = k - 1
        base = live.image()
        for tear in (0.5, nor_tear(k)):
            live.apply(ops[k - 1], torn=tear)
            at = times[k - 1] + 90
            rt = _boot(board, at, live.image())
            live.load_image(base)
            try:
                problems = _check(rt, reference, k)
                rt.scheduler.run(until=at + 70 * 60)   # what the RAM ring held at boot now comes from flash
                problems += [f"70 min after the boot: {p}" for p in _check(rt, reference, k)]
                again = _boot(board, at + 71 * 60, rt.built.emulated["flash"].image())
            finally:
                rt.close()
            try:
                problems += [f"after a second boot: {p}" for p in _check(again, reference, k)]
            finally:
                again.close()
            failures += [f"cut at op {k} ({what}, tear {tear!r:.20}): {p}" for p in problems]
    assert not failures, "\n".join(failures[:12])
