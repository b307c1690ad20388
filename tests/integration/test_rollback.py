"""The meter's flash image rolled back to an older genuine copy is reported as tamper, thanks
to the board's monotonic counter (an RTC backup register); power cuts never trip it."""
import shutil

import pytest

from sumame.boards import load_board
from sumame.firmware.core.events import Severity
from sumame.hal.errors import PowerCut
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
OVERRIDES = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
             "storage": {"page_count": 96, "page_size": 1024}}


@pytest.fixture(scope="module")
def board():
    b = load_board("emulated-lv", OVERRIDES)
    assert b["storage"]["counter"] == "emulated-rtc-backup"
    return b


def run(board, state_dir, start, seconds, cut_at=None):
    rt = build_runtime(board, virtual=True, start_epoch=start, poll_interval_s=60, state_dir=state_dir,
                       boot=False)
    if cut_at is not None:
        rt.built.emulated["flash"].cut_power_at(cut_at)
    cut = False
    try:
        rt.boot()
        rt.scheduler.run(until=start + seconds)
    except PowerCut:
        cut = True
    assert cut == (cut_at is not None), "the power cut did not happen"
    alarms = [e for e in rt.meter.events if e.severity is Severity.ALARM and e.source == "storage"]
    rt.close()
    return alarms


def test_rollback_of_the_flash_image_is_tamper(board, tmp_path):
    state = tmp_path / "meter"
    assert not run(board, state, START, 3 * 3600)
    shutil.copy(state / "flash.bin", tmp_path / "old-flash.bin")
    assert not run(board, state, START + 3 * 3600, 3 * 3600)
    assert (state / "counter.bin").exists()
    shutil.copy(tmp_path / "old-flash.bin", state / "flash.bin")   # genuine, but 3 hours old
    alarms = run(board, state, START + 6 * 3600 + 60, 60)
    assert [e.kind for e in alarms] == ["tamper"] and "rolled back" in alarms[0].detail


@pytest.mark.parametrize("k", [5, 40, 333, 480])
def test_power_cuts_do_not_look_like_a_rollback(board, tmp_path, k):
    state = tmp_path / "meter"
    assert not run(board, state, START, 3600)
    assert not run(board, state, START + 3600, 3 * 3600, cut_at=k)
    assert not run(board, state, START + 4 * 3600 + 90, 600), "a power cut raised an alarm"
