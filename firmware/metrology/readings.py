"""MeterReadings: the read-only view of the meter's measurements that the routes serve.

ECHONET Lite (B-route), DLMS/COSEM (A-route) and the status display read the meter only through
this interface, so each application sees the same registers and none can change them.

Conventions
* Times are epoch seconds (UTC, float); interval boundaries are aligned to JST wall time.
* "raw" register values are what the meter's register shows: energy divided by the register
  unit (ECHONET E1 / HV E6), with the board's digits (D7 / E5, normally 8) kept, i.e. the value
  rolls over at 10**digits. kWh = raw x unit x coefficient (D3) [x multiplier D4 on HV].
* ``None`` means *no data*: the interval was not measured (outage, reboot gap, corrupted
  record). It is never 0 and never interpolated. ECHONET encodes it as 0xFFFFFFFE.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable


class Quantity(Enum):
    """Cumulative energy registers."""

    FORWARD = "forward"            # active energy imported, 正方向
    REVERSE = "reverse"            # active energy exported, 逆方向
    REACTIVE_LAG = "reactive_lag"  # reactive energy, lagging (inductive) quadrants, 無効(遅れ)


@dataclass(frozen=True)
class MeterIdentity:
    """Who the meter is.

    kind:          "lv" (low voltage, ECHONET class 0x0288) or "hv" (class 0x028A)
    wiring:        "1p2w", "1p3w" (LV) or "3p3w" (HV through VT/CT)
    maker_code:    3-byte ECHONET manufacturer code (0xFFFFFF = experimental)
    serial:        production number, up to 12 ASCII characters
    route_b_id:    32 hex digits issued to the customer (B-route authentication ID)
    supply_point:  22-digit supply point identification number (供給地点特定番号)
    receiving_point: 22-digit receiving point identification number (受電地点特定番号) of the
                   generation sold from this place (PV buy-back); "" when there is none
    has_switch:    True when the meter has a built-in breaker (LV)
    has_reverse:   True when reverse (export) energy is measured
    """

    kind: str
    wiring: str
    maker_code: int
    serial: str
    route_b_id: str
    supply_point: str
    has_switch: bool
    has_reverse: bool
    receiving_point: str = ""


@dataclass(frozen=True)
class RegisterScaling:
    """How raw register values become kWh.

    unit_kwh:         kWh per raw count (ECHONET E1 / HV E6), e.g. 0.01
    unit_code:        the ECHONET code for unit_kwh (0x00=1, 0x01=0.1, 0x02=0.01, 0x03=0.001,
                      0x04=0.0001, 0x0A=10, 0x0B=100, 0x0C=1000, 0x0D=10000)
    coefficient:      ECHONET D3 (VT x CT ratio on HV, e.g. 240; 1 on direct LV meters)
    multiplier_code:  HV D4: 0x00=1, 0x01=0.1, 0x02=0.01, 0x03=0.001
    digits:           significant digits of the cumulative registers (ECHONET D7 / HV E5), 1..8
    """

    unit_kwh: float
    unit_code: int
    coefficient: int
    multiplier_code: int
    digits: int

    def to_kwh(self, raw: int) -> float:
        return raw * self.unit_kwh * self.coefficient * (10.0 ** -self.multiplier_code)


@dataclass(frozen=True)
class Present:
    """Instantaneous values (latest ASIC poll).

    power_w:        active power, W (negative = export); None when not measured
    current_da:     RMS current per element (R, T) in 0.1 A (deci-amperes), signed with the
                    element's power; T is None on single-phase 2-wire; None when not measured
    voltage_dv:     RMS voltage per element (R, T) in 0.1 V
    at:             when it was measured, epoch s
    """

    power_w: int | None
    current_da: tuple[int | None, int | None]
    voltage_dv: tuple[int | None, int | None]
    at: float


@runtime_checkable
class MeterReadings(Protocol):
    """Read-only access to the registers (see the module docstring for units)."""

    identity: MeterIdentity
    scaling: RegisterScaling

    def now(self) -> float:
        """The meter's clock, epoch s."""
        ...

    def present(self) -> Present: ...

    def cumulative_now(self, quantity: Quantity) -> int | None:
        """Raw cumulative register right now."""
        ...

    def cumulative_at(self, quantity: Quantity, boundary: float) -> int | None:
        """Raw cumulative register captured at a minute boundary (epoch s, a multiple of 60).

        Available for every 30-min and 15-min boundary within their retention (>= 100 days),
        every 5-min boundary within ~10 days and every minute of the last 60 minutes; None for
        anything not measured or no longer kept.
        """
        ...

    def latest_boundary(self, minutes: int) -> float:
        """The most recent boundary of a ``minutes`` grid (1, 5, 15, 30) that has passed."""
        ...

    def interval_energy(self, quantity: Quantity, end: float, minutes: int) -> float | None:
        """Energy of the interval (end - minutes, end] in kWh (register scale, before the
        coefficient), or None when any part of it was not measured."""
        ...

    def interval_voltage(self, end: float, minutes: int) -> tuple[float | None, float | None]:
        """Average RMS voltage (R, T) over the interval, V; None where not measured."""
        ...

    @property
    def transmitted_interval_min(self) -> int:
        """The soft switch: 30 or 15 — which interval values the routes push."""
        ...
