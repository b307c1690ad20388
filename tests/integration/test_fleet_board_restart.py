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


# ---------------------------------------------------------------- review: what the state dir refuses
import hashlib
import subprocess
import sys

from sumame.hal.errors import ConfigurationError
from sumame.tools.cli import CliError

REFUSED = (ConfigurationError, CliError)   # build_runtime turns a part's refusal into a one-line CLI error


def _run_fleet_board(tmp_path, board="emulated-lv-fleet", storage=None, hours=3, start=START):
    overrides = dict(OVERRIDES, storage=dict(OVERRIDES["storage"], **(storage or {})))
    rt = build_runtime(load_board(board, overrides), virtual=True, start_epoch=start,
                       state_dir=tmp_path, poll_interval_s=60)
    rt.scheduler.watchdog_budget_s = None
    rt.scheduler.run(until=start + hours * 3600)
    kwh = rt.meter.metering.counters["forward"]
    rt.meter.shutdown()
    rt.close()
    return kwh


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("storage", [{"page_count": 192}, {"page_count": 48, "page_size": 2048},
                                     {"page_count": 64, "page_size": 2048}])
def test_a_state_dir_of_another_flash_geometry_is_refused_not_wiped(tmp_path, storage):
    """Review: a restart with another flash size or page size on the same state dir wiped the
    arena (truncated it to 0) and booted blank, without a word — the stored history gone for
    good, even when the board was then set back. Now the build refuses, naming the file and both
    geometries, and the file is left as it was: the original board still finds its history."""
    kwh = _run_fleet_board(tmp_path)
    arena = tmp_path / "flash.arena"
    before = _digest(arena)
    with pytest.raises(REFUSED, match="flash.arena"):
        _run_fleet_board(tmp_path, storage=storage, start=START + 3 * 3600 + 60)
    assert _digest(arena) == before
    again = build_runtime(load_board("emulated-lv-fleet", OVERRIDES), virtual=True,
                          start_epoch=START + 3 * 3600 + 120, state_dir=tmp_path, poll_interval_s=60)
    try:
        assert again.meter.metering.counters["forward"] == kwh
    finally:
        again.close()


@pytest.mark.parametrize("cut", [1, 5 * 96, 4096])
def test_a_truncated_arena_is_refused_not_wiped(tmp_path, cut):
    """Review: an arena file cut short (its page map and wear counters sit at its end) is
    reported, not silently replaced by blank flash."""
    _run_fleet_board(tmp_path, hours=1)
    arena = tmp_path / "flash.arena"
    with open(arena, "r+b") as fh:
        fh.truncate(arena.stat().st_size - cut)
    before = _digest(arena)
    with pytest.raises(REFUSED, match="flash.arena"):
        _run_fleet_board(tmp_path, hours=1, start=START + 3600 + 60)
    assert _digest(arena) == before


@pytest.mark.parametrize("first,second", [("emulated-lv-fleet", "emulated-lv"), ("emulated-lv", "emulated-lv-fleet")])
def test_a_state_dir_holding_the_other_flash_model_is_refused(tmp_path, first, second):
    """Review: the full-fidelity board keeps its flash in flash.bin, the fleet board in
    flash.arena. Started on the other one's state dir, the meter booted on blank flash with the
    same serial (counters 0, history gone, no alarm) and the stored flash was left beside it."""
    _run_fleet_board(tmp_path, board=first, hours=1)
    with pytest.raises(REFUSED, match=r"flash\.(arena|bin)"):
        _run_fleet_board(tmp_path, board=second, hours=1, start=START + 3600 + 60)


def test_two_meters_at_once_on_one_arena_are_refused(tmp_path):
    """Review: two processes (e.g. ``sumame simulate --state-dir`` beside ``sumame emulate``,
    which locks only its own runs) on one arena would write each other's pages."""
    arena = NvmArena(tmp_path / "flash.arena")
    CompactNvm(page_size=1024, page_count=8, arena=arena, reopen=True)
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from sumame.drivers.emulated.storage.compact_nvm import NvmArena; "
                               "NvmArena(sys.argv[1])", str(tmp_path / "flash.arena")],
        capture_output=True, text=True, timeout=60)
    arena.close()
    assert other.returncode != 0 and "in use" in other.stderr, other.stderr
    NvmArena(tmp_path / "flash.arena").close()     # free again once the first one closed


def test_the_emulate_cli_refuses_a_mismatched_arena_in_one_line(tmp_path):
    (tmp_path / "flash.arena").write_bytes(b"\x00" * 1000)
    done = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "emulate", "--board", "emulated-lv-fleet",
                           "--state-dir", str(tmp_path), "--headless", "--duration", "1", "--dlms-port", "0",
                           "--push", "none"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "flash.arena" in done.stderr, done.stderr[-2000:]
    assert (tmp_path / "flash.arena").stat().st_size == 1000


def test_an_image_loaded_into_a_state_dir_arena_is_there_after_a_restart(tmp_path):
    """Review: load_image (firmware images, benches) records which pages hold data in the page
    map too: a page it loads is read back after a restart, a page it erases reads 0xFF (not the
    bytes the file still holds from before)."""
    arena = NvmArena(tmp_path / "flash.arena")
    nvm = CompactNvm(page_size=1024, page_count=4, arena=arena, reopen=True)
    nvm.program(2 * 1024, b"\x00" * 16)                    # page 2 holds data, then is loaded erased
    image = bytearray(b"\xff" * 4096)
    image[5:9] = b"\x12\x34\x56\x78"                        # page 0 loaded with data
    nvm.load_image(bytes(image))
    nvm.close()
    again = CompactNvm(page_size=1024, page_count=4, arena=NvmArena(tmp_path / "flash.arena"), reopen=True)
    try:
        assert again.image() == bytes(image)
    finally:
        again.close()
