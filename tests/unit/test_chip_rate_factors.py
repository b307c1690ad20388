"""The chip's per-point energy rates (``Atm90e32Model._rates_of``, the factors cached once per
configuration) equal the definition spelled out from ``_split``, ``_element_factors``,
``_summed`` and ``_lsb_wh`` — per phase (APA/APC..., which the register-level chip serves over
SPI), for imports and exports, three-wire (LV) and two-wire (HV) front ends — and follow a
calibration written between two reads (no stale factors)."""
import pytest

from sumame.boards import load_board
from sumame.drivers import atm90e32_regs as R
from sumame.drivers.emulated.profiles import LoadPoint
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.jst import parse_jst

START = parse_jst("2026-04-02T05:00")
POINTS = [LoadPoint(1234.5, 321.0, 101.0, 0.7), LoadPoint(-800.25, -75.5, 99.0, 0.2),
          LoadPoint(50.0, -20.0, 100.0, 1.3), LoadPoint(0.0, 0.0, 100.0, 0.5)]


def _definition(chip, point):
    ka, kc = chip._element_factors()
    sum_a, sum_c = chip._summed()
    pa, pc, qa, qc = chip._split(point)
    pa, pc, qa, qc = pa * ka, pc * kc, qa * ka, qc * kc
    p, q = pa * sum_a + pc * sum_c, qa * sum_a + qc * sum_c
    rates = (("APT", p) if p >= 0 else ("ANT", -p), ("RPT", q) if q >= 0 else ("RNT", -q),
             ("APA" if pa >= 0 else "ANA", abs(pa)), ("APC" if pc >= 0 else "ANC", abs(pc)))
    return 1.0 / (3600.0 * chip._lsb_wh()), rates


def _chip(board):
    clock = VirtualClock(START)
    built = load_board(board).build(clock, None)
    built.hardware.asic.start()
    return built.emulated["chip"]


@pytest.mark.parametrize("board", ["emulated-lv", "emulated-hv", "emulated-lv-fleet", "emulated-hv-fleet"])
def test_rates_equal_the_definition_per_phase(board):
    chip = _chip(board)
    for point in POINTS:
        _, _, to_lsb, rates = chip._rates_of(point)
        assert (to_lsb, rates) == _definition(chip, point)


@pytest.mark.parametrize("board", ["emulated-lv", "emulated-hv"])
def test_rates_follow_a_calibration_written_between_reads(board):
    chip = _chip(board)
    before = chip._rates_of(POINTS[0])[3]
    chip._write(R.CFG_REG_ACC_EN, R.CFG_UNLOCK)
    chip._write(R.PQ_GAIN["A"], 0x0800)            # +6.25 % on element A
    chip._write(R.CFG_REG_ACC_EN, R.CFG_LOCK)
    after = chip._rates_of(POINTS[0])
    assert after[3] != before
    assert (after[2], after[3]) == _definition(chip, POINTS[0])
