"""Supply loss and restoration, from the metering chip's voltages and from boot reconciliation.

Detection from voltage samples (RMS V per wired element, ~1 s apart):
* the supply is *lost* when every wired element reads below ``fail_ratio`` x nominal (default
  0.6 x 100 V = 60 V) for at least ``fail_debounce_s`` (1 s): shorter dips are sags, not outages;
* it is *back* when the highest element reads at least ``restore_ratio`` x nominal (default
  0.85 x 100 V = 85 V) for ``restore_debounce_s`` (2 s). Between the two thresholds the state holds
  (hysteresis). One element lost on a 3-wire supply is a phase loss, not an outage.
* The outage starts at the first low sample and ends at the first good sample of the run that
  restored it; both are logged (``power-fail`` / ``power-restore``, dated then, shown in JST).

A meter powered from the line usually dies with it. Two records make that visible at boot:
``last_alive`` (written every ``heartbeat_s``, default 60 s) and an open outage written the
moment a power failure is detected (possible when the board has hold-up energy). At boot:
an open outage ends at boot time; an unclean stop without one becomes an outage from
``last_alive`` (so up to one heartbeat early: conservative for "no data"); a clean shutdown
(``shutdown()``) becomes a ``restart`` gap. Registers mark every interval that overlaps an
outage or gap as no data (``affected_boundaries``); ``liveness()`` answers head-end polls.

Last gasp: when a failure is detected and what is left of the board's hold-up (``hold_up_s()``
at full charge, minus the time since the first low sample) lasts at least ``last_gasp_min_s``,
every registered sender is called once with a ``LastGasp``. The estimate is optimistic by at
most one sample period (the line may have gone just after the last good sample).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Callable

from ..core.events import JST, EventLog, Severity
from ..core.scheduler import sleep

STATE_KEY = "outage"
SOURCE = "outage"


def jst(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, JST).strftime("%Y-%m-%d %H:%M:%S JST")


@dataclass(frozen=True)
class OutageThresholds:
    nominal_v: float = 100.0
    fail_ratio: float = 0.6
    restore_ratio: float = 0.85
    fail_debounce_s: float = 1.0
    restore_debounce_s: float = 2.0

    def __post_init__(self):
        if not 0 < self.fail_ratio < self.restore_ratio:
            raise ValueError(f"need 0 < fail_ratio < restore_ratio, got {self}")


@dataclass(frozen=True)
class Outage:
    """[start, end) epoch s; end None while it lasts. kind: "outage" or "restart"; detected:
    "voltage" (seen happening) or "boot" (reconstructed)."""

    start: float
    end: float | None
    kind: str = "outage"
    detected: str = "voltage"

    def overlaps(self, t0: float, t1: float) -> bool:
        end = math.inf if self.end is None else self.end
        return self.start < t1 and end > t0

    def __str__(self) -> str:
        return f"{self.kind} {jst(self.start)} -> {jst(self.end) or 'ongoing'} ({self.detected})"


@dataclass(frozen=True)
class LastGasp:
    at: float
    hold_up_s: float

    @property
    def jst(self) -> str:
        return jst(self.at)


@dataclass(frozen=True)
class Liveness:
    """Answer to a head-end liveness poll."""

    state: str                      # "supplied" or "outage"
    since: float
    last_power_fail: float | None
    last_restore: float | None
    boot_at: float
    uptime_s: float

    def as_dict(self) -> dict:
        return {**asdict(self), "since_jst": jst(self.since),
                "last_power_fail_jst": jst(self.last_power_fail),
                "last_restore_jst": jst(self.last_restore), "boot_at_jst": jst(self.boot_at)}


def affected_boundaries(outage: Outage, minutes: int, now: float) -> list[float]:
    """End boundaries (epoch s, multiples of ``minutes`` x 60; JST-aligned, as JST is UTC+9 h)
    of every interval (end - minutes, end] that overlaps the outage; an ongoing outage counts
    up to ``now``."""
    step = minutes * 60
    end = now if outage.end is None else outage.end
    boundary = (math.floor(outage.start / step) + 1) * step
    found = []
    while boundary - step < end:
        found.append(float(boundary))
        boundary += step
    return found


class OutageMonitor:
    """See the module docstring. ``boot()`` once, then ``feed()`` samples; ``heartbeat()`` often."""

    def __init__(self, store, events: EventLog, clock, *,
                 thresholds: OutageThresholds | None = None, keep: int = 16,
                 hold_up_s: Callable[[], float] | None = None, last_gasp_min_s: float = 0.5):
        self.thresholds = thresholds or OutageThresholds()
        self._store, self._events, self._clock = store, events, clock
        self.keep = keep
        self._hold_up_s = hold_up_s
        self.last_gasp_min_s = last_gasp_min_s
        self.last_gasp_senders: list[Callable[[LastGasp], None]] = []
        self.on_start: list[Callable[[Outage], None]] = []
        self.on_end: list[Callable[[Outage], None]] = []
        self._history: list[Outage] = []
        self._open: Outage | None = None
        self._run_start: float | None = None   # first sample of a low (or high) run
        self.boot_at = clock.now()
        self._since = self.boot_at
        self._last_alive = self.boot_at

    # ---------------------------------------------------------------- queries
    @property
    def in_outage(self) -> bool:
        return self._open is not None

    def outages(self) -> list[Outage]:
        return list(self._history) + ([self._open] if self._open else [])

    def outages_between(self, t0: float, t1: float) -> list[Outage]:
        return [o for o in self.outages() if o.overlaps(t0, t1)]

    def no_data(self, t0: float, t1: float) -> bool:
        """True when [t0, t1) overlaps an outage or restart gap."""
        return bool(self.outages_between(t0, t1))

    def liveness(self) -> Liveness:
        now = self._clock.now()
        fails = [o for o in self.outages() if o.kind == "outage"]
        restores = [o.end for o in fails if o.end is not None]
        return Liveness("outage" if self.in_outage else "supplied", self._since,
                        fails[-1].start if fails else None, restores[-1] if restores else None,
                        self.boot_at, now - self.boot_at)

    # ---------------------------------------------------------------- boot / shutdown
    def boot(self, last_alive_hint: float | None = None) -> Outage | None:
        """Reconcile the stored record; returns the gap that ended with this boot (or None).

        ``last_alive_hint``: a later proof of life than the stored heartbeat (e.g. the newest
        minute snapshot), so the heartbeat itself can be written rarely."""
        now = self.boot_at = self._since = self._clock.now()
        rec = self._load()
        gap = None
        if rec is not None:
            self._history = [Outage(*o) for o in rec.get("history", [])]
            open_start, last_alive = rec.get("open"), rec.get("last_alive")
            if last_alive is not None and last_alive_hint is not None and not rec.get("clean"):
                last_alive = max(last_alive, last_alive_hint)
            if open_start is not None:
                gap = Outage(open_start, now, "outage", "voltage")
            elif rec.get("clean"):
                gap = Outage(last_alive, now, "restart", "boot")
            elif last_alive is not None:
                gap = Outage(last_alive, now, "outage", "boot")
                self._events.record("power-fail", source=SOURCE, at=last_alive,
                                    severity=Severity.WARNING,
                                    detail=f"reconstructed at boot: last alive {jst(last_alive)} "
                                    f"(power loss or reset; start up to one heartbeat earlier)")
        if gap is not None:
            self._history.append(gap)
            kind = "restart" if gap.kind == "restart" else "power-restore"
            self._events.record(kind, source=SOURCE, at=now,
                                detail=f"supply back at boot {jst(now)}; gap {gap}")
            for callback in self.on_end:
                callback(gap)
        self._save(last_alive=now, clean=False)
        return gap

    def shutdown(self) -> None:
        """Orderly stop: the gap until the next boot is a restart, not an outage."""
        self._save(last_alive=self._clock.now(), clean=True)

    def heartbeat(self, t: float | None = None) -> None:
        self._last_alive = self._clock.now() if t is None else t
        self._save(last_alive=self._last_alive, clean=False)

    # ---------------------------------------------------------------- detection
    def feed(self, t: float, voltages_v) -> None:
        """One sample: epoch s and RMS voltage per element (None where not wired)."""
        wired = [v for v in voltages_v if v is not None]
        if not wired:
            return
        th = self.thresholds
        top = max(wired)
        if self._open is None:
            if top < th.fail_ratio * th.nominal_v:
                self._run_start = t if self._run_start is None else self._run_start
                if t - self._run_start >= th.fail_debounce_s:
                    self._fail(self._run_start)
            else:
                self._run_start = None
        else:
            if top >= th.restore_ratio * th.nominal_v:
                self._run_start = t if self._run_start is None else self._run_start
                if t - self._run_start >= th.restore_debounce_s:
                    self._restore(self._run_start)
            else:
                self._run_start = None

    def _fail(self, start: float) -> None:
        self._open, self._run_start, self._since = Outage(start, None), None, start
        self._save(last_alive=self._clock.now(), clean=False)
        self._events.record("power-fail", source=SOURCE, at=start, severity=Severity.WARNING,
                            detail=f"supply lost at {jst(start)} (all elements < "
                            f"{self.thresholds.fail_ratio * self.thresholds.nominal_v:.0f} V)")
        for callback in self.on_start:
            callback(self._open)
        self._last_gasp(start)

    def _restore(self, end: float) -> None:
        done = Outage(self._open.start, end)
        self._open, self._run_start, self._since = None, None, end
        self._history.append(done)
        self._save(last_alive=self._clock.now(), clean=False)
        self._events.record("power-restore", source=SOURCE, at=end,
                            detail=f"supply back at {jst(end)} after {end - done.start:.1f} s")
        for callback in self.on_end:
            callback(done)

    def _last_gasp(self, start: float) -> None:
        if self._hold_up_s is None or not self.last_gasp_senders:
            return
        # the stored energy has been draining since the first low sample (debounce time)
        hold = max(0.0, self._hold_up_s() - (self._clock.now() - start))
        if hold < self.last_gasp_min_s:
            self._events.record("last-gasp", source=SOURCE, severity=Severity.WARNING,
                                detail=f"not sent: hold-up {hold:.2f} s < "
                                f"{self.last_gasp_min_s:.2f} s needed")
            return
        gasp = LastGasp(start, hold)
        for send in self.last_gasp_senders:
            send(gasp)
        self._events.record("last-gasp", source=SOURCE,
                            detail=f"sent for the failure at {gasp.jst}; hold-up {hold:.2f} s")

    # ---------------------------------------------------------------- persistence
    def _load(self) -> dict | None:
        raw = self._store.load(STATE_KEY)
        if raw is None:
            return None
        try:
            rec = json.loads(raw)
            if rec.get("v") != 1:
                raise ValueError("unknown version")
            return rec
        except (ValueError, TypeError, AttributeError) as exc:
            self._events.record("power-state-corrupt", source=SOURCE, severity=Severity.ALARM,
                                detail=f"stored outage record unreadable ({exc}); history lost")
            return None

    def _save(self, *, last_alive: float, clean: bool) -> None:
        history = [[o.start, o.end, o.kind, o.detected] for o in self._history[-self.keep:]]
        self._history = self._history[-self.keep:]
        self._store.save(STATE_KEY, json.dumps({
            "v": 1, "last_alive": last_alive, "clean": clean,
            "open": None if self._open is None else self._open.start,
            "history": history}).encode())


class OutageTask:
    """Samples voltages every ``period_s`` (when ``read`` is given) and writes the heartbeat
    every ``heartbeat_s``. Spawn ``run()`` with ``Priority.CONTROL``. Samples taken by another
    task can be passed to ``monitor.feed`` directly instead (``read=None``)."""

    def __init__(self, monitor: OutageMonitor, clock, *, read=None, period_s: float = 1.0,
                 heartbeat_s: float = 60.0):
        self.monitor, self.clock, self.read = monitor, clock, read
        self.period_s, self.heartbeat_s = period_s, heartbeat_s

    async def run(self) -> None:
        last_beat = -math.inf
        while True:
            now = self.clock.now()
            if self.read is not None:
                self.monitor.feed(now, self.read().voltage_v)
            if now - last_beat >= self.heartbeat_s and not self.monitor.in_outage:
                self.monitor.heartbeat(now)
                last_beat = now
            await sleep(self.period_s if self.read is not None else self.heartbeat_s)
