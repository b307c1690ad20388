"""Register-level model of the ATM90E32AS metering IC, reached over a fake SPI bus.

Why this chip: the Japanese LV supply is single-phase three-wire (100/200 V, two line currents
R and T) and the HV meter measures 3φ3W through a VT/CT with two elements; the ATM90E32 is a
poly-phase chip that meters exactly that topology on its A and C channels (the split-phase
boards built on it do the same for 120/240 V), keeps forward and reverse active and reactive
energy apart per phase and in total, and is the chip open Raspberry Pi energy HATs use. An
ADE7953 has one voltage channel, so it cannot meter an unbalanced 1φ3W load correctly.

Modelled behaviour
* SPI frame: address word (bit 15 = read) then data word; ``LastSPIData`` echoes the last word.
* ``SoftReset`` (0x789A) restores defaults; configuration and calibration registers only accept
  writes while ``CfgRegAccEn`` = 0x55AA; metering runs only with ``MeterEn`` = 1.
* Energy registers count 0.01 CF pulse per LSB (pulse size from PLconst: MC = 4.5e11/PLconst),
  are **cleared when read**, keep the sub-LSB remainder internally, and **wrap at 16 bits** when
  not read in time (energy lost, as on the real part).
* Measurements follow the calibration the driver writes: readings scale with
  Ugain/Igain/PQGain relative to the board's true calibration constants, so a wrong calibration
  gives wrong readings.
* ``OIth`` over-current threshold (this model: 1 LSB = 10 mA) sets EMMState0/EMMIntState0
  over-current bits and raises the IRQ callback; ``SagTh`` sets the sag bits, compared as the
  datasheet does (voltage peak scaled by Ugain: SagTh = V x 100 x sqrt(2) / (2 Ugain / 32768)).
* ``MMode0`` EnPA/EnPB/EnPC pick the phases summed into the totals; ``MMode1`` sets the PGA
  gain of each current channel (readings scale with it until Igain is recalibrated).
* ``current_scale``: the analog front end divides currents by this factor (a meter rated 120 A
  on a chip whose Irms register tops out at 65.535 A); the driver multiplies back.

Physics come from a LoadProfile, integrated exactly over the clock's time (see profiles.py).
Fault injection: ``outage(start, end)`` (no voltage, no load), ``freeze`` (DSP stops),
``power_on_reset()`` (the chip resets and forgets its configuration).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from sumame.drivers import atm90e32_regs as R
from sumame.drivers.emulated.profiles import LoadPoint, LoadProfile, ProfileError

_ADDRESS_MASK, _READ_FLAG, _LAST_SPI_DATA = R.ADDRESS_MASK, R.READ_FLAG, R.LAST_SPI_DATA
_P_MEAN_A, _P_MEAN_A_LSB = R.P_MEAN["A"], R.P_MEAN_LSB["A"]
_P_MEAN_C, _P_MEAN_C_LSB = R.P_MEAN["C"], R.P_MEAN_LSB["C"]
_U_RMS_A, _U_RMS_C, _I_RMS_A, _I_RMS_C = R.U_RMS["A"], R.U_RMS["C"], R.I_RMS["A"], R.I_RMS["C"]
_ENERGY_KEYS = ("APT", "ANT", "RPT", "RNT", "APA", "APC", "ANA", "ANC")
_ENERGY_ADDR = {R.AP_ENERGY_T: "APT", R.AN_ENERGY_T: "ANT", R.RP_ENERGY_T: "RPT",
                R.RN_ENERGY_T: "RNT", R.AP_ENERGY["A"]: "APA", R.AP_ENERGY["C"]: "APC",
                R.AN_ENERGY["A"]: "ANA", R.AN_ENERGY["C"]: "ANC"}


@dataclass(frozen=True)
class FrontEnd:
    """The board's analog front end: the calibration constants that make readings true.

    ugain / igain_a / igain_c: the gain register values at which this board reads correctly
    current_scale: current divider of the front end (see module docstring)
    line_frequency_hz: 50 (east Japan) or 60 (west Japan)
    two_wire: single-phase 2-wire: all load on element A, nothing wired to C
    transformer_ratio: VT x CT ratio of an HV installation: the profile gives primary-side
                       watts, the chip sees them divided by this ratio (1 on direct LV meters)
    """

    ugain: int = 0x7EAC
    igain_a: int = 0xB5CB
    igain_c: int = 0xB5CB
    current_scale: float = 2.0
    line_frequency_hz: float = 50.0
    two_wire: bool = False
    transformer_ratio: float = 1.0


class Atm90e32Model:
    """The chip. ``transfer(bytes) -> bytes`` is its SPI pins; ``clock.now()`` its time base."""

    def __init__(self, profile: LoadProfile, clock, front_end: FrontEnd = FrontEnd(),
                 load_connected: Callable[[], bool] = lambda: True):
        self.profile = profile
        self.clock = clock
        self.front_end = front_end
        self.load_connected = load_connected
        """False while the meter's switch is open: no current flows, the voltage (line side)
        is still measured. Call ``sync()`` just before it changes."""
        self.on_config_change: Callable[[], None] | None = None
        """Called when a register that affects alarms changes (the emulated IRQ line re-plans)."""
        self.irq: Callable[[int, int], None] | None = None
        """Called (EMMIntState0, EMMIntState1) when an enabled alarm becomes active."""
        self.outages: list[tuple[float, float]] = []
        self.frozen = False
        self._reset(clock.now())

    # ------------------------------------------------------------------ bus side
    def transfer(self, data: bytes) -> bytes:
        if len(data) != 4:
            return bytes(len(data))  # not a 32-bit frame: the chip ignores it
        word = (data[0] << 8) | data[1]
        address = word & _ADDRESS_MASK
        if word & _READ_FLAG:
            if 0xB0 <= address <= 0xFF:   # measurement registers (the common read)
                value = self._measurement(address) & 0xFFFF
            else:
                value = self._read(address) & 0xFFFF
        else:
            value = (data[2] << 8) | data[3]
            self._write(address, value)
        self._regs[_LAST_SPI_DATA] = value
        return bytes((0, 0, value >> 8, value & 0xFF))

    # ------------------------------------------------------------------ fault injection
    def outage(self, start: float, end: float) -> None:
        """No supply voltage (and so no load) on every element from ``start`` to ``end``."""
        self.outages.append((start, end))
        self.outages.sort()
        self._config_version += 1

    def power_on_reset(self) -> None:
        """The chip resets (supply dip on its 3.3 V rail, reset pin, ESD): every register back to
        its power-on default, metering off until the host configures it again."""
        self._advance()
        self._reset(self.clock.now())

    def supplied(self, t: float) -> bool:
        if not self.outages:
            return True
        return not any(a <= t < b for a, b in self.outages)

    # ------------------------------------------------------------------ internals
    def _reset(self, now: float) -> None:
        self._regs: dict[int, int] = {
            R.MMODE0: R.MMODE0_DEFAULT, R.MMODE1: 0,
            R.PL_CONST_H: 0x0861, R.PL_CONST_L: 0xC468,
            R.SAG_TH: 0, R.OI_TH: 0xFFFF, R.CFG_REG_ACC_EN: 0,
        }
        for phase in "ABC":
            self._regs[R.U_GAIN[phase]] = 0
            self._regs[R.I_GAIN[phase]] = 0
            self._regs[R.PQ_GAIN[phase]] = 0
        self._acc = dict.fromkeys(_ENERGY_KEYS, 0.0)
        self._t = now
        self._measured = None
        self._factors = None
        self._consts = None
        self._last_compute = None
        self._rates = None
        self._rate_k = None
        self._segment_cache = None
        self._config_version = getattr(self, "_config_version", 0) + 1
        self._alarms0 = 0
        self._alarms1 = 0

    def _write(self, address: int, value: int) -> None:
        if address == R.SOFT_RESET:
            if value == R.SOFT_RESET_KEY:
                self._reset(self.clock.now())
            return
        if address == R.CFG_REG_ACC_EN or address == R.METER_EN:
            self._advance()
            self._regs[address] = value
            self._config_version += 1
            return
        if address in (R.EMM_INT_STATE0, R.EMM_INT_STATE1):
            self._regs[address] = self._regs.get(address, 0) & ~value  # write 1 to clear
            return
        if address in (R.EMM_INT_EN0, R.EMM_INT_EN1):
            self._regs[address] = value
            if self.on_config_change is not None:
                self.on_config_change()
            return
        if address in R.CONFIG_RANGE:
            if self._regs.get(R.CFG_REG_ACC_EN) == R.CFG_UNLOCK:
                self._advance()
                self._regs[address] = value
                self._config_version += 1
                if address == R.OI_TH and self.on_config_change is not None:
                    self.on_config_change()
            return
        # measurement registers are read-only: writes are ignored

    def _read(self, address: int) -> int:
        if address in R.ENERGY_REGISTERS:
            self._advance()
            key = _ENERGY_ADDR.get(address)
            if key is None:
                return 0
            lsbs = int(self._acc[key])
            self._acc[key] -= lsbs
            return lsbs  # masked to 16 bits by transfer(): wraps when read too late
        if address == R.EMM_STATE0 or address == R.EMM_STATE1 or address in (
                R.EMM_INT_STATE0, R.EMM_INT_STATE1):
            self._update_alarms(self.clock.now())
            return self._regs.get(address, 0)
        if 0xB0 <= address <= 0xFF:
            return self._measurement(address)
        return self._regs.get(address, 0)

    # ------------------------------------------------------------------ physics
    def _metering_on(self) -> bool:
        return self._regs.get(R.METER_EN, 0) & 1 == 1 and not self.frozen

    def _gain(self, reg: int, true_value: int) -> float:
        return self._regs.get(reg, 0) / true_value if true_value else 0.0

    def _element_factors(self) -> tuple[float, float]:
        """Power/energy scale of elements A and C from the written calibration (computed once
        per configuration: every register write that can change it bumps ``_config_version``)."""
        cached = self._factors
        if cached is not None and cached[0] == self._config_version:
            return cached[1]
        factors = self._compute_element_factors()
        self._factors = (self._config_version, factors)
        return factors

    def _compute_element_factors(self) -> tuple[float, float]:
        fe = self.front_end
        ku = self._gain(R.U_GAIN["A"], fe.ugain)
        ka = ku * self._gain(R.I_GAIN["A"], fe.igain_a) * (1 + _s16(self._regs.get(R.PQ_GAIN["A"], 0)) / 32768)
        kuc = self._gain(R.U_GAIN["C"], fe.ugain)
        kc = kuc * self._gain(R.I_GAIN["C"], fe.igain_c) * (1 + _s16(self._regs.get(R.PQ_GAIN["C"], 0)) / 32768)
        mmode1 = self._regs.get(R.MMODE1, 0)   # the PGA amplifies each current channel
        return ka * R.pga_of(mmode1, "A"), kc * R.pga_of(mmode1, "C")

    def _summed(self) -> tuple[int, int]:
        """MMode0 EnPA / EnPC: 1 where that phase is part of the all-phase totals, else 0 (the
        per-phase registers measure it either way)."""
        mmode0 = self._regs.get(R.MMODE0, 0)
        return (1 if mmode0 & R.MMODE0_EN["A"] else 0), (1 if mmode0 & R.MMODE0_EN["C"] else 0)

    def _split(self, p: LoadPoint) -> tuple[float, float, float, float]:
        """(P_A, P_C, Q_A, Q_C) seen by the chip (front-end current scale applied), W / var."""
        s = 1.0 / (self.front_end.current_scale * self.front_end.transformer_ratio)
        if self.front_end.two_wire:
            return p.power_w * s, 0.0, p.reactive_var * s, 0.0
        r = p.r_share
        return (p.power_w * r * s, p.power_w * (1 - r) * s,
                p.reactive_var * r * s, p.reactive_var * (1 - r) * s)

    def _lsb_wh(self) -> float:
        plconst = (self._regs.get(R.PL_CONST_H, 0) << 16) | self._regs.get(R.PL_CONST_L, 0)
        mc = R.PL_CONST_SCALE / plconst if plconst else 3200.0
        return 10.0 / mc  # 0.01 pulse = 0.01/MC kWh

    def _advance(self) -> None:
        """Integrate energy from the last update to now into the accumulators."""
        now = self.clock.now()
        if now <= self._t:
            return
        t0, self._t = self._t, now
        if not self._metering_on():
            return
        if not self.load_connected():
            return
        acc = self._acc
        if self.outages:
            pieces = self._pieces(t0, now)
        else:
            _, _, end, point = self._segment(t0)
            pieces = ((t0, now, point),) if end >= now else self.profile.segments(t0, now)
        cached = self._rates
        for a, b, point in pieces:
            if cached is None or cached[0] is not point or cached[1] != self._config_version:
                cached = self._rates = self._rates_of(point)
            dt = (b - a) * cached[2]
            for key, rate in cached[3]:
                acc[key] += rate * dt

    def _rates_of(self, point: LoadPoint) -> tuple:
        """(point, configuration, LSB per Ws, ((accumulator, LSB/s before the time factor), ...))
        for one operating point: what ``_advance`` adds per second of it. ``acc -= p * dt`` of an
        export equals ``acc += (-p) * dt`` bit for bit: the sums are those of the per-piece
        formula, computed once per point instead of once per read (the configuration's factors
        once per configuration: ``_rate_factors``; ``_split``'s arithmetic inline)."""
        version = self._config_version
        k = self._rate_k
        if k is None or k[0] != version:
            k = self._rate_k = self._rate_factors()
        _, ka, kc, sum_a, sum_c, to_lsb, s, two_wire = k
        if two_wire:
            pa, pc, qa, qc = point.power_w * s, 0.0, point.reactive_var * s, 0.0
        else:
            r, w, var = point.r_share, point.power_w, point.reactive_var
            pa, pc, qa, qc = w * r * s, w * (1 - r) * s, var * r * s, var * (1 - r) * s
        pa, pc, qa, qc = pa * ka, pc * kc, qa * ka, qc * kc
        p, q = pa * sum_a + pc * sum_c, qa * sum_a + qc * sum_c  # MMode0 arithmetic sum
        rates = (("APT", p) if p >= 0 else ("ANT", -p), ("RPT", q) if q >= 0 else ("RNT", -q),
                 ("APA" if pa >= 0 else "ANA", abs(pa)), ("APC" if pc >= 0 else "ANC", abs(pc)))
        return point, version, to_lsb, rates

    def _rate_factors(self) -> tuple:
        """(configuration, ka, kc, sum_a, sum_c, LSB per Ws, front-end current factor, two-wire):
        what ``_rates_of`` needs besides the point, from ``_element_factors``, ``_summed``,
        ``_lsb_wh`` and ``_split`` (the same expressions)."""
        ka, kc = self._element_factors()
        sum_a, sum_c = self._summed()
        fe = self.front_end
        return (self._config_version, ka, kc, sum_a, sum_c, 1.0 / (3600.0 * self._lsb_wh()),
                1.0 / (fe.current_scale * fe.transformer_ratio), fe.two_wire)

    def _pieces(self, t0: float, t1: float):
        """Profile segments with outage spans removed."""
        for a, b, point in self.profile.segments(t0, t1):
            for oa, ob in self.outages:
                if ob <= a or oa >= b:
                    continue
                if oa > a:
                    yield a, oa, point
                a = min(ob, b)
            if a < b:
                yield a, b, point

    def _segment(self, t: float) -> tuple:
        """(profile, start, end, point) of the load step holding ``t``. The last one is kept
        for a profile with ``fixed_steps`` (a pure step function of time: the same step answers
        every time in it; another profile object is another function)."""
        seg = self._segment_cache
        profile = self.profile
        if seg is not None and seg[0] is profile and seg[1] <= t < seg[2] and profile.fixed_steps:
            return seg
        start, end, point = profile._step(t)
        if not end > t:   # as LoadProfile.segments: a step must end after the time asked for
            raise ProfileError(f"load profile {profile.name}: the step at {t!r} ends at {end!r}, "
                               f"not after it (step times must be absolute epoch s)")
        seg = self._segment_cache = (profile, start, end, point)
        return seg

    def _point_now(self) -> LoadPoint | None:
        now = self.clock.now()
        if not self._metering_on() or not self.supplied(now):
            return None
        point = self._segment(now)[3]
        if not self.load_connected():
            return LoadPoint(0.0, 0.0, point.voltage_v, point.r_share)
        return point

    def sync(self) -> None:
        """Integrate energy up to now (before the load's connection changes)."""
        self._advance()
        self._measured = None
        if self.on_config_change is not None:
            self.on_config_change()

    def _measurement(self, address: int) -> int:
        """Measurement registers: the DSP updates them together, so they are computed once
        per instant (and per configuration) and then served from that set."""
        now = self.clock.now()
        cache = self._measured
        if cache is None or cache[0] != now or cache[1] != self._config_version:
            if address == _U_RMS_A or address == _U_RMS_C:
                return self._voltage_register(address)   # the same value, without the rest
            cache = self._measured = (now, self._config_version, self._compute_all())
        return cache[2].get(address, 0)

    def _voltage_register(self, address: int) -> int:
        """UrmsA / UrmsC now, as ``_compute_all`` computes them (a poll that reads only the
        voltage does not pay for the power and current registers)."""
        point = self._point_now()
        if point is None:
            return 0
        consts = self._constants()
        if address == _U_RMS_A:
            return _clamp16(point.voltage_v * consts[6] / R.U_RMS_LSB_V)
        return 0 if consts[12] else _clamp16(point.voltage_v * consts[7] / R.U_RMS_LSB_V)

    def _constants(self) -> tuple:
        """Per-configuration factors of the measurement registers (same arithmetic as
        ``_element_factors``, ``_split``, ``_gain`` and ``_irms``; recomputed when
        ``_config_version`` changes)."""
        cached = self._consts
        if cached is not None and cached[0] == self._config_version:
            return cached
        fe = self.front_end
        ka, kc = self._element_factors()
        sum_a, sum_c = self._summed()
        mmode1 = self._regs.get(R.MMODE1, 0)
        cached = self._consts = (
            self._config_version, ka, kc, sum_a, sum_c,
            1.0 / (fe.current_scale * fe.transformer_ratio),
            self._gain(R.U_GAIN["A"], fe.ugain), self._gain(R.U_GAIN["C"], fe.ugain),
            self._gain(R.I_GAIN["A"], fe.igain_a), self._gain(R.I_GAIN["C"], fe.igain_c),
            R.pga_of(mmode1, "A"), R.pga_of(mmode1, "C"), fe.two_wire,
            int(round(fe.line_frequency_hz * 100)))
        return cached

    def _compute_all(self) -> dict[int, int]:
        point = self._point_now()
        if point is None:
            return {}
        consts = self._constants()
        last = self._last_compute
        if last is not None and last[0] is point and last[1] is consts:
            return last[2]   # same operating point, same configuration: same registers
        _, ka, kc, sum_a, sum_c, s, gua, guc, gia, gic, pga_a, pga_c, two_wire, freq = consts
        if two_wire:
            spa, spc, sqa, sqc = point.power_w * s, 0.0, point.reactive_var * s, 0.0
        else:
            r = point.r_share
            spa, spc = point.power_w * r * s, point.power_w * (1 - r) * s
            spa_q = point.reactive_var
            sqa, sqc = spa_q * r * s, spa_q * (1 - r) * s
        pa, pc, qa, qc = spa * ka, spc * kc, sqa * ka, sqc * kc
        lsb = R.POWER_LSB_W
        values: dict[int, int] = {}
        for high, low, watts in ((R.P_MEAN_T, R.P_MEAN_T_LSB, pa * sum_a + pc * sum_c),
                                 (_P_MEAN_A, _P_MEAN_A_LSB, pa),
                                 (_P_MEAN_C, _P_MEAN_C_LSB, pc),
                                 (R.Q_MEAN_T, R.Q_MEAN_T_LSB, qa * sum_a + qc * sum_c)):
            raw = int(round(watts / lsb)) & 0xFFFFFFFF
            values[high], values[low] = raw >> 16, raw & 0xFFFF
        volts = point.voltage_v
        values[_U_RMS_A] = _clamp16(volts * gua / R.U_RMS_LSB_V)
        if not two_wire:
            values[_U_RMS_C] = _clamp16(volts * guc / R.U_RMS_LSB_V)
        div = max(volts, 1e-6)
        values[_I_RMS_A] = _clamp16(math.hypot(spa, sqa) / div * gia * pga_a / R.I_RMS_LSB_A)
        values[_I_RMS_C] = _clamp16((0.0 if two_wire else math.hypot(spc, sqc) / div * gic * pga_c)
                                    / R.I_RMS_LSB_A)
        values[R.FREQ] = freq
        values[R.TEMP] = 25
        self._last_compute = (point, consts, values)
        return values

    def _irms(self, element_a: bool, point: LoadPoint) -> float:
        """RMS current the chip reads on element A or C, A (after the front-end divider)."""
        fe = self.front_end
        pa, pc, qa, qc = self._split(point)
        p, q = (pa, qa) if element_a else (pc, qc)
        if not element_a and fe.two_wire:
            return 0.0
        volts = max(point.voltage_v, 1e-6)
        phase = "A" if element_a else "C"
        gain = self._gain(R.I_GAIN[phase], fe.igain_a if element_a else fe.igain_c)
        return math.hypot(p, q) / volts * gain * R.pga_of(self._regs.get(R.MMODE1, 0), phase)

    def _irms_of(self) -> Callable[[LoadPoint], tuple[float, float]]:
        """``point -> (_irms(True, point), _irms(False, point))`` with the configuration's
        factors looked up once (the same operations in the same order: the same floats), for
        the scans over a day of load steps."""
        fe = self.front_end
        s = 1.0 / (fe.current_scale * fe.transformer_ratio)
        mmode1 = self._regs.get(R.MMODE1, 0)
        k_a = self._gain(R.I_GAIN["A"], fe.igain_a)
        k_c = self._gain(R.I_GAIN["C"], fe.igain_c)
        pga_a, pga_c = R.pga_of(mmode1, "A"), R.pga_of(mmode1, "C")
        hypot = math.hypot

        if fe.two_wire:
            def irms(point: LoadPoint) -> tuple[float, float]:
                volts = max(point.voltage_v, 1e-6)
                return hypot(point.power_w * s, point.reactive_var * s) / volts * k_a * pga_a, 0.0
            return irms

        def irms(point: LoadPoint) -> tuple[float, float]:
            r, w, var = point.r_share, point.power_w, point.reactive_var
            volts = max(point.voltage_v, 1e-6)
            return (hypot(w * r * s, var * r * s) / volts * k_a * pga_a,
                    hypot(w * (1 - r) * s, var * (1 - r) * s) / volts * k_c * pga_c)
        return irms

    def _update_alarms(self, now: float) -> None:
        point = self._point_now()
        state0 = state1 = 0
        if point is not None:
            oi_th = self._regs.get(R.OI_TH, 0xFFFF) * 0.01
            for element, phase in ((True, "A"), (False, "C")):
                if self._irms(element, point) > oi_th:
                    state0 |= R.STATE0_OI[phase]
            sag_v = R.sag_volts(self._regs.get(R.SAG_TH, 0), self._regs.get(R.U_GAIN["A"], 0))
            if sag_v and point.voltage_v < sag_v:
                state1 |= R.STATE1_SAG["A"]
        else:
            state1 |= R.STATE1_SAG["A"] | R.STATE1_PHASE_LOSS["A"]
        rising0 = state0 & ~self._alarms0
        rising1 = state1 & ~self._alarms1
        self._alarms0, self._alarms1 = state0, state1
        self._regs[R.EMM_STATE0], self._regs[R.EMM_STATE1] = state0, state1
        self._regs[R.EMM_INT_STATE0] = self._regs.get(R.EMM_INT_STATE0, 0) | rising0
        self._regs[R.EMM_INT_STATE1] = self._regs.get(R.EMM_INT_STATE1, 0) | rising1
        enabled0 = rising0 & self._regs.get(R.EMM_INT_EN0, 0)
        enabled1 = rising1 & self._regs.get(R.EMM_INT_EN1, 0)
        if (enabled0 or enabled1) and self.irq is not None:
            self.irq(self._regs[R.EMM_INT_STATE0], self._regs[R.EMM_INT_STATE1])

    def next_over_current(self, after: float, horizon_s: float = 86400.0) -> float | None:
        """When the RMS current of an element next exceeds OIth (epoch s), within the
        horizon; None when the alarm is disabled or nothing crosses it."""
        if not self._regs.get(R.EMM_INT_EN0, 0) & (R.STATE0_OI["A"] | R.STATE0_OI["C"]):
            return None
        if not self._metering_on() or not self.load_connected():
            return None
        threshold = self._regs.get(R.OI_TH, 0xFFFF) * 0.01
        irms = self._irms_of()
        for a, b, point in self._pieces(after, after + horizon_s):
            i_a, i_c = irms(point)
            if i_a > threshold or i_c > threshold:
                return a
        return None

    def over_current_latched(self) -> bool:
        """Whether the comparator's state, as last evaluated, has an element above OIth."""
        return bool(self._alarms0 & (R.STATE0_OI["A"] | R.STATE0_OI["C"]))

    def next_current_below(self, after: float, horizon_s: float = 86400.0) -> float | None:
        """When no element's RMS current is above OIth any more (epoch s), within the horizon:
        the moment the comparator's status bit falls, so that the next rise is an edge again."""
        if not self._metering_on() or not self.load_connected():
            return after
        threshold = self._regs.get(R.OI_TH, 0xFFFF) * 0.01
        irms = self._irms_of()
        for a, b, point in self._pieces(after, after + horizon_s):
            i_a, i_c = irms(point)
            if not (i_a > threshold or i_c > threshold):
                return a
        return None

    def poll_alarms(self) -> None:
        """Re-evaluate alarm inputs now (the emulated board calls this from its IRQ task)."""
        self._update_alarms(self.clock.now())


def _s16(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


def _clamp16(x: float) -> int:
    return max(0, min(0xFFFF, int(round(x))))
