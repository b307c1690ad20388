"""The emulated NOR flash's plain program path (nothing logging, no cut armed, nothing
observing) against the full operation path: random programs — legal ones, 0 -> 1 ones, out of
range, across a page, empty — and erases give the same image, the same operation count and
the same errors; an armed cut or an observer still takes the full path."""
import random

import pytest

from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.hal.errors import NvmAddressError, NvmProgramError, PowerCut


def _pair():
    return (EmulatedFlash(None, page_size=256, page_count=4),
            EmulatedFlash(None, page_size=256, page_count=4, record_ops=True))


def _outcome(flash, op, *args):
    try:
        getattr(flash, op)(*args)
        return None
    except Exception as exc:  # noqa: BLE001 - compared between the two paths
        return type(exc).__name__, str(exc)


def test_plain_programs_match_the_full_path():
    rng = random.Random(7)
    for _ in range(40):
        fast, full = _pair()
        for _ in range(60):
            if rng.random() < 0.1:
                page = rng.randrange(4)
                assert _outcome(fast, "erase", page) == _outcome(full, "erase", page)
                continue
            offset = rng.randrange(-3, 4 * 256 + 3)
            n = rng.choice([0, 1, 2, 5, 17, 256, rng.randrange(300)])
            data = bytes(rng.randrange(256) for _ in range(n))
            if rng.random() < 0.5 and 0 <= offset and offset + n <= fast.size:
                data = bytes(a & b for a, b in zip(fast.read(offset, n), data))   # legal
            assert _outcome(fast, "program", offset, data) == _outcome(full, "program", offset, data)
            assert fast.image() == full.image() and fast.ops == full.ops


def test_the_plain_path_keeps_the_nor_rule_and_the_supply():
    flash = EmulatedFlash(None, page_size=256, page_count=2)
    flash.program(10, b"\x0f")
    with pytest.raises(NvmProgramError):
        flash.program(10, b"\xf0")          # 0 -> 1 needs an erase
    assert flash.read(10, 1) == b"\x0f" and flash.ops == 1
    for offset, data in ((250, b"\x00" * 8), (-1, b"\x00"), (flash.size - 1, b"\x00\x00")):
        with pytest.raises(NvmAddressError):   # across a page, before the start, past the end
            flash.program(offset, data)
    assert flash.image().count(0xFF) == flash.size - 1 and flash.ops == 1
    flash.powered = lambda: False
    with pytest.raises(PowerCut):
        flash.program(20, b"\x00")
    assert flash.read(20, 1) == b"\xff" and flash.ops == 1


def test_a_cut_armed_between_programs_tears_the_next_one():
    flash = EmulatedFlash(None, page_size=256, page_count=2)
    flash.program(0, b"\x00" * 4)
    flash.cut_power_at(flash.ops + 1, torn=0.5)
    with pytest.raises(PowerCut):
        flash.program(16, b"\x00" * 8)
    assert flash.read(16, 8) == b"\x00" * 4 + b"\xff" * 4
    seen = []
    apply = flash.apply
    flash.apply = lambda op, torn=None: (seen.append(op[0]), apply(op, torn))
    flash.program(32, b"\x00")
    assert seen == ["program"] and flash.read(32, 1) == b"\x00"
