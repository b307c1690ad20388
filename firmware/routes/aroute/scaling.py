"""How the meter's raw registers become DLMS register values with a scaler-unit.

The A-route carries **primary** energy (what the utility settles): raw register counts times
the register unit (ECHONET E1, kWh per count), the transformer coefficient (D3) and the HV
multiplier (D4). A COSEM scaler is a power of ten, so the Wh per count is split into
``value_factor x 10**scaler`` with the largest scaler that keeps the factor whole:

    LV  0.01 kWh, x1     -> 10 Wh per count  -> value = count,       scaler  1 (Wh)
    HV  0.001 kWh, x240  -> 240 Wh per count -> value = count x 24,  scaler  1 (Wh)
    0.0001 kWh, x1       -> 0.1 Wh per count -> value = count,       scaler -1 (Wh)

The value type is double-long-unsigned unless the largest value (the register rolls over at
10**digits counts) needs long64-unsigned.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.metrology.readings import RegisterScaling

_U32_MAX = 0xFFFFFFFF


@dataclass(frozen=True)
class EnergyScale:
    """value = raw count x ``factor``; real value = value x 10**``scaler`` Wh (or varh).

    modulus: raw counts at which the register rolls over (10**digits)."""

    factor: int
    scaler: int
    value_type: DataType
    modulus: int

    def value(self, raw: int | None) -> int | None:
        return None if raw is None else raw * self.factor

    def interval(self, raw_start: int | None, raw_end: int | None) -> int | None:
        """Energy of an interval from the register readings at its two boundaries (rollover
        aware), in register value units; None when either reading is missing."""
        if raw_start is None or raw_end is None:
            return None
        return ((raw_end - raw_start) % self.modulus) * self.factor

    def wh(self, value: int | None) -> float | None:
        """A DLMS value of this scale in Wh (varh)."""
        return None if value is None else value * 10.0 ** self.scaler


def energy_scale(scaling: RegisterScaling) -> EnergyScale:
    """The DLMS scale of a meter's energy registers (see the module docstring)."""
    unit_kwh = Fraction(str(scaling.unit_kwh))
    wh_per_count = unit_kwh * 1000 * scaling.coefficient / Fraction(10) ** scaling.multiplier_code
    scaler = 0
    while (wh_per_count / Fraction(10) ** (scaler + 1)).denominator == 1 and scaler < 9:
        scaler += 1
    while (wh_per_count / Fraction(10) ** scaler).denominator != 1:
        scaler -= 1
        if scaler < -9:
            raise ValueError(f"register unit {scaling.unit_kwh} kWh x {scaling.coefficient} has no "
                             f"decimal scaler")
    factor = int(wh_per_count / Fraction(10) ** scaler)
    modulus = 10 ** scaling.digits
    biggest = (modulus - 1) * factor
    value_type = DataType.DOUBLE_LONG_UNSIGNED if biggest <= _U32_MAX else DataType.LONG64_UNSIGNED
    return EnergyScale(factor, scaler, value_type, modulus)
