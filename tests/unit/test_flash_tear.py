"""The NOR bit-level tear model of the emulated flash, and the emulated monotonic counter."""
import pytest

from sumame.drivers.emulated.storage.counter import EmulatedBackupCounter
from sumame.drivers.emulated.storage.flash import EmulatedFlash, nor_tear
from sumame.hal.counter import MonotonicCounter
from sumame.hal.errors import PowerCut


def test_cut_program_clears_a_subset_of_the_bits_it_was_to_clear():
    shapes = set()
    for seed in range(200):
        f = EmulatedFlash(None, page_size=256, page_count=2)
        f.program(0, b"\xf0" * 8)
        data = b"\x30\x50\x90\xa0\x10\x20\x40\x80"
        f.cut_power_at(f.ops + 1, torn=nor_tear(seed))
        with pytest.raises(PowerCut):
            f.program(0, data)
        got = f.read(0, 8)
        for old, new, now in zip(b"\xf0" * 8, data, got):
            assert now & (old & new) == old & new      # bits that stay 1 stay 1
            assert now | old == old                    # nothing was set back to 1
        shapes.add("none" if got == b"\xf0" * 8 else "all" if got == bytes(a & b for a, b in zip(b"\xf0" * 8, data))
                   else "some")
        f.program(0, data)                             # programming the same data again completes it
        assert f.read(0, 8) == bytes(a & b for a, b in zip(b"\xf0" * 8, data))
    assert "some" in shapes


def test_cut_commit_byte_is_left_partly_programmed():
    states = set()
    for seed in range(100):
        f = EmulatedFlash(None, page_size=256, page_count=2)
        f.cut_power_at(1, torn=nor_tear(seed))
        with pytest.raises(PowerCut):
            f.program(10, b"\x00")
        states.add(f.read(10, 1)[0])
    assert len(states - {0x00, 0xFF}) > 20


def test_cut_erase_leaves_a_partly_erased_page():
    f = EmulatedFlash(None, page_size=256, page_count=2)
    f.program(0, bytes(256))
    f.cut_power_at(f.ops + 1, torn=nor_tear(7))
    with pytest.raises(PowerCut):
        f.erase(0)
    page = f.read(0, 256)
    assert page != bytes(256) and page != b"\xff" * 256 and f.erase_count(0) == 1


def test_tear_is_reproducible_from_the_op_log():
    f = EmulatedFlash(None, page_size=256, page_count=2, record_ops=True)
    f.program(0, bytes(range(200)))
    f.cut_power_at(f.ops + 1, torn=nor_tear(99))
    with pytest.raises(PowerCut):
        f.erase(0)
    g = EmulatedFlash(None, page_size=256, page_count=2)
    for op in f.op_log:   # logged as the op, plus its tear when it was cut
        n = 3 if op[0] == "program" else 2
        g.apply(op[:n], torn=op[n] if len(op) > n else None)
    assert g.image() == f.image()


def test_monotonic_counter_never_goes_back_and_persists(tmp_path):
    c = EmulatedBackupCounter(tmp_path / "counter.bin")
    assert isinstance(c, MonotonicCounter) and c.read() == 0
    c.advance_to(5)
    c.advance_to(3)
    assert c.read() == 5
    assert EmulatedBackupCounter(tmp_path / "counter.bin").read() == 5
