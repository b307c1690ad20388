"""Proof: flip every single bit of a stored sample region; every flip is detected, reported as a
corruption/tamper event, and the damaged value is never served — everything else still is."""
import pytest

from sumame.boards import load_board
from sumame.firmware.core.events import Severity
from sumame.firmware.storage.journal import OVERHEAD
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

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


@pytest.mark.parametrize("journal_name", ["short", "long", "events"])
def test_flipped_bit_in_erased_flash_ahead_of_the_writes(board, stored, journal_name):
    """Issue 9 defect 4: a 0 bit in erased flash where the next record goes. The meter skips
    the bad page, raises one alarm, keeps metering and storing; a reboot finds nothing wrong."""
    image, _, _ = stored
    at = START + 6 * 3600 + 60
    rt = build_runtime(board, virtual=True, start_epoch=at, poll_interval_s=60, boot=False)
    flash = rt.built.emulated["flash"]
    flash.load_image(image)
    rt.boot()
    journal = rt.meter.storage.journals[journal_name]
    address = (journal.first_page + journal._cur) * journal.page_size + journal._pos + 1
    assert flash.read(address, 1) == b"\xff"
    flash.flip_bit(address, 1)            # the magic byte 0x5A of the next record needs bit 1
    before = journal.appended
    if journal_name == "events":
        rt.meter.events.record("test", source="test", detail="an event to store")
    rt.scheduler.run(until=at + 3600)
    faults = [e for e in rt.meter.events if e.kind == "flash-fault" and e.severity is Severity.ALARM]
    assert len(faults) == 1, faults
    assert journal.appended > before, "the journal stopped storing"
    newest = rt.meter.registers.newest
    assert newest is not None and newest.epoch >= at + 3600 - 60, "metering stopped"
    served = {s.minute: s for s in rt.meter.registers.snapshots()}
    rt.close()
    again = build_runtime(board, virtual=True, start_epoch=at + 3700, poll_interval_s=60, boot=False)
    again.built.emulated["flash"].load_image(flash.image())
    again.boot()
    again.close()
    bad = [e for e in again.meter.events if e.severity is Severity.ALARM and e.source == "storage"
           and e.kind != "flash-fault"]
    assert not bad, bad
    for minute in range(int(at // 60) + 1, int((at + 3600) // 60)):
        if minute in served:
            assert again.meter.registers.at(minute * 60) == served[minute], f"minute {minute} lost"
