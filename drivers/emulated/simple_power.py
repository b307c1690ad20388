"""A minimal emulated supply: fixed capacity, admission by VA, supply on/off switch."""
from __future__ import annotations

from sumame.hal import PowerSource
from sumame.hal.errors import PowerBudgetExceeded


class SimplePowerSupply:
    """PowerSupply contract. ``fail()`` / ``restore()`` switch the supply (outage injection)."""

    def __init__(self, source: PowerSource):
        self.source = source
        self._loads: dict[str, float] = {}
        self._ok = True

    def supply_ok(self) -> bool:
        return self._ok

    def fail(self) -> None:
        self._ok = False

    def restore(self) -> None:
        self._ok = True

    def admit(self, load: str, va: float) -> None:
        used = sum(v for k, v in self._loads.items() if k != load)
        if used + va > self.source.spare_va + 1e-9:
            raise PowerBudgetExceeded(
                f"{load} needs {va:.1f} VA but only {self.source.spare_va - used:.1f} VA of "
                f"{self.source.capacity_va:.1f} VA remain ({self.source.core_draw_va:.1f} VA for the meter core)")
        self._loads[load] = va

    def release(self, load: str) -> None:
        self._loads.pop(load, None)

    def allocations(self) -> dict[str, float]:
        return dict(self._loads)
