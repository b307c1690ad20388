"""Storage on real media (drivers/file_nvm.py) under power cuts, through a fault layer that
keeps unsynced writes in a volatile page cache (drivers/emulated/storage/page_cache.py): the journal
commit rule holds only because every program is synced before the next — proven both ways."""
from __future__ import annotations

import pytest

from sumame.drivers.emulated.storage.page_cache import VolatileCacheIo
from sumame.drivers.file_nvm import FileNvm
from sumame.firmware.storage.journal import PAGE_RESERVE, Journal
from sumame.hal.errors import NvmError, NvmProgramError, PowerCut

PAGE, PAGES, KEY = 256, 6, bytes(range(32))
RECORDS = 70          # ~5 records a page: the journal wraps and erases twice


def _journal(io, *, sync=True):
    nvm = FileNvm("/media/sumame/flash.bin", page_size=PAGE, page_count=PAGES, io=io, sync=sync)
    journal = Journal(nvm, 0, PAGES, name="intervals", key=KEY)
    return nvm, journal, journal.recover()


def _payload(i: int) -> bytes:
    return i.to_bytes(4, "big") * 2


def _run_until_cut(io, cut_at: int, *, sync=True) -> list[int]:
    """Append until the cut; the indices whose append() returned (committed)."""
    io.cut_at = cut_at
    committed = []
    try:
        _, journal, _ = _journal(io, sync=sync)
        for i in range(RECORDS):
            journal.append(1, _payload(i))
            committed.append(i)
    except PowerCut:
        pass
    io.cut_at = None
    return committed


def _total_calls() -> int:
    io = VolatileCacheIo()
    _run_until_cut(io, 10 ** 9)
    return io.calls


def _check(io, committed, seed_note):
    io.cut()                                          # after the cut only the medium remains
    _, journal, recovery = _journal(io)
    bad = [f for f in recovery.findings if f.kind != "torn"]
    assert not bad, f"{seed_note}: false alarm {bad}"
    got = [int.from_bytes(r.payload[:4], "big") for r in recovery.records]
    assert got == sorted(got) and all(_payload(i) == r.payload for i, r in zip(got, recovery.records))
    kept = (PAGE - PAGE_RESERVE) // (38 + 8) * (PAGES - 2)   # records the FIFO journal is sure to keep
    lost = [i for i in committed[-kept:] if i not in got]
    assert not lost, f"{seed_note}: committed records lost {lost}"
    journal.append(1, b"after the cut")               # and it keeps storing


def test_every_file_system_call_cut_loses_nothing_committed_with_sync_per_program():
    total = _total_calls()
    assert total > 2 * RECORDS
    for cut_at in range(1, total + 1):
        io = VolatileCacheIo(seed=cut_at)
        committed = _run_until_cut(io, cut_at)
        _check(io, committed, f"cut at call {cut_at}/{total}")


def test_without_sync_the_fault_layer_breaks_the_commit_rule():
    """The proof has teeth: the same cuts on a FileNvm that does not sync lose committed
    records or raise false corruption alarms."""
    failures = 0
    total = _total_calls()
    for cut_at in range(5, total, 7):
        io = VolatileCacheIo(seed=cut_at)
        committed = _run_until_cut(io, cut_at, sync=False)
        try:
            _check(io, committed, "unsynced")
        except (AssertionError, NvmError):
            failures += 1
    assert failures > 0


def test_program_keeps_nor_semantics_on_a_file(tmp_path):
    nvm = FileNvm(tmp_path / "flash.bin", page_size=PAGE, page_count=4)
    assert nvm.read(0, 4) == b"\xff" * 4
    nvm.program(0, b"\x0f\xf0")
    with pytest.raises(NvmProgramError):
        nvm.program(0, b"\xff\xff")                   # 0 -> 1 needs an erase
    nvm.erase(0)
    assert nvm.read(0, 2) == b"\xff\xff" and nvm.erase_count(0) == 1
    nvm.close()
    again = FileNvm(tmp_path / "flash.bin", page_size=PAGE, page_count=4)
    assert again.erase_count(0) == 1 and again.read(0, 2) == b"\xff\xff"


def test_an_image_larger_than_the_board_is_refused(tmp_path):
    (tmp_path / "flash.bin").write_bytes(b"\xff" * (PAGE * 8))
    with pytest.raises(NvmError, match="larger than the board"):
        FileNvm(tmp_path / "flash.bin", page_size=PAGE, page_count=4)
