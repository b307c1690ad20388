"""MeteringAsic: the metrology chip (ATM90E32-class) as the firmware sees it."""
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class EnergyDelta:
    """Energy measured since the previous ``read_energy()`` call (integers, no rounding loss).

    forward_mwh:  active energy imported from the grid, mWh (milliwatt-hours)
    reverse_mwh:  active energy exported to the grid (e.g. PV surplus), mWh
    reactive_pos_mvarh / reactive_neg_mvarh: reactive energy with Q > 0 (lagging, inductive)
                  and Q < 0 (leading), mvarh
    """

    forward_mwh: int = 0
    reverse_mwh: int = 0
    reactive_pos_mvarh: int = 0
    reactive_neg_mvarh: int = 0


@dataclass(frozen=True)
class Instantaneous:
    """Latest RMS quantities (averaged by the chip over its DSP window, ~1 s).

    active_w:     total active power, W; positive = import, negative = export
    reactive_var: total reactive power, var
    voltage_v:    RMS voltage per measured element (R, T), V; None where not wired
    current_a:    RMS current per element (R, T), A, signed like that element's active power;
                  None where not wired (T on single-phase 2-wire)
    frequency_hz: line frequency, Hz
    """

    active_w: float
    reactive_var: float
    voltage_v: tuple[float | None, float | None]
    current_a: tuple[float | None, float | None]
    frequency_hz: float


@dataclass(frozen=True)
class AsicStatus:
    """Alarm flags the chip raises (sag = supply voltage below the sag threshold)."""

    sag: bool = False
    phase_loss: bool = False
    over_current: bool = False
    checksum_error: bool = False


@runtime_checkable
class MeteringAsic(Protocol):
    """A metering chip reached over a bus.

    Lifecycle: ``start()`` once at boot (reset, write calibration, enable metering); then the
    metering task polls ``read_energy()`` and ``read_instantaneous()``. ``read_energy`` must be
    called often enough that the chip's energy registers cannot overflow (the driver documents
    its limit in ``max_poll_interval_s``).
    """

    elements: tuple[str, ...]
    """Measured elements: ("R", "T") for 1φ3W / 3φ3W, ("R",) for 1φ2W."""

    max_poll_interval_s: float

    def start(self) -> None: ...

    def read_energy(self) -> EnergyDelta: ...

    def read_instantaneous(self) -> Instantaneous: ...

    def read_status(self) -> AsicStatus: ...
