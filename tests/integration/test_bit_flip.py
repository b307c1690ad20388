"""Proof: flip every single bit of a stored sample region; every flip is detected, reported as a
corruption/tamper event, and the damaged value is never served — everything else still is."""
import pytest

from sumame.boards import load_board
from sumame.firmware.events import Severity
from sumame.firmware.journal import OVERHEAD
from sumame.hal.jst import parse_jst
from sumame.tools.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
OVERRIDES = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
             "storage": {"page_size": 1024, "page_count": 128}}
SAMPLE_RECORDS = 4


@pytest.fixture(scope="module")
def board():
    return load_board("emulated-lv", OVERRIDES)


@pytest.fixture(scope="module")
def stored(board):
    """Six hours of operation; returns the flash image and the sample region's records."""
    rt = build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60)
    rt.scheduler.run(until=START + 6 * 3600)
    rt.meter.checkpoint()
    journal = rt.meter.storage.journals["long"]
    records = journal.records_in_ram()[2:2 + SAMPLE_RECORDS]
    page_size = rt.meter.storage.layout.page_size
    region = []
    for r in records:
        start = (journal.first_page + r.page) * page_size + r.offset
        snap_minute = int.from_bytes(r.payload[:4], "big")
        region.append((start, start + OVERHEAD + len(r.payload), snap_minute))
    image = rt.built.emulated["flash"].image()
    snapshots = {s.minute: s for s in rt.meter.registers.snapshots()}
    rt.close()
    return image, region, snapshots


def boot_from(board, image, flip=None):
    rt = build_runtime(board, virtual=True, start_epoch=START + 6 * 3600 + 60, poll_interval_s=60, boot=False)
    flash = rt.built.emulated["flash"]
    flash.load_image(image)
    if flip is not None:
        flash.flip_bit(*flip)
    rt.boot()
    rt.close()
    return rt


def test_clean_image_boots_without_alarms(board, stored):
    image, region, snapshots = stored
    rt = boot_from(board, image)
    assert not [e for e in rt.meter.events if e.severity is Severity.ALARM]
    for _, _, minute in region:
        assert rt.meter.registers.at(minute * 60) == snapshots[minute]


def test_every_bit_flip_in_the_sample_region_is_detected(board, stored):
    image, region, snapshots = stored
    flips = 0
    for start, end, minute in region:
        others = [m for _, _, m in region if m != minute]
        for offset in range(start, end):
            for bit in range(8):
                rt = boot_from(board, image, (offset, bit))
                flips += 1
                regs = rt.meter.registers
                alarms = [e for e in rt.meter.events
                          if e.kind in ("corruption", "tamper") and e.severity is Severity.ALARM]
                assert alarms, f"flip of bit {bit} at {offset:#x} went unnoticed"
                assert regs.at(minute * 60) is None, f"flipped value of minute {minute} served as valid"
                for m in others:
                    assert regs.at(m * 60) == snapshots[m], "an intact sample was lost"
    assert flips == 8 * sum(end - start for start, end, _ in region)


def test_scrub_finds_a_flip_while_running(board, stored):
    image, region, snapshots = stored
    rt2 = build_runtime(board, virtual=True, start_epoch=START + 6 * 3600 + 60, poll_interval_s=60, boot=False)
    flash = rt2.built.emulated["flash"]
    flash.load_image(image)
    rt2.boot()
    start, _, minute = region[1]
    flash.flip_bit(start + 30, 3)
    pages = rt2.meter.storage.layout.pages_used
    rt2.scheduler.run(until=rt2.clock.now() + (pages + 2) * rt2.config.scrub_interval_s)
    found = [e for e in rt2.meter.events if e.kind == "corruption" and "scrub" in e.detail]
    rt2.close()
    assert found, "background scrub did not report the flipped record"
