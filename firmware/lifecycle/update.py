"""The update state machine behind DLMS image transfer (class 18), independent of the codec.

    initiate(identifier, size)   choose the inactive slot, erase it, remember the transfer
                                 (same identifier and size as the remembered one: resume)
    block(n, data)               program block n into the slot, then clear its bitmap bit
    verify()                     all blocks present, then signature, hash, board, version floor
    activate()                   only after a successful verify: mark the slot pending and ask
                                 for a reset (the bootloader tries it once, see bootloader.py)

Refusals raise :class:`UpdateRefused` (``kind`` names why) and are recorded as security events by
the caller-supplied ``report``. The transfer record and the bitmap are on flash, so a head-end
resumes an interrupted transfer after a power cut by reading which blocks are missing.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Callable

from sumame.hal.errors import HalError

from .bootctl import BootState, TransferRecord
from .bootloader import Bootloader, RunningImage
from .image import PAYLOAD_OFFSET, ImageError, ImageHeader, decode_header, verify_header, verify_image
from .slots import SlotError

MIN_BLOCK, MAX_BLOCK = 16, 4096


class TransferStatus(IntEnum):
    """image_transfer_status (class 18 attribute 6)."""

    NOT_INITIATED = 0
    INITIATED = 1
    VERIFICATION_INITIATED = 2
    VERIFICATION_SUCCESSFUL = 3
    VERIFICATION_FAILED = 4
    ACTIVATION_INITIATED = 5
    ACTIVATION_SUCCESSFUL = 6
    ACTIVATION_FAILED = 7


class UpdateRefused(Exception):
    """kind: not-enabled | state | size | block | flash | image kinds of ImageError."""

    def __init__(self, kind: str, detail: str):
        self.kind, self.detail = kind, detail
        super().__init__(f"{kind}: {detail}")


class UpdateAgent:
    """report(kind, detail, alarm: bool) logs an event; reset() restarts the meter (may be None)."""

    def __init__(self, loader: Bootloader, running: RunningImage, *, block_size: int = 512,
                 report: Callable[[str, str, bool], None], reset: Callable[[], None] | None = None):
        if not MIN_BLOCK <= block_size <= MAX_BLOCK:
            raise ValueError(f"block size must be {MIN_BLOCK}..{MAX_BLOCK} bytes")
        self.loader, self.running, self.report, self.reset = loader, running, report, reset
        self.block_size = block_size
        self.enabled = True
        self.status = TransferStatus.NOT_INITIATED
        self.verified: ImageHeader | None = None
        self._done: list[bool] = []
        record = loader.control.transfer
        if record is not None and record.slot != running.slot and record.block_size == block_size:
            self.status = TransferStatus.INITIATED
            self._done = loader.slots[record.slot].blocks_done(self._count(record.size))

    # ------------------------------------------------------------------ attributes
    @property
    def record(self) -> TransferRecord | None:
        return self.loader.control.transfer

    @property
    def target_slot(self) -> int:
        return 1 - self.running.slot

    def _count(self, size: int) -> int:
        return -(-size // self.block_size)

    def blocks_status(self) -> list[bool]:
        return list(self._done)

    def first_missing(self) -> int:
        return next((i for i, done in enumerate(self._done) if not done), len(self._done))

    # ------------------------------------------------------------------ methods
    def _refuse(self, kind: str, detail: str, alarm: bool = True) -> UpdateRefused:
        self.report(kind, detail, alarm)
        return UpdateRefused(kind, detail)

    def initiate(self, identifier: bytes, size: int) -> None:
        if not self.enabled:
            raise self._refuse("not-enabled", "image transfer is disabled", False)
        slot = self.loader.slots[self.target_slot]
        if size < PAYLOAD_OFFSET or size > slot.capacity or self._count(size) > slot.max_blocks:
            raise self._refuse("oversized" if size > slot.capacity else "size",
                               f"image of {size} bytes refused; slot {slot.name} holds "
                               f"{PAYLOAD_OFFSET}..{slot.capacity} bytes")
        record = TransferRecord(slot.index, size, self.block_size, bytes(identifier))
        self.verified = None
        if self.record == record and self.status is not TransferStatus.NOT_INITIATED:
            self.status = TransferStatus.INITIATED
            self.report("update-resumed", f"transfer of {bytes(identifier).hex()} resumed at block "
                                          f"{self.first_missing()}", False)
            return
        state = self.loader.control.boot
        if state.pending is not None:
            self.loader.control.set_boot(BootState(state.active, None, False, state.floor))
        try:
            self.loader.control.set_transfer(None)
            slot.erase_for(size)
            self.loader.control.set_transfer(record)
        except HalError as exc:
            raise self._refuse("flash", f"slot {slot.name} cannot be prepared: {exc}") from None
        self._done = [False] * self._count(size)
        self.status = TransferStatus.INITIATED
        self.report("update-initiated", f"image {bytes(identifier).hex()}, {size} bytes, {len(self._done)} blocks "
                                        f"of {self.block_size} B into slot {slot.name}", False)

    def block(self, number: int, data: bytes) -> None:
        record = self.record
        if self.status not in (TransferStatus.INITIATED, TransferStatus.VERIFICATION_FAILED) or record is None:
            raise self._refuse("state", f"block {number} without an initiated transfer", False)
        count = len(self._done)
        if not 0 <= number < count:
            raise self._refuse("block", f"block {number} outside 0..{count - 1}")
        expected = min(self.block_size, record.size - number * self.block_size)
        if len(data) != expected:
            raise self._refuse("block", f"block {number} has {len(data)} bytes, expected {expected}")
        if number == 0:
            try:   # refuse early what the header already shows (the full check is in verify)
                header = decode_header(data if len(data) >= PAYLOAD_OFFSET else data + bytes(PAYLOAD_OFFSET))
                verify_header(header, self.loader.policy())
                if header.total_size != record.size:
                    raise ImageError("truncated", f"header says {header.total_size} bytes, transfer is {record.size}")
            except ImageError as exc:
                if len(data) >= PAYLOAD_OFFSET:
                    self.status = TransferStatus.VERIFICATION_FAILED
                    raise self._refuse(exc.kind, f"block 0: {exc.detail}") from None
        slot = self.loader.slots[record.slot]
        try:
            slot.program(number * self.block_size, data)
            slot.mark_block(number)
        except SlotError as exc:
            raise self._refuse("block", str(exc)) from None
        self._done[number] = True
        self.status = TransferStatus.INITIATED

    def verify(self) -> ImageHeader:
        record = self.record
        if record is None or self.status is TransferStatus.NOT_INITIATED:
            raise self._refuse("state", "verify without a transfer", False)
        self.status = TransferStatus.VERIFICATION_INITIATED
        missing = [i for i, done in enumerate(self._done) if not done]
        if missing:
            self.status = TransferStatus.VERIFICATION_FAILED
            raise self._refuse("incomplete", f"{len(missing)} of {len(self._done)} blocks missing "
                                             f"(first {missing[0]})", False)
        image = self.loader.slots[record.slot].read(0, record.size)
        try:
            header = verify_image(image, self.loader.policy())
            if header.total_size != record.size:
                raise ImageError("truncated", f"image is {header.total_size} bytes, {record.size} transferred")
        except ImageError as exc:
            self.status = TransferStatus.VERIFICATION_FAILED
            raise self._refuse(exc.kind, f"image {record.identifier.hex()} refused: {exc.detail}") from None
        self.verified = header
        self.status = TransferStatus.VERIFICATION_SUCCESSFUL
        self.report("update-verified", f"{header.version_text} ({header.build_id}) in slot "
                                       f"{'AB'[record.slot]} verified", False)
        return header

    def activate(self) -> None:
        record = self.record
        if self.status is not TransferStatus.VERIFICATION_SUCCESSFUL or record is None:
            raise self._refuse("state", "activation without a successful verification")
        try:    # the slot may have changed since verify (tampering at rest): check again
            header = self.loader.check(record.slot)
        except ImageError as exc:
            self.status = TransferStatus.ACTIVATION_FAILED
            raise self._refuse(exc.kind, f"image changed after verification: {exc.detail}") from None
        state = self.loader.control.boot
        self.loader.control.set_boot(BootState(state.active, record.slot, False, state.floor))
        self.loader.control.set_transfer(None)
        self.status = TransferStatus.ACTIVATION_INITIATED
        self.report("update-activated", f"{header.version_text} ({header.build_id}) pending in slot "
                                        f"{'AB'[record.slot]}; restarting to try it", False)
        if self.reset is not None:
            self.reset()
