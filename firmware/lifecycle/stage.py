"""The lifecycle stage of the meter's boot: bootloader first, self-test and commit after.

``Meter`` (app.py) calls ``boot()`` before storage recovery — nothing of the application runs
unless a slot holds a verified image — and ``started()`` once the event log is on flash. On a
trial boot a task waits for the self-test (bundle check + one interval snapshot measured and
stored after the boot, within ``SELF_TEST_DEADLINE_S``); it commits the image, or restarts the
meter so the bootloader falls back (without a reset line it forgets the pending slot at once).

Events (source "bootloader"): ``firmware`` (what runs), ``firmware-update`` (transfer steps),
``firmware-committed``; security events (alarm) ``image-refused``, ``image-invalid``,
``image-fallback``, ``update-rolled-back``, ``boot-control-tamper`` / ``-corruption``.
"""
from __future__ import annotations

from dataclasses import replace

from sumame.firmware.core.events import Severity
from sumame.firmware.core.scheduler import Priority, sleep

from .bootloader import Bootloader, BootDecision, RunningImage
from .erase import finish_erase, is_decommissioned
from .selftest import SelfTestFailed, check_bundle
from .update import TransferStatus, UpdateAgent

SOURCE = "bootloader"
SELF_TEST_DEADLINE_S = 180.0
_SEVERITY = {"info": Severity.INFO, "warning": Severity.WARNING, "alarm": Severity.ALARM}


class Lifecycle:
    """nvm: the code flash; reset: the hardware's system reset (None = cannot restart itself)."""

    def __init__(self, meter, nvm, reset=None, block_size: int = 512):
        self.meter, self.nvm, self.reset = meter, nvm, reset
        self.loader = Bootloader(nvm, meter.config.device_key, meter.config.identity.kind)
        self.block_size = block_size
        self.decision: BootDecision | None = None
        self.agent: UpdateAgent | None = None
        self.self_test: str | None = None
        """None while pending / not on trial, else 'passed' or the failure."""
        self.installing = False
        """True for the provisioning step only: boot although the meter is marked decommissioned
        (the installer erased it and writes the new records; erase.begin_provisioning)."""

    @property
    def running(self) -> RunningImage | None:
        return None if self.decision is None else self.decision.running

    def boot(self) -> RunningImage:
        """Bootloader stage; raises NoBootableImage, or Decommissioned (after finishing the erase)."""
        self.decision = self.loader.boot()
        if is_decommissioned(self.loader.control) and not self.installing:
            finish_erase(self.meter)
        return self.decision.running

    def started(self) -> None:
        events, running = self.meter.events, self.running
        for note in self.decision.notes:
            events.record(note.kind, source=SOURCE, severity=_SEVERITY[note.severity], detail=note.detail)
        events.record("firmware", source=SOURCE, detail=f"running {running.describe()}"
                      + (" on trial" if running.trial else ""))
        self.agent = UpdateAgent(self.loader, running, block_size=self.block_size, report=self._report,
                                 reset=self._restart)
        if any(n.kind in ("update-rolled-back", "image-refused") for n in self.decision.notes):
            self.agent.status = TransferStatus.ACTIVATION_FAILED
        if running.trial:
            self.agent.status = TransferStatus.ACTIVATION_INITIATED
            self.meter.scheduler.spawn(self._trial(), name="firmware-self-test", priority=Priority.STORAGE)

    def _report(self, kind: str, detail: str, alarm: bool) -> None:
        if alarm:
            self.meter.events.record("image-refused", source=SOURCE, severity=Severity.ALARM,
                                     detail=f"{kind}: {detail}")
        else:
            self.meter.events.record("firmware-update", source=SOURCE, detail=f"{kind}: {detail}")

    def _restart(self) -> None:
        if self.reset is not None:
            self.reset()

    async def _trial(self) -> None:
        meter, running = self.meter, self.running
        booted = meter.clock.now()
        try:
            check_bundle(self.loader.slots[running.slot].image(), running.header)
            while True:
                newest = meter.registers.newest
                if newest is not None and newest.epoch > booted:
                    break
                if meter.clock.now() - booted > SELF_TEST_DEADLINE_S:
                    raise SelfTestFailed(f"no interval snapshot stored within {SELF_TEST_DEADLINE_S:.0f} s")
                await sleep(5.0)
        except SelfTestFailed as exc:
            self.self_test = str(exc)
            meter.events.record("update-rolled-back", source=SOURCE, severity=Severity.ALARM,
                                detail=f"self-test of {running.describe()} failed: {exc}; falling back")
            if self.reset is not None:
                self.reset()
            else:
                self.loader.abandon_trial()
            return
        state = self.loader.commit(running)
        self.decision.running = replace(running, trial=False)
        self.self_test = "passed"
        self.agent.status = TransferStatus.ACTIVATION_SUCCESSFUL
        meter.events.record("firmware-committed", source=SOURCE,
                            detail=f"{running.describe()} passed its self-test and is committed; "
                                   f"security floor {state.floor}")
