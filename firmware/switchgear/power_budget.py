"""Power budget: who may draw from the meter's supply, and who is shed first when it sags.

The board declares its source (``hal.power.PowerSource``): e.g. an HV meter's instrument
transformer gives 15 VA, the meter core uses ~4 VA with its cable, so ~11 VA are left for comms
units and the customer USB port. Every load declares its draw (comms units in their descriptor,
USB devices through bMaxPower) and is admitted only if the committed total stays within that
spare; otherwise it is refused with the numbers, logged, and never powered.

Shedding order (``LoadClass``): the USB port first, then B-route units, then A-route units; the
meter core (metering, storage) is not a load and is never shed. Within a class the most recently
admitted load goes first.
* Brown-out: when the supply reports (``PowerMonitor.available_va``) less than the committed
  total, loads are shed in that order until the rest fits. Once the most important shed load
  has fitted for ``restore_after_s``, shed loads come back most important first, stopping at the
  first that does not fit (nothing less important is restored before it).
* Over-draw: a load measured above its declaration (by more than ``overdraw_tolerance`` and
  ``overdraw_margin_va``) on ``overdraw_polls`` consecutive polls is shed and stays off until its
  owner releases or retries it.
Every admission, refusal, shed and restore is logged with the reason (EventLog).

DC loads: a USB device's W become VA on the source side through ``dc_va_per_w`` (converter
efficiency and power factor; default 1.25 = 80 % efficient at PF 1; a board value).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Callable

from sumame.hal.errors import PowerBudgetExceeded
from sumame.hal.power import PowerMonitor, PowerSource

from ..core.events import EventLog, Severity
from ..core.scheduler import sleep

SOURCE = "power"


class LoadClass(IntEnum):
    """Lower sheds first."""

    USB = 0
    B_ROUTE = 1
    A_ROUTE = 2


class LoadState(Enum):
    ON = "on"
    SHED_BROWNOUT = "shed: brown-out"
    SHED_OVERDRAW = "shed: over-draw"


@dataclass(frozen=True)
class Admission:
    ok: bool
    reason: str


@dataclass
class Load:
    name: str
    cls: LoadClass
    declared_va: float
    cut: Callable[[], None]
    restore: Callable[[], None] | None = None
    measure: Callable[[], float | None] | None = None
    seq: int = 0
    state: LoadState = LoadState.ON
    measured_va: float | None = None
    over_polls: int = 0
    reason: str = ""


@dataclass(frozen=True)
class BudgetSummary:
    """VA per load and the totals (for the status display / a CLI)."""

    source_kind: str
    capacity_va: float
    core_va: float
    spare_va: float
    committed_va: float
    available_va: float | None
    loads: list[dict] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        head = [("source", f"{self.source_kind} {self.capacity_va:.1f} VA"),
                ("meter core", f"{self.core_va:.1f} VA (never shed)"),
                ("committed", f"{self.committed_va:.2f} of {self.spare_va:.2f} VA")]
        if self.available_va is not None:
            head.append(("available now", f"{self.available_va:.2f} VA"))
        return head + [(row["name"], f"{row['declared_va']:.2f} VA declared"
                        + ("" if row["measured_va"] is None else
                           f", {row['measured_va']:.2f} VA measured")
                        + f" [{row['class']}] {row['state']}") for row in self.loads]


class PowerBudget:
    """See the module docstring. ``supply``: the PowerSupply HAL object (admissions are mirrored
    to it; if it also is a PowerMonitor, brown-out and per-load measurements come from it)."""

    def __init__(self, source: PowerSource, events: EventLog, clock, *, supply=None,
                 dc_va_per_w: float = 1.25, overdraw_tolerance: float = 0.10,
                 overdraw_margin_va: float = 0.1, overdraw_polls: int = 2,
                 restore_after_s: float = 10.0):
        self.source, self._events, self._clock, self.supply = source, events, clock, supply
        self.dc_va_per_w = dc_va_per_w
        self.overdraw_tolerance, self.overdraw_margin_va = overdraw_tolerance, overdraw_margin_va
        self.overdraw_polls, self.restore_after_s = overdraw_polls, restore_after_s
        self._loads: dict[str, Load] = {}
        self._seq = 0
        self._fits_since: float | None = None
        self.version = 0
        """Bumped by every admission, resize, release, shed and restore (see ``settled``)."""

    # ---------------------------------------------------------------- arithmetic
    @property
    def spare_va(self) -> float:
        return self.source.spare_va

    def committed_va(self) -> float:
        return sum(ld.declared_va for ld in self._loads.values() if ld.state is LoadState.ON)

    def headroom_va(self) -> float:
        return self.spare_va - self.committed_va()

    def usb_va(self, milliamps: float, volts: float = 5.0) -> float:
        """VA on the source side for a DC load of ``milliamps`` at ``volts``."""
        return milliamps / 1000.0 * volts * self.dc_va_per_w

    def hold_up_s(self) -> float:
        """Seconds the board's stored energy carries the core and the loads now on (VA ~ W)."""
        return self.source.hold_up_j / (self.source.core_draw_va + self.committed_va())

    def load(self, name: str) -> Load | None:
        return self._loads.get(name)

    # ---------------------------------------------------------------- admission
    def request(self, name: str, cls: LoadClass, va: float, *, cut: Callable[[], None],
                restore: Callable[[], None] | None = None,
                measure: Callable[[], float | None] | None = None,
                source: str = SOURCE) -> Admission:
        """Admit a load of ``va`` VA or refuse it (logged either way). The caller powers the
        load only after an ``ok`` admission; ``cut``/``restore`` switch it off/on later."""
        if name in self._loads:
            return self._refused(name, cls, va, source, f"a load named {name} is already admitted")
        problem = self._check(va, exclude=None)
        if problem:
            return self._refused(name, cls, va, source, problem)
        problem = self._mirror_admit(name, va)
        if problem:
            return self._refused(name, cls, va, source, problem)
        self._seq += 1
        self._loads[name] = Load(name, cls, float(va), cut, restore, measure, self._seq)
        self.version += 1
        self._events.record("load-admit", source=source, detail=f"{name} [{cls.name}] "
                            f"{va:.2f} VA admitted; {self.committed_va():.2f} of "
                            f"{self.spare_va:.2f} VA committed")
        return Admission(True, f"{va:.2f} VA admitted")

    def resize(self, name: str, va: float, *, source: str = SOURCE) -> Admission:
        """Change a load's declared draw (e.g. a USB port whose devices change)."""
        ld = self._loads[name]
        self.version += 1
        if ld.state is not LoadState.ON or va <= ld.declared_va:
            if ld.state is LoadState.ON:
                self._mirror_admit(name, va)
            ld.declared_va = float(va)
            return Admission(True, f"{name} now {va:.2f} VA")
        problem = self._check(va, exclude=name) or self._mirror_admit(name, va)
        if problem:
            self._events.record("load-refused", source=source, severity=Severity.WARNING,
                                detail=f"{name} growth to {va:.2f} VA refused: {problem}")
            return Admission(False, problem)
        old, ld.declared_va = ld.declared_va, float(va)
        self._events.record("load-admit", source=source, detail=f"{name} {old:.2f} -> {va:.2f} VA;"
                            f" {self.committed_va():.2f} of {self.spare_va:.2f} VA committed")
        return Admission(True, f"{name} now {va:.2f} VA")

    def release(self, name: str, *, source: str = SOURCE) -> None:
        ld = self._loads.pop(name, None)
        if ld is None:
            return
        self.version += 1
        if self.supply is not None:
            self.supply.release(name)
        self._events.record("load-release", source=source, detail=f"{name} released "
                            f"({ld.declared_va:.2f} VA, was {ld.state.value})")

    def _check(self, va: float, exclude: str | None) -> str:
        if va < 0:
            return f"negative draw {va} VA"
        if va > self.spare_va:
            return (f"needs {va:.2f} VA, more than the {self.spare_va:.2f} VA this supply can "
                    f"ever give to loads ({self.source.kind} {self.source.capacity_va:.1f} VA - "
                    f"meter core {self.source.core_draw_va:.1f} VA)")
        others = sum(ld.declared_va for ld in self._loads.values()
                     if ld.state is LoadState.ON and ld.name != exclude)
        if others + va > self.spare_va + 1e-9:
            return (f"needs {va:.2f} VA but {others:.2f} VA of the {self.spare_va:.2f} VA spare "
                    f"are committed ({self.spare_va - others:.2f} VA free)")
        return ""

    def _mirror_admit(self, name: str, va: float) -> str:
        if self.supply is None:
            return ""
        try:
            self.supply.admit(name, va)
        except PowerBudgetExceeded as exc:
            return f"supply refused: {exc}"
        return ""

    def _refused(self, name, cls, va, source, reason) -> Admission:
        self._events.record("load-refused", source=source, severity=Severity.WARNING,
                            detail=f"{name} [{cls.name}] {va:.2f} VA refused: {reason}")
        return Admission(False, reason)

    # ---------------------------------------------------------------- shedding
    def shed(self, name: str, state: LoadState, reason: str) -> None:
        ld = self._loads[name]
        if ld.state is not LoadState.ON:
            return
        ld.state, ld.reason, ld.over_polls = state, reason, 0
        self.version += 1
        if self.supply is not None:
            self.supply.release(name)
        ld.cut()
        self._events.record("load-shed", source=SOURCE, severity=(
            Severity.ALARM if state is LoadState.SHED_OVERDRAW else Severity.WARNING),
            detail=f"{name} [{ld.cls.name}] shed: {reason}")

    def retry(self, name: str, *, source: str = SOURCE) -> Admission:
        """Re-admit a shed load (its owner decides when), subject to the budget."""
        ld = self._loads[name]
        if ld.state is LoadState.ON:
            return Admission(True, "already on")
        problem = self._check(ld.declared_va, exclude=name) or self._mirror_admit(
            name, ld.declared_va)
        if problem:
            return Admission(False, problem)
        ld.state, ld.reason, ld.over_polls = LoadState.ON, "", 0
        self.version += 1
        if ld.restore is not None:
            ld.restore()
        self._events.record("load-restore", source=source, detail=f"{name} back on "
                            f"({ld.declared_va:.2f} VA)")
        return Admission(True, "restored")

    def poll(self, now: float | None = None) -> None:
        """Check measurements and the supply; shed or restore (call ~1 s)."""
        now = self._clock.now() if now is None else now
        self._check_overdraw()
        available = self._available()
        if available is None:
            return
        if self.committed_va() > available + 1e-9:
            self._fits_since = None
            order = sorted((ld for ld in self._loads.values() if ld.state is LoadState.ON),
                           key=lambda ld: (ld.cls, -ld.seq))
            for ld in order:
                if self.committed_va() <= available + 1e-9:
                    break
                self.shed(ld.name, LoadState.SHED_BROWNOUT,
                          f"brown-out: supply gives {available:.2f} VA for loads, "
                          f"{self.committed_va():.2f} VA committed")
            return
        waiting = [ld for ld in self._loads.values() if ld.state is LoadState.SHED_BROWNOUT]
        if waiting:
            waiting.sort(key=lambda ld: (-ld.cls, ld.seq))
        if not waiting or self.committed_va() + waiting[0].declared_va > available + 1e-9:
            self._fits_since = None   # the most important shed load does not fit yet
            return
        if self._fits_since is None:
            self._fits_since = now
        if now - self._fits_since < self.restore_after_s:
            return
        for ld in waiting:   # strict priority: nothing less important comes back first
            if self.committed_va() + ld.declared_va > available + 1e-9:
                break
            self.retry(ld.name)

    def settled(self) -> bool:
        """True when, as long as neither the loads (``version``) nor what the supply reports
        change, the next ``poll`` finds what the last one found and changes nothing: no load is
        counting over-draw polls and no restore after a brown-out is being timed."""
        if self._fits_since is not None:
            return False
        return not any(ld.over_polls for ld in self._loads.values() if ld.state is LoadState.ON)

    @property
    def _monitor(self) -> bool:
        """Whether the supply can measure (checked once: a Protocol isinstance is slow)."""
        cached = self.__dict__.get("_monitor_cache")
        if cached is None or cached[0] is not self.supply:
            cached = self.__dict__["_monitor_cache"] = (self.supply, isinstance(self.supply, PowerMonitor))
        return cached[1]

    def _available(self) -> float | None:
        if self._monitor:
            return self.supply.available_va()
        return None

    def _measure(self, ld: Load) -> float | None:
        if ld.measure is not None:
            return ld.measure()
        if self._monitor:
            return self.supply.measured_va(ld.name)
        return None

    def _check_overdraw(self) -> None:
        for ld in list(self._loads.values()):
            if ld.state is not LoadState.ON:
                continue
            ld.measured_va = measured = self._measure(ld)
            limit = ld.declared_va * (1 + self.overdraw_tolerance) + self.overdraw_margin_va
            if measured is None or measured <= limit:
                ld.over_polls = 0
                continue
            ld.over_polls += 1
            if ld.over_polls >= self.overdraw_polls:
                self.shed(ld.name, LoadState.SHED_OVERDRAW,
                          f"draws {measured:.2f} VA, declared {ld.declared_va:.2f} VA")

    async def run(self, period_s: float = 1.0) -> None:
        """Task (``Priority.CONTROL``): poll every ``period_s``."""
        while True:
            self.poll()
            await sleep(period_s)

    # ---------------------------------------------------------------- reporting
    def summary(self) -> BudgetSummary:
        rows = [{"name": ld.name, "class": ld.cls.name, "declared_va": ld.declared_va,
                 "measured_va": ld.measured_va, "state": ld.state.value, "reason": ld.reason}
                for ld in sorted(self._loads.values(), key=lambda ld: (-ld.cls, ld.seq))]
        return BudgetSummary(self.source.kind, self.source.capacity_va, self.source.core_draw_va,
                             self.spare_va, round(self.committed_va(), 4), self._available(),
                             rows)
