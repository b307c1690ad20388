"""Boot: build the meter's task set from its configuration and hardware.

``Meter(config, hardware, scheduler).boot()`` recovers storage, restores the registers and the
cumulative counters, reports what it found (events), starts the chip and spawns the tasks:

    priority METERING  metering    poll the chip, snapshot every minute boundary
    priority STORAGE   scrub       re-verify flash pages in the background

Later layers (routes, breaker, comms) add their own tasks through ``meter.scheduler``.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field

from sumame.hal import Hardware
from sumame.hal.errors import HalError

from .core.events import EventLog, Severity
from .lifecycle import provisioning
from .lifecycle.stage import Lifecycle
from .metrology.meter_readings import RegisterReadings
from .metrology.metering import Metering, MeteringConfig
from .metrology.readings import MeterIdentity, RegisterScaling
from .metrology.registers import IntervalRegisters, Retention, Snapshot
from .core.scheduler import Overrun, Priority, Scheduler, sleep
from .services import SERVICE_FACTORIES
from .metrology.snapshot_history import SnapshotHistory
from .storage.store import BootReport, Storage, StorageLayout, plan_layout
from .switchgear.assembly import Switchgear

log = logging.getLogger("sumame.meter")

_SESSION = "meter.session"
_CHECKPOINT = "metering.checkpoint"


@dataclass(frozen=True)
class MeterConfig:
    """Everything the firmware needs to know about its board (units in the field docs).

    device_key: per-device secret for the storage HMAC chain (bytes)
    watchdog_budget_s: longest a task may run without yielding before it is reported
    scrub_interval_s: seconds between background re-verifications of one flash page
    """

    identity: MeterIdentity
    scaling: RegisterScaling
    device_key: bytes
    metering: MeteringConfig = MeteringConfig()
    retention: Retention = Retention()
    transmitted_interval_min: int = 30
    watchdog_budget_s: float = 0.25
    scrub_interval_s: float = 60.0
    options: dict = field(default_factory=dict)
    """Free-form settings for later layers (routes, breaker), keyed by section name."""


class Meter:
    """One meter: hardware + firmware state + tasks on a scheduler."""

    def __init__(self, config: MeterConfig, hardware: Hardware, scheduler: Scheduler,
                 layout: StorageLayout | None = None):
        self.config, self.hw, self.scheduler = config, hardware, scheduler
        self.clock = scheduler.clock
        nvm = hardware.nvm
        self.events = EventLog(self.clock, logger=log)
        self.registers = IntervalRegisters(config.retention, config.transmitted_interval_min)
        self.storage = Storage(nvm, layout or plan_layout(nvm.page_size, nvm.page_count, config.retention),
                               config.device_key, self.clock,
                               counter=hardware.extras.get("monotonic_counter"))
        self.metering = Metering(hardware.asic, self.clock, self.registers, self.events,
                                 self._on_snapshot, config.metering)
        self.readings = RegisterReadings(config.identity, config.scaling, self.metering,
                                         self.registers, self.clock)
        self.boot_report: BootReport | None = None
        self.booted_at = self.clock.now()
        self.findings_seen: set = set()
        self.switchgear = None
        self.services: list = []
        self.group = f"meter:{config.identity.serial}:{id(self):x}"
        code_nvm = hardware.extras.get("code_nvm")
        self.lifecycle = None if code_nvm is None else Lifecycle(
            self, code_nvm, hardware.extras.get("system_reset"),
            block_size=config.options.get("firmware", {}).get("block_size", 512))
        """Bootloader, A/B image slots and updates (only on boards with a code flash)."""
        scheduler.on_overrun = self._on_overrun

    # ------------------------------------------------------------------ boot
    def boot(self) -> BootReport:
        """Power-on sequence; every task spawned here or by these tasks belongs to this meter."""
        previous, self.scheduler.current_group = self.scheduler.current_group, self.group
        try:
            return self._boot()
        finally:
            self.scheduler.current_group = previous

    def _boot(self) -> BootReport:
        if self.lifecycle is not None:   # bootloader stage: raises NoBootableImage
            self.lifecycle.boot()
        report = self.storage.boot(self.config.retention)
        self.boot_report = report
        for event in report.events:
            self.events.restore(event)
        self.events.sink = self.storage.event_sink
        self.storage.events = self.events
        self._report_storage(report)
        provisioning.apply(self)        # the provisioned identity / keys / Wi-Fi over the board's
        if self.lifecycle is not None:
            self.lifecycle.started()
        kept = self.registers.restore(report.snapshots)
        self.history = SnapshotHistory(self.storage)
        self.history.load(report.recoveries)
        self.storage.page_hint = self.history.page_newest   # evictions skip unneeded read-backs
        self.registers.attach_history(self.history)
        latest, session = self._restore_counters(report)
        report.snapshots = report.snapshots[-1:]   # the history is read from flash from now on
        for name in ("long", "mid", "short"):       # and so are the records (see record_counts)
            report.recoveries[name].records = []
        self.metering.restore(latest, session)
        self.storage.save(_SESSION, struct.pack(">I", session))
        self.events.record("boot", source="firmware",
                           detail=f"{self.config.identity.kind.upper()} meter {self.config.identity.serial}: "
                                  f"{kept} snapshots restored, session {session}")
        self.switchgear = Switchgear(self)
        newest = report.snapshots[-1].epoch if report.snapshots else None
        self.switchgear.boot(last_alive_hint=newest)
        self.metering.voltage_listeners.append(self.switchgear.outage.feed)
        self.metering.sample_listeners.append(self.switchgear.breaker_task.feed)
        self.metering.sample_wanted = self.switchgear.breaker_task.wants_feed
        self.metering.measuring = lambda: not self.switchgear.outage.in_outage
        self.metering.supervisor.ready(self.clock.now())   # start the chip (retried by metering)
        self.scheduler.spawn(self.metering.run(), name="metering", priority=Priority.METERING)
        self.scheduler.spawn(self._scrub(), name="storage-scrub", priority=Priority.STORAGE)
        self.switchgear.start(self.scheduler)
        for factory in SERVICE_FACTORIES:
            service = factory(self, self.switchgear)
            if service is not None:
                service.start()
                self.services.append(service)
        return report

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        """(name, address) of every interface the meter's services serve."""
        return [ep for service in self.services for ep in service.endpoints]

    def _restore_counters(self, report: BootReport) -> tuple[Snapshot | None, int]:
        latest = report.snapshots[-1] if report.snapshots else None
        sessions = [s.session for s in report.snapshots]
        stored_session = report.state.get(_SESSION)
        if stored_session is not None and len(stored_session) == 4:
            sessions.append(struct.unpack(">I", stored_session)[0])
        checkpoint = report.state.get(_CHECKPOINT)
        if checkpoint is not None and len(checkpoint) == 8 + Snapshot.SIZE:
            at = struct.unpack(">d", checkpoint[:8])[0]
            snap = Snapshot.unpack(checkpoint[8:])
            sessions.append(snap.session)
            if latest is None or at > latest.epoch:
                latest = snap
        return latest, max(sessions, default=0) + 1

    def _report_storage(self, report: BootReport) -> None:
        for finding in report.findings():
            severity = Severity.INFO if finding.kind == "torn" else Severity.ALARM
            kind = "torn-write" if finding.kind == "torn" else finding.kind
            self.events.record(kind, source="storage", severity=severity, detail=finding.detail)
        for note in report.notes:
            self.events.record("corruption" if note.startswith("CORRUPTION") else "storage",
                               source="storage", severity=Severity.WARNING, detail=note)
        for warning in getattr(self.hw.nvm, "warnings", []):
            self.events.record("corruption", source="storage", severity=Severity.ALARM, detail=warning)

    # ------------------------------------------------------------------ run time
    def _on_snapshot(self, snap: Snapshot) -> None:
        self.registers.add(snap)
        if self.storage.append_snapshot(snap) is not None:   # not stored: alarm raised, nothing to index
            self.history.appended(snap)

    async def _scrub(self) -> None:
        while True:
            await sleep(self.config.scrub_interval_s)
            for journal, page, offset, kind, seq in self.storage.scrub():
                key = (journal, page, offset)
                if key in self.findings_seen:
                    continue
                self.findings_seen.add(key)
                self.events.record(kind, source="storage", severity=Severity.ALARM,
                                   detail=f"{journal}: record seq {seq} at page {page}+{offset} "
                                          f"changed on flash (found by scrub)")

    def _on_overrun(self, overrun: Overrun) -> None:
        self.events.record("watchdog", source="scheduler", severity=Severity.WARNING,
                           detail=f"task {overrun.task.name} ran {overrun.seconds * 1e3:.0f} ms without yielding")

    def checkpoint(self) -> None:
        """Save the live counters (orderly shutdown, last gasp) so a restart loses nothing."""
        now = self.clock.now()
        snap = self.metering.snapshot(int(now // 60))
        self.storage.save(_CHECKPOINT, struct.pack(">d", now) + snap.pack())

    def shutdown(self) -> None:
        """Orderly stop: final poll, checkpoint, event, cancel tasks."""
        try:
            self.metering.poll()
        except HalError:
            pass
        for service in reversed(self.services):
            getattr(service, "checkpoint", lambda: None)()   # e.g. the external-connection log batch
            service.stop()
        self.checkpoint()
        if self.switchgear is not None:
            self.switchgear.shutdown()
        self.events.record("shutdown", source="firmware", detail="orderly shutdown; counters saved")
        self.scheduler.kill_group(self.group)

    def power_down(self) -> None:
        """The supply is gone (hold-up exhausted): this meter's tasks stop where they are and
        its sockets close, as when the process of a real meter loses power. Nothing is saved."""
        for service in self.services:
            try:
                service.stop()
            except Exception:  # noqa: BLE001 - dying anyway
                log.debug("service %s did not stop cleanly at power down", service.name)
        self.scheduler.kill_group(self.group)

    # ------------------------------------------------------------------ status
    @property
    def uptime_s(self) -> float:
        return self.clock.now() - self.booted_at
