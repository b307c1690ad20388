"""Review: the fleet chip's ``elements`` (now read from the driver's MMODE0 word) equals the
full driver's for every wiring (1p2w: R only)."""
import pytest

from sumame.boards import load_board
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.jst import parse_jst

START = parse_jst("2026-04-02T05:00")


@pytest.mark.parametrize("wiring,want", [("1p2w", ("R",)), ("1p3w", ("R", "T")), ("3p3w", ("R", "T"))])
def test_fleet_chip_elements_follow_the_wiring(wiring, want):
    got = []
    for name in ("emulated-lv", "emulated-lv-fleet"):
        built = load_board(name, {"meter": {"wiring": wiring}}).build(VirtualClock(START), None)
        got.append((type(built.hardware.asic).__name__, built.hardware.asic.elements))
    assert got == [("Atm90e32", want), ("HalMeteringAsic", want)]
