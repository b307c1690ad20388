"""Home-side protection (seed 001): a client limit across every B-route medium, a per-client
rate limit and DoS detection. Cheap per frame: a dict lookup and a token-bucket update, before
any decoding, so a flood costs little and never reaches the objects.

A client is ``(medium, address)`` (medium "ip", "wi-sun", ...; address = the peer's IP).
The registry is shared by every medium the service carries, so Wi-Fi and Wi-SUN together admit
at most ``max_clients`` devices. Nothing here can touch the switch, ampere limit, clock or keys:
the objects read ``MeterReadings`` only and their Set maps are the write whitelist.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum

from sumame.firmware.core.events import Severity


REFUSED_HELD = 256
"""Refused devices remembered (refused without a decode until ``log_interval_s`` passes); past
it the oldest is forgotten (it is only decoded again). Source addresses cost an attacker nothing."""


@dataclass(frozen=True)
class GuardOptions:
    """max_clients:     home devices admitted across all B-route media (seed 001: about 3)
    idle_timeout_s:     a client silent this long frees its slot (> the 30-min pollers' period)
    rate_per_s:         sustained frames per second per client (reference load: 0.1 /s)
    burst:              frames a client may send back to back (start-up discovery)
    dos_drops:          rate-limited frames within ``dos_window_s`` that mean a DoS
    block_s:            how long a client detected as DoS is ignored entirely
    log_interval_s:     at most one refusal event per interval, for all devices (the rest are
                        counted, and the next event says how many)
    """

    max_clients: int = 3
    idle_timeout_s: float = 2 * 3600.0
    rate_per_s: float = 2.0
    burst: float = 20.0
    dos_drops: int = 20
    dos_window_s: float = 10.0
    block_s: float = 60.0
    log_interval_s: float = 60.0


class Verdict(Enum):
    ACCEPT = "accept"
    NEW = "new"                  # not a client yet: decode, admit only a real request
    REFUSED = "refused"          # over the client limit
    RATE_LIMITED = "rate-limited"
    BLOCKED = "blocked"          # DoS detected, ignored for block_s


class Client:
    __slots__ = ("key", "first_seen", "last_seen", "tokens", "stamp", "window_start",
                 "window_drops", "blocked_until", "answered", "dropped", "address")

    def __init__(self, key, now: float, burst: float):
        self.key = key
        self.first_seen = self.last_seen = self.stamp = self.window_start = now
        self.tokens = burst
        self.window_drops = 0
        self.blocked_until = 0.0
        self.answered = self.dropped = 0
        self.address = key[1]

    def __repr__(self) -> str:
        return f"Client({self.key[0]}:{self.key[1]}, answered={self.answered}, dropped={self.dropped})"


class HomeSideGuard:
    """Client registry + rate limiter + DoS detector. ``counters`` counts every verdict."""

    def __init__(self, events, options: GuardOptions | None = None, source: str = "b-route"):
        self.events = events
        self.options = options or GuardOptions()
        self.source = source
        self.clients: dict[tuple, Client] = {}
        self.counters: Counter[str] = Counter()
        self._refused: dict[tuple, float] = {}   # key -> until when it is refused without a look
        self._next_refusal_log = float("-inf")
        self._refusals_unlogged = 0

    # ---------------------------------------------------------------- the per-frame check
    def check(self, key: tuple, now: float) -> Verdict:
        client = self.clients.get(key)
        if client is None:
            until = self._refused.get(key)
            if until is not None and now < until:
                self.counters["refused"] += 1
                return Verdict.REFUSED
            return Verdict.NEW
        if now < client.blocked_until:
            client.dropped += 1
            self.counters["blocked"] += 1
            return Verdict.BLOCKED
        opts = self.options
        client.tokens = min(opts.burst, client.tokens + (now - client.stamp) * opts.rate_per_s)
        client.stamp = client.last_seen = now
        if client.tokens >= 1.0:
            client.tokens -= 1.0
            return Verdict.ACCEPT
        client.dropped += 1
        self.counters["rate-limited"] += 1
        if now - client.window_start > opts.dos_window_s:
            client.window_start, client.window_drops = now, 0
        client.window_drops += 1
        if client.window_drops >= opts.dos_drops:
            client.blocked_until = now + opts.block_s
            client.window_drops = 0
            self.counters["dos-detected"] += 1
            self.events.record(
                "dos-detected", source=self.source, severity=Severity.ALARM,
                detail=f"{key[0]} {key[1]}: {opts.dos_drops} frames over the rate limit "
                       f"({opts.rate_per_s:g}/s) within {opts.dos_window_s:g} s; "
                       f"ignored for {opts.block_s:g} s")
        return Verdict.RATE_LIMITED

    # ---------------------------------------------------------------- admission
    def admit(self, key: tuple, now: float) -> Client | None:
        """Admit a new client if a slot is free (idle clients are released first)."""
        opts = self.options
        for k, c in list(self.clients.items()):
            if now - c.last_seen > opts.idle_timeout_s and now >= c.blocked_until:
                del self.clients[k]
                self.events.record("b-route-client-left", source=self.source,
                                   detail=f"{k[0]} {k[1]} idle for {now - c.last_seen:.0f} s")
        if len(self.clients) >= opts.max_clients:
            self.counters["refused"] += 1
            self._refused.pop(key, None)
            self._refused[key] = now + opts.log_interval_s      # insertion order = oldest first
            while len(self._refused) > REFUSED_HELD:             # forged sources: bounded, O(1)
                del self._refused[next(iter(self._refused))]
            if now < self._next_refusal_log:                     # one event per interval in all
                self._refusals_unlogged += 1
                return None
            self._next_refusal_log = now + opts.log_interval_s
            held = ", ".join(f"{m} {a}" for m, a in self.clients)
            more = (f"; {self._refusals_unlogged} other devices refused since the last such event"
                    if self._refusals_unlogged else "")
            self._refusals_unlogged = 0
            self.events.record(
                "b-route-refused", source=self.source, severity=Severity.WARNING,
                detail=f"{key[0]} {key[1]} refused: {opts.max_clients} home devices already "
                       f"connected ({held}){more}")
            return None
        client = Client(key, now, self.options.burst)
        self.clients[key] = client
        self._refused.pop(key, None)
        self.counters["admitted"] += 1
        self.events.record("b-route-client", source=self.source,
                           detail=f"{key[0]} {key[1]} admitted "
                                  f"({len(self.clients)}/{opts.max_clients})")
        client.tokens -= 1.0
        return client

    def release(self, key: tuple) -> None:
        """Free a slot (a medium saw the device leave, e.g. PANA session closed)."""
        if self.clients.pop(key, None) is not None:
            self.events.record("b-route-client-left", source=self.source,
                               detail=f"{key[0]} {key[1]} disconnected")

    def clients_on(self, medium: str) -> list[Client]:
        return [c for k, c in self.clients.items() if k[0] == medium]
