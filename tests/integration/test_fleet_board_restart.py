"""Independent review (#2, #15): a fleet-board meter restarted on its state directory keeps
what it stored, as the full-fidelity board does ("a restart continues where the meter
stopped"). The compact flash lives in ``<state>/flash.arena``; before, every start allocated a
new region at the end of that file and read its pages as erased, so the restarted meter booted
on blank flash: every interval, event and setting gone, without a word, and the file grew by
the flash size at every start."""
import pytest

from sumame.boards import load_board
from sumame.drivers.emulated.storage.compact_nvm import CompactNvm, NvmArena
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
OVERRIDES = {"aroute": {"push_transport": "none"}, "storage": {"page_count": 96, "page_size": 1024},
             "registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60}}


@pytest.mark.parametrize("board", ["emulated-lv-fleet", "emulated-lv"])
def test_a_restart_on_the_state_dir_keeps_the_stored_history(tmp_path, board):
    first = build_runtime(load_board(board, OVERRIDES), virtual=True, start_epoch=START,
                          state_dir=tmp_path, poll_interval_s=60)
    first.scheduler.watchdog_budget_s = None
    first.scheduler.run(until=START + 30 * 3600)   # the 1-min journal wraps, so pages were erased
    stored = first.meter.registers.snapshots()
    kwh = first.meter.metering.counters["forward"]
    first.meter.shutdown()
    first.close()
    assert len(stored) > 200

    again = build_runtime(load_board(board, OVERRIDES), virtual=True, start_epoch=START + 30 * 3600 + 60,
                          state_dir=tmp_path, poll_interval_s=60)
    try:
        regs = again.meter.registers
        lost = [s.minute for s in stored if regs.at(s.epoch) != s]
        assert not lost, f"{len(lost)} of {len(stored)} stored snapshots gone after the restart"
        assert again.meter.metering.counters["forward"] == kwh       # the checkpoint was kept
        alarms = [e for e in again.meter.events if e.kind in ("corruption", "tamper", "flash-fault")]
        assert not alarms, alarms
    finally:
        again.close()


def test_the_arena_file_does_not_grow_at_every_start(tmp_path):
    size = None
    for start in range(3):
        arena = NvmArena(tmp_path / "flash.arena")
        nvm = CompactNvm(page_size=1024, page_count=8, arena=arena, reopen=True)
        if start == 0:
            nvm.program(1024 + 5, b"\x00\x12")
            nvm.erase(3)
            nvm.program(3 * 1024, b"\x55")
            nvm.erase(3)            # erased again: must read 0xFF after a restart, not the old byte
        assert nvm.read(1024 + 5, 2) == b"\x00\x12"
        assert nvm.read(3 * 1024, 4) == b"\xff" * 4
        assert nvm.erase_count(3) == 2
        arena.close()
        grown = (tmp_path / "flash.arena").stat().st_size
        assert size is None or grown == size
        size = grown
