"""Meter event log: power fail/restore, tamper, corruption, security, watchdog, switch operations.

Append-only from the firmware's side. Every event carries the time (epoch s, shown in JST),
a kind, the source that raised it and a human-readable detail. Storage persists events through
the ``sink`` callback; routes read them (A-route event logs, status display).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Callable

JST = timezone(timedelta(hours=9), "JST")


class Severity(Enum):
    INFO = "info"
    WARNING = "warning"
    ALARM = "alarm"


@dataclass(frozen=True, slots=True)     # a meter keeps up to 2000 in RAM: no dict each
class MeterEvent:
    """One logged event. ``at`` is epoch seconds (UTC); ``jst`` formats it in JST."""

    at: float
    kind: str
    source: str
    detail: str = ""
    severity: Severity = Severity.INFO

    @property
    def jst(self) -> str:
        return datetime.fromtimestamp(self.at, JST).strftime("%Y-%m-%d %H:%M:%S JST")

    def __str__(self) -> str:
        return f"{self.jst} {self.severity.value:<7} {self.kind:<14} [{self.source}] {self.detail}"


class EventLog:
    """In-RAM ring of recent events plus counters per kind; forwards each event to ``sink``.

    clock:     anything with ``now()`` (epoch s)
    capacity:  events kept in RAM (older ones remain in storage if a sink persists them)
    """

    def __init__(self, clock, *, capacity: int = 2000,
                 sink: Callable[[MeterEvent], None] | None = None, logger=None):
        self._clock = clock
        self._events: list[MeterEvent] = []
        """Oldest first, at most ``capacity`` (a list: a deque costs a 600 B block from the first
        event; a meter has a few dozen a day)."""
        self._capacity = capacity
        self.counts: Counter[str] = Counter()
        self.sink = sink
        self._subscribers: list[Callable[[MeterEvent], None]] = []
        self._logger = logger

    def record(self, kind: str, *, source: str, detail: str = "",
               severity: Severity = Severity.INFO, at: float | None = None) -> MeterEvent:
        """Log an event. ``at`` (epoch s) dates it when it happened earlier than now, e.g. a
        power failure reconstructed at boot; default: the clock's now."""
        event = MeterEvent(self._clock.now() if at is None else float(at), kind, source, detail,
                           severity)
        self._remember(event)
        if self.sink is not None:
            self.sink(event)
        return event

    def restore(self, event: MeterEvent) -> None:
        """Put back an event read from storage at boot (not forwarded to the sink again)."""
        self._remember(event, notify=False)

    def _remember(self, event: MeterEvent, notify: bool = True) -> None:
        events = self._events
        events.append(event)
        if len(events) > self._capacity:
            del events[0]
        self.counts[event.kind] += 1
        if self._logger is not None and notify:
            level = {Severity.INFO: 20, Severity.WARNING: 30, Severity.ALARM: 40}[event.severity]
            self._logger.log(level, "event %s [%s] %s", event.kind, event.source, event.detail)
        if notify:
            for callback in self._subscribers:
                callback(event)

    def subscribe(self, callback: Callable[[MeterEvent], None]) -> None:
        self._subscribers.append(callback)

    def recent(self, n: int = 20) -> list[MeterEvent]:
        return self._events[-n:]

    def of_kind(self, *kinds: str) -> list[MeterEvent]:
        return [e for e in self._events if e.kind in kinds]

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self):
        return iter(self._events)
