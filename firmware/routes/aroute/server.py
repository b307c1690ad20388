"""The meter's COSEM server on the A-route: client associations, and bad input in the event log.

Client SAPs (associations) the meter offers:

    0x10 public    no authentication       clock, device name / ID, invocation counter, object list
    0x20 reader    LLS (password)          + all measurement data, profiles, logs, liveness
    0x30 head-end  HLS-GMAC, ciphered      + switch and limit commands, soft switch; the push
                   (authenticated and      destination (wPort 0x30) and the association whose
                   encrypted, suite 0)     policy makes pushes ciphered

Everything the codec refuses (malformed APDUs, wrong passwords, bad GCM tags, replayed
invocation counters, unknown objects, selective access out of range, refused commands) is
answered as the standard says by ``CosemServer`` and, here, also recorded in the meter's
EventLog with source "a-route" (kinds ``dlms-*``, see ``event_logs.SECURITY_CODES``). Records are
rate-limited per kind (``burst`` per ``window_s``; the next one says how many were suppressed) so
a flood cannot wear the flash the event log lives on.
"""
from __future__ import annotations

from collections import defaultdict

from sumame.firmware.core.events import Severity
from sumame.firmware.net.dlms.acse import Mechanism
from sumame.firmware.net.dlms.association import AssociationPolicy
from sumame.firmware.net.dlms.server import CosemServer

SOURCE = "a-route"
PUBLIC_SAP, READER_SAP, HES_SAP = 0x10, 0x20, 0x30
PUSH_WPORT = HES_SAP


def policies(secrets, *, ciphered: bool = True) -> list[AssociationPolicy]:
    return [AssociationPolicy(PUBLIC_SAP, Mechanism.NONE),
            AssociationPolicy(READER_SAP, Mechanism.LOW, secret=secrets.lls_password),
            AssociationPolicy(HES_SAP, Mechanism.HIGH_GMAC, ciphered=ciphered)]


_SECURITY_KINDS = {"dlms_auth_failure": "dlms-auth-failure", "dlms_decipher_failure": "dlms-decipher-failure",
                   "dlms_replay": "dlms-replay"}


class EventLimiter:
    """At most ``burst`` events of one kind per ``window_s`` of meter time reach the EventLog."""

    def __init__(self, events, clock, *, burst: int = 10, window_s: float = 60.0):
        self.events, self.clock = events, clock
        self.burst, self.window_s = burst, window_s
        self._window: dict[str, tuple[float, int]] = {}
        self.suppressed: dict[str, int] = defaultdict(int)

    def record(self, kind: str, detail: str, severity: Severity = Severity.WARNING) -> None:
        now = self.clock.now()
        start, count = self._window.get(kind, (now, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        if count >= self.burst:
            self.suppressed[kind] += 1
            self._window[kind] = (start, count)
            return
        self._window[kind] = (start, count + 1)
        held = self.suppressed.pop(kind, 0)
        if held:
            detail += f" ({held} similar events not logged)"
        self.events.record(kind, source=SOURCE, detail=detail, severity=severity)


class MeterCosemServer(CosemServer):
    """CosemServer whose refusals and exception-responses also reach the meter's EventLog."""

    def __init__(self, *args, limiter: EventLimiter, **kwargs):
        self.limiter = limiter
        super().__init__(*args, on_security_event=self._on_security, **kwargs)

    def _on_security(self, kind: str, detail: str) -> None:
        self.limiter.record(_SECURITY_KINDS.get(kind, "security"), detail, Severity.ALARM)

    def _refused(self, dar: int, why: str) -> int:
        self.limiter.record("dlms-refused", f"request refused (result {int(dar)}): {why}")
        return super()._refused(dar, why)

    def _exception(self, why: str, state: int, service: int, ic: int | None = None) -> bytes:
        if not any(w in why for w in ("replayed APDU", "cannot decipher")):   # already logged as security
            self.limiter.record("dlms-bad-input", f"exception-response: {why}")
        return super()._exception(why, state, service, ic)
