"""A snapshot the flash did not store (worn-out or failing flash: ``append_snapshot`` returns
None and a flash-fault alarm is raised) is not noted in the history index: the meter keeps
metering and serving for as long as the flash stays bad, instead of the per-page count
(16 bits) overflowing after ~45 days of 1-minute values noted on the stuck page and the
snapshot path raising OverflowError."""
from sumame.firmware.metrology.registers import Snapshot
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")


def test_snapshots_not_stored_are_not_noted_and_cannot_overflow_the_index():
    rt = build_runtime("emulated-lv-fleet", virtual=True, start_epoch=START, poll_interval_s=60)
    try:
        meter = rt.meter
        meter.storage.append_snapshot = lambda snap: None     # the flash refuses every record
        short = meter.storage.journals["short"]
        page = short.write_page
        before = meter.history.page_newest("short", page)
        minute = int(START // 60) + 1
        for i in range(66_000):                                # > 2**16 on the stuck page
            if (minute + 540) % 5 == 0:
                minute += 1
            meter._on_snapshot(Snapshot(minute, 1, i, 0, 0, 0, 0, 0, 0))
            minute += 1
        assert meter.history.page_newest("short", page) == before
    finally:
        rt.close()
