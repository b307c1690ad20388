"""The answer to a head-end liveness poll, from the outage monitor (``firmware/switchgear/outage.py``).

``0.0.96.50.0.255`` (class 1, manufacturer-specific) holds a structure:

    0 state             enum: 0 supplied, 1 outage
    1 since             octet-string date-time (JST): when the present state began
    2 last_power_fail   date-time of the start of the last outage, or all-wildcard when none
    3 last_restore      date-time of its end
    4 boot_at           date-time of the last boot
    5 uptime_s          double-long-unsigned, s since boot

``0.0.96.7.0.255`` (class 1) counts the power failures the meter remembers.
"""
from __future__ import annotations

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.axdr import Data
from sumame.firmware.net.dlms.cosem.base import Level
from sumame.firmware.net.dlms.cosem.registers import DataObject
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem_time import epoch_to_octets

from . import obis_codes as oc

NO_TIME = b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x80\x00\xFF"
STATE_SUPPLIED, STATE_OUTAGE = 0, 1


def _time(t: float | None) -> Data:
    return axdr.octet_string(NO_TIME if t is None else epoch_to_octets(t))


def supply_status(outage) -> Data:
    live = outage.liveness()
    return axdr.structure(axdr.enum(STATE_OUTAGE if live.state == "outage" else STATE_SUPPLIED),
                          _time(live.since), _time(live.last_power_fail), _time(live.last_restore),
                          _time(live.boot_at), axdr.double_long_unsigned(max(0, int(live.uptime_s))))


def liveness_objects(outage) -> list:
    return [
        DataObject(oc.SUPPLY_STATUS, lambda: supply_status(outage), read_level=Level.LOW),
        DataObject(oc.POWER_FAILURES,
                   lambda: sum(1 for o in outage.outages() if o.kind == "outage"),
                   data_type=DataType.LONG_UNSIGNED, read_level=Level.LOW),
    ]
