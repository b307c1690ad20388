"""The meter's built-in switch: contract ampere limit, trip / auto-reclose / lockout, remote
open / close and remote limit change.

State machine (modes) and the contact each implies::

    CLOSED ──over-current along the trip curve──▶ TRIPPED  (open; recloses by itself)
    TRIPPED ──after reclose_delay_s (default 15 s, HEPCO)──▶ CLOSED
    the ``lockout_trips``-th trip (default 8) within ``lockout_window_s`` ──▶ LOCKED_OUT (open;
        only the utility's reset-lockout command closes it again)
    any ──remote open──▶ OPEN_REMOTE (open until remote close)

Rules that keep control intended:
* only ``CommandSource.A_ROUTE`` may command (``firmware/switchgear/control.py`` authenticates first);
* no relay operation at boot (``boot()`` reconciles the stored state with the sensed contact),
  and none while ``supply_ok()`` is False (brown-out / outage: the coil may not have the energy
  to complete a stroke); an auto-reclose that falls due then waits for the supply;
* every operation is written ahead to the StateStore (the intended record in ``pending``), the
  relay is pulsed, the auxiliary contact is read back, and the outcome is stored; a power cut in
  between is resolved at the next boot from the sensed contact; a read-back that differs from the
  command raises the stuck-contact alarm (ALARM event) and the mode does not change;
* every operation and refusal is logged (EventLog) with its cause and source.

HV meters have no switch (``relay=None``): every command is refused with that reason.
"""
from __future__ import annotations

import json
import math
from datetime import datetime
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Callable

from sumame.hal.errors import RelayError
from sumame.hal.relay import ContactState

from .command_source import CONTROL_SOURCES, CommandSource
from ..core.events import JST, EventLog, Severity
from .trip_curve import ThermalAccumulator, TripCurve

STANDARD_LIMITS_A = (10, 15, 20, 30, 40, 50, 60)
"""従量電灯B contract steps, A."""
MAX_REMOTE_LIMIT_A = 120
"""Highest limit the next-generation LV meter accepts remotely, A."""
STATE_KEY = "breaker"


class BreakerMode(Enum):
    CLOSED = "closed"
    TRIPPED = "tripped"
    LOCKED_OUT = "locked-out"
    OPEN_REMOTE = "open-remote"

    @property
    def contact(self) -> ContactState:
        return ContactState.CLOSED if self is BreakerMode.CLOSED else ContactState.OPEN


@dataclass(frozen=True)
class BreakerConfig:
    """Board / contract settings.

    limit_a:           contract amperes at first boot (later the stored value wins)
    extra_steps_a:     board-declared steps beyond the standard ones (each <= 120 A)
    reclose_delay_s:   automatic reclose delay (HEPCO ~15 s; others 10-60 s)
    lockout_trips:     trips within ``lockout_window_s`` that stop auto-reclose (HEPCO: 8)
    lockout_window_s:  the "short period" of that rule (not public; our default 10 min)
    stuck_retry_s:     after a failed trip stroke, wait this long before trying again
    limiter_enabled:   False where contracts are not ampere based (the switch stays remote-only)
    """

    limit_a: int = 30
    extra_steps_a: tuple[int, ...] = ()
    reclose_delay_s: float = 15.0
    lockout_trips: int = 8
    lockout_window_s: float = 600.0
    stuck_retry_s: float = 60.0
    limiter_enabled: bool = True
    curve: TripCurve = field(default_factory=TripCurve)

    def __post_init__(self):
        bad = [a for a in self.extra_steps_a if not 0 < a <= MAX_REMOTE_LIMIT_A]
        if bad:
            raise ValueError(f"board limit steps {bad} outside 1..{MAX_REMOTE_LIMIT_A} A")
        if self.limit_a not in self.allowed_limits:
            raise ValueError(f"initial limit {self.limit_a} A not in {self.allowed_limits}")
        if self.lockout_trips < 1 or self.reclose_delay_s < 0 or self.lockout_window_s <= 0:
            raise ValueError(f"invalid breaker timing {self}")

    @property
    def allowed_limits(self) -> tuple[int, ...]:
        return tuple(sorted(set(STANDARD_LIMITS_A) | set(self.extra_steps_a)))


@dataclass(frozen=True)
class BreakerStatus:
    """Summary for polls and the status display (units in the names)."""

    has_switch: bool
    mode: str | None
    contact: str | None
    limit_a: int | None
    current_a: float | None
    heat: float
    trips_in_window: int
    total_trips: int
    locked_out: bool
    reclose_at: float | None
    stuck_alarm: bool
    operations: int | None
    """Coil strokes the firmware has commanded over the meter's life (persisted)."""

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a status display."""
        if not self.has_switch:
            return [("switch", "none (HV meter)")]
        due = ("-" if self.reclose_at is None else
               datetime.fromtimestamp(self.reclose_at, JST).strftime("%H:%M:%S JST"))
        amps = "-" if self.current_a is None else f"{self.current_a:.1f} A"
        return [("switch", f"{self.mode} (contact {self.contact})"),
                ("limit", f"{self.limit_a} A"), ("current", amps),
                ("trips", f"{self.trips_in_window} in window, {self.total_trips} total"),
                ("lockout", "YES" if self.locked_out else "no"), ("reclose at", due),
                ("stuck contact", "ALARM" if self.stuck_alarm else "ok"),
                ("relay operations", str(self.operations))]


@dataclass(frozen=True)
class Outcome:
    """Result of a command: ``ok`` False means refused (``reason`` says why); ``action`` is
    "opened", "closed", "limit-set", "lockout-reset", "no-op" or "refused"."""

    ok: bool
    action: str
    reason: str
    status: BreakerStatus


@dataclass
class _Record:
    """What survives a reboot (JSON in the StateStore)."""

    mode: str = BreakerMode.CLOSED.value
    limit_a: int = 30
    trips: list[float] = field(default_factory=list)
    total_trips: int = 0
    reclose_at: float | None = None
    stuck: bool = False
    strokes: int = 0
    pending: dict | None = None

    def encode(self) -> bytes:
        return json.dumps({"v": 1, **asdict(self)}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> "_Record":
        raw = json.loads(data)
        if raw.pop("v", None) != 1:
            raise ValueError("unknown breaker record version")
        rec = cls(**raw)
        BreakerMode(rec.mode)
        return rec


class Breaker:
    """See the module docstring. Call ``boot()`` once before anything else."""

    def __init__(self, relay, store, events: EventLog, clock, config: BreakerConfig | None = None,
                 *, supply_ok: Callable[[], bool] = lambda: True):
        self.relay = relay
        self.config = config or BreakerConfig()
        self._store, self._events, self._clock = store, events, clock
        self._supply_ok = supply_ok
        self._rec = _Record(limit_a=self.config.limit_a)
        self._thermal = ThermalAccumulator(self.config.curve)
        self._current_a: float | None = None
        self._contact: ContactState | None = None
        self._retry_trip_after = -math.inf
        self._deferred_logged = False
        self.booted = False
        self.listeners: list[Callable[[], None]] = []
        """Called after every change of mode or limit (the task re-plans / re-arms)."""

    # ---------------------------------------------------------------- properties
    @property
    def has_switch(self) -> bool:
        return self.relay is not None

    @property
    def mode(self) -> BreakerMode:
        return BreakerMode(self._rec.mode)

    @property
    def limit_a(self) -> int:
        return self._rec.limit_a

    @property
    def reclose_at(self) -> float | None:
        return self._rec.reclose_at

    @property
    def sampling_active(self) -> bool:
        """True while over the limit or warm: the task should sample fast."""
        return self._thermal.active

    def status(self) -> BreakerStatus:
        if not self.has_switch:
            return BreakerStatus(False, None, None, None, self._current_a, 0.0, 0, 0, False,
                                 None, False, None)
        now = self._clock.now()
        window = [t for t in self._rec.trips if now - t < self.config.lockout_window_s]
        return BreakerStatus(
            True, self.mode.value, None if self._contact is None else self._contact.value,
            self.limit_a, self._current_a, round(self._thermal.heat, 4), len(window),
            self._rec.total_trips, self.mode is BreakerMode.LOCKED_OUT, self._rec.reclose_at,
            self._rec.stuck, self._rec.strokes)

    # ---------------------------------------------------------------- boot
    def boot(self) -> None:
        """Restore the stored state and reconcile it with the sensed contact. Never drives."""
        self.booted = True
        if not self.has_switch:
            return
        now = self._clock.now()
        raw = self._store.load(STATE_KEY)
        rec, note = None, ""
        if raw is not None:
            try:
                rec = _Record.decode(raw)
            except (ValueError, TypeError, KeyError) as exc:
                self._log("switch-state-corrupt", CommandSource.BOOT,
                          f"stored breaker state unreadable ({exc}); adopting the sensed contact",
                          Severity.ALARM)
        sensed = self._sense()
        if rec is None:
            mode = BreakerMode.CLOSED if sensed is ContactState.CLOSED else BreakerMode.OPEN_REMOTE
            rec = _Record(mode=mode.value, limit_a=self.config.limit_a)
            note = "no stored state: adopted the sensed contact"
        elif rec.pending is not None:
            target = _Record(**{**rec.pending, "pending": None})
            if sensed is BreakerMode(target.mode).contact:
                rec, note = target, (f"operation to {target.mode} completed before the power "
                                     f"loss (contact reads {sensed.value})")
            else:
                rec = replace(rec, pending=None)
                note = (f"operation to {target.mode} interrupted by power loss; contact reads "
                        f"{None if sensed is None else sensed.value}; not retried")
        elif sensed is not None and sensed is not BreakerMode(rec.mode).contact:
            rec = replace(rec, stuck=True)
            self._log("switch-mismatch", CommandSource.BOOT,
                      f"contact reads {sensed.value} but stored mode is {rec.mode}",
                      Severity.ALARM)
        if rec.limit_a not in self.config.allowed_limits:
            self._log("switch-state-corrupt", CommandSource.BOOT,
                      f"stored limit {rec.limit_a} A not allowed; using {self.config.limit_a} A",
                      Severity.ALARM)
            rec.limit_a = self.config.limit_a
        if BreakerMode(rec.mode) is BreakerMode.TRIPPED:
            # never reclose sooner than a full delay after boot
            rec.reclose_at = max(rec.reclose_at or now, now + self.config.reclose_delay_s)
        self._rec = rec
        self._save()
        self._log("switch-boot", CommandSource.BOOT,
                  f"mode {rec.mode}, limit {rec.limit_a} A, contact "
                  f"{None if sensed is None else sensed.value}" + (f"; {note}" if note else ""))

    # ---------------------------------------------------------------- protection
    def sample(self, t: float, currents_a) -> bool:
        """Take one current sample (epoch s; RMS A per element, None where not wired).
        Returns True when it tripped the breaker."""
        values = [abs(c) for c in currents_a if c is not None]
        self._current_a = max(values) if values else 0.0
        if not self.has_switch or not self.config.limiter_enabled:
            return False
        trip = self._thermal.add(t, self._current_a / self.limit_a)
        if not trip or self.mode is not BreakerMode.CLOSED or t < self._retry_trip_after:
            return False
        return self._trip(t)

    def time_to_trip_s(self) -> float:
        return self._thermal.time_to_trip_s() if self.mode is BreakerMode.CLOSED else math.inf

    def _trip(self, now: float) -> bool:
        ratio = self._thermal.last_ratio
        window = [t for t in self._rec.trips if now - t < self.config.lockout_window_s] + [now]
        locked = len(window) >= self.config.lockout_trips
        new = replace(self._rec, trips=window, total_trips=self._rec.total_trips + 1,
                      mode=(BreakerMode.LOCKED_OUT if locked else BreakerMode.TRIPPED).value,
                      reclose_at=None if locked else now + self.config.reclose_delay_s)
        cause = (f"over-current {self._current_a:.1f} A = {ratio:.2f} x {self.limit_a} A "
                 f"(trip {len(window)} of {self.config.lockout_trips} in window)")
        if not self._supply_ok():
            if not self._deferred_logged:
                self._deferred_logged = True
                self._log("switch-deferred", CommandSource.BREAKER, f"trip deferred while the "
                          f"supply is not ok; {cause}", Severity.WARNING)
            return False
        self._deferred_logged = False
        done = self._actuate(new, CommandSource.BREAKER, "switch-trip", cause)
        if not done:
            self._retry_trip_after = now + self.config.stuck_retry_s
            return False
        self._thermal.reset()
        if locked:
            self._log("switch-lockout", CommandSource.BREAKER,
                      f"{len(window)} trips within {self.config.lockout_window_s:.0f} s: auto-"
                      f"reclose stopped until the utility resets the lockout", Severity.ALARM)
        return True

    def reclose_if_due(self, now: float) -> bool:
        """Auto-reclose when due (called by the task). True when it closed the contact."""
        if self.mode is not BreakerMode.TRIPPED or self._rec.reclose_at is None:
            return False
        if now < self._rec.reclose_at or self._rec.stuck:
            return False
        if not self._supply_ok():
            return False
        new = replace(self._rec, mode=BreakerMode.CLOSED.value, reclose_at=None)
        done = self._actuate(new, CommandSource.BREAKER, "switch-reclose",
                             f"auto-reclose {self.config.reclose_delay_s:.0f} s after trip")
        if done:
            self._thermal.reset()
        return done

    # ---------------------------------------------------------------- commands
    def command_open(self, source: CommandSource, cause: str = "remote open") -> Outcome:
        refused = self._check_command(source, "open")
        if refused:
            return refused
        if self.mode is BreakerMode.LOCKED_OUT:
            return self._refuse(source, "open", "locked out after repeated trips: the contact "
                                "is already open; send reset-lockout first")
        if self.mode is BreakerMode.OPEN_REMOTE:
            return Outcome(True, "no-op", "already open by remote command", self.status())
        new = replace(self._rec, mode=BreakerMode.OPEN_REMOTE.value, reclose_at=None)
        if self.mode is BreakerMode.TRIPPED:   # contact already open: no stroke needed
            self._commit(new)
            self._log("switch-open", source, f"{cause}: tripped breaker held open (auto-reclose "
                      f"cancelled)")
            return Outcome(True, "opened", "auto-reclose cancelled", self.status())
        return self._command_actuate(new, source, "switch-open", cause, "opened")

    def command_close(self, source: CommandSource, cause: str = "remote close") -> Outcome:
        refused = self._check_command(source, "close")
        if refused:
            return refused
        if self.mode is BreakerMode.LOCKED_OUT:
            return self._refuse(source, "close", "locked out after repeated trips: send "
                                "reset-lockout (it closes the switch)")
        if self.mode is BreakerMode.CLOSED:
            return Outcome(True, "no-op", "already closed", self.status())
        new = replace(self._rec, mode=BreakerMode.CLOSED.value, reclose_at=None)
        return self._command_actuate(new, source, "switch-close", cause, "closed")

    def command_reset_lockout(self, source: CommandSource) -> Outcome:
        refused = self._check_command(source, "reset-lockout")
        if refused:
            return refused
        if self.mode is not BreakerMode.LOCKED_OUT:
            return self._refuse(source, "reset-lockout", f"not locked out (mode {self.mode.value})")
        new = replace(self._rec, mode=BreakerMode.CLOSED.value, reclose_at=None, trips=[])
        return self._command_actuate(new, source, "switch-lockout-reset",
                                     "utility reset of the lockout", "lockout-reset")

    def command_set_limit(self, limit_a: int, source: CommandSource) -> Outcome:
        refused = self._check_command(source, "set-limit", needs_supply=False)
        if refused:
            return refused
        if isinstance(limit_a, bool) or not isinstance(limit_a, int) or \
                limit_a not in self.config.allowed_limits:
            return self._refuse(source, "set-limit", f"limit {limit_a!r} A is not a contract step "
                                f"of this meter {self.config.allowed_limits}")
        old = self.limit_a
        if limit_a == old:
            return Outcome(True, "no-op", f"limit already {old} A", self.status())
        self._commit(replace(self._rec, limit_a=limit_a))
        self._log("switch-limit", source, f"contract limit {old} A -> {limit_a} A")
        return Outcome(True, "limit-set", f"{old} A -> {limit_a} A", self.status())

    # ---------------------------------------------------------------- internals
    def _check_command(self, source: CommandSource, what: str,
                       needs_supply: bool = True) -> Outcome | None:
        if source not in CONTROL_SOURCES:
            return self._refuse(source, what, f"source {source.value} may not control the switch "
                                f"(A-route only)", kind="security")
        if not self.has_switch:
            return self._refuse(source, what, "this meter has no switch (HV meter through "
                                "instrument transformers): no remote open/close or ampere limit")
        if not self.booted:
            return self._refuse(source, what, "breaker not booted yet")
        if needs_supply and not self._supply_ok():
            return self._refuse(source, what, "supply brown-out / outage: relay operations "
                                "suspended")
        return None

    def _refuse(self, source: CommandSource, what: str, reason: str,
                kind: str = "switch-refused") -> Outcome:
        self._log(kind, source, f"{what} refused: {reason}", Severity.WARNING)
        return Outcome(False, "refused", reason, self.status())

    def _command_actuate(self, new: _Record, source, kind, cause, action) -> Outcome:
        if self._actuate(new, source, kind, cause):
            return Outcome(True, action, cause, self.status())
        return Outcome(False, "refused", "relay did not reach the commanded position "
                       "(stuck-contact alarm raised)" if self._rec.stuck else
                       "relay could not be driven", self.status())

    def _actuate(self, new: _Record, source: CommandSource, kind: str, cause: str) -> bool:
        """Write ahead, pulse, read back, store. False (and alarm) if the contact did not move."""
        target = BreakerMode(new.mode).contact
        old = replace(self._rec, strokes=self._rec.strokes + 1)   # counted even if interrupted
        new = replace(new, strokes=old.strokes)
        self._rec = replace(old, pending=asdict(replace(new, pending=None, stuck=False)))
        self._save()
        try:
            self.relay.drive(target)
        except RelayError as exc:
            self._rec = old
            self._save()
            self._log("switch-fault", source, f"{kind} failed: relay could not be driven: {exc}",
                      Severity.ALARM)
            return False
        sensed = self._sense()
        if sensed is not target:
            self._rec = replace(old, stuck=True, pending=None)
            self._save()
            self._log("switch-stuck", source, f"{kind} ({cause}): commanded {target.value}, "
                      f"contact reads {None if sensed is None else sensed.value}", Severity.ALARM)
            return False
        self._rec = replace(new, pending=None, stuck=False)
        self._save()
        self._log(kind, source, f"{cause}; contact read back {sensed.value}")
        return True

    def _commit(self, new: _Record) -> None:
        self._rec = new
        self._save()

    def _sense(self) -> ContactState | None:
        try:
            self._contact = self.relay.sensed()
        except RelayError as exc:
            self._log("switch-fault", CommandSource.BREAKER, f"auxiliary contact unreadable: {exc}",
                      Severity.ALARM)
            self._contact = None
        return self._contact

    def _save(self) -> None:
        self._store.save(STATE_KEY, self._rec.encode())
        for listener in self.listeners:
            listener()

    def _log(self, kind: str, source: CommandSource, detail: str,
             severity: Severity = Severity.INFO) -> None:
        self._events.record(kind, source=source.value, detail=detail, severity=severity)
