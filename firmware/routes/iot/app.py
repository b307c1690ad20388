"""The IoT route as a meter service: Enhanced HAN terminals (gas/water) <-> the A-route.

Built at boot by the ``SERVICE_FACTORIES`` entry when the board has ``[iot] enabled = true``
and the hardware has an Enhanced HAN radio (``hw.extras["iot_radio"]``, ``port.IotRadio``).

* Admission: only terminals on the allow-list (``[iot] terminals``: EUI-64, terminal ID, PSK,
  kind, relay) may authenticate, at most ``max_devices`` (10, reference §1.2) metering devices at a time,
  plus at most ``max_relays`` relays (network equipment, not counted); the next one is refused
  and logged. A terminal's kind is the allow-list's (a HELLO claiming another is refused). A terminal cut off by the head-end cannot authenticate until
  it is reconnected (kept in the StateStore across reboots).
* Separation: this service is given the clock, the event log, the state store and the A-route
  push path — nothing of metering, the B-route or the breaker — so no terminal message can
  reach them; terminals may only send ``codec.UPLINK_TYPES``; the radio routes nothing from a
  terminal to another terminal. Every IoT-route frame is counted in ``traffic`` (by terminal,
  direction and type) and kept in a bounded traffic log; refusals are events (rate-limited).
* Time sync: every POLL/HELLO is answered with TIME (the meter clock); a terminal more than
  ``clock_tolerance_s`` off is logged when it is corrected.
* Special meters (``special.py``): terminals of kind ``special`` (at most ``max_special``, 4)
  send the special meter's 30-min registers as ``SPECIAL_VALUES`` (our COSEM model,
  ``special_cosem.py``), checked against the allow-listed special-meter ID and the meter clock,
  each slot forwarded once.
* Uplink: one priority queue to the A-route (alarms > command results > special-meter values >
  daily gas/water batches), drained by ``IOT_PUSH`` DataNotifications (ciphered like the A-route
  pushes) at most one every ``uplink_gap_s``; it waits while the A-route is down.
* Downlink: the head-end's ``IotGateway`` submit (valve commands sealed by the company, gap-fill
  history requests) queued per terminal; a sleep device gets them after its next POLL.

The application messages are our own design (``codec.py``); the real spec is not public.
"""
from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter, deque
from dataclasses import dataclass, field

from sumame.firmware.core.events import Severity
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.cosem_time import JST_DEVIATION, epoch_to_octets
from sumame.firmware.net.dlms.notify import DataNotification
from sumame.firmware.core.scheduler import Event, Priority, sleep

from . import codec as c
from .special import SpecialIntake
from .gateway import (IOT_PUSH_LN, R_CUT_OFF, R_FULL, R_MALFORMED, R_QUEUED, R_TYPE, R_UNKNOWN,
                      IotGateway)

log = logging.getLogger("sumame.iot")
SOURCE = "iot-route"
CUTOFF_KEY = "iot.cut-off"
AUTHORITY_KEY = "iot.authority"
PRIO_ALARM, PRIO_RESULT, PRIO_SPECIAL, PRIO_BATCH = 0, 1, 2, 3
PRIO_OF = {c.ALARM: PRIO_ALARM, c.COMMAND_RESULT: PRIO_RESULT, c.VALUES: PRIO_BATCH, c.HELLO: PRIO_RESULT,
           c.SPECIAL_VALUES: PRIO_SPECIAL, c.SPECIAL_EVENT: PRIO_ALARM}
DOWNLINK_TYPES = frozenset({c.COMMAND, c.HISTORY_REQUEST})
MAX_DOWNLINK = 16
MAX_UPLINK = 2000
RECORDS_PER_PUSH = 6
TIME_EVERY_S = 300.0
PEER_BURST = 5
"""Events of one kind from one terminal logged before the doubling holds start (``_event``)."""
MAX_VALUE_AGE_S = 14 * 86400
"""Oldest hourly value accepted (s): terminals keep >= 7 days, the connection server asks <= 7 days
back; an older stamp is a terminal clock far off (its value would be delivered as real)."""


@dataclass
class TerminalState:
    addr: bytes
    terminal_id: bytes
    psk: bytes
    kind: int = 0                  # 1 gas, 2 water, 3 special-meter terminal, 0 relay
    special_id: bytes = b""        # the special meter's 0x028E D1 (kind 3 only)
    relay: bool = False
    joined: bool = False
    hops: int = 0
    cut_off: bool = False
    last_seen: float | None = None
    downlink: deque = field(default_factory=deque)
    tokens: float = 30.0
    tokens_at: float = 0.0
    time_sent: float = float("-inf")


@dataclass(frozen=True)
class Uplink:
    terminal_id: bytes
    kind: int
    msg_type: int
    received: float
    body: bytes


def parse_allow_list(entries: list) -> list[TerminalState]:
    """Board ``[iot] terminals``: dicts {mac (16 hex), id (≤ 8 ASCII), psk (32 hex), kind, relay,
    special_id (14 hex, kind special)}."""
    out = []
    for e in entries:
        tid = str(e["id"]).encode("ascii")[:8].ljust(8, b" ")
        kind = {"gas": c.KIND_GAS, "water": c.KIND_WATER, "special": c.KIND_SPECIAL, "relay": 0}[e.get("kind", "gas")]
        out.append(TerminalState(bytes.fromhex(e["mac"]), tid, bytes.fromhex(e["psk"]), kind=kind,
                                 relay=bool(e.get("relay", kind == 0)),
                                 special_id=bytes.fromhex(e.get("special_id", ""))))
    return out


class IotRouteApp:
    name = "iot-route"

    def __init__(self, meter, switchgear, radio, section: dict):
        self.clock, self.events, self.storage = meter.clock, meter.events, meter.storage
        self.scheduler = meter.scheduler
        self.serial = meter.config.identity.serial
        self._aroute_of = lambda: next((s for s in meter.services if getattr(s, "name", "") == "a-route"), None)
        self.radio = radio
        self.max_devices = int(section.get("max_devices", 10))
        self.max_relays = int(section.get("max_relays", 2))
        self.clock_tolerance_s = float(section.get("clock_tolerance_s", 60.0))
        self.uplink_gap_s = float(section.get("uplink_gap_s", 1.0))
        self.rate_per_s = float(section.get("rate_per_s", 0.5))
        self.terminals: dict[bytes, TerminalState] = {t.addr: t for t in parse_allow_list(section.get("terminals", []))}
        self.by_id = {t.terminal_id: t for t in self.terminals.values()}
        for tid in self._load_cut_off():
            if tid in self.by_id:
                self.by_id[tid].cut_off = True
        self.gateway = IotGateway(self)
        self.special = SpecialIntake(self, int(section.get("max_special", 4)))
        self.uplink: list = []
        self._queued: Counter[bytes] = Counter()         # uplink items per terminal
        self._seq = itertools.count()
        self._wake = Event()
        self.traffic: Counter[tuple] = Counter()
        self.traffic_log: deque = deque(maxlen=2000)
        self.stats: Counter[str] = Counter()
        self._limits: dict[str, tuple[float, int]] = {}
        self._peer_events: dict[tuple[str, str], list] = {}   # bounded: kinds x (allow-list + "unknown")
        self._tasks: list = []
        self._msg_id = 0
        self.external = None
        """The meter's external-connection security (firmware/security): ``gate`` before any
        parsing, ``frame`` with every datagram's verdict; None: not logged."""

    # ---------------------------------------------------------------- service API
    @property
    def endpoints(self) -> list[tuple[str, str]]:
        mac = getattr(self.radio, "mac", b"")
        return [("iot-ehan", f"eui64:{mac.hex().upper()} ({len(self.terminals)} terminals on the allow-list)")]

    def start(self) -> None:
        aroute = self._aroute_of()
        if aroute is not None:
            aroute.server.add_object(self.gateway)
        self.radio.open(self)
        self._tasks.append(self.scheduler.spawn(self._drain(), name="iot-uplink", priority=Priority.ROUTE))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.radio.close()
        for t in self.terminals.values():
            t.joined = False

    # ---------------------------------------------------------------- logging
    def _event(self, kind: str, detail: str, severity: Severity = Severity.WARNING, *,
               peer: bytes | None = None) -> None:
        """At most 10 events of one kind per minute reach the (journalled) event log; with ``peer``
        (the terminal's EUI-64; every address off the allow-list counts as one) a peer gets
        ``PEER_BURST`` of a kind, then one after holds doubling from 60 s to a day (reset after an
        hour without one), so a device refused again and again cannot rotate the meter's history
        out of flash. Every occurrence is counted in ``stats``; a logged entry says how many of
        its kind and peer were held back."""
        now = self.clock.now()
        self.stats[f"event-{kind}"] += 1
        if peer is not None:
            key = (kind, self._name(peer) if peer in self.terminals else "unknown")
            st = self._peer_events.get(key)
            if st is None or now - st[3] > 3600:
                st = self._peer_events[key] = [0, now, 0, now]      # logged, next allowed, held back, last
            st[3] = now
            if st[0] >= PEER_BURST and now < st[1]:
                st[2] += 1
                return
            if st[2]:
                detail += f" ({st[2]} more since the last, not logged)"
                st[2] = 0
            st[0] += 1
            if st[0] >= PEER_BURST:
                st[1] = now + min(86400.0, 60.0 * 2 ** (st[0] - PEER_BURST))
        start, n = self._limits.get(kind, (now, 0))
        if now - start >= 60:
            start, n = now, 0
        self._limits[kind] = (start, n + 1)
        if n < 10:
            self.events.record(kind, source=SOURCE, severity=severity, detail=detail)

    def _trace(self, who: bytes | None, direction: str, what: str, result: str = "ok") -> None:
        name = self._name(who)
        known = who is not None and who in self.terminals
        self.traffic[(name if known else "unknown", direction, what)] += 1    # bounded: not per spoofed address
        self.traffic_log.append((self.clock.now(), name, direction, what, result))

    def peer_of(self, addr: bytes | None) -> str:
        """External-connection log name: "iot:<terminal id>" (or the EUI-64 when not allow-listed)."""
        return f"iot:{self._name(addr)}"

    def _ext(self, addr: bytes | None, direction: str, size: int, verdict: str) -> None:
        if self.external is not None:
            self.external.frame(self.peer_of(addr), direction, size, verdict)

    def _name(self, addr: bytes | None) -> str:
        t = self.terminals.get(addr) if addr else None
        return t.terminal_id.decode("ascii", "replace").strip() if t else (addr.hex().upper() if addr else "?")

    # ---------------------------------------------------------------- radio host
    def iot_credential(self, addr: bytes):
        t = self.terminals.get(addr)
        if t is None:
            self._ext(addr, "in", 0, "unknown-peer")
            self._trace(addr, "in", "join", "unknown terminal")
            self._event("iot-unknown-terminal", f"terminal {addr.hex().upper()} is not on the allow-list: refused",
                        peer=addr)
            return None
        if t.cut_off:
            self._ext(addr, "in", 0, "cut-off")
            self._trace(addr, "in", "join", "cut off")
            self._event("iot-cut-off-refused", f"terminal {self._name(addr)} is cut off: join refused", peer=addr)
            return None
        relay = t.kind == 0         # a relay carries devices; it is not one of the 10 metering devices
        joined = sum(x.joined for x in self.terminals.values() if x is not t and (x.kind == 0) == relay)
        limit = self.max_relays if relay else self.max_devices
        if joined >= limit:
            what = "relays" if relay else "devices"
            self._ext(addr, "in", 0, "client-limit")
            self._trace(addr, "in", "join", "device limit")
            self._event("iot-device-limit", f"terminal {self._name(addr)} refused: {joined} {what} already "
                                            f"admitted (limit {limit})", Severity.ALARM, peer=addr)
            return None
        if t.kind == c.KIND_SPECIAL and not self.special.admit(t):
            return None
        return t.terminal_id, t.psk

    def iot_may_relay(self, addr: bytes) -> bool:
        t = self.terminals.get(addr)
        return bool(t and t.relay and t.joined and not t.cut_off)

    def iot_joined(self, addr: bytes, hops: int) -> None:
        t = self.terminals[addr]
        t.joined, t.hops, t.last_seen = True, hops, self.clock.now()
        self._trace(addr, "in", "join", f"admitted, {hops} hop(s)")
        self.events.record("iot-joined", source=SOURCE, detail=f"terminal {self._name(addr)} admitted ({hops} hop(s))")

    def iot_left(self, addr: bytes, why: str) -> None:
        t = self.terminals.get(addr)
        if t is not None:
            t.joined = False
        self._trace(addr, "in", "leave", why)

    def iot_dropped(self, addr: bytes | None, why: str) -> None:
        if why != "admission refused":                  # iot_credential logged that one
            self._ext(addr, "in", 0, _drop_verdict(self.terminals.get(addr) if addr else None, why))
        self.stats["radio-dropped"] += 1
        self._trace(addr, "in", "frame", f"dropped: {why}")
        self._event("iot-frame-refused", f"frame from {self._name(addr)} dropped: {why}", peer=addr)

    def iot_rx(self, addr: bytes, payload: bytes) -> None:
        ext = self.external
        if ext is None:
            self._rx(addr, payload)
            return
        peer = self.peer_of(addr)
        if not ext.gate(peer, len(payload)):           # cut off by the head-end: dropped unparsed
            self.stats["cut-off-dropped"] += 1
            return
        ext.frame(peer, "in", len(payload), self._rx(addr, payload))

    def _rx(self, addr: bytes, payload: bytes) -> str:
        """Handle one datagram; returns its verdict for the external-connection log."""
        t = self.terminals.get(addr)
        if t is None:
            return "unknown-peer"
        if t.cut_off:
            return "cut-off"
        if not t.joined:
            return "dropped"
        now = self.clock.now()
        t.last_seen = now
        t.tokens = min(30.0, t.tokens + (now - (t.tokens_at or now)) * self.rate_per_s)
        t.tokens_at = now
        if t.tokens < 1:
            self._trace(addr, "in", "message", "flood: dropped")
            self._event("iot-flood", f"terminal {self._name(addr)} sends faster than {self.rate_per_s}/s: dropped",
                        peer=addr)
            return "rate-limited"
        t.tokens -= 1
        try:
            msg = c.decode(payload)
        except c.IotCodecError as exc:
            self._trace(addr, "in", "message", f"malformed: {exc}")
            self._event("iot-malformed", f"terminal {self._name(addr)}: {exc}", peer=addr)
            self._reply(t, c.ACK, c.ack_body(0, c.ERR_MALFORMED))
            return "malformed"
        if msg.type not in c.UPLINK_TYPES:
            self._trace(addr, "in", msg.name, "refused: not a terminal message")
            self._event("iot-refused", f"terminal {self._name(addr)} sent {msg.name}: terminals may not "
                                       f"request that (no access to meter data, B-route, breaker or other terminals)",
                        Severity.ALARM, peer=addr)
            self._reply(t, c.ACK, c.ack_body(msg.msg_id, c.ERR_NOT_ALLOWED))
            return "not-allowed"
        try:
            self._handle(t, msg)
        except c.IotCodecError as exc:
            self._trace(addr, "in", msg.name, f"malformed: {exc}")
            self._event("iot-malformed", f"terminal {self._name(addr)} {msg.name}: {exc}", peer=addr)
            self._reply(t, c.ACK, c.ack_body(msg.msg_id, c.ERR_MALFORMED))
            return "malformed"
        return "accepted"

    # ---------------------------------------------------------------- messages
    def _handle(self, t: TerminalState, msg: c.Message) -> None:
        self._trace(t.addr, "in", msg.name)
        if msg.type == c.HELLO:
            hello = c.Hello.decode(msg.body)
            if hello.kind != t.kind:            # the allow-list says what a terminal is, not the terminal
                raise c.IotCodecError(f"hello as kind {hello.kind}: allow-listed as kind {t.kind}")
            self._time_sync(t, hello.clock)
        elif msg.type == c.POLL:
            clock, battery = c.parse_poll(msg.body)
            self._time_sync(t, clock, always=False)
        elif msg.type == c.ACK:
            c.parse_ack(msg.body)
        elif msg.type == c.VALUES:
            values = c.Values.decode(msg.body)
            if values.kind != t.kind or t.kind not in c.METER_KINDS:
                raise c.IotCodecError(f"values of kind {values.kind} from a kind-{t.kind} terminal")
            if not self._values_in_time(t, values):
                self._reply(t, c.ACK, c.ack_body(msg.msg_id, c.ERR_REFUSED))
                return
            self._queue_up(t, msg)
            self._reply(t, c.ACK, c.ack_body(msg.msg_id))
        elif msg.type in (c.SPECIAL_VALUES, c.SPECIAL_EVENT):
            body, status = self.special.take(t, msg)
            if body is not None:
                self._queue_up(t, c.Message(msg.type, msg.msg_id, body))
            self._reply(t, c.ACK, c.ack_body(msg.msg_id, status))
        elif msg.type == c.ALARM:
            c.Alarm.decode(msg.body)
            self._queue_up(t, msg)
            self._reply(t, c.ACK, c.ack_body(msg.msg_id))
        elif msg.type == c.COMMAND_RESULT:
            tid, _ = c.result_terminal(msg.body)
            if tid != t.terminal_id:
                raise c.IotCodecError("command result for another terminal")
            self._queue_up(t, msg)
            self._reply(t, c.ACK, c.ack_body(msg.msg_id))

    def _values_in_time(self, t: TerminalState, values: c.Values) -> bool:
        """Hourly values must end no later than the meter clock (+ ``clock_tolerance_s``) and no
        earlier than ``MAX_VALUE_AGE_S`` ago; otherwise the terminal's clock is far off: refused,
        logged (the next POLL corrects its clock), never forwarded."""
        now = self.clock.now()
        first, last = values.first_hour, values.first_hour + 3600 * (len(values.values) - 1)
        if last <= now + self.clock_tolerance_s and first >= now - MAX_VALUE_AGE_S:
            return True
        self.stats["values-time-refused"] += 1
        self._trace(t.addr, "in", "values", "refused: stamped by a clock far off")
        self._event("iot-values-time", f"terminal {self._name(t.addr)} sent values for {first - now:+.0f} s.."
                                       f"{last - now:+.0f} s from the meter clock: refused (clock far off)", peer=t.addr)
        return False

    def _time_sync(self, t: TerminalState, terminal_clock: int, *, always: bool = True) -> None:
        """Answer with TIME when downlink is pending, the terminal's clock is more than 2 s off,
        or the last TIME to it is ``TIME_EVERY_S`` old (its sign of life); then the downlink."""
        now = self.clock.now()
        off = terminal_clock - now
        if abs(off) > self.clock_tolerance_s:
            self._event("iot-clock-corrected", f"terminal {self._name(t.addr)} clock {off:+.0f} s off: corrected",
                        peer=t.addr)
        if not (always or t.downlink or abs(off) > 2 or now - t.time_sent >= TIME_EVERY_S):
            return
        t.time_sent = now
        self._reply(t, c.TIME, c.time_body(int(now), bool(t.downlink)))
        while t.downlink:
            msg_type, body = t.downlink.popleft()
            self._reply(t, msg_type, body)

    def _reply(self, t: TerminalState, msg_type: int, body: bytes) -> bool:
        self._msg_id = (self._msg_id + 1) & 0xFFFF
        data = c.encode(msg_type, self._msg_id, body)
        if self.external is not None and self.peer_of(t.addr) in self.external.cut_off:
            self._ext(t.addr, "out", len(data), "cut-off")      # nothing leaves for a cut-off terminal
            return False
        ok = self.radio.send(t.addr, data)
        self._ext(t.addr, "out", len(data), "sent" if ok else "not-sent")
        self._trace(t.addr, "out", c.NAMES[msg_type], "sent" if ok else "not sent")
        return ok

    # ---------------------------------------------------------------- uplink to the A-route
    def _queue_up(self, t: TerminalState, msg: c.Message) -> None:
        """Queue for the A-route. Each terminal may hold at most its share of the queue
        (``MAX_UPLINK / max_devices``) so one terminal cannot crowd out the others' alarms; when a
        limit is reached an item of higher priority evicts the newest of lower priority (a dropped
        VALUES is re-requested by the connection server's gap fill)."""
        prio = PRIO_OF.get(msg.type, PRIO_BATCH)
        share = max(1, MAX_UPLINK // max(1, self.max_devices))
        if self._queued[t.terminal_id] >= share and not self._evict(prio, t.terminal_id):
            self.stats["uplink-share-full"] += 1
            self._event("iot-uplink-share", f"terminal {self._name(t.addr)} has {share} messages queued "
                                            f"for the A-route: {msg.name} dropped", peer=t.addr)
            return
        if len(self.uplink) >= MAX_UPLINK and not self._evict(prio, None):
            self.stats["uplink-full"] += 1
            self._event("iot-uplink-full", "uplink queue full: message dropped (the connection server re-requests gaps)")
            return
        self._push(prio, Uplink(t.terminal_id, t.kind, msg.type, self.clock.now(), msg.body))
        self._wake.set()

    def _push(self, prio: int, item: Uplink) -> None:
        heapq.heappush(self.uplink, (prio, next(self._seq), item))
        self._queued[item.terminal_id] += 1

    def _pop(self) -> Uplink:
        item = heapq.heappop(self.uplink)[2]
        self._queued[item.terminal_id] -= 1
        return item

    def _evict(self, prio: int, terminal_id: bytes | None) -> bool:
        """Drop the newest queued item of lower priority than ``prio`` (of ``terminal_id``, or any)."""
        worst = None
        for i, (p, seq, u) in enumerate(self.uplink):
            if p > prio and (terminal_id is None or u.terminal_id == terminal_id):
                if worst is None or (p, seq) > self.uplink[worst][:2]:
                    worst = i
        if worst is None:
            return False
        item = self.uplink[worst][2]
        self.uplink[worst] = self.uplink[-1]
        self.uplink.pop()
        heapq.heapify(self.uplink)
        self._queued[item.terminal_id] -= 1
        self.stats["uplink-evicted"] += 1
        return True

    def _channel(self):
        aroute = self._aroute_of()
        if aroute is None or not aroute.up or aroute.pusher.channel is None:
            return None, None
        return aroute, aroute.pusher.channel

    def notification(self, aroute, items: list[Uplink]) -> bytes:
        rows = [axdr.structure(axdr.octet_string(u.terminal_id), axdr.unsigned(u.kind), axdr.unsigned(u.msg_type),
                               axdr.double_long_unsigned(int(u.received)), axdr.octet_string(u.body)) for u in items]
        body = axdr.structure(axdr.octet_string(IOT_PUSH_LN), axdr.visible_string(self.serial), axdr.array(rows))
        self.stats["push-counter"] = (self.stats["push-counter"] + 1) & 0xFFFFFF
        apdu = DataNotification(body, self.stats["push-counter"], epoch_to_octets(self.clock.now(), JST_DEVIATION)).encode()
        return aroute.server.protect_notification(apdu) if aroute.ciphered else apdu

    async def _drain(self) -> None:
        while True:
            if not self.uplink:
                self._wake.clear()
                await self._wake.wait()
                continue
            aroute, channel = self._channel()
            if channel is None:
                await sleep(10.0)
                continue
            prio = self.uplink[0][0]
            items = []
            while self.uplink and self.uplink[0][0] == prio and len(items) < RECORDS_PER_PUSH:
                items.append(self._pop())
            if await channel.send(self.notification(aroute, items)):
                self.stats["uplink-pushes"] += 1
                self.stats["uplink-records"] += len(items)
            else:
                for u in items:
                    self._push(prio, u)
                await sleep(10.0)
            await sleep(self.uplink_gap_s)

    # ---------------------------------------------------------------- downlink from the head-end
    def submit(self, terminal_id: bytes, msg_type: int, body: bytes) -> int:
        t = self.by_id.get(terminal_id)
        what = c.NAMES.get(msg_type, f"0x{msg_type:02X}")
        if t is None:
            result = R_UNKNOWN
        elif msg_type not in DOWNLINK_TYPES:
            result = R_TYPE
        elif t.cut_off:
            result = R_CUT_OFF
        elif len(t.downlink) >= MAX_DOWNLINK:
            result = R_FULL
        else:
            try:
                c.parse_history(body) if msg_type == c.HISTORY_REQUEST else c.parse_command(body)
            except c.IotCodecError:
                result = R_MALFORMED
            else:
                result = R_QUEUED
        name = terminal_id.decode("ascii", "replace").strip()
        self._trace(t.addr if t else None, "down", what, "queued" if result == R_QUEUED else f"refused ({result})")
        if msg_type == c.COMMAND or result != R_QUEUED:
            self.events.record("iot-command", source=SOURCE, detail=f"{what} for {name} from the head-end: "
                               + ("queued" if result == R_QUEUED else f"refused (code {result})"),
                               severity=Severity.INFO if result == R_QUEUED else Severity.WARNING)
        if result != R_QUEUED:
            return result
        if msg_type == c.HISTORY_REQUEST and t.kind == c.KIND_SPECIAL:
            self.special.resend_requested(t.terminal_id, *c.parse_history(body))
        t.downlink.append((msg_type, body))
        if t.joined and not self._sleeps(t):
            while t.downlink:
                self._reply(t, *t.downlink.popleft())
        return R_QUEUED

    def _sleeps(self, t: TerminalState) -> bool:
        return t.kind != 0        # gas/water terminals are sleep devices; relays are awake

    def command_refused(self, what: str, why: str) -> None:
        self._event("iot-command-refused", f"{what}: {why}", Severity.ALARM)

    def authorise(self, authority, what: str) -> bool:
        """A head-end cut-off/reconnect's proof (``control_binding.authority_of``): its invocation
        counter must exceed the last accepted from that sender. The external-connection security
        keeps that counter when present (one rule for both objects); else this route does (flash)."""
        if self.external is not None:
            return self.external.authorise(authority, what)
        if authority is None:
            self.command_refused(what, "no authenticated, ciphered request behind it")
            return False
        counters = {}
        for line in (self.storage.load(AUTHORITY_KEY) or b"").decode("ascii", "replace").splitlines():
            sender, _, last = line.rpartition("=")
            if sender and last.isdigit():
                counters[sender] = int(last)
        last = counters.get(authority.sender)
        if last is not None and authority.counter <= last:
            self.command_refused(what, f"replayed or stale invocation counter {authority.counter} (last {last})")
            return False
        counters[authority.sender] = authority.counter
        while len(counters) > 32:                       # bounded: the lowest counter goes
            del counters[min(counters, key=counters.get)]
        self.storage.save(AUTHORITY_KEY, "\n".join(f"{k}={v}" for k, v in counters.items()).encode("ascii", "replace"))
        return True

    def head_end_cut_off(self, terminal_id: bytes, cut: bool, why: str) -> bool:
        """The gateway's cut-off/reconnect: through the external-connection security when present
        (so its cut-off set, gate and log agree with the terminal table), else here."""
        if self.external is not None:
            if terminal_id not in self.by_id:
                return False
            peer = "iot:" + terminal_id.decode("ascii", "replace").strip()
            return (self.external.cutoff if cut else self.external.reconnect)(peer, why) == 0
        return self.set_cut_off(terminal_id, cut, why)

    def set_cut_off(self, terminal_id: bytes, cut: bool, why: str) -> bool:
        t = self.by_id.get(terminal_id)
        if t is None:
            return False
        t.cut_off = cut
        if cut:
            t.downlink.clear()
            t.joined = False
            self.radio.cut(t.addr)
        self._save_cut_off()
        self.events.record("iot-cut-off" if cut else "iot-reconnected", source=SOURCE, severity=Severity.WARNING,
                           detail=f"terminal {self._name(t.addr)} {'cut off' if cut else 'reconnected'} ({why})")
        return True

    def _load_cut_off(self) -> list[bytes]:
        raw = self.storage.load(CUTOFF_KEY)
        if not raw or len(raw) % 8:
            return []
        return [raw[i:i + 8] for i in range(0, len(raw), 8)]

    def _save_cut_off(self) -> None:
        self.storage.save(CUTOFF_KEY, b"".join(t.terminal_id for t in self.terminals.values() if t.cut_off))

    def summary(self) -> dict:
        return {"terminals": len(self.terminals), "joined": sum(t.joined for t in self.terminals.values()),
                "uplink_queued": len(self.uplink), **{k: v for k, v in self.stats.items() if k != "push-counter"}}


def _drop_verdict(t: TerminalState | None, why: str) -> str:
    """External-connection log verdict of a frame the radio dropped (``why``: ehan.py's reasons)."""
    if t is not None and t.cut_off:
        return "cut-off"
    if t is None:
        return "unknown-peer"
    if any(w in why for w in ("link security", "authentication", "unsecured", "another path", "another source")):
        return "auth-failed"
    if "flood" in why:
        return "rate-limited"
    if "malformed" in why:
        return "malformed"
    if any(w in why for w in ("another node", "port", "relayed frame refused")):
        return "not-allowed"
    return "dropped"
