"""Emulated meter supply: the line (or instrument transformer), load admission, brown-out,
per-load draw and a supercapacitor for the last gasp.

Model (VA and W are taken as equal for the DC side; the meter core's draw is
``source.core_draw_va``):
* while the line is present the source delivers up to ``capacity_now_va`` (the declared capacity,
  lowered by ``derate()`` to inject a brown-out); ``supply_ok()`` is False when the line is gone or
  the loads really drawn (core + each admitted load's actual draw) exceed what it delivers;
* ``admit``/``release`` keep the declared reservations (PowerSupply contract); ``set_actual(load,
  va)`` makes a load draw something else than it declared (a lying device), ``measured_va(load)``
  reports it (PowerMonitor);
* hold-up: after ``lose_line()`` the stored energy ``source.hold_up_j`` (J) drains at the present
  draw (W); the supply dies when it is empty. ``hold_up_s()`` is what is left, ``dies_at()`` when
  the meter stops, ``check_alive()`` raises PowerCut afterwards (emulated devices call it).
"""
from __future__ import annotations

from typing import Callable

from sumame.hal.errors import PowerBudgetExceeded, PowerCut
from sumame.hal.power import PowerSource


class EmulatedPowerSupply:
    def __init__(self, source: PowerSource, clock):
        self.source = source
        self._clock = clock
        self._declared: dict[str, float] = {}
        self._actual: dict[str, float | Callable[[], float]] = {}
        self._line = True
        self.capacity_now_va = source.capacity_va
        self._energy_j = source.hold_up_j
        self._drain_from: float | None = None
        self.change_listeners: list[Callable[[], None]] = []
        """Called after every change of what the supply reports (hal.power.ChangeSignal)."""

    def changes_signalled(self) -> bool:
        """True while every change of ``available_va`` / ``measured_va`` goes through the
        listeners: the line is present (on hold-up the store drains with time) and no load's
        draw is a function of time."""
        return self._line and not any(callable(v) for v in self._actual.values())

    def _changed(self) -> None:
        for listener in self.change_listeners:
            listener()

    # ---------------------------------------------------------------- PowerSupply
    def supply_ok(self) -> bool:
        return self._line and self.draw_va() <= self.capacity_now_va + 1e-9

    def admit(self, load: str, va: float) -> None:
        if va < 0:
            raise PowerBudgetExceeded(f"load {load}: negative draw {va} VA")
        others = sum(v for k, v in self._declared.items() if k != load)
        if others + va > self.source.spare_va + 1e-9:
            raise PowerBudgetExceeded(
                f"load {load} needs {va:.2f} VA; {others:.2f} VA of {self.source.spare_va:.2f} VA "
                f"spare already reserved")
        self._drain()
        self._declared[load] = float(va)
        self._changed()

    def release(self, load: str) -> None:
        self._drain()
        self._declared.pop(load, None)
        self._actual.pop(load, None)
        self._changed()

    def allocations(self) -> dict[str, float]:
        return dict(self._declared)

    # ---------------------------------------------------------------- PowerMonitor
    def available_va(self) -> float:
        """VA left for loads: from the line, or — after it went — from the hold-up store, which
        keeps the DC rail up (everything stays powered) until it is empty."""
        if not self._line and (self.source.hold_up_j <= 0 or self.hold_up_s() <= 0):
            return 0.0
        return max(0.0, self.capacity_now_va - self.source.core_draw_va)

    def measured_va(self, load: str) -> float | None:
        if load not in self._declared:
            return None
        actual = self._actual.get(load, self._declared[load])
        return float(actual() if callable(actual) else actual)

    # ---------------------------------------------------------------- emulation controls
    def set_actual(self, load: str, va: float | Callable[[], float]) -> None:
        """What ``load`` really draws (VA, or a callable returning VA)."""
        self._drain()
        self._actual[load] = va
        self._changed()

    def derate(self, capacity_va: float) -> None:
        """The source can only deliver ``capacity_va`` for now (brown-out)."""
        self.capacity_now_va = capacity_va
        self._changed()

    def restore_capacity(self) -> None:
        self.capacity_now_va = self.source.capacity_va
        self._changed()

    def lose_line(self) -> None:
        if self._line:
            self._line = False
            self._drain_from = self._clock.now()
            self._changed()

    def restore_line(self) -> None:
        self._line = True
        self._drain_from = None
        self._energy_j = self.source.hold_up_j   # recharged (the recharge time is ignored)
        self._changed()

    @property
    def line_present(self) -> bool:
        return self._line

    def draw_va(self) -> float:
        """Core plus what every admitted load really draws, VA (~W)."""
        return self.source.core_draw_va + sum(self.measured_va(k) or 0.0 for k in self._declared)

    def _drain(self) -> None:
        if self._drain_from is None:
            return
        now = self._clock.now()
        self._energy_j = max(0.0, self._energy_j - self.draw_va() * (now - self._drain_from))
        self._drain_from = now

    def hold_up_s(self) -> float:
        """Seconds the meter keeps running on stored energy at the present draw (inf with the
        line present)."""
        if self._line:
            return float("inf")
        self._drain()
        return self._energy_j / self.draw_va()

    def dies_at(self) -> float | None:
        """Epoch s at which the hold-up runs out (None while the line is present)."""
        if self._line:
            return None
        return self._clock.now() + self.hold_up_s()

    def alive(self) -> bool:
        return self._line or self.hold_up_s() > 0

    def check_alive(self) -> None:
        if not self.alive():
            raise PowerCut("hold-up energy exhausted")
