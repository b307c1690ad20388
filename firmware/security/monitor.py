"""Anomaly monitoring of external peers: raises ALARM events (source ``extsec``).

* ``ext-rate-alarm``    a peer sent more than ``rate_limit_per_s`` x ``rate_window_s`` frames in
                        one window (accepted or not: a flood is an anomaly even when refused);
* ``ext-unknown-peer``  a frame refused as from an unknown peer (IoT allow-list, B-route client
                        refused), or a B-route peer absent from ``known_peers`` when that is set;
* ``ext-auth-alarm``    ``auth_failures`` authentication failures of one peer within
                        ``auth_window_s`` (PANA/EAP, bad MIC, replayed counter, forged source).

Each alarm is raised at most once per peer per ``alarm_hold_s``, and at most ``BURST`` alarms
per minute over all peers reach the (journalled) event log — the rest are counted in ``stats``
and the next alarm says how many — so forged source addresses cannot wear the flash. At most
``max_peers`` peers are tracked (past it the oldest tracked is forgotten). O(1) per frame.
"""
from __future__ import annotations

from collections import Counter

from sumame.firmware.core.events import Severity

from .extlog import Verdict
from .options import ExtSecOptions

SOURCE = "extsec"
BURST = 10


class _Peer:
    __slots__ = ("window_start", "frames", "auth_start", "auth_failures", "known_checked")

    def __init__(self, now: float):
        self.window_start = self.auth_start = now
        self.frames = self.auth_failures = 0
        self.known_checked = False


class AnomalyMonitor:
    def __init__(self, events, options: ExtSecOptions):
        self.events, self.options = events, options
        self.peers: dict[str, _Peer] = {}
        self.stats: Counter[str] = Counter()
        self._held: dict[tuple[str, str], float] = {}
        self._minute = (float("-inf"), 0)
        self._suppressed = 0
        self._known = frozenset(options.known_peers)

    def observe(self, peer: str, verdict: Verdict, now: float) -> None:
        """One inbound frame (or refused join) from ``peer`` with its verdict."""
        opts = self.options
        p = self.peers.get(peer)
        if p is None:
            p = _Peer(now)
            if len(self.peers) >= opts.max_peers:   # forged sources: the oldest tracked goes
                del self.peers[next(iter(self.peers))]
            self.peers[peer] = p
        if now - p.window_start >= opts.rate_window_s:
            p.window_start, p.frames = now, 0
        p.frames += 1
        if p.frames == int(opts.rate_limit_per_s * opts.rate_window_s) + 1:
            self._alarm("ext-rate-alarm", peer, now,
                        f"{peer}: more than {opts.rate_limit_per_s:g} frames/s over {opts.rate_window_s:g} s "
                        f"(last verdict {verdict.text})")
        if verdict is Verdict.UNKNOWN_PEER:
            self._alarm("ext-unknown-peer", peer, now, f"{peer}: frame from an unknown peer refused")
        elif (self._known and not p.known_checked and not peer.startswith("iot:")
              and verdict is Verdict.ACCEPTED):
            p.known_checked = True
            if peer not in self._known:
                self._alarm("ext-unknown-peer", peer, now, f"{peer}: not one of the site's known B-route peers")
        if verdict is Verdict.AUTH_FAILED:
            if now - p.auth_start >= opts.auth_window_s:
                p.auth_start, p.auth_failures = now, 0
            p.auth_failures += 1
            if p.auth_failures == opts.auth_failures:
                self._alarm("ext-auth-alarm", peer, now,
                            f"{peer}: {opts.auth_failures} authentication failures within {opts.auth_window_s:g} s")

    def _alarm(self, kind: str, peer: str, now: float, detail: str) -> None:
        self.stats[kind] += 1
        key = (kind, peer)
        if now < self._held.get(key, float("-inf")):
            return
        self._held.pop(key, None)
        while len(self._held) >= 4 * self.options.max_peers:     # oldest hold forgotten: O(1), bounded
            del self._held[next(iter(self._held))]
        self._held[key] = now + self.options.alarm_hold_s
        start, n = self._minute
        if now - start >= 60:
            start, n = now, 0
        if n >= BURST:
            self._suppressed += 1
            self.stats["suppressed"] += 1
            self._minute = (start, n)
            return
        self._minute = (start, n + 1)
        if self._suppressed:
            detail += f" ({self._suppressed} other alarms not logged)"
            self._suppressed = 0
        self.events.record(kind, source=SOURCE, severity=Severity.ALARM, detail=detail)
