"""The emulated mains feeding a meter: outages that take it down and bring it back.

An LV meter is powered by the line it measures: when the line goes, the metering chip sees no
voltage, the firmware notices (power-fail event, last gasp if the board has hold-up energy),
then the supply dies and the meter stops where it is. When the line comes back the meter boots
again from its flash like a real one: counters from storage, the gap reconstructed from the
last proof of life, intervals across it no data.
"""
from __future__ import annotations

import heapq

from sumame.firmware.app import Meter
from sumame.firmware.core.scheduler import Event, Priority, sleep_until


class PowerSupervisor:
    """Runs as an emulated-hardware task next to one meter (``runtime``), started by the first
    outage scheduled (a meter whose mains never fail holds no task, frame or event for it: it
    would only ever wait; the task becomes ready when the outage is scheduled, as a waiting one
    was woken then)."""

    def __init__(self, runtime):
        self.rt = runtime
        self.supply = runtime.built.emulated["power"]
        self.chip = runtime.built.emulated.get("chip")
        flash = runtime.built.emulated.get("flash")
        if flash is not None:
            flash.powered = self.supply.alive
        code_flash = runtime.built.emulated.get("code_flash")
        if code_flash is not None:
            code_flash.powered = self.supply.alive
        self._plan: list[tuple[float, float]] = []
        self._changed: Event | None = None   # made with the task, at the first outage
        self.outages_done = 0
        self.reboots = 0
        self.meter_alive = True

    def schedule_outage(self, start: float, duration_s: float) -> None:
        """Line lost at ``start`` (epoch s) for ``duration_s`` seconds."""
        if duration_s <= 0:
            raise ValueError("an outage lasts > 0 s")
        heapq.heappush(self._plan, (start, start + duration_s))
        if self.chip is not None:
            self.chip.outage(start, start + duration_s)
        if self._changed is None:
            self._changed = Event()
            self.rt.scheduler.spawn(self.run(), name="emulated-mains", priority=Priority.METERING,
                                    group="hardware")
        self._changed.set()

    def outage_now(self, duration_s: float) -> None:
        self.schedule_outage(self.rt.clock.now(), duration_s)

    async def run(self) -> None:
        while True:
            if not self._plan:
                self._changed.clear()
                await self._changed.wait()
                continue
            start, end = heapq.heappop(self._plan)
            await sleep_until(start)
            self.supply.lose_line()
            dies_at = self.supply.dies_at()
            if dies_at is not None and dies_at < end:
                if dies_at > self.rt.clock.now():   # no hold-up left: down now, before any
                    await sleep_until(dies_at)      # task of the meter runs on a dead supply
                self._power_down()
            await sleep_until(end)
            self.supply.restore_line()
            self.outages_done += 1
            if not self.meter_alive:
                self._power_up()

    def _power_down(self) -> None:
        self.rt.meter.power_down()
        self.meter_alive = False

    def _power_up(self) -> None:
        rt = self.rt
        meter = Meter(rt.config, rt.built.hardware, rt.scheduler, rt.meter.storage.layout)
        rt.meter = meter
        meter.boot()
        self.meter_alive = True
        self.reboots += 1
        for callback in rt.on_reboot:
            callback(meter)


def attach(runtime) -> PowerSupervisor:
    """The meter's mains; its task starts with the first outage scheduled."""
    supervisor = runtime.extras["power"] = PowerSupervisor(runtime)
    return supervisor
