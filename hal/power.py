"""PowerSupply: where the meter's power comes from and how much is left for loads."""
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class PowerSource:
    """The supply a board declares.

    kind:           "mains" (LV meter powered from the line) or "instrument-transformer" (HV)
    capacity_va:    what the source can deliver, VA (HV: 15 VA)
    core_draw_va:   what the meter core itself uses incl. cable, VA (HV: ~4 VA)
    hold_up_j:      energy stored for a last gasp after supply loss (supercapacitor), J; 0 = none
    """

    kind: str
    capacity_va: float
    core_draw_va: float
    hold_up_j: float = 0.0

    @property
    def spare_va(self) -> float:
        """VA left for comms units and USB devices."""
        return self.capacity_va - self.core_draw_va


@runtime_checkable
class PowerSupply(Protocol):
    """Supply state and load admission.

    ``admit`` reserves VA for a named load or raises PowerBudgetExceeded with the numbers;
    ``release`` gives it back. ``supply_ok()`` is False during an outage / brown-out.
    """

    source: PowerSource

    def supply_ok(self) -> bool: ...

    def admit(self, load: str, va: float) -> None: ...

    def release(self, load: str) -> None: ...

    def allocations(self) -> dict[str, float]: ...


@runtime_checkable
class PowerMonitor(Protocol):
    """Optional measurements a supply may offer (the emulated supply does; on hardware a
    current-sense IC would).

    ``available_va()``: what the source can deliver to loads right now, VA, after the meter
    core's own draw (drops below the committed total during a brown-out).
    ``measured_va(load)``: the measured draw of an admitted load, VA; None when not sensed.
    """

    def available_va(self) -> float: ...

    def measured_va(self, load: str) -> float | None: ...


@runtime_checkable
class ChangeSignal(Protocol):
    """Optional on a supply or a USB port: a part that announces every change of what it reports.

    While ``changes_signalled()`` is True, every change of what the part reports (available VA,
    measured draws, hot-plug, VBUS) calls each callable in ``change_listeners`` — an emulated
    part knows when its state changes; a current-sense IC read over I2C does not, and a part
    without this protocol is simply polled. The firmware then skips a poll that nothing could
    have changed (it would find what the previous one found), at the same instants.
    """

    change_listeners: list

    def changes_signalled(self) -> bool: ...
