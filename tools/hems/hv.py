"""``sumame hems`` decoding of the HV meter class 0x028A (MRA Release R, reference §3).

Scaling (MRA): demand x C5 x D3 x D4 (kW); cumulative maximum demand x C7 x D3 x D4 (kW);
active energy x E6 x D3 x D4 (kWh); reactive energy x CD x D3 x D4 (kvarh). C5/C7/CD/E6 use
the E1 unit code table of 0x0288; D4 0=x1, 1=x0.1, 2=x0.01, 3=x0.001.
"""
from __future__ import annotations

NO_DATA = 0xFFFFFFFE
UNIT = {0x00: 1, 0x01: 0.1, 0x02: 0.01, 0x03: 0.001, 0x04: 0.0001,
        0x0A: 10, 0x0B: 100, 0x0C: 1000, 0x0D: 10000}
MULTIPLIER = {0x00: 1, 0x01: 0.1, 0x02: 0.01, 0x03: 0.001}
HV_NAMES = {
    0xC1: "monthly maximum demand", 0xC2: "cumulative maximum demand",
    0xC3: "demand at fixed time (30-min average)", 0xC4: "effective digits of demand",
    0xC5: "unit of demand", 0xC6: "demand history (48 half hours)",
    0xC7: "unit of cumulative maximum demand", 0xCA: "reactive energy (lag), power-factor",
    0xCB: "reactive energy (lag) at fixed time", 0xCC: "effective digits of reactive energy",
    0xCD: "unit of reactive energy", 0xCE: "reactive energy history (48 half hours)",
    0xD3: "coefficient", 0xD4: "multiplying factor for coefficient", 0xE0: "fixed date (確定日)",
    0xE1: "day for history", 0xE2: "cumulative active energy", 0xE3: "active energy at fixed time",
    0xE4: "active energy, power-factor measurement", 0xE5: "effective digits of active energy",
    0xE6: "unit of active energy", 0xE7: "active energy history (48 half hours)"}


class HvScale:
    """Per-count factors of one HV meter, from its C5 C7 CD E6 D3 D4 answers."""

    def __init__(self, values: dict[int, bytes | None]):
        coef = values.get(0xD3)
        mult = values.get(0xD4)
        base = (int.from_bytes(coef, "big") if coef else 1) * (MULTIPLIER.get(mult[0], 1) if mult else 1)

        def factor(epc):
            unit = values.get(epc)
            return base * (UNIT.get(unit[0], 1) if unit else 1)
        self.demand_kw, self.max_kw = factor(0xC5), factor(0xC7)
        self.kvarh, self.kwh = factor(0xCD), factor(0xE6)

    @staticmethod
    def fmt(raw: int, per_count: float, unit: str) -> str:
        if raw == NO_DATA:
            return "no data"
        decimals = next((d for d in range(5) if abs(per_count * 10 ** d - round(per_count * 10 ** d)) < 1e-9), 4)
        return f"{raw * per_count:.{decimals}f} {unit}"


def _jst(raw: bytes) -> str:
    year = int.from_bytes(raw[:2], "big")
    return f"{year:04d}-{raw[2]:02d}-{raw[3]:02d} {raw[4]:02d}:{raw[5]:02d}:{raw[6]:02d} JST"


def _history(edt: bytes, per_count: float, unit: str) -> str:
    day = int.from_bytes(edt[:2], "big")
    if day == 0x00FF:
        return "(day not selected: set E1 first)"
    raws = [int.from_bytes(edt[2 + 4 * k:6 + 4 * k], "big") for k in range(48)]
    known = [r for r in raws if r != NO_DATA]
    if not known:
        return f"day {day}: no data"
    last = max(k for k, r in enumerate(raws) if r != NO_DATA)
    return (f"day {day}: {len(known)} of 48 half hours, last {last // 2:02d}:{30 * (last % 2):02d} "
            f"{HvScale.fmt(raws[last], per_count, unit)}, max {HvScale.fmt(max(known), per_count, unit)}")


def describe_hv(epc: int, edt: bytes, s: HvScale) -> str | None:
    """Readable value of a 0x028A class property, or None (not a class EPC / unexpected size)."""
    u32 = int.from_bytes(edt[-4:], "big") if len(edt) >= 4 else None
    if epc in (0xC1, 0xC2) and len(edt) == 4:
        return s.fmt(u32, s.demand_kw if epc == 0xC1 else s.max_kw, "kW")
    if epc == 0xC3 and len(edt) == 11:
        return f"{_jst(edt[:7])}  {s.fmt(u32, s.demand_kw, 'kW')}"
    if epc in (0xCA, 0xCB) and len(edt) == 11:
        return f"{_jst(edt[:7])}  {s.fmt(u32, s.kvarh, 'kvarh')}"
    if epc in (0xE2, 0xE3, 0xE4) and len(edt) == 11:
        return f"{_jst(edt[:7])}  {s.fmt(u32, s.kwh, 'kWh')}"
    if epc in (0xC4, 0xCC, 0xE5) and len(edt) == 1:
        return f"{edt[0]} digits"
    if epc in (0xC5, 0xC7, 0xCD, 0xE6) and len(edt) == 1:
        unit = {0xC5: "kW", 0xC7: "kW", 0xCD: "kvarh", 0xE6: "kWh"}[epc]
        return f"{UNIT.get(edt[0], '?')} {unit} per count (before D3 x D4)"
    if epc in (0xC6, 0xCE, 0xE7) and len(edt) == 194:
        per, unit = {0xC6: (s.demand_kw, "kW"), 0xCE: (s.kvarh, "kvarh"), 0xE7: (s.kwh, "kWh")}[epc]
        return _history(edt, per, unit)
    if epc == 0xD3 and len(edt) == 4:
        return str(u32)
    if epc == 0xD4 and len(edt) == 1:
        return f"x{MULTIPLIER.get(edt[0], '?')}"
    if epc == 0xE0 and len(edt) == 1:
        return f"day {edt[0]} of each month"
    if epc == 0xE1 and len(edt) == 1:
        return "(not set)" if edt[0] == 0xFF else ("today" if edt[0] == 0 else f"{edt[0]} days ago")
    return None
