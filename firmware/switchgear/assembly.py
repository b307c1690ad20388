"""Switch and power subsystem of a meter, composed from its board settings.

Power budget (admission, brown-out shedding), outage detection (power fail / restore, last
gasp), the breaker with its authenticated A-route command API, the swappable comms units and
the customer USB port. The metering task feeds instantaneous samples to the breaker and the
outage monitor (one chip poll serves all three); the chip's over-current alarm wakes the breaker
between samples.

Board sections read (all optional; defaults in boards/schema.py):
``[breaker]`` limit_a, extra_steps_a, reclose_delay_s, lockout_trips, lockout_window_s;
``[comms]`` units; ``[meter]`` nominal_voltage_v.
"""
from __future__ import annotations

from .breaker import Breaker, BreakerConfig
from .breaker_task import BreakerTask, CurrentAlarmSource
from .comms_manager import CommsManager
from .control import SwitchControl
from .outage import OutageMonitor, OutageTask, OutageThresholds
from .power_budget import PowerBudget
from ..core.scheduler import Priority, sleep
from sumame.hal.power import ChangeSignal
from .usb_power import UsbPowerManager


class Switchgear:
    """Builds and starts the subsystem for ``meter`` (a firmware.app.Meter)."""

    def __init__(self, meter):
        cfg, hw = meter.config, meter.hw
        self.meter = meter
        clock, events, store = meter.clock, meter.events, meter.storage
        options = cfg.options
        breaker_opts = options.get("breaker", {})
        self.budget = PowerBudget(hw.power.source, events, clock, supply=hw.power)
        self.outage = OutageMonitor(store, events, clock, hold_up_s=self.budget.hold_up_s,
                                    thresholds=OutageThresholds(
                                        nominal_v=float(options.get("meter", {}).get("nominal_voltage_v", 100))))
        relay = hw.relay if cfg.identity.has_switch else None
        self.breaker = Breaker(relay, store, events, clock, BreakerConfig(
            limit_a=breaker_opts.get("limit_a", 30),
            extra_steps_a=tuple(breaker_opts.get("extra_steps_a", ())),
            reclose_delay_s=breaker_opts.get("reclose_delay_s", 15.0),
            lockout_trips=breaker_opts.get("lockout_trips", 8),
            lockout_window_s=breaker_opts.get("lockout_window_s", 600.0)),
            supply_ok=lambda: hw.power.supply_ok() and not self.outage.in_outage)
        self.control = SwitchControl(self.breaker, store, events, clock)
        asic = hw.asic
        period = cfg.metering.present_interval_s
        self.breaker_task = BreakerTask(
            self.breaker, clock, read=asic.read_instantaneous,
            alarm=(asic if isinstance(asic, CurrentAlarmSource) and getattr(asic, "irq_wired", True)
                   else None),   # a comparator whose IRQ goes nowhere is no alarm
            idle_period_s=max(3600.0, period), active_period_s=min(0.2, period))
        self.outage_task = OutageTask(self.outage, clock, read=None, heartbeat_s=3600.0)
        self.comms = CommsManager(self.budget, events, clock, slots=tuple(
            self.comms_slot(i) for i in range(max(1, len(hw.comms)))))
        port = hw.extras.get("usb_port")
        self.usb = UsbPowerManager(port, self.budget, events, clock) if port is not None else None
        self._period = period

    def boot(self, last_alive_hint: float | None) -> None:
        """Reconcile outage and breaker state (never strokes the relay)."""
        self.outage.boot(last_alive_hint=last_alive_hint)
        self.breaker.boot()

    def start(self, scheduler) -> None:
        scheduler.spawn(self.breaker_task.run(), name="breaker", priority=Priority.CONTROL)
        scheduler.spawn(self.outage_task.run(), name="outage", priority=Priority.CONTROL)
        if self.usb is not None:
            self.usb.start()
        scheduler.spawn(self._power_polls(), name="power-budget", priority=Priority.CONTROL)
        scheduler.spawn(self.comms.run(), name="comms-units", priority=Priority.COMMS)
        for index, unit in enumerate(self.meter.hw.comms):
            self.comms.request_insert(self.comms_slot(index), unit)

    async def _power_polls(self) -> None:
        """Task: every period the budget's poll (over-draw, brown-out), then the USB port's
        (hot-plug, retry after a shed) — at the instants and in the order of two polling tasks,
        with one wake. A poll is skipped when it cannot find anything new: the supply and the
        port announce every change (``hal.power.ChangeSignal``), none came, the loads are as
        the last poll left them and neither side is timing anything (``settled``); a part that
        does not announce its changes is polled every period."""
        budget, usb, period = self.budget, self.usb, self._period
        parts = [self.meter.hw.power] + ([usb.port] if usb is not None else [])
        signalled = all(isinstance(p, ChangeSignal) for p in parts)
        changed = [True]

        def listener() -> None:
            changed[0] = True
        if signalled:
            for part in parts:
                part.change_listeners.append(listener)
        version = None
        try:
            while True:
                if changed[0] or version != budget.version or not signalled or not (
                        budget.settled() and (usb is None or usb.settled())
                        and all(p.changes_signalled() for p in parts)):
                    changed[0] = False
                    budget.poll()
                    if usb is not None:
                        usb.poll()
                    version = budget.version
                await sleep(period)
        finally:   # the parts outlive this meter (a reset boots a new one on the same hardware)
            if signalled:
                for part in parts:
                    if listener in part.change_listeners:
                        part.change_listeners.remove(listener)

    @staticmethod
    def comms_slot(index: int) -> str:
        return "comms" if index == 0 else f"comms-{index + 1}"

    def shutdown(self) -> None:
        self.outage.shutdown()
