"""Class 18 image transfer bound to the meter's update agent (firmware/lifecycle/update.py).

Everything — reads, the enable flag and the four methods — needs an HLS-authenticated, ciphered
association (the utility's head-end): a reader or public client gets read-write-denied.
"""
from __future__ import annotations

from sumame.firmware.lifecycle.update import UpdateRefused
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem.base import Level
from sumame.firmware.net.dlms.cosem.registers import DataObject
from sumame.firmware.net.dlms.cosem.control import ActionRefused
from sumame.firmware.net.dlms.cosem.image_transfer import ImageTransfer
from sumame.firmware.net.dlms.descriptors import DataAccessResult

from .control_binding import require_control_context

_DAR = {"state": DataAccessResult.TEMPORARY_FAILURE, "not-enabled": DataAccessResult.TEMPORARY_FAILURE,
        "block": DataAccessResult.OTHER_REASON, "incomplete": DataAccessResult.TEMPORARY_FAILURE,
        "flash": DataAccessResult.HARDWARE_FAULT}


class UpdateAgentBinding:
    def __init__(self, lifecycle):
        self.lifecycle = lifecycle

    @property
    def agent(self):
        return self.lifecycle.agent

    def block_size(self) -> int:
        return self.agent.block_size

    def blocks_status(self) -> list[bool]:
        return self.agent.blocks_status()

    def first_missing(self) -> int:
        return self.agent.first_missing()

    def enabled(self) -> bool:
        return self.agent.enabled

    def set_enabled(self, on: bool) -> None:
        self.agent.enabled = on

    def status(self) -> int:
        return int(self.agent.status)

    def to_activate(self):
        header, record = self.agent.verified, self.agent.record
        if header is None or record is None:
            return []
        return [(record.size, record.identifier, header.signature)]

    def _call(self, fn, *args):
        try:
            fn(*args)
        except UpdateRefused as exc:
            raise ActionRefused(str(exc), _DAR.get(exc.kind, DataAccessResult.OTHER_REASON)) from None

    def initiate(self, identifier: bytes, size: int) -> None:
        self._call(self.agent.initiate, identifier, size)

    def block(self, number: int, data: bytes) -> None:
        self._call(self.agent.block, number, data)

    def verify(self) -> None:
        self._call(self.agent.verify)

    def activate(self) -> None:
        self._call(self.agent.activate)


class GuardedImageTransfer(ImageTransfer):
    """Class 18 that answers only a ciphered HLS association."""

    def get(self, attr, ctx, access=None):
        if attr != 1:
            require_control_context(ctx)
        return super().get(attr, ctx, access)

    def set(self, attr, value, ctx):
        require_control_context(ctx)
        super().set(attr, value, ctx)

    def invoke(self, method, params, ctx):
        require_control_context(ctx)
        return super().invoke(method, params, ctx)


ACTIVE_FIRMWARE_ID = "1.0.0.2.0.255"
"""Active firmware identifier (visible-string "VERSION BUILD_ID SLOT[ trial]"), read from LLS up."""


def firmware_identifier(lifecycle) -> str:
    running = lifecycle.running
    h = running.header
    return f"{h.version_text} {h.build_id} {running.slot_name}" + (" trial" if running.trial else "")


def image_transfer_objects(lifecycle) -> list:
    if lifecycle is None:
        return []
    return [GuardedImageTransfer(UpdateAgentBinding(lifecycle), read_level=Level.HIGH),
            DataObject(ACTIVE_FIRMWARE_ID, lambda: firmware_identifier(lifecycle),
                       data_type=DataType.VISIBLE_STRING, read_level=Level.LOW)]
