"""One UDP socket for all the meters of a real-time fleet process (``sumame fleet``).

Addressing (the scheme a head-end uses): every meter of the process has its own wrapper port,
``udp://HOST:PORT/WPORT`` — the DLMS/COSEM wrapper header's destination wPort (16 bits) picks the
meter, as it picks a logical device behind one IP endpoint. WPORT = ``FIRST_WPORT`` + the meter's
index in this process, so one process holds at most ``MAX_METERS`` meters and bigger fleets are
split over processes (``--processes``), each with its own socket and port. The socket acts as a
gateway: a datagram for wPort W reaches meter W's firmware addressed to its management logical
device (wPort 1), and what that meter sends leaves with source wPort W (answers and pushes).

The meters' A-route apps see the same interface as the virtual-time ``InProcessNetwork``
(``serve`` / ``unserve`` / ``reply`` / ``push``): their firmware is unchanged. A "connection" is
one (head-end address, wPort) pair; it ends after ``IDLE_TIMEOUT_S`` without traffic, and a
meter holds at most ``PEERS_PER_METER`` of them (the oldest goes first).

Bad input never reaches a meter and costs O(1) per datagram: shorter than a wrapper header,
wrong version or length (``garbage``), a wPort no meter holds (``unknown_wport``), more than
``RATE_PER_S`` datagrams per second to one meter (``flooded``: a token bucket per meter, burst
``BURST``). Each kind is counted and logged at most once per ``LOG_EVERY_S`` (with the count
since). At most ``BATCH`` datagrams are read per step, then the loop yields, so a flood costs
the other meters' timers nothing but the reading of it.
"""
from __future__ import annotations

import logging
import socket
import struct
import time
from collections import Counter, OrderedDict

from sumame.firmware.core.scheduler import Priority, readable, yield_now
from sumame.firmware.routes.aroute.tcp import _family, parse_address
from sumame.tools.log_limit import LogLimit

log = logging.getLogger("sumame.fleet.udp")
FIRST_WPORT = 0x100
"""wPort of a process's first meter (below: the SAPs of one ordinary meter, 0x01..0x30)."""
MAX_METERS = 0xFFFF - FIRST_WPORT + 1
IDLE_TIMEOUT_S = 300.0
PEERS_PER_METER = 4
RATE_PER_S, BURST = 50.0, 200.0
BATCH = 64
LOG_EVERY_S = 10.0
MAX_DATAGRAM = 65535
_HEADER = struct.Struct(">HHHH")


class UdpMux:
    """``UdpMux(scheduler, listen="127.0.0.1:0", hes="127.0.0.1:4060")``; ``address`` is
    the bound (host, port). ``stats``: datagrams in/out, pushes, refusals by kind."""

    def __init__(self, scheduler, listen: str, hes: str):
        self.scheduler, self.clock = scheduler, scheduler.clock
        host, port = parse_address(listen, 0)
        self.sock = socket.socket(_family(host), socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
            except OSError:
                pass
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.address = self.sock.getsockname()[:2]
        self.hes = parse_address(hes, 4060)
        self.stats: Counter[str] = Counter()
        self._by_wport: dict[int, object] = {}       # wPort -> meter endpoint
        self._wport_of: dict[str, int] = {}          # meter address (its wPort as text) -> wPort
        self._conns: OrderedDict[tuple, list] = OrderedDict()   # (peer, wport) -> [conn id, seen]
        self._conn_key: dict[int, tuple] = {}
        self._per_meter: Counter[int] = Counter()
        self._bucket: dict[int, list] = {}           # wPort -> [tokens, refilled at]
        self._next_id = 1
        self._log_limit = LogLimit(log, LOG_EVERY_S)
        self.on_push = None
        """Called with the meter's address after each push left the socket (fleet statistics)."""
        self.task = scheduler.spawn(self._serve(), name="fleet-udp", priority=Priority.COMMS, group="fleet-net")

    # ---------------------------------------------------------------- InProcessNetwork interface
    def serve(self, address: str, endpoint) -> None:
        wport = int(address)
        self._by_wport[wport] = endpoint
        self._wport_of[address] = wport

    def unserve(self, address: str, endpoint=None) -> None:
        wport = self._wport_of.get(address)
        if wport is not None and (endpoint is None or self._by_wport.get(wport) is endpoint):
            self._by_wport.pop(wport, None)

    def serving(self, address: str) -> bool:
        return self._wport_of.get(address) in self._by_wport

    def reply(self, conn_id: int, data: bytes) -> None:
        key = self._conn_key.get(conn_id)
        if key is None:
            self.stats["reply_after_close"] += 1
            return
        peer, wport = key
        self._send(_with_source(data, wport), peer, "replies")

    def push(self, destination: str, data: bytes, sender: str = "") -> bool:
        """A meter's push to the head-end (``destination`` is the meter's ``hes``; this socket
        sends to the fleet's head-end). True when the datagram left."""
        wport = self._wport_of.get(sender)
        ok = self._send(_with_source(data, wport) if wport else data, self.hes, "pushes")
        if ok and self.on_push is not None:
            self.on_push(sender)
        return ok

    def close(self) -> None:
        """Stop receiving and sending (idempotent): nothing is counted after it."""
        if not self.task.done:
            self.task.cancel()
        self.sock.close()

    # ---------------------------------------------------------------- socket
    def _send(self, data: bytes, peer, what: str) -> bool:
        try:
            self.sock.sendto(data, peer)
        except OSError as exc:             # send buffer full, unreachable: lost (UDP)
            self.stats[f"{what}_lost"] += 1
            self._note("send", f"send to {peer[0]}:{peer[1]} failed: {exc}")
            return False
        self.stats[what] += 1
        return True

    async def _serve(self) -> None:
        recv = self.sock.recvfrom
        while True:
            await readable(self.sock, timeout=60.0)
            now = self.clock.now()
            self._expire(now)
            for _ in range(BATCH):
                try:
                    data, peer = recv(MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    self._note("recv", f"receive: {exc}")
                    continue
                self._datagram(data, peer, now)
            await yield_now()

    def _datagram(self, data: bytes, peer, now: float) -> None:
        self.stats["datagrams"] += 1
        if len(data) < _HEADER.size:
            return self._refuse("garbage", f"{len(data)}-byte datagram from {peer[0]}:{peer[1]}: no wrapper header")
        version, source, wport, length = _HEADER.unpack_from(data)
        if version != 1 or length != len(data) - _HEADER.size:
            return self._refuse("garbage", f"datagram from {peer[0]}:{peer[1]}: not a wrapper PDU "
                                           f"(version {version}, length {length} of {len(data) - 8} bytes)")
        endpoint = self._by_wport.get(wport)
        if endpoint is None:
            return self._refuse("unknown_wport", f"datagram from {peer[0]}:{peer[1]} for wPort {wport}: "
                                                 f"no meter of this process has it")
        if not self._admit(wport, now):
            return self._refuse("flooded", f"more than {RATE_PER_S:g} datagrams/s for wPort {wport} "
                                           f"(last from {peer[0]}:{peer[1]}): dropped")
        key = (peer, wport)
        entry = self._conns.pop(key, None)
        if entry is None:
            entry = [self._open(key, endpoint), now]
        entry[1] = now
        self._conns[key] = entry
        endpoint.deliver(entry[0], data[:4] + b"\x00\x01" + data[6:])   # to the meter's logical device 1

    def _open(self, key: tuple, endpoint) -> int:
        wport = key[1]
        if self._per_meter[wport] >= PEERS_PER_METER:       # the oldest connection of this meter goes
            old = next(k for k in self._conns if k[1] == wport)
            self._close(old)
        conn_id, self._next_id = self._next_id, self._next_id + 1
        self._conn_key[conn_id] = key
        self._per_meter[wport] += 1
        return conn_id

    def _close(self, key: tuple) -> None:
        conn_id, _ = self._conns.pop(key)
        del self._conn_key[conn_id]
        self._per_meter[key[1]] -= 1
        endpoint = self._by_wport.get(key[1])
        if endpoint is not None:
            endpoint.closed(conn_id)

    def _expire(self, now: float) -> None:
        while self._conns:
            key, (_, seen) = next(iter(self._conns.items()))
            if now - seen <= IDLE_TIMEOUT_S * getattr(self.clock, "ratio", 1.0):
                return
            self._close(key)

    def _admit(self, wport: int, now: float) -> bool:
        """Token bucket per meter, in wall seconds (a faster clock does not raise the rate)."""
        wall = time.monotonic()
        bucket = self._bucket.get(wport)
        if bucket is None:
            bucket = self._bucket[wport] = [BURST, wall]
        bucket[0] = min(BURST, bucket[0] + (wall - bucket[1]) * RATE_PER_S)
        bucket[1] = wall
        if bucket[0] < 1.0:
            return False
        bucket[0] -= 1.0
        return True

    def _refuse(self, kind: str, detail: str) -> None:
        self.stats[kind] += 1
        self._note(kind, detail)

    def _note(self, kind: str, detail: str) -> None:
        """Log ``detail`` at most once per LOG_EVERY_S per kind, with the count in between."""
        self._log_limit.warning(kind, f"refused: {detail}")


def _with_source(data: bytes, wport: int) -> bytes:
    """The wrapper PDU ``data`` with source wPort ``wport`` (the meter's address here)."""
    return data[:2] + wport.to_bytes(2, "big") + data[4:]
