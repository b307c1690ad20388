"""Data (class 1), Register (class 3) and Extended register (class 4).

Values come from zero-argument callbacks so the lead can bind them to MeterReadings, e.g.
``Register(ACTIVE_ENERGY_IMPORT, lambda: readings.cumulative_now(Quantity.FORWARD), scaler=1,
unit=Unit.WH)``. A callback returning None means *no data*: the value is sent as null-data.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Any, Callable

from .. import axdr
from ..axdr import Data, DataType
from ..cosem_time import JST_DEVIATION, epoch_to_octets
from ..descriptors import DataAccessResult
from .base import CosemError, CosemObject


class Unit(IntEnum):
    """COSEM unit enumeration (reference §2.1, subset)."""

    YEAR = 1
    MONTH = 2
    WEEK = 3
    DAY = 4
    HOUR = 5
    MINUTE = 6
    SECOND = 7
    W = 27
    VA = 28
    VAR = 29
    WH = 30
    VAH = 31
    VARH = 32
    A = 33
    V = 35
    HZ = 44
    PERCENT = 56
    COUNT = 255


def scalar(value: Any, data_type: DataType) -> Data:
    """``value`` as ``data_type``; None -> null-data (no data)."""
    if value is None:
        return axdr.null()
    if isinstance(value, Data):
        return value
    if data_type in (DataType.FLOAT32, DataType.FLOAT64):
        return Data(data_type, float(value))
    return Data(data_type, int(value))


_VALUE_ATTR, _NONE = frozenset({2}), frozenset()


class DataObject(CosemObject):
    """Class 1. ``value`` is a Data constant or a callback returning Data (or a Python value for
    ``data_type``). ``on_set(Data)`` makes attribute 2 writable (raise CosemError to refuse)."""

    CLASS_ID, VERSION, ATTRIBUTES = 1, 0, 2
    __slots__ = ("_value", "data_type", "on_set")

    @property
    def WRITABLE(self) -> frozenset:   # noqa: N802 (the class attribute of the other objects)
        return _VALUE_ATTR if self.on_set is not None else _NONE

    def __init__(self, logical_name, value: Data | Callable[[], Any], *,
                 data_type: DataType = DataType.OCTET_STRING,
                 on_set: Callable[[Data], None] | None = None, **levels):
        super().__init__(logical_name, **levels)
        self._value = value
        self.data_type = data_type
        self.on_set = on_set

    def get_attribute(self, attr, ctx, access):
        value = self._value() if callable(self._value) else self._value
        if isinstance(value, Data):
            return value
        if isinstance(value, (bytes, bytearray)):
            return axdr.octet_string(value)
        if isinstance(value, str):
            return Data(self.data_type if self.data_type in (DataType.VISIBLE_STRING, DataType.UTF8_STRING)
                        else DataType.VISIBLE_STRING, value)
        return scalar(value, self.data_type)

    def set_attribute(self, attr, value, ctx):
        self.on_set(value)


class Register(CosemObject):
    """Class 3: value (from ``value_fn``) with scaler_unit = structure{integer scaler, enum unit}.
    Real value = value x 10**scaler [unit]. ``on_reset()`` enables method 1 (reset)."""

    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 3, 0, 3, 1
    __slots__ = ("value_fn", "scaler", "unit", "value_type", "on_reset")

    def __init__(self, logical_name, value_fn: Callable[[], Any], *, scaler: int = 0,
                 unit: int = Unit.COUNT, value_type: DataType = DataType.DOUBLE_LONG_UNSIGNED,
                 on_reset: Callable[[], None] | None = None, **levels):
        super().__init__(logical_name, **levels)
        if not -128 <= scaler <= 127:
            raise ValueError("scaler is an int8")
        self.value_fn = value_fn
        self.scaler = scaler
        self.unit = int(unit)
        self.value_type = value_type
        self.on_reset = on_reset

    def scaler_unit(self) -> Data:
        return axdr.structure(axdr.integer(self.scaler), axdr.enum(self.unit))

    def value(self) -> Data:
        return scalar(self.value_fn(), self.value_type)

    def get_attribute(self, attr, ctx, access):
        if attr == 2:
            return self.value()
        return self.scaler_unit()

    def invoke_method(self, method, params, ctx):
        if self.on_reset is None:
            raise CosemError(DataAccessResult.READ_WRITE_DENIED, f"{self!r} cannot be reset")
        self.on_reset()
        return None


class ExtendedRegister(Register):
    """Class 4: Register + status (``status_fn`` -> Data or int) and capture_time
    (``capture_time_fn`` -> epoch s or None; sent as octet-string(12) date-time in JST)."""

    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 4, 0, 5, 1
    __slots__ = ("status_fn", "capture_time_fn", "deviation")

    def __init__(self, logical_name, value_fn, *, status_fn: Callable[[], Any] = lambda: 0,
                 capture_time_fn: Callable[[], float | None] = lambda: None,
                 deviation: int = JST_DEVIATION, **kwargs):
        super().__init__(logical_name, value_fn, **kwargs)
        self.status_fn = status_fn
        self.capture_time_fn = capture_time_fn
        self.deviation = deviation

    def get_attribute(self, attr, ctx, access):
        if attr == 4:
            return scalar(self.status_fn(), DataType.UNSIGNED)
        if attr == 5:
            at = self.capture_time_fn()
            if at is None:
                return axdr.octet_string(b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x80\x00\xFF")
            return axdr.octet_string(epoch_to_octets(at, self.deviation))
        return super().get_attribute(attr, ctx, access)
