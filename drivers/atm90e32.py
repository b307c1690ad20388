"""ATM90E32AS driver over an SPI device with the ``spidev.SpiDev`` API.

The same code drives a real chip (``spidev.SpiDev()`` on a Raspberry Pi, e.g. a CircuitSetup
split-phase board or an IPEM HAT) and the emulated chip behind ``FakeSpiDev``. Shape follows the
ESPHome/Tasmota energy drivers: configuration -> ``start()`` writes calibration -> the firmware
polls registers -> energy is accumulated outside the chip (the chip's energy registers clear on
read), exactly, in integer counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from sumame.drivers import atm90e32_regs as R
from sumame.hal import AsicStatus, EnergyDelta, Instantaneous
from sumame.hal.errors import BusError, ChipReset, ConfigurationError


@dataclass(frozen=True)
class Atm90e32Config:
    """Board-specific settings.

    line_frequency_hz:  50 or 60
    meter_constant:     CF pulses per kWh (imp/kWh); sets PLconst and the energy LSB
    ugain / igain_r / igain_t: calibration register values (R on channel A, T on channel C)
    pga_gain:           current channel PGA gain: 1, 2 or 4 (MMode1 0x0000 / 0x0015 / 0x002A)
    sag_fraction:       sag alarm below this share of the nominal voltage (0.7 = 70 V on 100 V)
    current_scale:      front-end current divider; currents, power and energy are multiplied back
    two_wire:           single-phase 2-wire (only R measured)
    rated_current_a / nominal_voltage_v: used to state how often energy must be read
    """

    line_frequency_hz: int = 50
    meter_constant: int = 1000
    ugain: int = 0x7EAC
    igain_r: int = 0xB5CB
    igain_t: int = 0xB5CB
    pga_gain: int = 1
    sag_fraction: float = 0.7
    current_scale: float = 2.0
    two_wire: bool = False
    rated_current_a: float = 120.0
    nominal_voltage_v: float = 100.0

    def validate(self) -> None:
        if self.line_frequency_hz not in (50, 60):
            raise ConfigurationError(f"line frequency must be 50 or 60 Hz, got {self.line_frequency_hz}")
        if not 100 <= self.meter_constant <= 100_000:
            raise ConfigurationError(f"meter constant {self.meter_constant} imp/kWh out of range 100..100000")
        for name in ("ugain", "igain_r", "igain_t"):
            if not 0 <= getattr(self, name) <= 0xFFFF:
                raise ConfigurationError(f"{name} must fit 16 bits")
        if self.pga_gain not in R.PGA_CODES:
            raise ConfigurationError(f"PGA gain must be 1, 2 or 4, got {self.pga_gain}")
        if not 0.1 <= self.sag_fraction <= 0.95:
            raise ConfigurationError(f"sag fraction {self.sag_fraction} outside 0.1..0.95")
        if self.current_scale <= 0:
            raise ConfigurationError("current_scale must be > 0")


_COUNTERS = (("forward_mwh", R.AP_ENERGY_T), ("reverse_mwh", R.AN_ENERGY_T),
             ("reactive_pos_mvarh", R.RP_ENERGY_T), ("reactive_neg_mvarh", R.RN_ENERGY_T))


_POWER_LSB_W, _U_RMS_LSB_V, _I_RMS_LSB_A = R.POWER_LSB_W, R.U_RMS_LSB_V, R.I_RMS_LSB_A
_U_RMS_A, _U_RMS_C, _I_RMS_A, _I_RMS_C = R.U_RMS["A"], R.U_RMS["C"], R.I_RMS["A"], R.I_RMS["C"]
_P_MEAN_A, _P_MEAN_LSB_A, _P_MEAN_C, _P_MEAN_LSB_C = R.P_MEAN["A"], R.P_MEAN_LSB["A"], R.P_MEAN["C"], R.P_MEAN_LSB["C"]


class Atm90e32:
    """MeteringAsic implementation. ``spi`` is an opened ``spidev.SpiDev``-like object."""

    CHECK_EVERY = 10
    """read_energy() verifies the chip's configuration on the 1st and every 10th call (a reset
    chip stops metering, so nothing false is counted in between; the gap becomes no data)."""

    def __init__(self, spi, config: Atm90e32Config = Atm90e32Config()):
        config.validate()
        self.spi = spi
        self.config = config
        self.elements = ("R",) if config.two_wire else ("R", "T")
        self.irq_wired = True
        """False when the board leaves the IRQ0 pin unconnected ([asic] irq_pin = -1): the
        over-current comparator can be set but never tells anybody (the breaker polls then)."""
        self._scale = Fraction(config.current_scale).limit_denominator(1000)
        self._scale_f = float(self._scale)
        # exact energy bookkeeping: mWh = LSB count x 10000 / MC x scale
        self._mwh_per_lsb = Fraction(10_000, config.meter_constant) * self._scale
        self._num, self._den = self._mwh_per_lsb.numerator, self._mwh_per_lsb.denominator
        self._lsb_totals = [0, 0, 0, 0]
        self._mwh_reported = [0, 0, 0, 0]
        lsb_wh = float(self._mwh_per_lsb) / 1000
        max_w = config.rated_current_a * config.nominal_voltage_v * (1 if config.two_wire else 2)
        self.max_poll_interval_s = 0xFFFF * lsb_wh / max_w * 3600
        self._alarm_callback: Callable[[AsicStatus], None] | None = None
        self.bus_errors = 0
        self._energy_reads = 0

    # ------------------------------------------------------------------ bus
    def _xfer(self, word: int, value: int) -> int:
        try:
            reply = self.spi.xfer2([word >> 8, word & 0xFF, value >> 8, value & 0xFF])
        except OSError as exc:
            self.bus_errors += 1
            raise BusError(f"SPI transfer failed: {exc}") from exc
        if len(reply) != 4:
            self.bus_errors += 1
            raise BusError(f"SPI transfer returned {len(reply)} bytes, expected 4")
        return (reply[2] << 8) | reply[3]

    def read(self, address: int) -> int:
        # the hot path (every poll reads ~17 registers): _xfer inlined for a read frame
        try:
            reply = self.spi.xfer2([0x80 | (address >> 8), address & 0xFF, 0xFF, 0xFF])
        except OSError as exc:
            self.bus_errors += 1
            raise BusError(f"SPI transfer failed: {exc}") from exc
        if len(reply) != 4:
            self.bus_errors += 1
            raise BusError(f"SPI transfer returned {len(reply)} bytes, expected 4")
        return (reply[2] << 8) | reply[3]

    def write(self, address: int, value: int) -> None:
        self._xfer(address & R.ADDRESS_MASK, value & 0xFFFF)

    def _read32(self, high: int, low: int) -> int:
        value = (self.read(high) << 16) | self.read(low)
        return value - (1 << 32) if value & 0x80000000 else value

    # ------------------------------------------------------------------ MeteringAsic
    def start(self) -> None:
        """Reset, write configuration and calibration, lock, enable metering, verify."""
        c = self.config
        self.write(R.SOFT_RESET, R.SOFT_RESET_KEY)
        self.write(R.CFG_REG_ACC_EN, R.CFG_UNLOCK)
        settings = self._settings = self.configuration()
        self._energy_reads = 0
        for address, value in settings.items():
            self.write(address, value)
        mismatched = [f"0x{a:02X}=0x{self.read(a):04X} (wrote 0x{v:04X})"
                      for a, v in settings.items() if self.read(a) != v]
        if mismatched:
            raise BusError("ATM90E32 did not keep its configuration: " + ", ".join(mismatched))
        self.write(R.CFG_REG_ACC_EN, R.CFG_LOCK)
        self.write(R.METER_EN, 0x0001)
        for _, address in _COUNTERS:  # discard anything counted before configuration
            self.read(address)
        if self.read(R.METER_EN) != 0x0001:
            raise BusError("ATM90E32 metering did not enable (MeterEn read-back)")

    def configuration(self) -> dict[int, int]:
        """Register -> value that ``start()`` writes (configuration and calibration)."""
        c = self.config
        plc = R.pl_const(c.meter_constant)
        mmode0 = (R.MMODE0_ONE_ELEMENT if c.two_wire else R.MMODE0_TWO_ELEMENT) | (
            R.MMODE0_FREQ60 if c.line_frequency_hz == 60 else 0)
        return {
            R.PL_CONST_H: plc >> 16, R.PL_CONST_L: plc & 0xFFFF,
            R.MMODE0: mmode0, R.MMODE1: R.mmode1(c.pga_gain),
            R.U_GAIN["A"]: c.ugain, R.I_GAIN["A"]: c.igain_r,
            R.U_GAIN["C"]: c.ugain, R.I_GAIN["C"]: c.igain_t,
            R.PQ_GAIN["A"]: 0, R.PQ_GAIN["C"]: 0,
            R.SAG_TH: R.sag_threshold(c.nominal_voltage_v * c.sag_fraction, c.ugain),
        }

    def check_configured(self) -> None:
        """Raise ChipReset when the chip no longer holds what ``start()`` wrote (it was reset:
        supply dip, reset pin, ESD) — MeterEn and the mode registers are read back."""
        settings = getattr(self, "_settings", None)
        if settings is None:
            raise ChipReset("ATM90E32 was never started")
        meter_en = self.read(R.METER_EN)
        mmode0 = self.read(R.MMODE0)
        if meter_en == 0xFFFF and mmode0 == 0xFFFF:
            raise BusError("ATM90E32 reads all ones: MISO stuck high or chip absent")
        if meter_en != 0x0001 or mmode0 != settings[R.MMODE0]:
            raise ChipReset(f"ATM90E32 lost its configuration (MeterEn 0x{meter_en:04X}, "
                            f"MMode0 0x{mmode0:04X}, expected 0x0001 / 0x{settings[R.MMODE0]:04X})")

    def read_energy(self) -> EnergyDelta:
        """Energy since the previous call, exact integers (the chip clears on read).

        Checks regularly that the chip still holds its configuration (ChipReset otherwise)."""
        self._energy_reads += 1
        if self._energy_reads % self.CHECK_EVERY == 1:
            self.check_configured()
        values = []
        for i, (_, address) in enumerate(_COUNTERS):
            lsbs = self.read(address)
            if lsbs == 0xFFFF:
                self.bus_errors += 1
                raise BusError("energy register reads 0xFFFF: MISO stuck high or chip absent")
            self._lsb_totals[i] += lsbs
            total = self._lsb_totals[i] * self._num // self._den
            values.append(total - self._mwh_reported[i])
            self._mwh_reported[i] = total
        return EnergyDelta(*values)

    def read_instantaneous(self) -> Instantaneous:
        scale = self._scale_f
        read, read32 = self.read, self._read32
        p_total = read32(R.P_MEAN_T, R.P_MEAN_T_LSB) * _POWER_LSB_W * scale
        q_total = read32(R.Q_MEAN_T, R.Q_MEAN_T_LSB) * _POWER_LSB_W * scale
        v_r = read(_U_RMS_A) * _U_RMS_LSB_V
        i_r = read(_I_RMS_A) * _I_RMS_LSB_A * scale
        p_r = read32(_P_MEAN_A, _P_MEAN_LSB_A)
        freq = read(R.FREQ) / 100
        if freq > 600 and v_r > 600:
            self.bus_errors += 1
            raise BusError("measurement registers read all ones: MISO stuck high or chip absent")
        current_r = -i_r if p_r < 0 else i_r
        if self.config.two_wire:
            voltage, current = (round(v_r, 2), None), (round(current_r, 3), None)
        else:
            v_t = read(_U_RMS_C) * _U_RMS_LSB_V
            i_t = read(_I_RMS_C) * _I_RMS_LSB_A * scale
            p_t = read32(_P_MEAN_C, _P_MEAN_LSB_C)
            voltage = (round(v_r, 2), round(v_t, 2))
            current = (round(current_r, 3), round(-i_t if p_t < 0 else i_t, 3))
        return Instantaneous(round(p_total, 2), round(q_total, 2), voltage, current, freq)

    def read_voltage(self) -> tuple[float, float | None]:
        """RMS voltage per element (V; None where not wired): the voltage registers alone, the
        same values ``read_instantaneous`` gives (for the metering task's voltage samples)."""
        raw_r = self.read(_U_RMS_A)
        if raw_r == 0xFFFF:
            self.bus_errors += 1
            raise BusError("voltage register reads all ones: MISO stuck high or chip absent")
        v_r = raw_r * _U_RMS_LSB_V
        if self.config.two_wire:
            return (round(v_r, 2), None)
        return (round(v_r, 2), round(self.read(_U_RMS_C) * _U_RMS_LSB_V, 2))

    def read_status(self) -> AsicStatus:
        s0 = self.read(R.EMM_STATE0)
        s1 = self.read(R.EMM_STATE1)
        if s0 == 0xFFFF and s1 == 0xFFFF:
            raise BusError("status registers read all ones: MISO stuck high or chip absent")
        return AsicStatus(
            sag=bool(s1 & R.STATE1_SAG["A"]),
            phase_loss=bool(s1 & R.STATE1_PHASE_LOSS["A"]),
            over_current=bool(s0 & (R.STATE0_OI["A"] | R.STATE0_OI["C"])),
        )

    # ------------------------------------------------------------------ alarms
    def set_current_alarm(self, threshold_a: float | None,
                          callback: Callable[[], None] | None = None) -> None:
        """Program the over-current threshold (A, per element) and enable its interrupt.

        ``None`` disables it. The IRQ line calls ``handle_irq()``, which reads and clears the
        interrupt status and calls ``callback()``; ``read_status()`` tells what happened.
        """
        self._alarm_callback = callback
        self.write(R.CFG_REG_ACC_EN, R.CFG_UNLOCK)
        if threshold_a is None:
            self.write(R.OI_TH, 0xFFFF)
            self.write(R.EMM_INT_EN0, 0)
        else:
            counts = int(threshold_a / float(self._scale) / 0.01)
            self.write(R.OI_TH, max(0, min(0xFFFE, counts)))
            self.write(R.EMM_INT_EN0, R.STATE0_OI["A"] | R.STATE0_OI["C"])
        self.write(R.CFG_REG_ACC_EN, R.CFG_LOCK)

    def handle_irq(self) -> None:
        s0 = self.read(R.EMM_INT_STATE0)
        s1 = self.read(R.EMM_INT_STATE1)
        self.write(R.EMM_INT_STATE0, s0)
        self.write(R.EMM_INT_STATE1, s1)
        if self._alarm_callback is not None:
            self._alarm_callback()
