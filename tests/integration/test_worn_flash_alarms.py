"""Independent review (#2, #9): a worn-out flash page costs one alarm, not the event log and not
the meter.

Before, every record a stuck journal could not store raised its own ``flash-fault`` alarm: with
the 1-minute journal stuck on a worn page that is one alarm a minute, each written to the event
journal, which then wraps within hours and evicts every event that mattered (boot, power
fail/restore, switch, security) — and wears out the event pages in turn. Once the event journal
itself cannot store, recording any event looped for ever (the alarm about the failed write was
written to the same journal, failed, raised another alarm, ...): the scheduler never got control
back, metering stopped."""
import pytest

from sumame.boards import load_board
from sumame.firmware.storage.store import decode_event
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
OVERRIDES = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
             "storage": {"page_count": 96, "page_size": 1024, "endurance": 100},
             "watchdog": {"budget_ms": 60000}, "aroute": {"push_transport": "none"}}


def _meter():
    rt = build_runtime(load_board("emulated-lv", OVERRIDES), virtual=True, start_epoch=START, poll_interval_s=60)
    rt.scheduler.watchdog_budget_s = None
    return rt


def _wear_out(rt, journal: str) -> None:
    """Every page of ``journal`` has reached its erase cycles (the next erase raises NvmWornOut)."""
    storage, flash = rt.meter.storage, rt.built.emulated["flash"]
    first, count = storage.layout.partitions[journal]
    for page in range(first, first + count):
        flash._wear[page] = flash.endurance


def _pages(meter, journal):
    first, count = meter.storage.layout.partitions[journal]
    return first, first + count


def test_a_stuck_journal_raises_one_alarm_and_the_event_log_keeps_its_events():
    rt = _meter()
    try:
        meter = rt.meter
        meter.events.record("marker", source="review", detail="an event the log must keep")
        _wear_out(rt, "short")
        rt.scheduler.run(until=START + 2 * 86400)    # ~2,800 one-minute snapshots the flash refuses
        faults = [e for e in meter.events if e.kind == "flash-fault"]
        assert len(faults) == 1, f"{len(faults)} flash-fault alarms for one stuck journal"
        assert "short" in faults[0].detail
        on_flash = [decode_event(r.payload).kind for r in meter.storage.journals["events"].records_in_ram()]
        assert "marker" in on_flash and "boot" in on_flash, on_flash
        assert meter.storage.health()["dropped"]["short"] > 2000
        # the other journals still store, and the history they hold is still served
        assert meter.registers.at(START + 86400) is not None
        assert meter.registers.newest.epoch == START + 2 * 86400
    finally:
        rt.close()


def test_a_journal_that_stores_again_alarms_again_when_it_fails_again():
    rt = _meter()
    try:
        meter, flash = rt.meter, rt.built.emulated["flash"]
        first, count = meter.storage.layout.partitions["short"]
        _wear_out(rt, "short")
        rt.scheduler.run(until=START + 3 * 3600)
        for page in range(first, first + count):    # (a test can un-wear the emulated part)
            flash._wear[page] = 0
        rt.scheduler.run(until=START + 6 * 3600)
        assert meter.storage.health()["dropped"]["short"] > 0
        _wear_out(rt, "short")
        rt.scheduler.run(until=START + 9 * 3600)
        assert sum(1 for e in meter.events if e.kind == "flash-fault") == 2
    finally:
        rt.close()


@pytest.mark.timeout(60)
def test_an_event_journal_that_cannot_store_does_not_hang_the_meter():
    rt = _meter()
    try:
        meter = rt.meter
        rt.scheduler.run(until=START + 600)
        for n in range(300):                         # the event journal wraps: its pages hold data
            meter.events.record("marker", source="review", detail=f"note {n}: " + "x" * 150)
        assert min(rt.built.emulated["flash"].erase_count(p) for p in range(*_pages(meter, "events"))) >= 1
        _wear_out(rt, "events")
        for n in range(40):                          # enough to need the next (worn) page
            meter.events.record("marker", source="review", detail=f"note {n}: " + "x" * 150)
        rt.scheduler.run(until=START + 3600)         # metering goes on
        assert meter.registers.newest.epoch == START + 3600
        assert sum(1 for e in meter.events if e.kind == "flash-fault") == 1
    finally:
        rt.close()


@pytest.mark.timeout(60)
def test_an_event_journal_whose_programs_fail_does_not_hang_the_meter():
    """Every program in the event pages fails (a dead region): each append abandons page after
    page, one alarm per abandoned page — alarms that must not be written back into it."""
    from sumame.hal.errors import NvmProgramError

    rt = _meter()
    try:
        meter, flash = rt.meter, rt.built.emulated["flash"]
        lo, hi = (p * flash.page_size for p in _pages(meter, "events"))
        program = flash.program

        def failing(offset, data):
            if lo <= offset < hi:
                raise NvmProgramError(f"program at {offset:#x} did not take")
            program(offset, data)
        flash.program = failing
        meter.events.record("marker", source="review", detail="the first event after the region died")
        rt.scheduler.run(until=START + 3600)
        assert meter.registers.newest.epoch == START + 3600
        faults = [e for e in meter.events if e.kind == "flash-fault"]
        assert 1 <= len(faults) <= (hi - lo) // flash.page_size + 2, len(faults)   # once round the ring
        # every failed append abandons page after page: the details kept in RAM stay bounded
        for i in range(50):
            meter.events.record("marker", source="review", detail=f"event {i} the dead region refuses")
        from sumame.firmware.storage.journal import FAULTS_KEPT
        events = meter.storage.journals["events"]
        assert FAULTS_KEPT <= 100 and 0 < len(events.faults) <= FAULTS_KEPT and 0 < len(meter.storage.faults) <= FAULTS_KEPT
        assert "events: program at page" in events.faults[-1]
    finally:
        rt.close()


@pytest.mark.timeout(60)
def test_an_event_page_abandoned_while_another_journal_alarm_is_written_is_alarmed_too():
    """Review: one program of the event journal fails (a bad bit ahead of its write position)
    just while the alarm of another (worn-out) journal is written to it. The event journal
    abandons that page and stores the alarm on the next one, so it *can* store: the abandon is a
    flash fault like any other and gets its own alarm, as it does when an ordinary event hits it.
    Before, it was dropped (only in ``storage.faults``) because it came up while an alarm was
    being written."""
    from sumame.hal.errors import NvmProgramError

    rt = _meter()
    try:
        meter, flash = rt.meter, rt.built.emulated["flash"]
        rt.scheduler.run(until=START + 600)
        lo, hi = (p * flash.page_size for p in _pages(meter, "events"))
        program, armed = flash.program, [True]

        def once(offset, data):
            if armed[0] and lo <= offset < hi and meter.storage._reporting:
                armed[0] = False
                raise NvmProgramError(f"program at {offset:#x} did not take")
            program(offset, data)
        flash.program = once
        _wear_out(rt, "short")
        rt.scheduler.run(until=START + 2 * 3600)
        assert not armed[0], "the event journal's program never failed"
        faults = [e for e in meter.events if e.kind == "flash-fault"]
        assert len(faults) == 2, [f.detail for f in faults]
        assert any("short" in f.detail for f in faults) and any("short" not in f.detail for f in faults)
        on_flash = [decode_event(r.payload).kind for r in meter.storage.journals["events"].records_in_ram()]
        assert on_flash.count("flash-fault") == 2, on_flash
    finally:
        rt.close()
