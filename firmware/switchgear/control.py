"""Switch control API: the only way a command reaches the breaker.

Two entries, one gate (source check, replay check stored before acting, dispatch, refusals
logged as ``security`` events and counted):

* ``SwitchControl.command(op, source, authority, argument)`` - a command that arrived over a
  transport whose own security context authenticated it: the A-route's DLMS disconnect
  control and limiter (``routes/aroute/control_binding.py``) come this way. ``authority`` says
  what proved it (:data:`DLMS_HLS_CIPHERED`: an HLS-GMAC association whose every request is
  authenticated and encrypted with the meter's keys), who (the client's system title) and the
  request's counter (its GCM invocation counter). The command runs only if the scheme is one
  the meter trusts for switching and the counter exceeds the last one accepted for that
  sender; the association's own replay guard already refuses an old counter, this one holds
  for commands even if that guard is bypassed or its store is lost.
* ``SwitchControl.execute(envelope, source)`` - a sealed envelope for a transport with no such
  security context. It runs only when all of these hold, checked in this order (the first
  failure is the reason given):

1. the source is the A-route application (B-route, IoT route, local port: refused unparsed);
2. the envelope decodes (``firmware/net/switch_command.py``);
3. the key id is one of the meter's command keys and the MAC verifies;
4. it names this meter's serial;
5. now lies in [not_before - skew, not_after] and the window is no longer than
   ``max_validity_s``;
6. its counter is larger than the last one accepted for that key (replay protection).

The counter is stored (durably) before the breaker acts, so neither a replay nor a power cut
during the stroke can make the same envelope run twice. The breaker then refuses what its own
state forbids (no switch on HV, lockout, brown-out) and reads the contact back after every stroke
(stuck-contact alarm). Nothing is queued: a command not executed is not executed later (so
nothing happens at reboot or when the supply comes back).

Authentication: HMAC-SHA256 (``cryptography``) with per-meter symmetric keys, tag truncated to
128 bits. Chosen over Ed25519 because the head-end already manages per-meter symmetric keys for
the A-route (DLMS/COSEM security suites), verification is cheap on a meter MCU, and with keys
diversified per meter, a key extracted from one meter cannot command another. (Ed25519 would
let the meter hold only a public key; it is the upgrade path if one fleet-wide key is wanted.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from hmac import compare_digest

from cryptography.hazmat.primitives import hashes, hmac

from .breaker import Breaker, Outcome
from .command_source import CONTROL_SOURCES, CommandSource
from ..core.events import EventLog, Severity
from ..net.switch_command import MAC_LEN, SwitchCommand, SwitchCommandError, SwitchOp, decode

COUNTERS_KEY = "switch-counters"
MIN_KEY_LEN = 16


def compute_mac(key: bytes, body: bytes) -> bytes:
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(body)
    return h.finalize()[:MAC_LEN]


def seal(command: SwitchCommand, key: bytes) -> bytes:
    """Encode ``command`` with its MAC (what the head-end does; used by tools and tests)."""
    body = SwitchCommand(command.key_id, command.counter, command.not_before, command.not_after,
                         command.meter_serial, command.op, command.argument).body()
    return body + compute_mac(key, body)


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
    """``accepted``: the envelope passed every check and reached the breaker; ``outcome``: what
    the breaker did (None when refused before); ``reason``: why refused, or the outcome's."""

    accepted: bool
    reason: str
    outcome: Outcome | None = None
    counter: int | None = None

    @property
    def executed(self) -> bool:
        return self.accepted and self.outcome is not None and self.outcome.ok


class SwitchControl:
    """keys: {key_id: key bytes (>= 16)}; meter_serial: this meter's serial (as in the envelope);
    max_validity_s: longest allowed not_after - not_before; skew_s: tolerated clock skew before
    not_before."""

    def __init__(self, breaker: Breaker, keys: dict[int, bytes], store, events: EventLog,
                 clock, *, meter_serial: str, max_validity_s: int = 3600, skew_s: int = 300):
        short = [k for k, v in keys.items() if len(v) < MIN_KEY_LEN]
        if short:
            raise ValueError(f"command keys {short} shorter than {MIN_KEY_LEN} bytes")
        self.breaker, self._keys = breaker, dict(keys)
        self._store, self._events, self._clock = store, events, clock
        self.meter_serial = meter_serial
        self.max_validity_s, self.skew_s = max_validity_s, skew_s
        raw = store.load(COUNTERS_KEY)
        self._counters: dict[int, int] = ({int(k): int(v) for k, v in json.loads(raw).items()}
                                          if raw else {})
        raw = store.load(AUTHORITY_COUNTERS_KEY)
        self._authority_counters: dict[str, int] = json.loads(raw) if raw else {}
        self.refused = 0

    def last_counter(self, key_id: int) -> int | None:
        return self._counters.get(key_id)

    def execute(self, envelope: bytes, source: CommandSource) -> ControlResult:
        if source not in CONTROL_SOURCES:
            return self._refuse(source, f"switch commands are accepted from the A-route only, "
                                f"not from {source.value}")
        try:
            cmd = decode(envelope)
        except SwitchCommandError as exc:
            return self._refuse(source, f"malformed command: {exc}")
        key = self._keys.get(cmd.key_id)
        if key is None:
            return self._refuse(source, f"unknown key id {cmd.key_id}")
        if not compare_digest(compute_mac(key, bytes(envelope)[:-MAC_LEN]), cmd.mac):
            return self._refuse(source, f"MAC check failed (key id {cmd.key_id})")
        if cmd.meter_serial != self.meter_serial:
            return self._refuse(source, f"command addressed to meter {cmd.meter_serial!r}, "
                                f"this is {self.meter_serial!r}")
        now = self._clock.now()
        if cmd.not_after - cmd.not_before > self.max_validity_s:
            return self._refuse(source, f"validity window {cmd.not_after - cmd.not_before} s "
                                f"longer than {self.max_validity_s} s")
        if now < cmd.not_before - self.skew_s:
            return self._refuse(source, f"not valid yet (starts {cmd.not_before}, now {now:.0f})")
        if now > cmd.not_after:
            return self._refuse(source, f"expired (ended {cmd.not_after}, now {now:.0f})")
        last = self._counters.get(cmd.key_id)
        if last is not None and cmd.counter <= last:
            return self._refuse(source, f"replayed or stale counter {cmd.counter} (last accepted "
                                f"{last} for key id {cmd.key_id})")
        self._counters[cmd.key_id] = cmd.counter
        self._store.save(COUNTERS_KEY, json.dumps(
            {str(k): v for k, v in self._counters.items()}).encode())
        outcome = self._dispatch(cmd.op, cmd.argument, source, f"remote {cmd.op.name.lower().replace('_', '-')} "
                                 f"(counter {cmd.counter})")
        return ControlResult(True, outcome.reason, outcome, cmd.counter)

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

