"""UDP transport of the A-route: DLMS wrapper datagrams on ``host:port`` (default 4059) and
UDP pushes. One MeterConnection (session) per peer address, dropped after ``idle_timeout_s``
without traffic (which ends its association). Datagrams are lost and delayed as the link
conditions say, in both directions.
"""
from __future__ import annotations

import logging
import socket
from collections import OrderedDict

from sumame.firmware.core.scheduler import Priority, readable, sleep, yield_now

from .connection import MeterConnection
from .link import LinkConditions
from .tcp import _family, format_address

log = logging.getLogger("sumame.aroute.udp")
MAX_DATAGRAM = 65535
IDLE_TIMEOUT_S = 300.0
MAX_PEERS = 64
"""Sessions (UDP peer addresses) held at once. UDP source addresses cost an attacker nothing, so
state per peer is capped: a datagram from a new peer past the cap drops the peer heard from
least recently (its association ends), and memory and per-datagram work stay bounded."""


class UdpServer:
    def __init__(self, make_connection, host: str, port: int, conditions: LinkConditions, *,
                 name: str = "dlms-udp", idle_timeout_s: float = IDLE_TIMEOUT_S):
        self.make_connection, self.conditions, self.name = make_connection, conditions, name
        self.idle_timeout_s = idle_timeout_s
        self.sock = socket.socket(_family(host), socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.address = self.sock.getsockname()[:2]
        self.peers: OrderedDict[tuple, tuple[MeterConnection, float]] = OrderedDict()  # oldest first
        self.evicted = 0
        self._task = None

    def start(self, scheduler) -> None:
        self._scheduler = scheduler
        self._task = scheduler.spawn(self._serve(), name=self.name, priority=Priority.COMMS)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for conn, _ in self.peers.values():
            conn.close()
        self.peers.clear()
        self.sock.close()

    async def _serve(self) -> None:
        clock = self._scheduler.clock
        while True:
            await readable(self.sock, timeout=self.idle_timeout_s)
            self._expire(clock.now())
            for _ in range(32):
                try:
                    data, peer = self.sock.recvfrom(MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    log.debug("%s recv: %s", self.name, exc)
                    continue
                delay = self.conditions.datagram()
                if delay is None:
                    continue
                if delay:
                    await sleep(delay)
                conn = self._peer(peer, clock.now())
                conn.feed(data)
                while conn.pending:              # one request per step (see connection.py)
                    for reply in conn.step(clock.now()):
                        back = self.conditions.datagram()
                        if back is None:
                            continue
                        if back:
                            await sleep(back)
                        try:
                            self.sock.sendto(reply, peer)
                        except OSError as exc:
                            log.debug("%s send to %s: %s", self.name, peer, exc)
                    await yield_now()

    def _expire(self, now: float) -> None:
        """Drop peers idle past ``idle_timeout_s`` (the oldest are first: O(dropped))."""
        while self.peers:
            peer, (conn, seen) = next(iter(self.peers.items()))
            if now - seen <= self.idle_timeout_s:
                return
            del self.peers[peer]
            conn.close()

    def _peer(self, peer: tuple, now: float) -> MeterConnection:
        """The session of ``peer`` (made on its first datagram), marked as heard from at ``now``."""
        entry = self.peers.pop(peer, None)
        if entry is None:
            while len(self.peers) >= MAX_PEERS:
                old, (stale, _) = self.peers.popitem(last=False)
                stale.close()
                self.evicted += 1
                if self.evicted == 1 or not self.evicted % 1000:
                    log.warning("%s: more than %d peers; dropped %s (%d so far)", self.name, MAX_PEERS,
                                format_address(*old[:2]), self.evicted)
            conn = self.make_connection(format_address(*peer[:2]))
        else:
            conn = entry[0]
        self.peers[peer] = (conn, now)
        return conn


class UdpPushChannel:
    def __init__(self, host: str, port: int, frame, conditions: LinkConditions, sock_source=None):
        self.host, self.port, self.frame, self.conditions = host, port, frame, conditions
        self._sock_source = sock_source

    def _sock(self) -> socket.socket:
        server = self._sock_source() if self._sock_source else None
        return server.sock if server is not None else None

    def send_now(self, apdu: bytes) -> bool:
        if self.conditions.datagram() is None:
            return True     # left the meter; lost on the way
        sock = self._sock()
        try:
            if sock is not None:
                sock.sendto(self.frame(apdu), (self.host, self.port))
            else:
                with socket.socket(_family(self.host), socket.SOCK_DGRAM) as s:
                    s.sendto(self.frame(apdu), (self.host, self.port))
            return True
        except OSError as exc:
            log.info("UDP push to %s failed: %s", format_address(self.host, self.port), exc)
            return False

    async def send(self, apdu: bytes) -> bool:
        return self.send_now(apdu)
