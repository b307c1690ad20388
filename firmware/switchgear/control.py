"""Switch control API: the only way a command reaches the breaker.

``SwitchControl.command(op, source, authority, argument)`` takes a command that arrived over a
transport whose own security context authenticated it: the A-route's DLMS disconnect control
and limiter (``routes/aroute/control_binding.py``) come this way. ``authority`` says what proved
it (:data:`DLMS_HLS_CIPHERED`: an HLS-GMAC association whose every request is authenticated and
encrypted with the meter's keys), who (the client's system title) and the request's counter (its
GCM invocation counter). The gate, checked in this order (the first failure is the reason given,
every refusal is logged as a ``security`` event and counted):

1. the source is the A-route application (B-route, IoT route, local port: refused);
2. the scheme is one the meter trusts for switching;
3. the counter exceeds the last one accepted for that sender (the association's own replay
   guard already refuses an old counter; this one holds for commands even if that guard is
   bypassed or its store is lost);
4. the argument fits the operation (amperes for set-limit, none otherwise).

The counter is stored (durably) before the breaker acts, so neither a replay nor a power cut
during the stroke can make the same request run twice. The breaker then refuses what its own
state forbids (no switch on HV, lockout, brown-out) and reads the contact back after every stroke
(stuck-contact alarm). Nothing is queued: a command not executed is not executed later (so
nothing happens at reboot or when the supply comes back).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum

from .breaker import Breaker, Outcome
from .command_source import CONTROL_SOURCES, CommandSource
from ..core.events import EventLog, Severity


class SwitchOp(IntEnum):
    """What a switch command asks the breaker to do."""

    OPEN = 0x01
    CLOSE = 0x02
    SET_LIMIT = 0x03
    RESET_LOCKOUT = 0x04


DLMS_HLS_CIPHERED = "dlms-hls-gmac-ciphered"
TRUSTED_SCHEMES = frozenset({DLMS_HLS_CIPHERED})
AUTHORITY_COUNTERS_KEY = "switch-authority-counters"


@dataclass(frozen=True)
class Authority:
    """What authenticated a command: ``scheme`` (e.g. DLMS_HLS_CIPHERED), ``sender`` (the
    client's system title and key kind) and ``counter`` (that request's invocation counter)."""

    scheme: str
    sender: str
    counter: int
    who: str = ""       # for the log, e.g. "client 0x30"


@dataclass(frozen=True)
class ControlResult:
    """``accepted``: the command passed every check and reached the breaker; ``outcome``: what
    the breaker did (None when refused before); ``reason``: why refused, or the outcome's."""

    accepted: bool
    reason: str
    outcome: Outcome | None = None
    counter: int | None = None

    @property
    def executed(self) -> bool:
        return self.accepted and self.outcome is not None and self.outcome.ok


class SwitchControl:
    """The gate between authenticated transports and ``breaker``; ``store`` keeps the last
    accepted counter per sender (key ``switch-authority-counters``) across reboots. A store
    written by an older firmware may also hold ``switch-counters`` (the counters of the removed
    sealed-envelope entry): it is left as it is and never read."""

    def __init__(self, breaker: Breaker, store, events: EventLog, clock):
        self.breaker = breaker
        self._store, self._events, self._clock = store, events, clock
        raw = store.load(AUTHORITY_COUNTERS_KEY)
        self._authority_counters: dict[str, int] = json.loads(raw) if raw else {}
        self.refused = 0

    def last_counter(self, scheme: str, sender: str) -> int | None:
        """The last counter accepted from ``sender`` under ``scheme`` (None: none yet)."""
        return self._authority_counters.get(f"{scheme}|{sender}")

    def command(self, op: SwitchOp, source: CommandSource, authority: Authority | None,
                argument: int = 0, label: str = "") -> ControlResult:
        """Run ``op`` authenticated by the transport (see the module docstring); ``label``
        names the request in the log (e.g. "DLMS remote_disconnect")."""
        if source not in CONTROL_SOURCES:
            return self._refuse(source, f"switch commands are accepted from the A-route only, "
                                f"not from {source.value}")
        if authority is None or authority.scheme not in TRUSTED_SCHEMES:
            scheme = "no authentication" if authority is None else authority.scheme
            return self._refuse(source, f"{op.name.lower()} needs an authenticated, ciphered "
                                f"association ({scheme} is not enough)")
        key = f"{authority.scheme}|{authority.sender}"
        last = self._authority_counters.get(key)
        if last is not None and authority.counter <= last:
            return self._refuse(source, f"replayed or stale counter {authority.counter} from "
                                f"{authority.who or authority.sender} (last accepted {last})")
        if (op is SwitchOp.SET_LIMIT) != bool(argument):
            return self._refuse(source, f"{op.name.lower()} with argument {argument}")
        self._authority_counters[key] = authority.counter
        self._store.save(AUTHORITY_COUNTERS_KEY, json.dumps(self._authority_counters).encode())
        who = f" by {authority.who}" if authority.who else ""
        outcome = self._dispatch(op, argument, source, f"{label or op.name.lower().replace('_', '-')}"
                                 f"{who} (IC {authority.counter})")
        return ControlResult(True, outcome.reason, outcome, authority.counter)

    def _dispatch(self, op: SwitchOp, argument: int, source: CommandSource, cause: str) -> Outcome:
        b = self.breaker
        if op is SwitchOp.OPEN:
            return b.command_open(source, cause)
        if op is SwitchOp.CLOSE:
            return b.command_close(source, cause)
        if op is SwitchOp.SET_LIMIT:
            return b.command_set_limit(argument, source)
        return b.command_reset_lockout(source)

    def _refuse(self, source: CommandSource, reason: str) -> ControlResult:
        self.refused += 1
        self._events.record("security", source=source.value,
                            detail=f"switch command refused: {reason}", severity=Severity.WARNING)
        return ControlResult(False, reason)

