"""Time-driven behaviour of emulated hardware, run as tasks next to the firmware.

The emulated parts are passive objects; what must happen *at a moment in time* without the
firmware asking (an interrupt line going active, the supply dying when the hold-up energy is
spent) is scheduled here, on the same clock as the firmware (Renode-style: the platform owns
time, peripherals get events).
"""
from __future__ import annotations

from sumame.firmware.core.scheduler import Event, Priority

IRQ_HORIZON_S = 6 * 3600.0


class ChipIrqLine:
    """Asserts the metering chip's IRQ when a load crosses its over-current threshold.

    Plans the next crossing from the chip's load profile, sleeps until then, lets the chip
    evaluate its alarms (which calls the driver's IRQ handler); then plans the moment the current
    falls below the threshold again and lets the chip see that too (its status bit follows the
    current, so every later rise is a new interrupt). Re-plans whenever the chip's alarm
    configuration or the relay changes.
    """

    def __init__(self, chip, clock):
        self.chip, self.clock = chip, clock
        self._replan = Event()
        chip.on_config_change = self._replan.set
        self.raised = 0

    async def run(self) -> None:
        while True:
            now = self.clock.now()
            due = self.chip.next_over_current(now, IRQ_HORIZON_S)
            if due is not None and due <= now:
                if not self.chip.over_current_latched():
                    self.raised += 1
                self.chip.poll_alarms()   # a rising edge raises the IRQ
                # follow the current down: the comparator must see it fall below OIth, or the
                # next overload (an idle breaker waits for it) would not be an edge
                due = self.chip.next_current_below(now, IRQ_HORIZON_S)
            elif self.chip.over_current_latched():
                self.chip.poll_alarms()   # below OIth now (or disconnected): the bit falls
            wake = due if due is not None else now + IRQ_HORIZON_S
            self._replan.clear()
            await self._replan.wait(timeout=max(0.0, wake - now))


async def serve_gpio_irq(line, asic) -> None:
    """A real chip's IRQ pin (drivers/gpio_irq.py): run the driver's handler on this thread."""
    from sumame.firmware.core.scheduler import readable

    while True:
        await readable(line)
        if line.drain():
            asic.handle_irq()


def spawn_hardware_tasks(runtime) -> None:
    line = runtime.built.hardware.extras.get("asic_irq_line")
    if line is not None:
        runtime.scheduler.spawn(serve_gpio_irq(line, runtime.built.hardware.asic), name="asic-irq",
                                priority=Priority.METERING, group="hardware")
    chip = runtime.built.emulated.get("chip")
    if chip is not None and runtime.built.hardware.relay is not None:
        line = runtime.extras["irq_line"] = ChipIrqLine(chip, runtime.clock)
        runtime.scheduler.spawn(line.run(), name="emulated-asic-irq", priority=Priority.METERING,
                                group="hardware")
