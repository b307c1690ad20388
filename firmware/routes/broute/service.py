"""BRouteService: the B-route application the firmware starts — node, guard, announcer, media.

Integration (what ``sumame emulate`` and the Wi-SUN medium use)::

    svc = BRouteService(readings, events, scheduler, clock, BRouteOptions(ip_addresses=("127.0.0.2",)))
    svc.start()                      # spawns the announcer, the outbox and the UDP tasks
    svc.endpoints                    # [("127.0.0.2", 3610)] -> "endpoint echonet-udp 127.0.0.2:3610"

    # another medium (Wi-SUN): register how to send, then hand every datagram in
    svc.attach_medium("wi-sun", send=lambda data, addr: ..., broadcast=None)
    svc.deliver("wi-sun", "fe80::1234", udp_payload)   # same node, same client limit
    svc.announce_instance_list("wi-sun")               # after PANA comes up (AIF §3.1.1)
    svc.release_client("wi-sun", "fe80::1234")         # when the session closes

Every datagram goes: guard (client limit, rate limit, DoS) -> decode -> node -> replies.
Multicast requests are answered unicast after a seeded random back-off (0.1-1 s).
"""
from __future__ import annotations

import heapq
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from sumame.firmware.core.events import Severity
from sumame.firmware.net.echonet import NODE_PROFILE, EchonetError, Esv, Frame, decode, encode
from sumame.firmware.core.scheduler import Event, Priority

from . import property_sets
from .announce import Announcer
from .guard import GuardOptions, HomeSideGuard, Verdict
from .hv_meter import HighVoltageMeter
from .lv_meter import LowVoltageMeter
from .node import REQUESTS, EchonetNode
from .node_profile import NodeProfile
from .objects import DeviceFacts

log = logging.getLogger("sumame.broute")
ECHONET_PORT = 3610


@dataclass(frozen=True)
class BRouteOptions:
    """ip_addresses:  local IPv4/IPv6 addresses to serve UDP on (empty: no IP transport)
    port:             UDP port (3610)
    multicast:        join 224.0.23.0 / ff02::1 and answer multicast requests
    announce:         "inf" or "infc" for the fixed-time announcements
    announce_delay_s: seconds after each :00/:30 boundary (< 300)
    backoff_s:        (min, max) random delay before answering a multicast request
    seed:             seeds the back-off generator (deterministic runs)
    property_set:     which EPCs the meter object serves (``property_sets.NAMES``)
    facts:            maker facts of the device object (8B, 8C, 8E)
    """

    ip_addresses: tuple[str, ...] = ("127.0.0.1",)
    port: int = ECHONET_PORT
    multicast: bool = False
    announce: str = "inf"
    announce_delay_s: float = 20.0
    infc_retry_s: float = 30.0
    infc_max_tries: int = 5
    backoff_s: tuple[float, float] = (0.1, 1.0)
    seed: int = 1
    max_opc: int = 24
    max_frame_bytes: int = 1232
    hv_fixed_date: int = 1
    property_set: str = "full"
    facts: DeviceFacts = field(default_factory=DeviceFacts)
    guard: GuardOptions = field(default_factory=GuardOptions)
    route_b_id: Callable[[], str] | None = None
    """The route-B ID in force (renewed from the head-end), shown in LV property C0; None: the board's."""


@dataclass
class MediumPort:
    """How the service reaches peers on one medium. ``broadcast=None``: unicast to each client."""

    name: str
    send: Callable[[bytes, object], None]
    broadcast: Callable[[bytes], None] | None = None


def build_objects(readings, options: BRouteOptions):
    """Node profile + the meter object for ``readings.identity.kind`` ("lv" or "hv"), serving
    the EPCs of ``options.property_set``."""
    kind = readings.identity.kind
    if kind == "lv":
        device = LowVoltageMeter(readings, facts=options.facts, route_b_id=options.route_b_id)
    elif kind == "hv":
        device = HighVoltageMeter(readings, fixed_date=options.hv_fixed_date, facts=options.facts)
    else:
        raise ValueError(f"unknown meter kind {kind!r} (expected 'lv' or 'hv')")
    epcs = property_sets.allowed(options.property_set, kind)
    if epcs is not None:
        device.restrict(epcs)
    return [NodeProfile(readings.identity, [device]), device]


class BRouteService:
    def __init__(self, readings, events, scheduler, clock, options: BRouteOptions | None = None):
        self.readings, self.events, self.scheduler, self.clock = readings, events, scheduler, clock
        self.options = options = options or BRouteOptions()
        self.node = EchonetNode(build_objects(readings, options), max_opc=options.max_opc,
                                max_frame_bytes=options.max_frame_bytes)
        self.guard = HomeSideGuard(events, options.guard)
        self.announcer = Announcer(self, mode=options.announce, delay_s=options.announce_delay_s,
                                   retry_s=options.infc_retry_s, max_tries=options.infc_max_tries)
        self.counters: Counter[str] = Counter()
        self.media: dict[str, MediumPort] = {}
        self.transports: list = []
        self._tid = 0
        self._random: random.Random | None = None
        self._outbox: list = []
        self._outbox_seq = 0
        self._outbox_event = Event()
        self._log_after: dict[tuple, float] = {}
        self._tasks = []
        self.external = None
        """The meter's external-connection security (firmware/security): ``gate`` before any
        parsing, ``frame`` with the verdict of every datagram in and out; None: not logged."""
        self._ext_why: str | None = None
        self.frame_filter = None
        """A hal FrameFilter the board puts between this application and its media (emulated
        field quirks); None on a real meter."""

    @property
    def _rng(self) -> random.Random:
        """The back-off generator, seeded at the first multicast answer (2.5 KiB of state a
        meter nobody multicasts to does not need)."""
        if self._random is None:
            self._random = random.Random(self.options.seed)
        return self._random

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Open the UDP transport (if addresses are configured) and spawn the tasks."""
        if self.options.ip_addresses:
            self.open_ip(self.options.ip_addresses)
        self._tasks.append(self.scheduler.spawn(self._outbox_loop(), name="b-route-outbox",
                                                priority=Priority.COMMS))
        self._tasks.append(self.scheduler.spawn(self.announcer.run(), name="b-route-announce",
                                                priority=Priority.ROUTE))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.close_ip()

    def open_ip(self, addresses) -> None:
        """Serve UDP on ``addresses`` (the Wi-Fi / Ethernet medium came up). Raises OSError
        when an address cannot be bound."""
        from .udp import UdpTransport
        transport = UdpTransport(self, tuple(addresses), self.options.port,
                                 multicast=self.options.multicast)
        transport.start(self.scheduler)
        self.transports.append(transport)

    def close_ip(self) -> None:
        """Stop serving UDP (the medium went away: comms unit removed, power down)."""
        for transport in self.transports:
            transport.close()
        self.transports.clear()

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """(address, port) pairs the UDP transport listens on."""
        return [ep for t in self.transports for ep in t.endpoints]

    def attach_medium(self, name: str, send: Callable[[bytes, object], None],
                      broadcast: Callable[[bytes], None] | None = None) -> MediumPort:
        port = MediumPort(name, send, broadcast)
        self.media[name] = port
        return port

    def release_client(self, medium: str, address) -> None:
        self.guard.release((medium, _host(address)))

    def next_tid(self) -> int:
        self._tid = self._tid % 0xFFFF + 1
        return self._tid

    # ---------------------------------------------------------------- receive path
    def deliver(self, medium: str, address, data: bytes, *, multicast: bool = False) -> str:
        """Process one datagram from ``address`` on ``medium``; returns what happened
        ("answered", "refused", "rate-limited", "malformed", "ignored", "cut-off", ...)."""
        ext = self.external
        if ext is None:
            return self._deliver(medium, address, data, multicast)
        peer = f"{medium}:{_host(address)}"
        if not ext.gate(peer, len(data)):            # cut off by the head-end: dropped unparsed
            self.counters["cut-off"] += 1
            return "cut-off"
        self._ext_why = None
        status = self._deliver(medium, address, data, multicast)
        ext.frame(peer, "in", len(data), self._ext_why or _EXT_VERDICTS.get(status, "accepted"))
        return status

    def _deliver(self, medium: str, address, data: bytes, multicast: bool) -> str:
        key = (medium, _host(address))
        now = self.clock.now()
        if self.frame_filter is not None:
            data = self.frame_filter.inbound(medium, address, data, now)
            if data is None:
                self.counters["filtered"] += 1
                return "filtered"
        verdict = self.guard.check(key, now)
        if verdict in (Verdict.REFUSED, Verdict.RATE_LIMITED, Verdict.BLOCKED):
            self.counters[verdict.value] += 1
            self._ext_why = "client-limit" if verdict is Verdict.REFUSED else "rate-limited"
            return verdict.value
        try:
            frame = decode(data)
        except EchonetError as exc:
            self.counters["malformed"] += 1
            self._log_throttled("b-route-bad-frame", key, f"{type(exc).__name__}: {exc}")
            if verdict is Verdict.ACCEPT:
                reply = self.node.handle_error(exc, multicast)
                if reply is not None:
                    self._reply(medium, address, reply, multicast)
            return "malformed"
        if verdict is Verdict.NEW:
            if frame.esv not in REQUESTS or (multicast and not self.node.find(frame.deoj)):
                self.counters["ignored"] += 1
                return "ignored"          # other nodes' chatter does not take a client slot
            if self.guard.admit(key, now) is None:
                self.counters["refused"] += 1
                self._ext_why = "client-limit"
                return "refused"
        client = self.guard.clients[key]
        client.address = address
        replies, status = self.node.handle(frame, multicast)
        if status == "infc_res":
            self.announcer.acknowledge(key, frame.tid)
        elif status == "unknown_deoj":
            self._log_throttled("b-route-unknown-eoj", key,
                                f"ESV 0x{frame.esv:02X} to {frame.deoj}, which this node does not hold")
        for reply in replies:
            self._reply(medium, address, reply, multicast)
        if replies:
            client.answered += 1
        for obj, prop in self.node.take_announcements():     # status change (9D) -> INF to all
            self.broadcast(Frame(self.next_tid(), obj.eoj, NODE_PROFILE, Esv.INF, (prop,)))
        self.counters[status] += 1
        return status

    def _reply(self, medium: str, address, frame: Frame, multicast: bool) -> None:
        data = encode(frame)
        if multicast:
            lo, hi = self.options.backoff_s
            self._later(self.clock.now() + self._rng.uniform(lo, hi), medium, address, data)
        else:
            self._send(medium, address, data)

    def _later(self, due: float, medium: str, address, data: bytes) -> None:
        self._outbox_seq += 1
        heapq.heappush(self._outbox, (due, self._outbox_seq, medium, address, data))
        self._outbox_event.set()

    def _filtered(self, medium: str, address, data: bytes) -> list[bytes]:
        """What leaves now after the frame filter; delayed copies go to the outbox."""
        if self.frame_filter is None:
            return [data]
        now, out = self.clock.now(), []
        for delay, item in self.frame_filter.outbound(medium, address, data, now):
            if delay > 0:
                self._later(now + delay, medium, ("filtered", address), item)
            else:
                out.append(item)
        return out

    def _send(self, medium: str, address, data: bytes) -> None:
        if isinstance(address, tuple) and address[:1] == ("filtered",):
            self._transmit(medium, address[1], data)      # already through the filter
            return
        for item in self._filtered(medium, address, data):
            self._transmit(medium, address, item)

    def _transmit(self, medium: str, address, data: bytes) -> None:
        """address None: the medium's broadcast (a notification the filter delayed)."""
        port = self.media.get(medium)
        if port is None:
            return
        ext = self.external
        if ext is not None and address is not None:
            peer = f"{medium}:{_host(address)}"
            if peer in ext.cut_off:                   # nothing leaves for a cut-off peer
                ext.frame(peer, "out", len(data), "cut-off")
                return
            ext.frame(peer, "out", len(data), "sent")
        elif ext is not None:
            ext.frame(f"{medium}:broadcast", "out", len(data), "sent")
        try:
            if address is None and port.broadcast is not None:
                port.broadcast(data)
            elif address is None:
                for client in self.guard.clients_on(port.name):
                    port.send(data, client.address)
            else:
                port.send(data, address)
            self.counters["sent"] += 1
        except OSError as exc:
            self.counters["send-failed"] += 1
            self._log_throttled("b-route-send-failed", (medium, _host(address)), str(exc))

    async def _outbox_loop(self) -> None:
        while True:
            now = self.clock.now()
            while self._outbox and self._outbox[0][0] <= now:
                _, _, medium, address, data = heapq.heappop(self._outbox)
                self._send(medium, address, data)
            self._outbox_event.clear()
            timeout = self._outbox[0][0] - now if self._outbox else None
            await self._outbox_event.wait(timeout=timeout)

    # ---------------------------------------------------------------- send path
    def send_to(self, medium: str, address, frame: Frame) -> None:
        self._send(medium, address, encode(frame))

    def broadcast(self, frame: Frame, medium: str | None = None) -> None:
        """Send a notification to every medium (or one): its multicast, else each client."""
        data = encode(frame)
        for port in self.media.values():
            if medium is not None and port.name != medium:
                continue
            if port.broadcast is not None:
                try:
                    for item in self._filtered(port.name, None, data):
                        port.broadcast(item)
                        self.counters["sent"] += 1
                        if self.external is not None:
                            self.external.frame(f"{port.name}:broadcast", "out", len(item), "sent")
                except OSError as exc:
                    self.counters["send-failed"] += 1
                    log.warning("b-route broadcast on %s failed: %s", port.name, exc)
            else:
                for client in self.guard.clients_on(port.name):
                    self._send(port.name, client.address, data)

    def announce_instance_list(self, medium: str | None = None) -> None:
        """INF of node-profile D5 (start-up, or a medium whose link just came up)."""
        self.broadcast(self.announcer.instance_list_frame(), medium)

    # ---------------------------------------------------------------- logging
    def _log_throttled(self, kind: str, key: tuple, detail: str) -> None:
        now = self.clock.now()
        slot = (kind, key)
        if self._log_after.get(slot, 0.0) > now:
            return
        if len(self._log_after) > 512:
            self._log_after = {k: t for k, t in self._log_after.items() if t > now}
        self._log_after[slot] = now + self.options.guard.log_interval_s
        self.events.record(kind, source="b-route", severity=Severity.WARNING,
                           detail=f"{key[0]} {key[1]}: {detail}")


_EXT_VERDICTS = {"answered": "accepted", "infc_res": "accepted", "ignored": "dropped", "filtered": "dropped",
                 "unknown_deoj": "not-allowed", "refused": "not-allowed", "malformed": "malformed",
                 "rate-limited": "rate-limited", "blocked": "rate-limited"}
"""deliver() status -> external-connection log verdict (the guard's refusals set their own)."""


def _host(address) -> str:
    """The client identity part of a medium address: the IP of (ip, port[, ...]) tuples."""
    return str(address[0]) if isinstance(address, tuple) else str(address)
