"""Emulated NOR flash: program/erase semantics, wear, torn operations, damaged images."""
import pytest

from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.hal import Nvm
from sumame.hal.errors import NvmAddressError, NvmProgramError, NvmWornOut, PowerCut


def test_is_an_nvm():
    assert isinstance(EmulatedFlash(None, page_size=256, page_count=4), Nvm)


def test_program_only_clears_bits():
    f = EmulatedFlash(None, page_size=256, page_count=4)
    f.program(10, b"\x0f")
    f.program(10, b"\x0e")  # 1 -> 0 only: fine
    assert f.read(10, 1) == b"\x0e"
    with pytest.raises(NvmProgramError):
        f.program(10, b"\xff")
    f.erase(0)
    assert f.read(10, 1) == b"\xff" and f.erase_count(0) == 1


def test_program_may_not_cross_a_page():
    f = EmulatedFlash(None, page_size=256, page_count=4)
    with pytest.raises(NvmAddressError, match="crosses a page"):
        f.program(250, bytes(10))
    with pytest.raises(NvmAddressError):
        f.read(1024, 1)


def test_endurance_limit():
    f = EmulatedFlash(None, page_size=256, page_count=2, endurance=3)
    for _ in range(3):
        f.erase(1)
    with pytest.raises(NvmWornOut):
        f.erase(1)


def test_torn_program_and_erase():
    f = EmulatedFlash(None, page_size=256, page_count=2)
    f.cut_power_at(1, torn=0.5)
    with pytest.raises(PowerCut):
        f.program(0, bytes(8))
    assert f.read(0, 8) == bytes(4) + b"\xff" * 4
    f.program(100, bytes(16))
    f.cut_power_at(f.ops + 1, torn=0.25)
    with pytest.raises(PowerCut):
        f.erase(0)
    assert f.read(0, 64) == b"\xff" * 64 and f.read(100, 16) == bytes(16)


def test_image_and_wear_persist_in_files(tmp_path):
    path = tmp_path / "flash.bin"
    f = EmulatedFlash(path, page_size=256, page_count=4)
    f.program(300, b"meter")
    f.erase(2)
    f.close()
    g = EmulatedFlash(path, page_size=256, page_count=4)
    assert g.read(300, 5) == b"meter" and g.erase_count(2) == 1 and not g.warnings
    assert path.stat().st_size == 1024


def test_truncated_image_is_reported_and_padded(tmp_path):
    path = tmp_path / "flash.bin"
    f = EmulatedFlash(path, page_size=256, page_count=4)
    f.program(10, b"keep")
    f.close()
    with open(path, "r+b") as fh:
        fh.truncate(300)
    g = EmulatedFlash(path, page_size=256, page_count=4)
    assert g.read(10, 4) == b"keep" and g.read(300, 10) == b"\xff" * 10
    assert "truncated" in g.warnings[0] and str(path) in g.warnings[0]


def test_op_log_replays_to_the_same_image():
    f = EmulatedFlash(None, page_size=256, page_count=4, record_ops=True)
    f.program(0, b"\x01\x02")
    f.erase(1)
    f.program(300, b"\x00")
    g = EmulatedFlash(None, page_size=256, page_count=4)
    for op in f.op_log:
        g.apply(op)
    assert g.image() == f.image()
