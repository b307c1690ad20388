"""QuirkEngine: the board's FrameFilter. Runs the active profiles in order, logs every
activation and every frame a profile drops, changes or delays, and watches the client's
traffic so the report can say how the client coped (requests, retries, time to recover)."""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sumame.firmware.net.echonet import Esv, EchonetError, decode

from .base import Quirk, QuirkError
from .registry import make

log = logging.getLogger("sumame.quirks")
RETRY_WINDOW_S = 60.0
SPELL_GAP_S = 30.0
REQUESTS = frozenset({Esv.GET, Esv.SETI, Esv.SETC, Esv.INF_REQ, Esv.SETGET})


@dataclass
class Traffic:
    """What the clients did: counts and per-minute series (epoch minute -> n)."""

    requests: int = 0
    answered: int = 0
    retries: int = 0
    dropped: int = 0
    per_minute: Counter = field(default_factory=Counter)
    answered_per_minute: Counter = field(default_factory=Counter)


class QuirkEngine:
    def __init__(self, clock):
        self.clock = clock
        self.quirks: dict[str, Quirk] = {}
        self.log: list[dict] = []
        self.traffic = Traffic()
        self._pending: dict[tuple, float] = {}      # (peer, tid) -> asked at
        self._last_ask: dict[tuple, tuple[float, bool]] = {}   # (peer, epcs) -> (at, answered)
        self._answers: list[float] = []
        self.paused = False
        """True: every frame passes untouched (the live display's pause key)."""

    # ---------------------------------------------------------------- switching
    def enable(self, name: str, params: dict | None = None) -> Quirk:
        quirk = make(name, params or {})
        now = self.clock.now()
        quirk.switch_on(now)
        self.quirks[name] = quirk
        self._record(now, name, "on", quirk.describe())
        return quirk

    def disable(self, name: str) -> None:
        if name not in self.quirks:
            raise QuirkError(f"quirk {name} is not on; on: {', '.join(self.quirks) or 'none'}")
        quirk = self.quirks.pop(name)
        self._record(self.clock.now(), name, "off", f"after {quirk.fired} frames")

    def _record(self, now: float, name: str, what: str, detail: str) -> None:
        self.log.append({"t": now, "quirk": name, "what": what, "detail": detail})
        log.info("quirk %s %s: %s", name, what, detail)

    # ---------------------------------------------------------------- FrameFilter
    def on(self, name: str, **params) -> Quirk:
        """Switch a profile on (pytest fixture / scripts): ``engine.on("opc-cap", max_opc=5)``."""
        return self.enable(name, {k: str(v) for k, v in params.items()})

    def off(self, name: str) -> None:
        self.disable(name)

    def _active(self) -> list[Quirk]:
        return [] if self.paused else list(self.quirks.values())

    def inbound(self, medium: str, peer, data: bytes, now: float) -> bytes | None:
        self._watch_request(peer, data, now)
        for quirk in self._active():
            before = data
            data = quirk.inbound(medium, peer, data, now)
            if data is None:
                self._record(now, quirk.name, "dropped", f"request from {_peer(peer)} ({len(before)} bytes)")
                self.traffic.dropped += 1
                return None
            if data != before:
                self._record(now, quirk.name, "changed", f"request from {_peer(peer)}")
        return data

    def outbound(self, medium: str, peer, data: bytes, now: float) -> list[tuple[float, bytes]]:
        items = [(0.0, data)]
        for quirk in self._active():
            before = items
            items = quirk.outbound(medium, peer, items, now)
            if items != before:
                what = ("dropped" if not items else "delayed" if [b for _, b in items] == [b for _, b in before]
                        else "changed")
                self._record(now, quirk.name, what, f"frame to {_peer(peer) if peer else 'all'}")
        if peer is not None:
            for delay, out in items:
                self._watch_answer(peer, out, now + delay)
        return items

    # ---------------------------------------------------------------- client watch
    def _watch_request(self, peer, data: bytes, now: float) -> None:
        try:
            frame = decode(data)
        except EchonetError:
            return
        if frame.esv not in REQUESTS:
            return
        t = self.traffic
        t.requests += 1
        t.per_minute[int(now // 60)] += 1
        key = (_peer(peer), tuple(frame.epcs))
        last = self._last_ask.get(key)
        if last is not None and not last[1] and now - last[0] < RETRY_WINDOW_S:
            t.retries += 1
        self._last_ask[key] = (now, False)
        self._pending[(_peer(peer), frame.tid)] = now

    def _watch_answer(self, peer, data: bytes, at: float) -> None:
        try:
            frame = decode(data)
        except EchonetError:
            return
        asked = self._pending.pop((_peer(peer), frame.tid), None)
        if asked is None:
            return
        t = self.traffic
        t.answered += 1
        t.answered_per_minute[int(at // 60)] += 1
        self._answers.append(at)
        for key, (when, _) in list(self._last_ask.items()):
            if key[0] == _peer(peer) and when == asked:
                self._last_ask[key] = (when, True)

    def recover_times(self) -> list[float]:
        """For each spell of dropped requests (gaps < 30 s): s from its first drop to the next
        answer after it — how long the client needed to be served again."""
        drops = sorted(e["t"] for e in self.log if e["what"] == "dropped")
        spells, out = [], []
        for t in drops:
            if spells and t - spells[-1][1] < SPELL_GAP_S:
                spells[-1][1] = t
            else:
                spells.append([t, t])
        for first, last in spells:
            after = [a for a in self._answers if a > last]
            if after:
                out.append(round(min(after) - first, 3))
        return out

    # ---------------------------------------------------------------- report
    def report(self) -> dict:
        t = self.traffic
        return {
            "profiles": {name: {"params": {k: v for k, v in q.params.items()}, "evidence": q.evidence,
                                "fired": q.fired,
                                "frames_changed": sum(1 for e in self.log if e["quirk"] == name
                                                      and e["what"] in ("dropped", "changed", "delayed"))}
                         for name, q in self.quirks.items()},
            "log": self.log[-2000:],
            "traffic": {"requests": t.requests, "answered": t.answered, "retries": t.retries,
                        "dropped": t.dropped,
                        "answered_share": round(t.answered / t.requests, 4) if t.requests else None,
                        "recover_s": self.recover_times(),
                        "per_minute": sorted(t.per_minute.items()),
                        "answered_per_minute": sorted(t.answered_per_minute.items())},
        }

    def write_report(self, path: str | Path, extra: dict | None = None) -> tuple[Path, Path | None]:
        """JSON report at ``path`` (``extra`` merged in, e.g. the HEMS dongle's traffic) and a
        plot beside it (``.png``): requests and answers per minute, with the moments quirks
        dropped or changed frames."""
        path = Path(path)
        data = {**self.report(), **(extra or {})}
        path.write_text(json.dumps(data, indent=1))
        png = path.with_suffix(".png")
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return path, None
        req, ans = data["traffic"]["per_minute"], data["traffic"]["answered_per_minute"]
        fig, ax = plt.subplots(figsize=(9, 3.2))
        if req:
            t0 = req[0][0]
            ax.step([(m - t0) for m, _ in req], [n for _, n in req], where="post", label="requests / min")
            ax.step([(m - t0) for m, _ in ans], [n for _, n in ans], where="post", label="answered / min")
            for e in self.log:
                if e["what"] == "dropped":
                    ax.axvline((e["t"] // 60) - t0, color="red", alpha=0.08)
        ax.set_xlabel("minutes since first request")
        ax.set_ylabel("frames")
        ax.set_title("client traffic under quirks: " + (", ".join(self.quirks) or "none"))
        ax.legend(loc="upper right")
        fig.tight_layout()
        fig.savefig(png, dpi=100)
        plt.close(fig)
        return path, png


def _peer(peer) -> str:
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)
