"""Independent review (#2, #9, #15): a bit flip at rest in an old 30-minute snapshot (history on
flash, read on demand) is found by the background scrub, raised once, and from then on that
boundary is no data — in ``registers.at``, in the 30-minute value on either side, in ECHONET
E2 — while every other snapshot of the same page is still served as written; after a reboot the
same holds and nothing else is flagged."""
from sumame.boards import load_board
from sumame.firmware.metrology.readings import Quantity
from sumame.firmware.metrology.registers import Snapshot, grid_of
from sumame.firmware.routes.broute import edt
from sumame.firmware.routes.broute.lv_meter import day_history
from sumame.firmware.storage.journal import OVERHEAD
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime
from snapshot_shadow import shadow_snapshots

START = parse_jst("2026-04-01T00:00")
DAY = 86400
OVERRIDES = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
             "storage": {"page_count": 96, "page_size": 1024, "scrub_interval_s": 5},
             "watchdog": {"budget_ms": 60000}, "aroute": {"push_transport": "none"}}


def _boot(board, at, image=None):
    rt = build_runtime(board, virtual=True, start_epoch=at, poll_interval_s=60, boot=False)
    if image is not None:
        rt.built.emulated["flash"].load_image(image)
    rt.boot()
    rt.scheduler.watchdog_budget_s = None
    return rt


def _alarms(meter):
    return [e for e in meter.events if e.kind in ("corruption", "tamper", "flash-fault")]


def test_a_flipped_snapshot_is_found_by_the_scrub_and_served_as_no_data(tmp_path):
    board = load_board("emulated-lv", OVERRIDES)
    rt = _boot(board, START)
    shadow = shadow_snapshots(rt.meter)
    rt.scheduler.run(until=START + 1.5 * DAY)
    meter, flash = rt.meter, rt.built.emulated["flash"]
    long = meter.storage.journals["long"]
    target = START + DAY + 10 * 3600          # 10:00 JST of day 1: a 30-min boundary on flash only
    minute = int(target // 60)
    assert grid_of(minute) == 30 and minute in shadow
    record = next(r for r in long.records_in_ram() if Snapshot.unpack(r.payload).minute == minute)
    same_page = [Snapshot.unpack(r.payload) for r in long.records_in_ram()
                 if r.page == record.page and r.seq != record.seq]
    assert len(same_page) >= 3
    address = (long.first_page + record.page) * flash.page_size + record.offset
    flash.flip_bit(address + OVERHEAD - 4 + 20, 3)   # inside the payload's forward counter
    meter.registers.at(START + 3600)                  # the history cache holds another page
    rt.scheduler.run(until=START + 1.5 * DAY + 2 * 3600)   # the scrub goes round every page
    found = _alarms(meter)
    assert len(found) == 1 and found[0].kind in ("corruption", "tamper"), found
    assert f"seq {record.seq}" in found[0].detail

    def check(meter):
        regs, readings = meter.registers, meter.readings
        assert regs.at(target) is None
        assert regs.energy_mwh("forward", target, 30) is None
        assert regs.energy_mwh("forward", target + 1800, 30) is None
        for snap in same_page:
            assert regs.at(snap.epoch) == shadow[snap.minute]
        e2 = day_history(readings, Quantity.FORWARD, 1 if edt.jst_midnight(readings.now()) > target else 0)
        slots = [int.from_bytes(e2[2 + 4 * k:6 + 4 * k], "big") for k in range(48)]
        assert slots[20] == 0xFFFFFFFE and slots[19] != 0xFFFFFFFE and slots[21] != 0xFFFFFFFE
    check(meter)
    image = flash.image()
    rt.close()
    reboot = START + 1.5 * DAY + 2 * 3600 + 90
    again = _boot(board, reboot, image)
    try:
        check(again.meter)
        again.scheduler.run(until=START + 1.5 * DAY + 4 * 3600)
        found = [e for e in _alarms(again.meter) if e.at >= reboot]   # (the scrub's is restored)
        assert len(found) == 1 and found[0].kind in ("corruption", "tamper"), [(e.at, e.detail) for e in found]   # at boot, once
    finally:
        again.close()
