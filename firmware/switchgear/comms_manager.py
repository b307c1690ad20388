"""Swappable comms units: insertion, removal and hot swap at run time.

The meter has one or more comms slots (default one, "comms"). A unit is admitted through the
power budget under the name ``comms:<slot>``, with the class of the most important route it
carries (A-route if its media include the A-route, USB if it only provides the USB port, else
B-route), then powered (``attach()``); the routes registered for its media are brought up on
it through their ``up(unit)`` callbacks. Removal takes the routes down (``down(unit)``),
powers the unit off (``detach()``) and releases its budget. Every step is logged.

All of it runs inside the manager's task (``run()``, ``Priority.COMMS``): swaps requested from
a tool or a UI key (``request_swap``) are queued, and route callbacks may be coroutines that
take virtual time (a modem reset, a PANA re-join). Metering and storage run at higher priority
and keep their schedule; the manager never blocks them. When the budget sheds a unit
(brown-out / over-draw) it is powered off at once and its routes are taken down in the task;
when the budget restores it, it is powered and the routes come back.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from sumame.hal.comms import CommsUnit, Medium
from sumame.hal.errors import CommsError

from ..core.events import EventLog, Severity
from .power_budget import LoadClass, PowerBudget
from ..core.scheduler import Queue

SOURCE = "comms"


def load_class(media) -> LoadClass:
    """Budget class of a unit: the most important route it carries."""
    media = set(media)
    if Medium.AROUTE in media:
        return LoadClass.A_ROUTE
    if media == {Medium.USB}:
        return LoadClass.USB
    return LoadClass.B_ROUTE


@dataclass
class Route:
    """A route application bound to media: ``up(unit)`` / ``down(unit)`` may be coroutines."""

    name: str
    media: frozenset[Medium]
    up: Callable[[CommsUnit], Any]
    down: Callable[[CommsUnit], Any]
    slot: str | None = None     # where it is up, None when down


@dataclass(frozen=True)
class SwapResult:
    ok: bool
    reason: str
    routes_up: tuple[str, ...] = ()


@dataclass
class _Slot:
    unit: CommsUnit | None = None
    powered: bool = False


_MEDIA: dict[frozenset, frozenset] = {}
"""Route media sets interned: one frozenset per set in the process, not one per route per meter
(~220 B each; the few sets are the board kinds')."""


class CommsManager:
    """See the module docstring. Spawn ``run()`` with ``Priority.COMMS``."""

    def __init__(self, budget: PowerBudget, events: EventLog, clock, *,
                 slots: tuple[str, ...] = ("comms",)):
        self.budget, self._events, self._clock = budget, events, clock
        self._slots = {name: _Slot() for name in slots}
        self._routes: dict[str, Route] = {}
        self._queue: Queue = Queue()
        self.results: list[SwapResult] = []

    # ---------------------------------------------------------------- registration
    def register_route(self, name: str, media, up: Callable[[CommsUnit], Any],
                       down: Callable[[CommsUnit], Any]) -> None:
        media = frozenset(media)
        self._routes[name] = Route(name, _MEDIA.setdefault(media, media), up, down)

    def unit(self, slot: str = "comms") -> CommsUnit | None:
        return self._slots[slot].unit

    def routes_up(self) -> dict[str, str]:
        """{route name: slot} of the routes that are up."""
        return {r.name: r.slot for r in self._routes.values() if r.slot is not None}

    # ---------------------------------------------------------------- requests (queued)
    def request_insert(self, slot: str, unit: CommsUnit) -> None:
        self._queue.put_nowait(("insert", slot, unit))

    def request_remove(self, slot: str) -> None:
        self._queue.put_nowait(("remove", slot, None))

    def request_swap(self, slot: str, unit: CommsUnit) -> None:
        """What the ``sumame`` swap command / status-display key calls."""
        self._queue.put_nowait(("swap", slot, unit))

    async def run(self) -> None:
        while True:
            op, slot, unit = await self._queue.get()
            if op == "insert":
                self.results.append(await self.insert(slot, unit))
            elif op == "remove":
                self.results.append(await self.remove(slot))
            elif op == "swap":
                self.results.append(await self.swap(slot, unit))
            elif op == "routes-down":
                await self._routes_down(slot)
            elif op == "routes-up":
                await self._routes_up(slot)

    # ---------------------------------------------------------------- operations
    async def insert(self, slot: str, unit: CommsUnit) -> SwapResult:
        if slot not in self._slots:
            return self._fail(f"no comms slot {slot!r} (slots: {', '.join(self._slots)})")
        s = self._slots[slot]
        d = unit.descriptor
        label = (f"{d.model} (fw {d.firmware_version}; {'+'.join(m.value for m in d.media)}; "
                 f"{d.draw_va:.2f} VA)")
        if s.unit is not None:
            return self._fail(f"slot {slot} holds {s.unit.descriptor.model}: remove or swap it")
        admission = self.budget.request(
            f"comms:{slot}", load_class(d.media), d.draw_va, source=SOURCE,
            cut=lambda: self._shed(slot), restore=lambda: self._unshed(slot))
        if not admission.ok:
            return self._fail(f"{label} not powered: {admission.reason}", kind="comms-refused")
        try:
            unit.attach()
        except CommsError as exc:
            self.budget.release(f"comms:{slot}", source=SOURCE)
            return self._fail(f"{label} failed to start: {exc}", kind="comms-fault")
        s.unit, s.powered = unit, True
        self._events.record("comms-insert", source=SOURCE, detail=f"slot {slot}: {label}")
        up = await self._routes_up(slot)
        return SwapResult(True, f"{d.model} in slot {slot}", up)

    async def remove(self, slot: str, why: str = "removed") -> SwapResult:
        s = self._slots.get(slot)
        if s is None or s.unit is None:
            return self._fail(f"slot {slot!r} is empty")
        unit = s.unit
        await self._routes_down(slot)
        if s.powered:
            self._power_off(slot)
        self.budget.release(f"comms:{slot}", source=SOURCE)
        s.unit = None
        self._events.record("comms-remove", source=SOURCE,
                            detail=f"slot {slot}: {unit.descriptor.model} {why}")
        return SwapResult(True, f"{unit.descriptor.model} {why}")

    async def swap(self, slot: str, unit: CommsUnit) -> SwapResult:
        t0 = self._clock.now()
        old = self._slots[slot].unit if slot in self._slots else None
        if old is not None:
            await self.remove(slot, "removed for a swap")
        result = await self.insert(slot, unit)
        old_name = "empty slot" if old is None else old.descriptor.model
        self._events.record("comms-swap", source=SOURCE, severity=(
            Severity.INFO if result.ok else Severity.WARNING),
            detail=f"slot {slot}: {old_name} -> {unit.descriptor.model}: "
                   f"{'done' if result.ok else 'FAILED: ' + result.reason} in "
                   f"{self._clock.now() - t0:.1f} s")
        return result

    # ---------------------------------------------------------------- routes
    async def _routes_up(self, slot: str) -> tuple[str, ...]:
        unit = self._slots[slot].unit
        if unit is None or not self._slots[slot].powered:
            return ()
        media = set(unit.descriptor.media)
        started = []
        for route in self._routes.values():
            if route.slot is not None:
                continue
            if not route.media & media:
                continue
            try:
                await _maybe_await(route.up(unit))
            except Exception as exc:  # noqa: BLE001 - a route failing must not stop the others
                self._events.record("comms-route-fault", source=SOURCE, severity=Severity.WARNING,
                                    detail=f"{route.name} did not start on "
                                           f"{unit.descriptor.model}: {exc}")
                continue
            route.slot = slot
            started.append(route.name)
            self._events.record("comms-route-up", source=SOURCE,
                                detail=f"{route.name} up on {unit.descriptor.model}")
        missing = [r.name for r in self._routes.values() if r.slot is None]
        if missing:
            self._events.record("comms-route-down", source=SOURCE, severity=Severity.WARNING,
                                detail=f"no medium for {', '.join(missing)} on "
                                       f"{unit.descriptor.model}")
        return tuple(started)

    async def _routes_down(self, slot: str) -> None:
        unit = self._slots[slot].unit
        for route in self._routes.values():
            if route.slot != slot:
                continue
            route.slot = None
            try:
                await _maybe_await(route.down(unit))
            except Exception as exc:  # noqa: BLE001
                self._events.record("comms-route-fault", source=SOURCE, severity=Severity.WARNING,
                                    detail=f"{route.name} did not stop cleanly: {exc}")
            self._events.record("comms-route-down", source=SOURCE,
                                detail=f"{route.name} down on {unit.descriptor.model}")

    # ---------------------------------------------------------------- budget callbacks (sync)
    def _power_off(self, slot: str) -> None:
        s = self._slots[slot]
        s.powered = False
        try:
            s.unit.detach()
        except CommsError as exc:
            self._events.record("comms-fault", source=SOURCE, severity=Severity.WARNING,
                                detail=f"{s.unit.descriptor.model}: {exc}")

    def _shed(self, slot: str) -> None:
        self._power_off(slot)
        self._queue.put_nowait(("routes-down", slot, None))

    def _unshed(self, slot: str) -> None:
        s = self._slots[slot]
        try:
            s.unit.attach()
        except CommsError as exc:
            self._events.record("comms-fault", source=SOURCE, severity=Severity.WARNING,
                                detail=f"{s.unit.descriptor.model} did not restart: {exc}")
            return
        s.powered = True
        self._queue.put_nowait(("routes-up", slot, None))

    def _fail(self, reason: str, kind: str = "comms-refused") -> SwapResult:
        self._events.record(kind, source=SOURCE, severity=Severity.WARNING, detail=reason)
        return SwapResult(False, reason)

    # ---------------------------------------------------------------- reporting
    def summary(self) -> list[dict]:
        rows = []
        for name, s in self._slots.items():
            d = None if s.unit is None else s.unit.descriptor
            rows.append({"slot": name, "model": None if d is None else d.model,
                         "media": [] if d is None else [m.value for m in d.media],
                         "draw_va": None if d is None else d.draw_va,
                         "firmware": None if d is None else d.firmware_version,
                         "powered": s.powered,
                         "routes": sorted(r.name for r in self._routes.values()
                                          if r.slot == name)})
        return rows


async def _maybe_await(value) -> None:
    if inspect.isawaitable(value):
        await value


async def swap_comms_unit(manager: CommsManager, slot: str, unit: CommsUnit) -> SwapResult:
    """Swap in a task (tools call ``manager.request_swap`` from outside the scheduler)."""
    return await manager.swap(slot, unit)
