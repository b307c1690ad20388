"""Disposal from the head-end: a script table (class 9) whose script 1 decommissions the meter.

``0.0.10.0.107.255`` (our choice of the script-table group): method 1 execute(long-unsigned
script id). Script 1 runs ``firmware/lifecycle/erase.decommission`` right after the answer has
been sent. Only an HLS-authenticated, ciphered association may execute it; the head-end reads
the profiles it must keep before.
"""
from __future__ import annotations

from sumame.firmware.core.events import Severity
from sumame.firmware.lifecycle.erase import decommission
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem.base import CosemError, CosemObject, Level, expect_type
from sumame.firmware.net.dlms.descriptors import DataAccessResult
from sumame.firmware.core.scheduler import Priority, sleep

from .control_binding import require_control_context

DISPOSAL_SCRIPTS = "0.0.10.0.107.255"
DECOMMISSION = 1


class DisposalScripts(CosemObject):
    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 9, 0, 2, 1

    def __init__(self, meter):
        super().__init__(DISPOSAL_SCRIPTS, read_level=Level.HIGH)
        self.meter = meter

    def get_attribute(self, attr, ctx, access):
        return axdr.array((axdr.structure(axdr.long_unsigned(DECOMMISSION), axdr.array(())),))

    def invoke(self, method, params, ctx):
        require_control_context(ctx)
        return super().invoke(method, params, ctx)

    def invoke_method(self, method, params, ctx):
        script = expect_type(params, DataType.LONG_UNSIGNED, what="script id") if params is not None else None
        if script != DECOMMISSION:
            raise CosemError(DataAccessResult.OBJECT_UNDEFINED, f"no script {script}")
        if self.meter.lifecycle is None:
            raise CosemError(DataAccessResult.OBJECT_UNAVAILABLE, "no code flash: cannot decommission")
        meter = self.meter
        meter.events.record("decommission", source="a-route", severity=Severity.WARNING,
                            detail="head-end asked for disposal: secure erase follows")

        async def later() -> None:
            await sleep(0.5)            # the answer leaves before the meter forgets its keys
            decommission(meter)
        meter.scheduler.spawn(later(), name="decommission", priority=Priority.STORAGE, group="decommission")
        return None


def disposal_objects(meter) -> list:
    return [DisposalScripts(meter)] if getattr(meter, "lifecycle", None) is not None else []
