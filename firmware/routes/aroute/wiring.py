"""The A-route as a meter service: the meter's DLMS/COSEM server towards the utility head-end.

Built at boot by the ``SERVICE_FACTORIES`` entry (board section ``[aroute]``). The COSEM model
and server exist from boot; the transports open when a comms unit carrying ``Medium.AROUTE`` is
inserted and close when it is removed (and when the meter loses power):

* real sockets (``serve_ip``, the default): TCP wrapper on ``ip:port`` (4059), UDP on the same
  port (``udp``), optionally HDLC frames over TCP on ``hdlc_port``; pushes to ``hes`` over
  ``push_transport`` (tcp / udp / none);
* virtual time (``build_runtime(virtual=True)`` / fleets): the ``InProcessNetwork`` found in the
  hardware extras as ``"aroute_network"``, at ``address`` (default: the serial number).

Security material (``keys``) and the invocation counters (``counters``, persisted in the
meter's StateStore) are loaded here; the soft switch and the first recorded boundary too.
"""
from __future__ import annotations

import logging
import struct

from sumame.firmware.core.events import Severity
from sumame.firmware.net.dlms.association import SecuritySetup
from sumame.firmware.net.dlms.wrapper import WrapperPdu
from sumame.firmware.core.scheduler import Priority, Queue, yield_now
from sumame.hal.comms import Medium
from sumame.hal.jst import floor_boundary

from .connection import MeterConnection
from sumame.firmware.lifecycle.erase import tx_ic_floor

from .counters import PersistentReplayGuard, PersistentTxCounter
from .disposal import disposal_objects
from .image_binding import image_transfer_objects
from .key_renewal import apply_stored_keys, kek_of, key_renewal_objects
from .keys import secrets_from_board
from .route_b_renewal import route_b_objects
from .link import LinkConditions
from .model import build_model
from .push import Pusher
from .scaling import energy_scale
from .server import PUSH_WPORT, SOURCE, EventLimiter, MeterCosemServer, policies
from .tcp import TcpPushChannel, TcpServer, format_address, parse_address
from .udp import UdpPushChannel, UdpServer

log = logging.getLogger("sumame.aroute")
SOFT_SWITCH_KEY = "aroute.soft-switch"
EARLIEST_KEY = "aroute.first-boundary"
DEFAULT_PORT = 4059
HES_DEFAULT_PORT = 4060


def frame_push(apdu: bytes) -> bytes:
    return WrapperPdu(1, PUSH_WPORT, apdu).encode()


class InProcessEndpoint:
    """The meter's side of the in-process network: one task (the meter's) handles everything."""

    def __init__(self, app: "ARouteApp", network, address: str):
        self.app, self.network, self.address = app, network, address
        self.inbox: Queue = Queue()
        self.conns: dict[int, MeterConnection] = {}
        self.task = None

    def deliver(self, conn_id: int, data: bytes) -> None:
        self.inbox.put_nowait((conn_id, data))

    def closed(self, conn_id: int) -> None:
        self.inbox.put_nowait((conn_id, None))

    async def run(self) -> None:
        clock = self.app.meter.clock
        while True:
            conn_id, data = await self.inbox.get()
            if data is None:
                conn = self.conns.pop(conn_id, None)
                if conn is not None:
                    conn.close()
                continue
            conn = self.conns.get(conn_id)
            if conn is None:
                conn = self.conns[conn_id] = self.app.connection(f"inproc#{conn_id}")
            conn.feed(data)
            while conn.pending and not conn.closed:   # one request per step (see connection.py)
                for reply in conn.step(clock.now()):
                    self.network.reply(conn_id, reply)
                await yield_now()
            if conn.broken and self.conns.get(conn_id) is conn:
                self.conns.pop(conn_id).close()
            await yield_now()        # a full inbox must not keep this task from yielding

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()


class InProcessPushChannel:
    def __init__(self, network, destination: str, sender: str):
        self.network, self.destination, self.sender = network, destination, sender

    def send_now(self, apdu: bytes) -> bool:
        return self.network.push(self.destination, frame_push(apdu), self.sender)

    async def send(self, apdu: bytes) -> bool:
        return self.send_now(apdu)


class ARouteApp:
    name = "a-route"

    def __init__(self, meter, switchgear):
        self.meter, self.switchgear = meter, switchgear
        section = meter.config.options.get("aroute", {})   # read-only, shared with the board
        self.section = section
        ident = meter.config.identity
        store = meter.storage
        self.secrets = secrets_from_board(ident.serial, section)
        self.key_generation = apply_stored_keys(self)
        """Generation of the renewed keys in use (None: the board's / derived keys)."""
        lifecycle = getattr(meter, "lifecycle", None)
        floor = 0 if lifecycle is None else tx_ic_floor(lifecycle.loader.control)
        self.tx_counter = PersistentTxCounter(store, floor=floor)   # never below a decommissioned life's
        self.replay_guard = PersistentReplayGuard(store)
        if self.replay_guard.corrupt:
            meter.events.record("dlms-replay-state", source=SOURCE, severity=Severity.ALARM,
                                detail="stored receive invocation counters unreadable; replay protection "
                                       "restarts from empty")
        self._apply_stored_soft_switch()
        self.limiter = EventLimiter(meter.events, meter.clock)
        self.scale = energy_scale(meter.config.scaling)
        self.ciphered = section.get("ciphered", True)
        objects = build_model(meter.readings, scale=self.scale, breaker=switchgear.breaker,
                              control=switchgear.control, outage=switchgear.outage, events=meter.events, retention=meter.config.retention,
                              earliest=self._earliest(), tx_counter=self.tx_counter,
                              apply_soft_switch=self.set_soft_switch)
        objects += image_transfer_objects(getattr(meter, "lifecycle", None))
        self.kek = kek_of(ident.serial, section)
        """Master key (KEK) that unwraps renewed keys: ``[aroute] kek`` (derived from the serial when empty: emulation only)."""
        objects += key_renewal_objects(self, self.kek)
        objects += disposal_objects(meter)
        objects += route_b_objects(meter)
        self.hes = section.get("hes", f"127.0.0.1:{HES_DEFAULT_PORT}")
        self.pusher = Pusher(None, meter.readings, meter.events, channel=None, ciphered=self.ciphered,
                             destination=self.hes, transport=section.get("push_transport", "tcp"),
                             entries=section.get("push_entries", 2), delay_s=section.get("push_delay_s", 5.0),
                             randomisation_s=section.get("push_randomisation_s", 0.0),
                             retries=section.get("push_retries", 2),
                             retry_delay_s=section.get("push_retry_delay_s", 60.0))
        self.security = SecuritySetup(self.secrets.system_title, self.secrets.ek, self.secrets.ak,
                                      self.tx_counter, self.replay_guard)
        self.server = MeterCosemServer(objects + self.pusher.objects, policies(self.secrets, ciphered=self.ciphered),
                                       security=self.security, limiter=self.limiter,
                                       max_receive_pdu=section.get("max_pdu", 1024))
        self.pusher.server = self.server
        self.conditions = LinkConditions(latency_s=section.get("latency_ms", 0) / 1000,
                                         jitter_s=section.get("jitter_ms", 0) / 1000,
                                         loss=section.get("loss", 0.0), seed=section.get("seed", 1))
        self.serve_ip = section.get("serve_ip", True)
        self.address = section.get("address") or ident.serial
        self.restore_alarm = self._came_back_from_outage()
        self.up = False
        self._servers: list = []
        self._endpoint: InProcessEndpoint | None = None
        self._network = None
        self._tasks: list = []

    # ---------------------------------------------------------------- service API
    @property
    def endpoints(self) -> list[tuple[str, str]]:
        eps = [(s.name, format_address(*s.address)) for s in self._servers]
        if self._endpoint is not None:
            eps.append(("dlms-inproc", self.address))
        return eps

    def start(self) -> None:
        self.switchgear.comms.register_route(self.name, {Medium.AROUTE}, self._unit_up, self._unit_down)
        if self.meter.hw.power.source.hold_up_j > 0:
            self.switchgear.outage.last_gasp_senders.append(self._last_gasp)

    def stop(self) -> None:
        self._close_transports()

    def connection(self, peer: str, framing: str = "wrapper", stream: bool = True) -> MeterConnection:
        return MeterConnection(self.server, self.limiter, framing=framing, stream=stream, peer=peer)

    # ---------------------------------------------------------------- comms unit
    def _unit_up(self, unit) -> None:
        scheduler = self.meter.scheduler
        try:
            channel = self._open_transports(scheduler)
        except OSError as exc:
            self._close_transports()
            self.meter.events.record("a-route-ip", source=SOURCE, severity=Severity.ALARM,
                                     detail=f"cannot open the A-route transports: {exc.strerror or exc}")
            raise
        self.pusher.channel = channel
        self.up = True
        if channel is not None:
            self._tasks.append(scheduler.spawn(self.pusher.run(), name="a-route-push", priority=Priority.ROUTE))
            if self.restore_alarm:
                self.restore_alarm = False
                self._tasks.append(scheduler.spawn(self._send_alarm("power restored"), name="a-route-alarm",
                                                   priority=Priority.ROUTE))

    def _unit_down(self, unit) -> None:
        self._close_transports()

    def _open_transports(self, scheduler):
        s = self.section
        hes_host, hes_port = parse_address(self.hes, HES_DEFAULT_PORT)
        push = s.get("push_transport", "tcp")
        if not self.serve_ip:
            network = self.meter.hw.extras.get("aroute_network")
            if network is None:
                return None
            self._network = network
            self._endpoint = InProcessEndpoint(self, network, self.address)
            self._endpoint.task = scheduler.spawn(self._endpoint.run(), name="a-route-inproc", priority=Priority.COMMS)
            network.serve(self.address, self._endpoint)
            return None if push == "none" else InProcessPushChannel(network, self.hes, self.address)
        host, port = s.get("ip", "127.0.0.1"), s.get("port", DEFAULT_PORT)
        tcp = TcpServer(lambda peer: self.connection(peer), host, port, self.conditions, name="dlms-tcp")
        self._servers.append(tcp)
        if s.get("udp", True):
            self._servers.append(UdpServer(lambda peer: self.connection(peer, stream=False), host,
                                           tcp.address[1], self.conditions, name="dlms-udp"))
        if s.get("hdlc_port", 0):
            self._servers.append(TcpServer(lambda peer: self.connection(peer, framing="hdlc"), host,
                                           s["hdlc_port"], self.conditions, name="dlms-hdlc-tcp"))
        for server in self._servers:
            server.start(scheduler)
        if push == "tcp":
            return TcpPushChannel(hes_host, hes_port, frame_push, self.conditions)
        if push == "udp":
            udp = next((x for x in self._servers if isinstance(x, UdpServer)), None)
            return UdpPushChannel(hes_host, hes_port, frame_push, self.conditions, lambda: udp)
        return None

    def _close_transports(self) -> None:
        self.up = False
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        for server in self._servers:
            server.close()
        self._servers.clear()
        if self._endpoint is not None:
            self._network.unserve(self.address, self._endpoint)
            if self._endpoint.task is not None:
                self._endpoint.task.cancel()
            self._endpoint.close()
            self._endpoint = None
        self.pusher.channel = None

    # ---------------------------------------------------------------- alarms
    def _came_back_from_outage(self) -> bool:
        outage = self.switchgear.outage
        gaps = outage.outages()
        return bool(gaps) and gaps[-1].kind == "outage" and gaps[-1].end == outage.boot_at

    async def _send_alarm(self, why: str) -> None:
        ok = self.pusher.channel is not None and await self.pusher.channel.send(self.pusher._apdu(self.pusher.alarm))
        self.pusher.sent += ok
        log.info("alarm push (%s) %s", why, "sent" if ok else "not sent")

    def _last_gasp(self, gasp) -> None:
        if self.up:
            self.pusher.alarm_now(f"last gasp {gasp.jst}")

    # ---------------------------------------------------------------- settings kept in the StateStore
    def _earliest(self) -> float:
        raw = self.meter.storage.load(EARLIEST_KEY)
        if raw is not None and len(raw) == 8:
            return struct.unpack(">d", raw)[0]
        first = float(floor_boundary(self.meter.clock.now(), 30))
        self.meter.storage.save(EARLIEST_KEY, struct.pack(">d", first))
        return first

    def _apply_stored_soft_switch(self) -> None:
        raw = self.meter.storage.load(SOFT_SWITCH_KEY)
        if raw in (b"15", b"30"):
            self.meter.registers.transmitted_interval_min = int(raw)

    def set_soft_switch(self, minutes: int) -> None:
        old = self.meter.registers.transmitted_interval_min
        self.meter.storage.save(SOFT_SWITCH_KEY, str(minutes).encode())
        self.meter.registers.transmitted_interval_min = minutes
        self.meter.events.record("soft-switch", source=SOURCE,
                                 detail=f"transmitted interval {old} min -> {minutes} min (head-end)")
