"""Disconnect control (class 70) and Limiter (class 71), bound to the breaker by callbacks.

The breaker (issue 5) owns the switch. The COSEM objects only read its state and forward the
remote commands through :class:`BreakerControl`; the breaker may refuse (locked out, lockout
after trips, mode forbids) by raising :class:`ActionRefused`, which becomes a DLMS action
result. :class:`DisconnectStateMachine` is a ready-made implementation of the class 70 mode
rules (reference §2.1) for tests or for a breaker that wants them.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Callable, Protocol

from .. import axdr
from ..axdr import Data, DataType
from ..descriptors import DataAccessResult
from .base import CosemError, CosemObject, expect_type


class ControlState(IntEnum):
    DISCONNECTED = 0
    CONNECTED = 1
    READY_FOR_RECONNECTION = 2


class ActionRefused(Exception):
    """Raised by a BreakerControl to refuse a command; ``dar`` is the DLMS result to answer
    (default temporary-failure) and ``reason`` goes to the log."""

    def __init__(self, reason: str, dar: int = DataAccessResult.TEMPORARY_FAILURE):
        self.reason = reason
        self.dar = dar
        super().__init__(reason)


class BreakerControl(Protocol):
    """Binding point for the breaker (times are epoch s)."""

    def output_state(self) -> bool:
        """True = connected (switch closed)."""
        ...

    def control_state(self) -> ControlState: ...

    def control_mode(self) -> int: ...

    def remote_disconnect(self, now: float) -> None:
        """Open the switch (raise ActionRefused to refuse)."""
        ...

    def remote_reconnect(self, now: float) -> None:
        """Close or arm for reconnection as the control mode says (raise ActionRefused to refuse)."""
        ...


class DisconnectControl(CosemObject):
    """Class 70 v1: 2 output_state, 3 control_state, 4 control_mode; methods 1 remote_disconnect,
    2 remote_reconnect (parameter integer 0)."""

    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 70, 1, 4, 2

    def __init__(self, logical_name, breaker: BreakerControl, **levels):
        super().__init__(logical_name, **levels)
        self.breaker = breaker

    def get_attribute(self, attr, ctx, access):
        if attr == 2:
            return axdr.boolean(self.breaker.output_state())
        if attr == 3:
            return axdr.enum(int(self.breaker.control_state()))
        return axdr.enum(int(self.breaker.control_mode()))

    def invoke_method(self, method, params, ctx):
        if params is not None and params.type not in (DataType.INTEGER, DataType.NULL):
            raise CosemError(DataAccessResult.TYPE_UNMATCHED, "remote_(dis)connect takes integer(0)")
        try:
            if method == 1:
                self.breaker.remote_disconnect(ctx.now)
            else:
                self.breaker.remote_reconnect(ctx.now)
        except ActionRefused as exc:
            raise CosemError(exc.dar, f"breaker refused: {exc.reason}") from None
        return None


class DisconnectStateMachine:
    """Class 70 transitions for control modes 0..6 (reference §2.1): remote disconnect (b, c)
    when mode > 0; remote reconnect goes to ready_for_reconnection in modes 1, 3, 5, 6 and
    straight to connected in modes 2, 4. ``manual_reconnect`` is the customer's button (e)."""

    def __init__(self, mode: int = 4, state: ControlState = ControlState.CONNECTED,
                 on_change: Callable[[ControlState], None] | None = None):
        self.mode = mode
        self.state = state
        self.on_change = on_change

    def output_state(self) -> bool:
        return self.state is ControlState.CONNECTED

    def control_state(self) -> ControlState:
        return self.state

    def control_mode(self) -> int:
        return self.mode

    def _go(self, state: ControlState) -> None:
        if state is not self.state:
            self.state = state
            if self.on_change is not None:
                self.on_change(state)

    def remote_disconnect(self, now: float) -> None:
        if self.mode == 0:
            raise ActionRefused("control mode 0: always connected", DataAccessResult.READ_WRITE_DENIED)
        self._go(ControlState.DISCONNECTED)

    def remote_reconnect(self, now: float) -> None:
        if self.mode == 0:
            raise ActionRefused("control mode 0: always connected", DataAccessResult.READ_WRITE_DENIED)
        if self.state is ControlState.CONNECTED:
            return
        if self.mode in (2, 4):
            self._go(ControlState.CONNECTED)
        else:
            self._go(ControlState.READY_FOR_RECONNECTION)

    def manual_reconnect(self) -> None:
        if self.state is ControlState.READY_FOR_RECONNECTION:
            self._go(ControlState.CONNECTED)


class LimiterBinding(Protocol):
    """Binding point for the ampere limit: thresholds in the monitored value's units."""

    def threshold(self) -> int:
        """threshold_active = threshold_normal here (no emergency profile)."""
        ...

    def set_threshold(self, value: int, now: float) -> None:
        """Change the limit (raise ActionRefused to refuse)."""
        ...


class Limiter(CosemObject):
    """Class 71 v0. ``monitored`` = (class_id, logical name, attribute) of the value compared with
    the threshold (e.g. a current register in 0.1 A); thresholds are encoded as ``value_type``.
    Attribute 4 (threshold_normal) is writable at ``write_level`` and goes to the binding."""

    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 71, 0, 11, 0
    WRITABLE = frozenset({4})

    def __init__(self, logical_name, binding: LimiterBinding, monitored: tuple[int, bytes, int], *,
                 value_type: DataType = DataType.LONG_UNSIGNED, min_over_threshold_s: int = 0,
                 min_under_threshold_s: int = 0,
                 action_script: bytes = bytes((0, 0, 10, 0, 106, 255)), **levels):
        super().__init__(logical_name, **levels)
        self.binding = binding
        self.monitored = monitored
        self.value_type = value_type
        self.min_over = min_over_threshold_s
        self.min_under = min_under_threshold_s
        self.action_script = action_script

    def _threshold(self) -> Data:
        return Data(self.value_type, int(self.binding.threshold()))

    def get_attribute(self, attr, ctx, access):
        if attr == 2:
            cid, ln, a = self.monitored
            return axdr.structure(axdr.long_unsigned(cid), axdr.octet_string(ln), axdr.integer(a))
        if attr in (3, 4):
            return self._threshold()
        if attr == 5:
            return Data(self.value_type, 0)
        if attr == 6:
            return axdr.double_long_unsigned(self.min_over)
        if attr == 7:
            return axdr.double_long_unsigned(self.min_under)
        if attr == 8:
            return axdr.structure(axdr.long_unsigned(0), axdr.octet_string(b"\xFF" * 9 + b"\x80\x00\xFF"),
                                  axdr.double_long_unsigned(0))
        if attr == 9:
            return axdr.array(())
        if attr == 10:
            return axdr.boolean(False)
        action = axdr.structure(axdr.octet_string(self.action_script), axdr.long_unsigned(1))
        return axdr.structure(action, axdr.structure(axdr.octet_string(self.action_script), axdr.long_unsigned(2)))

    def set_attribute(self, attr, value, ctx):
        v = expect_type(value, self.value_type, what="threshold_normal")
        try:
            self.binding.set_threshold(int(v), ctx.now)
        except ActionRefused as exc:
            raise CosemError(exc.dar, f"limit refused: {exc.reason}") from None
