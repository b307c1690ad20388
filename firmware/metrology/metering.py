"""Metrology task: ASIC -> cumulative energies, power, current, voltage, minute snapshots.

The task polls the metering chip at least every ``poll_interval_s`` and exactly at every minute
boundary (JST-aligned), adds the chip's energy deltas to exact integer counters (mWh, mvarh),
integrates voltage over time (a voltage sample every ``present_interval_s`` at most), and hands
a ``Snapshot`` of the counters at every boundary to the registers and storage.

Power and current are read from the chip only when somebody needs them: a full reading at a
poll only while ``sample_wanted()`` (the breaker without an armed over-current comparator, or
with an auto-reclose pending), otherwise when ``present`` is read (B-route, A-route,
display) and the last reading is older than ``present_interval_s``. A chip that can read its
voltage registers alone (``read_voltage()``) is asked for just those at the other polls (with
the energy in one call, ``read_energy_voltage()``, where the chip offers that).

Cumulative register values follow the meter's display rule: the counter divided by the register
unit (ECHONET E1), truncated, modulo 10**digits (8 significant digits by default), so they roll
over like the meter's register does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from sumame.hal.errors import HalError
from sumame.hal.jst import floor_boundary, next_boundary
from sumame.hal.metering_asic import Instantaneous

from .asic_supervisor import AsicSupervisor
from ..core.events import EventLog, Severity
from .readings import Present
from .registers import IntervalRegisters, Snapshot
from ..core.scheduler import sleep_until

log = logging.getLogger("sumame.metering")


@dataclass(frozen=True)
class MeteringConfig:
    """poll_interval_s: how often energy is read between boundaries (s; bounded by the chip's
    ``max_poll_interval_s``); present_interval_s: how often a poll takes a voltage sample, and
    how old a power/current reading may be before ``present`` reads the chip again (s)."""

    poll_interval_s: float = 1.0
    present_interval_s: float = 1.0


def register_value(counter_mwh: int, unit_kwh: float, digits: int) -> int:
    """Raw register reading: counter in register units, truncated, rolled over at 10**digits."""
    return (counter_mwh // round(unit_kwh * 1_000_000)) % (10 ** digits)


class Metering:
    """The metering task and the live counters.

    on_snapshot: called with every boundary Snapshot (registers + storage hook)
    """

    def __init__(self, asic, clock, registers: IntervalRegisters, events: EventLog,
                 on_snapshot: Callable[[Snapshot], None], config: MeteringConfig = MeteringConfig()):
        self.asic, self.clock, self.registers, self.events = asic, clock, registers, events
        self.on_snapshot = on_snapshot
        self.config = config
        self.counters = {"forward": 0, "reverse": 0, "reactive_lag": 0, "reactive_lead": 0}
        self.volt_mvs = [0, 0]
        self.volt_time_ms = 0
        self.session = 0
        self._present = Present(None, (None, None), (None, None), clock.now())
        self.instantaneous: Instantaneous | None = None
        """The latest full reading of the chip (None before the first)."""
        self.polls = 0
        self.bus_errors = 0
        self.last_good_read = clock.now()
        self._last_volt_t: float | None = None
        self._last_present = -1e18      # epoch s of the last full reading
        self._last_volt_sample = -1e18  # epoch s of the last voltage sample (full or alone)
        self._broken = False
        self._outage = False
        self.supervisor = AsicSupervisor(asic, events)
        """Starts the chip (boot, retries, after a reset); see asic_supervisor.py."""
        self.sample_listeners: list[Callable[[float, Instantaneous], None]] = []
        """Called with every full instantaneous reading of a poll (the breaker)."""
        self.voltage_listeners: list[Callable[[float, tuple], None]] = []
        """Called with every voltage sample of a poll, epoch s and (V_R, V_T) (outage detection)."""
        self.sample_wanted: Callable[[], bool] = lambda: True
        """True when the next poll must read power and current too (for ``sample_listeners``)."""
        self._read_voltage = getattr(asic, "read_voltage", None)
        self._read_both = getattr(asic, "read_energy_voltage", None)
        """A chip that reads energy and then voltage in one call (the fleet's HAL-level chip)."""
        self.measuring: Callable[[], bool] = lambda: True
        """False while the meter cannot measure (supply lost): intervals become no data."""

    # ------------------------------------------------------------------ state
    def restore(self, snapshot: Snapshot | None, session: int) -> None:
        """Continue the counters from storage; start a new measurement session."""
        if snapshot is not None:
            self.counters = {"forward": snapshot.forward_mwh, "reverse": snapshot.reverse_mwh,
                             "reactive_lag": snapshot.reactive_pos_mvarh,
                             "reactive_lead": snapshot.reactive_neg_mvarh}
            self.volt_mvs = [snapshot.volt_mvs_r, snapshot.volt_mvs_t]
            self.volt_time_ms = snapshot.volt_time_ms
        self.session = session

    def snapshot(self, minute: int) -> Snapshot:
        c = self.counters
        return Snapshot(minute, self.session, c["forward"], c["reverse"], c["reactive_lag"],
                        c["reactive_lead"], self.volt_mvs[0], self.volt_mvs[1], self.volt_time_ms)

    # ------------------------------------------------------------------ task
    async def run(self) -> None:
        """Poll forever; snapshot at every minute boundary."""
        cfg = self.config
        interval = min(cfg.poll_interval_s, getattr(self.asic, "max_poll_interval_s", 60.0) * 0.9, 60.0)
        self.poll()
        now = self.clock.now()
        if now == floor_boundary(now, 1) and not self._broken:  # booted exactly on a boundary
            self.on_snapshot(self.snapshot(int(now) // 60))
        boundary = next_boundary(now, 1)
        while True:
            now = self.clock.now()
            await sleep_until(min(now + interval, boundary))
            self.poll()
            if self.clock.now() >= boundary:
                if not self._broken:
                    self.on_snapshot(self.snapshot(boundary // 60))
                boundary = next_boundary(self.clock.now(), 1)

    def poll(self) -> None:
        """Read energy (and instantaneous values when due) from the chip."""
        now = self.clock.now()
        if not self.supervisor.ready(now):
            self._broken = True   # the chip is not configured: this stretch is not measured
            return
        try:
            if now - self._last_volt_sample < self.config.present_interval_s:
                delta = self.asic.read_energy()
            elif self._read_voltage is None or self.sample_wanted():
                delta = self.asic.read_energy()
                self._read_present(now)
            elif self._read_both is not None:
                delta, volts = self._read_both()
                self._voltage_sample(now, volts)
            else:
                delta = self.asic.read_energy()
                self._voltage_sample(now, self._read_voltage())
        except HalError as exc:
            self.bus_errors += 1
            if self.supervisor.failed(exc, now):
                self._broken = True
                return
            if now - self.last_good_read > getattr(self.asic, "max_poll_interval_s", 60.0):
                if not self._broken:
                    self.events.record("metering-gap", source="metering", severity=Severity.ALARM,
                                       detail=f"metering chip unreadable since "
                                              f"{now - self.last_good_read:.0f} s: {exc}")
                self._broken = True
            else:
                log.warning("metering chip read failed (%s); retrying", exc)
            return
        if not self.measuring():
            self._broken = True  # supply lost: this stretch is not measured
            self._outage = True
        elif self._broken:  # energy may have been lost while the chip was unreadable
            self._broken = False
            self.session += 1
            if not self._outage:
                self.events.record("metering-resumed", source="metering", severity=Severity.WARNING,
                                   detail="chip readable again; intervals across the gap are no data")
            self._outage = False
        self.last_good_read = now
        self.polls += 1
        c = self.counters
        c["forward"] += delta.forward_mwh
        c["reverse"] += delta.reverse_mwh
        c["reactive_lag"] += delta.reactive_pos_mvarh
        c["reactive_lead"] += delta.reactive_neg_mvarh

    @property
    def present(self) -> Present:
        """Power, current and voltage now: read from the chip when the last full reading is
        older than ``present_interval_s`` (a chip that cannot be read leaves the last values)."""
        now = self.clock.now()
        if now - self._last_present >= self.config.present_interval_s and self.supervisor.started:
            try:
                inst = self.asic.read_instantaneous()
            except HalError as exc:
                self.bus_errors += 1
                log.warning("metering chip unreadable for a present reading (%s)", exc)
            else:
                self._set_present(now, inst)
        return self._present

    def _read_present(self, now: float) -> None:
        """A poll's full reading: present values, listeners, voltage sample."""
        inst = self.asic.read_instantaneous()
        self._set_present(now, inst)
        self._voltage_sample(now, inst.voltage_v, inst)

    def _voltage_sample(self, now: float, voltage_v, inst: Instantaneous | None = None) -> None:
        """Feed the listeners (voltage first, then a full reading's), then integrate voltage
        (V x s per element) since the previous sample."""
        for listener in self.voltage_listeners:
            listener(now, voltage_v)
        if inst is not None:
            for listener in self.sample_listeners:
                listener(now, inst)
        self._last_volt_sample = now
        if self._last_volt_t is not None:
            dt = min(now - self._last_volt_t, 2 * max(self.config.present_interval_s, self.config.poll_interval_s))
            vr, vt = voltage_v
            self.volt_mvs[0] += int(round((vr or 0.0) * 1000 * dt))
            self.volt_mvs[1] += int(round((vt or 0.0) * 1000 * dt))
            self.volt_time_ms += int(round(dt * 1000))
        self._last_volt_t = now

    def _set_present(self, now: float, inst: Instantaneous) -> None:
        self.instantaneous = inst
        self._last_present = now
        ir, it = inst.current_a
        vr, vt = inst.voltage_v
        self._present = Present(
            power_w=int(round(inst.active_w)),
            current_da=(None if ir is None else int(round(ir * 10)),
                        None if it is None else int(round(it * 10))),
            voltage_dv=(None if vr is None else int(round(vr * 10)),
                        None if vt is None else int(round(vt * 10))),
            at=now)
