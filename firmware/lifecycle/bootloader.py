"""The bootloader stage: pick the image to run, try a pending update once, fall back by itself.

At every boot (``Bootloader.boot``), before the application starts:

1. boot control is recovered (journal: old or new record after a cut, never neither);
2. a *pending* slot that was never tried is fully verified (structure, Ed25519 signature by a
   provisioned release key, payload SHA-256, board kind, security version >= floor); if it
   passes, ``trial`` is committed to flash *before* it runs, and it boots on trial;
3. a pending slot already tried (the trial boot died or its self-test failed before commit)
   is abandoned: the previous image boots again (rollback);
4. otherwise the active slot boots, after the same verification; if it no longer verifies
   (rot, tampering) the other slot is used when it verifies; with neither,
   :class:`NoBootableImage` stops the boot — the meter never runs an unsigned or torn image.

``commit`` (after the trial image's self-test passed) makes the trial slot active and raises
the security floor to its security version, so older vulnerable images can never boot again.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .bootctl import BootControl, BootState
from .image import ImageError, ImageHeader, Policy, verify_image
from .slots import CodeFlashLayout, Slot


class NoBootableImage(Exception):
    """No slot holds an image that verifies: the meter does not start."""


@dataclass(frozen=True)
class RunningImage:
    slot: int
    header: ImageHeader
    trial: bool = False

    @property
    def slot_name(self) -> str:
        return "AB"[self.slot]

    def describe(self) -> str:
        return f"{self.header.version_text} ({self.header.build_id}, slot {self.slot_name})"


@dataclass
class BootNote:
    """Something the bootloader did or refused: kind, 'info' | 'warning' | 'alarm', detail."""

    kind: str
    severity: str
    detail: str


@dataclass
class BootDecision:
    running: RunningImage
    notes: list[BootNote] = field(default_factory=list)


class Bootloader:
    def __init__(self, nvm, key: bytes, target: str):
        self.nvm, self.target = nvm, target
        self.layout = CodeFlashLayout.of(nvm)
        self.control = BootControl(nvm, 0, self.layout.control_pages, key)
        self.slots = (Slot(nvm, self.layout, 0), Slot(nvm, self.layout, 1))
        self.loaded = False

    def policy(self, floor: int | None = None) -> Policy:
        return Policy(self.target, self.control.keys,
                      self.control.boot.floor if floor is None else floor, self.layout.capacity)

    def load(self, notes: list[BootNote] | None = None) -> None:
        recovery = self.control.load()
        self.loaded = True
        for finding in recovery.findings:
            if notes is not None and finding.kind != "torn":
                notes.append(BootNote("boot-control-" + finding.kind, "alarm", finding.detail))

    def check(self, slot: int, floor: int | None = None) -> ImageHeader:
        """Fully verify the image in ``slot``; raises ImageError."""
        return verify_image(self.slots[slot].image(), self.policy(floor))

    # ------------------------------------------------------------------ boot
    def boot(self) -> BootDecision:
        notes: list[BootNote] = []
        self.load(notes)
        if not self.control.keys:
            raise NoBootableImage("no release keys provisioned in boot control")
        try:
            state = self.control.boot
        except (ValueError, struct.error) as exc:
            notes.append(BootNote("boot-control-corruption", "alarm", f"boot record unreadable: {exc}"))
            state = BootState()
        if state.pending is not None:
            name = "AB"[state.pending]
            if state.trial:
                self.control.set_boot(BootState(state.active, None, False, state.floor))
                notes.append(BootNote("update-rolled-back", "alarm",
                                      f"image in slot {name} was tried once and never committed "
                                      f"(self-test failed or the trial boot died); back to slot "
                                      f"{'AB'[state.active]}"))
                state = self.control.boot
            else:
                try:
                    header = self.check(state.pending, state.floor)
                except ImageError as exc:
                    self.control.set_boot(BootState(state.active, None, False, state.floor))
                    notes.append(BootNote("image-refused", "alarm", f"pending image in slot {name}: {exc}"))
                    state = self.control.boot
                else:
                    self.control.set_boot(BootState(state.active, state.pending, True, state.floor))
                    notes.append(BootNote("update-trial", "warning",
                                          f"booting {header.version_text} ({header.build_id}) from slot "
                                          f"{name} on trial"))
                    return BootDecision(RunningImage(state.pending, header, trial=True), notes)
        for slot in (state.active, 1 - state.active):
            try:
                header = self.check(slot, state.floor)
            except ImageError as exc:
                notes.append(BootNote("image-invalid", "alarm", f"slot {'AB'[slot]} does not verify: {exc}"))
                continue
            if slot != state.active:
                self.control.set_boot(BootState(slot, None, False, state.floor))
                notes.append(BootNote("image-fallback", "alarm", f"booting slot {'AB'[slot]} instead"))
            return BootDecision(RunningImage(slot, header), notes)
        raise NoBootableImage("neither slot holds an image that verifies: "
                              + "; ".join(n.detail for n in notes if n.kind == "image-invalid"))

    def commit(self, running: RunningImage) -> BootState:
        """The trial image passed its self-test: make it active, raise the floor."""
        state = self.control.boot
        floor = max(state.floor, running.header.security_version)
        new = BootState(running.slot, None, False, floor)
        self.control.set_boot(new)
        return new

    def abandon_trial(self) -> None:
        """Self-test failed and the meter cannot reset itself: forget the pending slot now."""
        state = self.control.boot
        self.control.set_boot(BootState(state.active, None, False, state.floor))


def factory_install(nvm, key: bytes, target: str, image: bytes, release_keys: tuple[bytes, ...]) -> ImageHeader:
    """Factory programming of a blank code flash: release keys, then the first image in slot A.
    Raises ImageError when the image does not verify against those keys."""
    loader = Bootloader(nvm, key, target)
    loader.load()
    loader.control.provision_keys(tuple(release_keys))
    header = verify_image(image, loader.policy(0))
    slot = loader.slots[0]
    slot.erase_for(len(image))
    slot.program(0, image)
    loader.control.set_boot(BootState(0, None, False, header.security_version))
    return header
