"""Disconnect control (class 70) and limiter (class 71) bound to the meter's breaker.

Who may actuate, and why the DLMS association is the authentication:
* methods of 0.0.96.3.10.255 and SET of the limiter's threshold_normal are executed only in an
  association that passed **HLS-GMAC** and is **ciphered** (application context LN-with-
  ciphering: every request authenticated and encrypted with the meter's own keys, AES-GCM-128).
  Anything else is refused (read-write-denied) before the breaker is asked, and logged;
* that association is the command's authentication and replay protection: the GCM tag proves
  the head-end holds this meter's keys (keys are per meter, so a command cannot be moved to
  another meter), and the invocation counter of every ciphered request must exceed the last one
  accepted from that head-end — kept through reboots (``counters.py``) — so a recorded command
  cannot be replayed;
* the command then goes through ``firmware/switchgear/control.py``'s ``SwitchControl.command`` - the one
  gate to the breaker - with ``CommandSource.A_ROUTE`` and an ``Authority`` naming that proof
  (scheme ``DLMS_HLS_CIPHERED``, the client's system title, the request's invocation counter):
  SwitchControl checks the source and the scheme again, refuses a counter not above the last
  command's (stored before the breaker acts) and logs every refusal as a security event;
* the breaker applies its own rules (HV: no switch; lockout; brown-out; stuck contact), logging
  every operation and refusal. A refusal becomes a Data-Access-Result: read-write-denied (the
  gate refused), object-unavailable (no switch), temporary-failure (lockout, brown-out, relay
  fault), other-reason (a limit that is not a contract step).

Control mode 4 (LV): remote disconnect opens, remote reconnect closes directly (a), the
breaker's own trip/auto-reclose is the local path. HV meters answer mode 0 (always connected).
"""
from __future__ import annotations

from sumame.firmware.switchgear.breaker import BreakerMode
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.firmware.switchgear.control import DLMS_HLS_CIPHERED, Authority, SwitchControl, SwitchOp
from sumame.firmware.net.dlms.cosem.base import CosemError, Level, RequestContext
from sumame.firmware.net.dlms.cosem.control import (ActionRefused, ControlState, DisconnectControl,
                                                    Limiter)
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.descriptors import DataAccessResult

from . import obis_codes as oc

CONTROL_MODE_LV = 4
DECI_AMPERES = 10


def require_control_context(ctx: RequestContext) -> None:
    """Raise read-write-denied unless the request came over an HLS-authenticated, ciphered
    association (see the module docstring)."""
    assoc = getattr(ctx.session, "association", None)
    policy = getattr(assoc, "policy", None)
    if ctx.level < Level.HIGH or policy is None or not policy.ciphered:
        raise CosemError(DataAccessResult.READ_WRITE_DENIED,
                         "switch and limit commands need an HLS-authenticated, ciphered association "
                         f"(client 0x{ctx.client_sap:02X} is at level {ctx.level.name}"
                         f"{'' if policy is None or policy.ciphered else ', not ciphered'})")


def _dar(outcome_reason: str) -> int:
    if "no switch" in outcome_reason:
        return DataAccessResult.OBJECT_UNAVAILABLE
    if "not a contract step" in outcome_reason:
        return DataAccessResult.OTHER_REASON
    return DataAccessResult.TEMPORARY_FAILURE


def authority_of(ctx: RequestContext) -> Authority | None:
    """The proof a request carries: HLS-GMAC + ciphered association and the request's GCM
    invocation counter and client system title (None when it carries none)."""
    protection = ctx.extra.get("protection")
    assoc = getattr(ctx.session, "association", None)
    policy = getattr(assoc, "policy", None)
    if (protection is None or ctx.level < Level.HIGH or policy is None or not policy.ciphered
            or not protection.system_title):
        return None
    key_kind = "ded" if protection.kind == "ded" else "glo"    # the IC runs per key
    return Authority(DLMS_HLS_CIPHERED, f"{protection.system_title.hex()}|{key_kind}",
                     protection.invocation_counter, f"client 0x{ctx.client_sap:02X}")


class BreakerBinding:
    """BreakerControl + LimiterBinding over ``firmware.switchgear.breaker.Breaker``, commands through
    ``SwitchControl``; ``authority`` is filled in by the objects below just before a call."""

    def __init__(self, breaker, control: SwitchControl):
        self.breaker, self.control = breaker, control
        self.authority: Authority | None = None

    # BreakerControl
    def output_state(self) -> bool:
        return not self.breaker.has_switch or self.breaker.mode is BreakerMode.CLOSED

    def control_state(self) -> ControlState:
        if not self.breaker.has_switch:
            return ControlState.CONNECTED
        return {BreakerMode.CLOSED: ControlState.CONNECTED,
                BreakerMode.TRIPPED: ControlState.READY_FOR_RECONNECTION,
                BreakerMode.OPEN_REMOTE: ControlState.DISCONNECTED,
                BreakerMode.LOCKED_OUT: ControlState.DISCONNECTED}[self.breaker.mode]

    def control_mode(self) -> int:
        return CONTROL_MODE_LV if self.breaker.has_switch else 0

    def _command(self, op: SwitchOp, label: str, argument: int = 0) -> None:
        authority, self.authority = self.authority, None      # one request, one use
        result = self.control.command(op, CommandSource.A_ROUTE, authority, argument, label)
        if not result.accepted:
            raise ActionRefused(f"switch control refused: {result.reason}", DataAccessResult.READ_WRITE_DENIED)
        if not result.outcome.ok:
            raise ActionRefused(result.outcome.reason, _dar(result.outcome.reason))

    def remote_disconnect(self, now: float) -> None:
        self._command(SwitchOp.OPEN, "DLMS remote_disconnect")

    def remote_reconnect(self, now: float) -> None:
        self._command(SwitchOp.CLOSE, "DLMS remote_reconnect")

    # LimiterBinding: thresholds in 0.1 A (the monitored register's scaler is -1)
    def threshold(self) -> int:
        return self.breaker.limit_a * DECI_AMPERES if self.breaker.has_switch else 0

    def set_threshold(self, value: int, now: float) -> None:
        if value % DECI_AMPERES:
            raise ActionRefused(f"threshold {value / DECI_AMPERES} A is not whole amperes",
                                DataAccessResult.OTHER_REASON)
        self._command(SwitchOp.SET_LIMIT, "DLMS limiter threshold", value // DECI_AMPERES)


class MeterDisconnectControl(DisconnectControl):
    def invoke_method(self, method, params, ctx):
        require_control_context(ctx)
        self.breaker.authority = authority_of(ctx)
        try:
            return super().invoke_method(method, params, ctx)
        finally:
            self.breaker.authority = None


class MeterLimiter(Limiter):
    def set_attribute(self, attr, value, ctx):
        require_control_context(ctx)
        self.binding.authority = authority_of(ctx)
        try:
            super().set_attribute(attr, value, ctx)
        finally:
            self.binding.authority = None


def control_objects(breaker, control: SwitchControl) -> list:
    binding = BreakerBinding(breaker, control)
    return [MeterDisconnectControl(oc.DISCONNECT_CONTROL, binding, read_level=Level.LOW,
                                   method_level=Level.HIGH),
            MeterLimiter(oc.LIMITER, binding, (3, oc.CURRENT_MAX, 2), value_type=DataType.LONG_UNSIGNED,
                         read_level=Level.LOW, write_level=Level.HIGH)]
