"""HAL-level emulated metering chip for fleets: the ``MeteringAsic`` contract answered directly
from the load model, with no SPI bus, register map traffic or driver in between.

Fidelity is a board choice (``[asic] driver = "emulated-hal"``). The physics are those of the
register-level model (``atm90e32.Atm90e32Model``: the same load-profile integration, the same
0.01-pulse LSBs from PLconst, the same sub-LSB remainder, the same 16-bit wrap when read too
late, the same DSP quantisation of W / var / V / A), and the conversion to exact mWh is the
driver's (``drivers/atm90e32.py``), so a meter on this chip stores the same interval values as a
meter on the full-fidelity board. What it skips is the cost of reaching the chip: the ~20 SPI
frames per poll, the register dispatch and the configuration read-back.

The object is also the board's ``emulated["chip"]`` (outage injection, IRQ line, relay sync).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

from sumame.drivers import atm90e32_regs as R
from sumame.drivers.emulated.atm90e32 import Atm90e32Model, FrontEnd, _clamp16
from sumame.drivers.emulated.profiles import LoadProfile
from sumame.hal.metering_asic import AsicStatus, EnergyDelta, Instantaneous

_TOTALS = ("APT", "ANT", "RPT", "RNT")   # forward, reverse, reactive +, reactive − (totals)


class HalMeteringAsic(Atm90e32Model):
    """MeteringAsic for fleet boards; the same physics as the register-level chip.

    meter_constant: imp/kWh (board ``[asic] meter_constant``); two_wire: 1φ2W;
    rated_current_a / nominal_voltage_v: bound ``max_poll_interval_s`` like the driver does.
    """

    def __init__(self, profile: LoadProfile, clock, front_end: FrontEnd, *, meter_constant: int,
                 rated_current_a: float, nominal_voltage_v: float, sag_fraction: float = 0.7):
        super().__init__(profile, clock, front_end)
        self.elements = ("R",) if front_end.two_wire else ("R", "T")
        self._config_words = self._calibration(meter_constant, nominal_voltage_v, sag_fraction)
        self._scale = Fraction(front_end.current_scale).limit_denominator(1000)
        mwh_per_lsb = Fraction(10_000, meter_constant) * self._scale
        self._num, self._den = mwh_per_lsb.numerator, mwh_per_lsb.denominator
        self._lsb_totals = [0, 0, 0, 0]
        self._mwh_reported = [0, 0, 0, 0]
        max_w = rated_current_a * nominal_voltage_v * (1 if front_end.two_wire else 2)
        self.max_poll_interval_s = 0xFFFF * float(mwh_per_lsb) / 1000 / max_w * 3600
        self._alarm_callback: Callable[[], None] | None = None
        self.bus_errors = 0
        self.irq = lambda state0, state1: self.handle_irq()   # the IRQ pin to the handler

    def _calibration(self, meter_constant: int, nominal_v: float, sag_fraction: float) -> dict:
        fe = self.front_end
        plc = R.pl_const(meter_constant)
        mmode0 = R.MMODE0_DEFAULT | R.MMODE0_3P3W | (R.MMODE0_FREQ60 if fe.line_frequency_hz == 60 else 0)
        return {R.PL_CONST_H: plc >> 16, R.PL_CONST_L: plc & 0xFFFF, R.MMODE0: mmode0, R.MMODE1: 0,
                R.U_GAIN["A"]: fe.ugain, R.I_GAIN["A"]: fe.igain_a,
                R.U_GAIN["C"]: fe.ugain, R.I_GAIN["C"]: fe.igain_c,
                R.PQ_GAIN["A"]: 0, R.PQ_GAIN["C"]: 0,
                R.SAG_TH: int(nominal_v * sag_fraction / R.U_RMS_LSB_V)}

    # ------------------------------------------------------------------ MeteringAsic
    def start(self) -> None:
        """Reset, calibrate (the board's true constants), enable metering, discard old counts."""
        self._reset(self.clock.now())
        self._regs.update(self._config_words)
        self._regs[R.CFG_REG_ACC_EN] = R.CFG_LOCK
        self._regs[R.METER_EN] = 1
        self._config_version += 1
        self._advance()
        for key in _TOTALS:
            self._acc[key] -= int(self._acc[key])

    def read_energy(self) -> EnergyDelta:
        """Energy since the previous call, exact integers (clear-on-read, 16-bit wrap)."""
        self._advance()
        acc, totals, reported = self._acc, self._lsb_totals, self._mwh_reported
        num, den = self._num, self._den
        values = []
        for i, key in enumerate(_TOTALS):
            lsbs = int(acc[key])
            acc[key] -= lsbs
            totals[i] += lsbs & 0xFFFF
            total = totals[i] * num // den
            values.append(total - reported[i])
            reported[i] = total
        return EnergyDelta(*values)

    def read_instantaneous(self) -> Instantaneous:
        """The DSP's values (quantised to the chip's register LSBs), computed from the load."""
        scale = float(self._scale)
        point = self._point_now()
        if point is None:   # no voltage / metering off: every measurement register reads 0
            zero = (0.0, None) if self.front_end.two_wire else (0.0, 0.0)
            return Instantaneous(0.0, 0.0, zero, zero, 0.0)
        fe = self.front_end
        ka, kc = self._element_factors()
        pa, pc, qa, qc = self._split(point)
        pa, pc, qa, qc = pa * ka, pc * kc, qa * ka, qc * kc
        lsb_w = R.POWER_LSB_W
        p_total = _s32(int(round((pa + pc) / lsb_w))) * lsb_w * scale
        q_total = _s32(int(round((qa + qc) / lsb_w))) * lsb_w * scale
        v_r = _clamp16(point.voltage_v * self._gain(R.U_GAIN["A"], fe.ugain) / R.U_RMS_LSB_V) * R.U_RMS_LSB_V
        i_r = _clamp16(self._irms(True, point) / R.I_RMS_LSB_A) * R.I_RMS_LSB_A * scale
        current_r = -i_r if _s32(int(round(pa / lsb_w))) < 0 else i_r
        freq = int(round(fe.line_frequency_hz * 100)) / 100
        if fe.two_wire:
            voltage, current = (round(v_r, 2), None), (round(current_r, 3), None)
        else:
            v_t = _clamp16(point.voltage_v * self._gain(R.U_GAIN["C"], fe.ugain) / R.U_RMS_LSB_V) * R.U_RMS_LSB_V
            i_t = _clamp16(self._irms(False, point) / R.I_RMS_LSB_A) * R.I_RMS_LSB_A * scale
            p_t = _s32(int(round(pc / lsb_w)))
            voltage = (round(v_r, 2), round(v_t, 2))
            current = (round(current_r, 3), round(-i_t if p_t < 0 else i_t, 3))
        return Instantaneous(round(p_total, 2), round(q_total, 2), voltage, current, freq)

    def read_status(self) -> AsicStatus:
        self._update_alarms(self.clock.now())
        s0, s1 = self._regs.get(R.EMM_STATE0, 0), self._regs.get(R.EMM_STATE1, 0)
        return AsicStatus(sag=bool(s1 & R.STATE1_SAG["A"]), phase_loss=bool(s1 & R.STATE1_PHASE_LOSS["A"]),
                          over_current=bool(s0 & (R.STATE0_OI["A"] | R.STATE0_OI["C"])))

    def set_current_alarm(self, threshold_a: float | None,
                          callback: Callable[[], None] | None = None) -> None:
        """Over-current threshold (A per element) and its interrupt; None disables it."""
        self._alarm_callback = callback
        self._advance()
        if threshold_a is None:
            self._regs[R.OI_TH], self._regs[R.EMM_INT_EN0] = 0xFFFF, 0
        else:
            counts = int(threshold_a / float(self._scale) / 0.01)
            self._regs[R.OI_TH] = max(0, min(0xFFFE, counts))
            self._regs[R.EMM_INT_EN0] = R.STATE0_OI["A"] | R.STATE0_OI["C"]
        self._config_version += 1
        if self.on_config_change is not None:
            self.on_config_change()

    def handle_irq(self) -> None:
        """Read and clear the interrupt status, then tell the firmware."""
        s0 = self._regs.get(R.EMM_INT_STATE0, 0)
        s1 = self._regs.get(R.EMM_INT_STATE1, 0)
        self._regs[R.EMM_INT_STATE0] = 0
        self._regs[R.EMM_INT_STATE1] = 0
        if self._alarm_callback is not None:
            self._alarm_callback()


def _s32(raw: int) -> int:
    """A value as the chip's signed 32-bit register pair holds it."""
    raw &= 0xFFFFFFFF
    return raw - (1 << 32) if raw & 0x80000000 else raw
