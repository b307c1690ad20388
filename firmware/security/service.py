"""ExternalSecurity: the meter service that logs, monitors and cuts off external peers.

Built last at boot (``services.SERVICE_FACTORIES``) so it can attach itself to the routes
that talk to external devices: the B-route service (IP and Wi-SUN media) and the IoT route
get ``.external = self`` and call, per frame (duck-typed; routes never import this package):

* ``gate(peer, size) -> bool`` first, before any parsing: False means the peer is cut off —
  the frame is dropped and logged ``cut-off`` (so a cut-off device's traffic stops at once);
* ``frame(peer, direction, size, verdict)`` with the route's verdict ("accepted", "sent",
  "malformed", "not-allowed", "auth-failed", ...: ``extlog.Verdict`` names) — logged and fed
  to the ``AnomalyMonitor``.

Peers are named ``<medium>:<address>``: "ip:192.168.1.20", "wi-sun:fe80::1", "inproc:hems"
(B-route) and "iot:<terminal id>" ("iot:<EUI-64 hex>" for a terminal not on the allow-list).

Cut-off / reconnect come from the head-end only, through the COSEM object ``cosem.py`` (HLS +
ciphered association, invocation counter above the last accepted one, kept in flash), and are
security events (``ext-cut-off``, ``ext-reconnected``, ``ext-command-refused``). The cut-off
set is in the StateStore, so it survives a reboot; an IoT terminal is also cut off at its
radio (``IotRouteApp.set_cut_off``), a B-route client loses its client slot.
"""
from __future__ import annotations

import json
import logging

from sumame.firmware.core.events import Severity
from sumame.firmware.core.scheduler import Event, Priority, sleep_until

from .extlog import Direction, Entry, ExternalLog, Verdict
from .monitor import AnomalyMonitor
from .options import ExtSecOptions

log = logging.getLogger("sumame.extsec")
SOURCE = "extsec"
CUTOFF_KEY = "extsec.cut-off"
COUNTERS_KEY = "extsec.authority"
MAX_CUT_OFF = 64
PEER_MEDIA = ("ip", "wi-sun", "inproc", "iot")
R_DONE, R_UNKNOWN, R_BAD_PEER, R_FULL = 0, 1, 2, 3
RESULT_NAMES = {R_DONE: "done", R_UNKNOWN: "unknown peer", R_BAD_PEER: "not a peer name", R_FULL: "cut-off list full"}
_VERDICTS = {v.text: v for v in Verdict}
_DIRECTIONS = {"in": Direction.IN, "out": Direction.OUT}


class CommandRefused(Exception):
    """A cut-off/reconnect without a fresh authority (replayed or stale invocation counter)."""


class ExternalSecurity:
    name = "ext-security"

    def __init__(self, meter, options: ExtSecOptions):
        self.meter, self.options = meter, options
        self.clock, self.events, self.storage = meter.clock, meter.events, meter.storage
        self.log = ExternalLog(meter.storage, ram_entries=options.ram_entries, flush_entries=options.flush_entries)
        report = meter.boot_report
        if report is not None:
            self.log.restore(report.extlog)
            report.extlog = []
        for note in self.log.notes:
            self.events.record("storage", source=SOURCE, severity=Severity.WARNING, detail=note)
        self.monitor = AnomalyMonitor(meter.events, options)
        self.cut_off: set[str] = set(self._load(CUTOFF_KEY, []))
        self._counters: dict[str, int] = dict(self._load(COUNTERS_KEY, {}))
        self.broute = None
        self.iot = None
        self._tasks: list = []
        self._logged = Event()
        """Set by the first entry of a batch: the flusher sleeps on it while nothing is pending."""

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        return []

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        for service in self.meter.services:
            if getattr(service, "name", "") == "b-route":
                self.broute = service.service
                self.broute.external = self
            elif getattr(service, "name", "") == "iot-route":
                self.iot = service
                service.external = self
            elif getattr(service, "name", "") == "a-route":
                from .cosem import security_objects
                for obj in security_objects(self):
                    service.server.add_object(obj)
        self._tasks.append(self.meter.scheduler.spawn(self._flusher(), name="extsec-flush", priority=Priority.STORAGE))

    def stop(self) -> None:
        """Tasks end; nothing is written (at a power cut the unwritten batch is lost, by design)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        for route in (self.broute, self.iot):
            if route is not None and getattr(route, "external", None) is self:
                route.external = None

    def checkpoint(self) -> None:
        """Orderly shutdown: write the pending batch."""
        self.log.flush()

    async def _flusher(self) -> None:
        """Write the batch at the ticks every ``flush_s`` from the start. While nothing is
        pending the task sleeps on ``_logged`` instead of waking at every tick (an empty tick
        writes nothing); the first entry wakes it to wait for the first tick after that entry,
        the tick the batch would have been written at anyway (routes run after STORAGE)."""
        period = self.options.flush_s
        tick = self.clock.now() + period
        while True:
            if not self.log.pending:
                self._logged.clear()
                await self._logged.wait()
                now = self.clock.now()
                while tick <= now:     # the same float sums as sleeping one period at a time
                    tick += period
            await sleep_until(tick)
            tick += period
            self.log.flush()

    # ---------------------------------------------------------------- per frame (the routes' hooks)
    def gate(self, peer: str, size: int) -> bool:
        """Before parsing: False (and logged ``cut-off``) when ``peer`` is cut off."""
        if peer not in self.cut_off:
            return True
        self.frame(peer, "in", size, "cut-off")
        return False

    def frame(self, peer: str, direction: str, size: int, verdict: str) -> None:
        now = self.clock.now()
        v = _VERDICTS.get(verdict, Verdict.DROPPED)
        d = _DIRECTIONS.get(direction, Direction.IN)
        self.log.append(Entry(now, peer, d, size, v))
        if not self._logged.is_set():
            self._logged.set()
        if d is Direction.IN:
            self.monitor.observe(peer, v, now)

    # ---------------------------------------------------------------- head-end commands
    def check_authority(self, authority, what: str) -> None:
        """Refuse (event + CommandRefused) a command whose counter is not above the last one
        accepted from that sender; store the new counter before acting."""
        if authority is None:
            self._refused(what, "no authenticated, ciphered request behind it")
        last = self._counters.get(authority.sender)
        if last is not None and authority.counter <= last:
            self._refused(what, f"replayed or stale invocation counter {authority.counter} "
                                f"(last accepted {last}) from {authority.who}")
        self._counters[authority.sender] = authority.counter
        if len(self._counters) > 32:
            del self._counters[min(self._counters, key=self._counters.get)]
        self.storage.save(COUNTERS_KEY, json.dumps(self._counters, separators=(",", ":")).encode())

    def authorise(self, authority, what: str) -> bool:
        """``check_authority`` as a yes/no for routes that must not import this package."""
        try:
            self.check_authority(authority, what)
        except CommandRefused:
            return False
        return True

    def _refused(self, what: str, why: str):
        self.events.record("ext-command-refused", source=SOURCE, severity=Severity.ALARM, detail=f"{what}: {why}")
        raise CommandRefused(why)

    def canonical(self, peer: str) -> str | None:
        """"medium:address" with a known medium; an IoT EUI-64 becomes the terminal ID."""
        medium, sep, address = peer.strip().partition(":")
        if not sep or not address or medium not in PEER_MEDIA or len(peer) > 64:
            return None
        if medium == "iot" and self.iot is not None:
            t = self._terminal(address)
            if t is not None:
                return "iot:" + t.terminal_id.decode("ascii", "replace").strip()
        return f"{medium}:{address}"

    def _terminal(self, address: str):
        if self.iot is None:
            return None
        by_id = self.iot.by_id.get(address.encode("ascii", "replace")[:8].ljust(8, b" "))
        if by_id is not None:
            return by_id
        try:
            return self.iot.terminals.get(bytes.fromhex(address))
        except ValueError:
            return None

    def cutoff(self, peer: str, why: str = "head-end command") -> int:
        """Cut ``peer`` off now (its frames are dropped before parsing, both ways); persisted."""
        return self._set(peer, True, why)

    def reconnect(self, peer: str, why: str = "head-end command") -> int:
        return self._set(peer, False, why)

    def _set(self, peer: str, cut: bool, why: str) -> int:
        name = self.canonical(peer)
        if name is None:
            return R_BAD_PEER
        medium, _, address = name.partition(":")
        if medium == "iot":
            t = self._terminal(address)
            if t is None:
                return R_UNKNOWN
            self.iot.set_cut_off(t.terminal_id, cut, why)
        if cut and name not in self.cut_off and len(self.cut_off) >= MAX_CUT_OFF:
            return R_FULL
        (self.cut_off.add if cut else self.cut_off.discard)(name)
        self.storage.save(CUTOFF_KEY, json.dumps(sorted(self.cut_off)).encode())
        if cut and medium != "iot" and self.broute is not None:
            self.broute.release_client(medium, address)
        self.events.record("ext-cut-off" if cut else "ext-reconnected", source=SOURCE, severity=Severity.WARNING,
                           detail=f"{name} {'cut off' if cut else 'reconnected'} ({why})")
        return R_DONE

    # ---------------------------------------------------------------- persistence
    def _load(self, key: str, default):
        raw = self.storage.load(key)
        if not raw:
            return default
        try:
            value = json.loads(raw)
        except ValueError:
            self.events.record("corruption", source=SOURCE, severity=Severity.ALARM,
                               detail=f"state {key} does not decode: starting from empty")
            return default
        return value if isinstance(value, type(default)) else default

    def summary(self) -> dict:
        return {"entries": len(self.log.entries), "pending": self.log.pending, "written": self.log.written,
                "cut_off": sorted(self.cut_off), **self.monitor.stats}


def factory(meter, switchgear):
    """SERVICE_FACTORIES entry: the board's ``[extsec]`` section (on by default)."""
    options = ExtSecOptions.from_section(meter.config.options.get("extsec", {}))
    if not options.enabled:
        return None
    return ExternalSecurity(meter, options)
