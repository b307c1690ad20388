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

from types import MappingProxyType
from typing import Callable

from sumame.drivers import atm90e32_regs as R
from sumame.drivers.atm90e32 import Atm90e32, Atm90e32Config
from sumame.drivers.emulated.metering.atm90e32 import Atm90e32Model, FrontEnd, _clamp16
from sumame.drivers.emulated.profiles import LoadProfile
from sumame.hal.errors import ChipReset
from sumame.hal.metering_asic import AsicStatus, EnergyDelta, Instantaneous

_TOTALS = ("APT", "ANT", "RPT", "RNT")   # forward, reverse, reactive +, reactive − (totals)
_U_LSB = R.U_RMS_LSB_V
_ONE_ELEMENT, _TWO_ELEMENTS = ("R",), ("R", "T")


_WORDS: dict[Atm90e32Config, MappingProxyType] = {}


def _shared_words(config: Atm90e32Config, reference: Atm90e32) -> MappingProxyType:
    """The words ``start()`` writes, read-only and one table per configuration for the whole
    fleet (~630 B each); a few configurations are remembered."""
    try:
        words = _WORDS.get(config)
    except TypeError:                    # an unhashable field: this chip's own table
        return MappingProxyType(reference.configuration())
    if words is None:
        if len(_WORDS) >= 16:
            _WORDS.pop(next(iter(_WORDS)))
        words = _WORDS[config] = MappingProxyType(reference.configuration())
    return words


class HalMeteringAsic(Atm90e32Model):
    """MeteringAsic for fleet boards; the same physics as the register-level chip.

    config: the driver configuration the board would give the real driver (calibration words,
    energy scaling and ``max_poll_interval_s`` are the driver's own).
    """

    bus_errors = 0
    """No bus to fail (the driver's counter of the MeteringAsic contract). A class attribute: past
    CPython's 30 shared keys an instance gets a dict of its own (1.5 KiB per meter), so the chip
    keeps at most 30 instance attributes (test_meter_memory_shape)."""

    def __init__(self, profile: LoadProfile, clock, front_end: FrontEnd, config: Atm90e32Config):
        super().__init__(profile, clock, front_end)
        reference = Atm90e32(None, config)   # the driver's arithmetic, never its bus
        self._config_words = _shared_words(config, reference)
        self._scale = reference._scale
        self._ratio = (reference._num, reference._den)   # LSB totals -> mWh: * num // den
        self.max_poll_interval_s = reference.max_poll_interval_s
        self._totals = [0] * 8   # per total (_TOTALS): LSBs so far [0:4], mWh reported [4:8]
        self._energy_reads = 0
        self._factors: tuple[int, tuple[float, float]] | None = None
        self._alarm_callback: Callable[[], None] | None = None
        self.irq = lambda state0, state1: self.handle_irq()   # the IRQ pin to the handler
        self._volts: tuple | None = None   # (load point, constants, (V_R, V_T)) last read

    @property
    def elements(self) -> tuple[str, ...]:
        """("R",) on a 2-wire board, else ("R", "T"): element C is summed only when the driver's
        MMODE0 word (``config.two_wire``) enables it."""
        return _TWO_ELEMENTS if self._config_words[R.MMODE0] & R.MMODE0_EN["C"] else _ONE_ELEMENT

    def _element_factors(self) -> tuple[float, float]:
        """Calibration factors, recomputed only when the configuration changed."""
        cached = self._factors
        if cached is None or cached[0] != self._config_version:
            cached = self._factors = (self._config_version, super()._element_factors())
        return cached[1]

    # ------------------------------------------------------------------ MeteringAsic
    def start(self) -> None:
        """Reset, calibrate (the board's true constants), enable metering, discard old counts."""
        self._reset(self.clock.now())
        self._energy_reads = 0
        self._regs.update(self._config_words)
        self._regs[R.CFG_REG_ACC_EN] = R.CFG_LOCK
        self._regs[R.METER_EN] = 1
        self._config_version += 1
        self._advance()
        for key in _TOTALS:
            self._acc[key] -= int(self._acc[key])

    def check_configured(self) -> None:
        """ChipReset when the chip lost what ``start()`` set (a power-on reset), as the driver."""
        if self._regs.get(R.METER_EN, 0) != 1 or self._regs.get(R.MMODE0) != self._config_words[R.MMODE0]:
            raise ChipReset("metering chip lost its configuration (power-on reset)")

    def read_energy(self) -> EnergyDelta:
        """Energy since the previous call, exact integers (clear-on-read, 16-bit wrap)."""
        self._energy_reads += 1
        if self._energy_reads % Atm90e32.CHECK_EVERY == 1:
            self.check_configured()
        self._advance()
        return self._take_energy()

    def _take_energy(self) -> EnergyDelta:
        """Clear the all-phase energy registers as a read does; the driver's exact mWh."""
        acc, totals = self._acc, self._totals
        num, den = self._ratio
        values = []
        for i, key in enumerate(_TOTALS):
            lsbs = int(acc[key])
            acc[key] -= lsbs
            totals[i] += lsbs & 0xFFFF
            total = totals[i] * num // den
            values.append(total - totals[i + 4])
            totals[i + 4] = total
        return EnergyDelta(*values)

    def read_energy_voltage(self) -> tuple[EnergyDelta, tuple[float, float | None]]:
        """``(read_energy(), read_voltage())`` in one call, the same values (the metering
        task's poll): one clock read and one metering-enable check for both."""
        self._energy_reads += 1
        if self._energy_reads % Atm90e32.CHECK_EVERY == 1:
            self.check_configured()
        now = self.clock.now()
        metering_on = self._metering_on()
        if now > self._t:
            self._advance_to(now, metering_on)
        delta = self._take_energy()
        if not metering_on or (self.outages and not self.supplied(now)):
            return delta, ((0.0, None) if self.front_end.two_wire else (0.0, 0.0))
        return delta, self._voltage_at(now)

    def read_instantaneous(self) -> Instantaneous:
        """The DSP's measurement registers (the model's own set, computed once) as the driver
        turns them into W, var, V, A and Hz."""
        m = self._compute_all().get
        scale = float(self._scale)
        lsb_w = R.POWER_LSB_W

        def s32(high: int, low: int) -> int:
            return _s32((m(high, 0) << 16) | m(low, 0))

        p_total = s32(R.P_MEAN_T, R.P_MEAN_T_LSB) * lsb_w * scale
        q_total = s32(R.Q_MEAN_T, R.Q_MEAN_T_LSB) * lsb_w * scale
        v_r = m(R.U_RMS["A"], 0) * R.U_RMS_LSB_V
        i_r = m(R.I_RMS["A"], 0) * R.I_RMS_LSB_A * scale
        current_r = -i_r if s32(R.P_MEAN["A"], R.P_MEAN_LSB["A"]) < 0 else i_r
        freq = m(R.FREQ, 0) / 100
        if self.front_end.two_wire:
            voltage, current = (round(v_r, 2), None), (round(current_r, 3), None)
        else:
            v_t = m(R.U_RMS["C"], 0) * R.U_RMS_LSB_V
            i_t = m(R.I_RMS["C"], 0) * R.I_RMS_LSB_A * scale
            p_t = s32(R.P_MEAN["C"], R.P_MEAN_LSB["C"])
            voltage = (round(v_r, 2), round(v_t, 2))
            current = (round(current_r, 3), round(-i_t if p_t < 0 else i_t, 3))
        return Instantaneous(round(p_total, 2), round(q_total, 2), voltage, current, freq)

    def read_voltage(self) -> tuple[float, float | None]:
        """RMS voltage per element (V; None where not wired), as ``read_instantaneous`` gives it:
        the UrmsA / UrmsC registers of the load step now (one profile look-up for both; the
        answer is kept per step and configuration)."""
        now = self.clock.now()
        if not self._metering_on() or not self.supplied(now):
            return (0.0, None) if self.front_end.two_wire else (0.0, 0.0)
        return self._voltage_at(now)

    def _voltage_at(self, now: float) -> tuple[float, float | None]:
        point = self._segment(now)[3]
        consts = self._constants()
        cached = self._volts
        if cached is not None and cached[0] is point and cached[1] is consts:
            return cached[2]
        volts = point.voltage_v
        v_r = round(_clamp16(volts * consts[6] / _U_LSB) * _U_LSB, 2)
        value = (v_r, None) if consts[12] else (v_r, round(_clamp16(volts * consts[7] / _U_LSB) * _U_LSB, 2))
        self._volts = (point, consts, value)
        return value

    def _advance(self) -> None:
        """The register-level chip's integration for what this chip has: the all-phase totals
        (the per-phase energy registers are only reachable over SPI). The same pieces, rates
        and float sums as ``Atm90e32Model._advance``, so the same LSBs; usually one piece."""
        now = self.clock.now()
        if now > self._t:
            self._advance_to(now, self._metering_on())

    def _advance_to(self, now: float, metering_on: bool) -> None:
        t0 = self._t
        self._t = now
        if not metering_on or not self.load_connected():
            return
        if self.outages:
            pieces = self._pieces(t0, now)
        else:
            _, _, end, point = self._segment(t0)
            pieces = ((t0, now, point),) if end >= now else self.profile.segments(t0, now)
        acc, cached, version = self._acc, self._rates, self._config_version
        for a, b, point in pieces:
            if cached is None or cached[0] is not point or cached[1] != version:
                cached = self._rates = self._rates_of(point)
            dt = (b - a) * cached[2]
            (k_p, rate_p), (k_q, rate_q) = cached[3][0], cached[3][1]
            acc[k_p] += rate_p * dt
            acc[k_q] += rate_q * dt

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

    def next_over_current(self, after: float, horizon_s: float = 86400.0) -> float | None:
        """As the register-level chip, but first ask the profile for an upper bound of the
        current over whole days of the horizon (``current_bound``: shared per library day): a
        fleet meter whose load cannot reach OIth skips the minute-by-minute scan. Near the
        threshold (within 1e-9) the exact scan decides, so the answer is the chip's."""
        bound = getattr(self.profile, "current_bound", None)
        if bound is not None and self._regs.get(R.EMM_INT_EN0, 0) & (R.STATE0_OI["A"] | R.STATE0_OI["C"]):
            fe = self.front_end
            mmode1 = self._regs.get(R.MMODE1, 0)
            gain = self._gain(R.I_GAIN["A"], fe.igain_a) * R.pga_of(mmode1, "A")
            if not fe.two_wire:
                gain = max(gain, self._gain(R.I_GAIN["C"], fe.igain_c) * R.pga_of(mmode1, "C"))
            amps = bound(after, after + horizon_s, fe.two_wire) * gain / (fe.current_scale * fe.transformer_ratio)
            if amps < self._regs.get(R.OI_TH, 0xFFFF) * 0.01 * (1 - 1e-9):
                return None
        return super().next_over_current(after, horizon_s)

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
