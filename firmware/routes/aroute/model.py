"""The meter's COSEM object model on the A-route, bound to the live meter.

``build_model(...)`` returns the objects the server serves: identity and management data,
clock (JST), registers (``registers_model``), interval profiles 30/15/5 min (``profiles_model``),
event logs (``event_logs``), liveness (``liveness``), disconnect control and limiter
(``control_binding``) and the soft switch. Access: the public client reads the clock, names,
device ID and the invocation counter; measurement data needs at least LLS; writes and methods
need HLS (and, for the switch, the limit and the soft switch, a ciphered association).
"""
from __future__ import annotations

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem.base import CosemError, Level
from sumame.firmware.net.dlms.cosem.clock import Clock
from sumame.firmware.net.dlms.cosem.registers import DataObject
from sumame.firmware.net.dlms.descriptors import DataAccessResult

from . import obis_codes as oc
from .control_binding import control_objects, require_control_context
from .event_logs import event_log_objects
from .liveness import liveness_objects
from .profiles_model import interval_profile
from .registers_model import IntervalValues, register_objects
from .scaling import EnergyScale

MINUTES_PER_DAY = 1440


class SoftSwitch(DataObject):
    """0.0.96.50.1.255: which interval values are pushed (unsigned 30 or 15). Writable only over a
    ciphered HLS association; ``apply(minutes)`` changes and persists it."""

    WRITABLE = frozenset({2})

    def __init__(self, readings, apply):
        super().__init__(oc.SOFT_SWITCH, lambda: readings.transmitted_interval_min, data_type=DataType.UNSIGNED,
                         read_level=Level.LOW, write_level=Level.HIGH)
        self.apply = apply

    def set_attribute(self, attr, value, ctx):
        require_control_context(ctx)
        if value.type is not DataType.UNSIGNED or value.value not in (15, 30):
            raise CosemError(DataAccessResult.OTHER_REASON, f"soft switch takes unsigned 30 or 15, got {value}")
        self.apply(value.value)


def build_model(readings, *, scale: EnergyScale, breaker, control, outage, events, retention, earliest: float,
                tx_counter, apply_soft_switch) -> list:
    ident = readings.identity
    values = IntervalValues(readings, scale)
    days = {30: retention.days_30, 15: retention.days_15, 5: retention.days_5}
    objects = [
        Clock(read_level=Level.PUBLIC),
        DataObject(oc.LOGICAL_DEVICE_NAME, axdr.visible_string(f"SUM{ident.serial}")),
        DataObject(oc.DEVICE_ID, axdr.visible_string(ident.serial)),
        DataObject(oc.SUPPLY_POINT_NUMBER, axdr.visible_string(ident.supply_point), read_level=Level.LOW),
        # empty visible-string: no generation is sold from this supply point
        DataObject(oc.RECEIVING_POINT_NUMBER, axdr.visible_string(ident.receiving_point), read_level=Level.LOW),
        DataObject(oc.INVOCATION_COUNTER, lambda: tx_counter.value, data_type=DataType.DOUBLE_LONG_UNSIGNED),
        SoftSwitch(readings, apply_soft_switch),
    ]
    objects += register_objects(readings, scale, values)
    for minutes in (30, 15, 5):
        objects.append(interval_profile(readings, values, minutes, days[minutes] * MINUTES_PER_DAY // minutes,
                                        earliest))
    objects += list(event_log_objects(events))
    objects += liveness_objects(outage)
    objects += control_objects(breaker, control)
    return objects
