"""In-process A-route network for virtual-time runs: many meters and a head-end in one process,
on one scheduler, with the link conditions applied — no sockets.

Meters ``serve(address, endpoint)``; the head-end ``connect(address)`` (a stream, like TCP:
ordered, never loses data, a lost segment only delays it) and ``listen(address, queue)`` for
pushes, which travel as datagrams (unconfirmed: they can be lost). A meter that stops serving
(power cut, comms unit removed) goes silent: requests in flight and new connections time out,
as on a real network where the peer just disappears.

Link conditions are drawn per meter address (``link(address)``: its own ``LinkConditions`` with a
seed derived from the network's seed and the address), so what one meter's traffic loses or
delays does not depend on which other meters share the network: a fleet split into shards runs
each meter exactly as the whole fleet in one process does.

Every delivery is a timer in one dispatcher task (group ``"a-route-network"``, so it outlives
any meter); the meter's side of a connection is handled by the meter's own task (its group), so
a meter that lost power answers nothing.
"""
from __future__ import annotations

import heapq
import itertools
import zlib
from typing import Callable

from sumame.firmware.core.scheduler import Event, Priority, Queue, sleep

from .link import LinkConditions

GROUP = "a-route-network"


class InProcessConnection:
    """Head-end side of a connection: ``send(bytes)``, ``await recv(timeout) -> bytes``."""

    def __init__(self, network: "InProcessNetwork", address: str, conn_id: int):
        self.network, self.address, self.id = network, address, conn_id
        self.inbox: Queue = Queue()
        self.closed = False
        self._due = 0.0

    def send(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionError("connection closed")
        self._due = self.network._post_stream(self.address, self._due, self.network._to_meter, self.address,
                                              self.id, bytes(data))

    async def recv(self, timeout: float) -> bytes:
        """Next chunk from the meter; TimeoutError when nothing arrives in ``timeout`` s."""
        return await self.inbox.get(timeout=timeout)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.network._post(self.network.link(self.address).delay(), self.network._close_at_meter,
                               self.address, self.id)
            self.network._connections.pop(self.id, None)


class InProcessNetwork:
    def __init__(self, scheduler, conditions: LinkConditions | None = None, *, connect_timeout_s: float = 10.0):
        self.scheduler = scheduler
        self.conditions = conditions or LinkConditions()
        self.connect_timeout_s = connect_timeout_s
        self._served: dict[str, object] = {}
        self._sinks: dict[str, Queue] = {}
        self._connections: dict[int, InProcessConnection] = {}
        self._conn_ids = itertools.count(1)
        self._heap: list = []
        self._seq = itertools.count()
        self._wake = Event()
        self._task = None
        self._meter_due: dict[int, float] = {}
        self._links: dict[str, LinkConditions] = {}
        self._conn_address: dict[int, str] = {}
        self.delivered = 0
        self.dropped = 0
        self.pushes_lost = 0

    def link(self, address: str) -> LinkConditions:
        """The conditions of the link to the meter at ``address`` (seeded by the network's seed
        and the address; the network's ``conditions`` are the template)."""
        link = self._links.get(address)
        if link is None:
            c = self.conditions
            seed = (c.seed * 1_000_003 + zlib.crc32(address.encode())) & 0xFFFFFFFF
            link = self._links[address] = LinkConditions(latency_s=c.latency_s, jitter_s=c.jitter_s, loss=c.loss,
                                                         rto_s=c.rto_s, seed=seed)
        return link

    # ---------------------------------------------------------------- meter side
    def serve(self, address: str, endpoint) -> None:
        """``endpoint.deliver(conn_id, data)`` / ``endpoint.closed(conn_id)`` are called (from the
        dispatcher) for what head-ends send; it answers with ``reply(conn_id, data)``."""
        self._served[address] = endpoint

    def unserve(self, address: str, endpoint=None) -> None:
        if endpoint is None or self._served.get(address) is endpoint:
            self._served.pop(address, None)

    def serving(self, address: str) -> bool:
        return address in self._served

    def reply(self, conn_id: int, data: bytes) -> None:
        address = self._conn_address.get(conn_id, "")
        self._meter_due[conn_id] = self._post_stream(address, self._meter_due.get(conn_id, 0.0),
                                                     self._to_client, conn_id, bytes(data))

    def push(self, destination: str, data: bytes, sender: str = "") -> bool:
        """A datagram to a head-end's push address. True when it left the meter (it may still be
        lost on the way, as the link conditions say); False when nobody listens there."""
        delay = self.link(sender).datagram()
        if delay is None:
            self.pushes_lost += 1
            return destination in self._sinks
        if destination not in self._sinks:
            return False
        self._post(delay, self._to_sink, destination, sender, bytes(data))
        return True

    # ---------------------------------------------------------------- head-end side
    def listen(self, address: str, queue: Queue) -> None:
        """Pushes to ``address`` arrive in ``queue`` as (sender, data)."""
        self._sinks[address] = queue

    async def connect(self, address: str) -> InProcessConnection:
        """A connection to the meter at ``address``; TimeoutError when it does not answer."""
        link = self.link(address)
        await sleep(link.delay() + link.delay())          # SYN / SYN-ACK
        if address not in self._served:
            await sleep(self.connect_timeout_s)
            raise TimeoutError(f"no answer from {address}")
        conn = InProcessConnection(self, address, next(self._conn_ids))
        self._connections[conn.id] = conn
        self._conn_address[conn.id] = address
        return conn

    # ---------------------------------------------------------------- dispatcher
    def _post_stream(self, address: str, last_due: float, fn: Callable, *args) -> float:
        due = max(self.scheduler.clock.now() + self.link(address).stream(), last_due)
        self._schedule(due, fn, args)
        return due

    def _post(self, delay: float, fn: Callable, *args) -> None:
        self._schedule(self.scheduler.clock.now() + delay, fn, args)

    def _schedule(self, due: float, fn: Callable, args: tuple) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), fn, args))
        if self._task is None or self._task.done:
            self._task = self.scheduler.spawn(self._dispatch(), name="a-route-network",
                                              priority=Priority.COMMS, group=GROUP)
        self._wake.set()

    async def _dispatch(self) -> None:
        clock = self.scheduler.clock
        heap = self._heap
        while True:
            while heap and heap[0][0] <= clock.now():
                _, _, fn, args = heapq.heappop(heap)
                fn(*args)
            self._wake.clear()
            timeout = None if not heap else max(0.0, heap[0][0] - clock.now())
            await self._wake.wait(timeout=timeout)

    def _to_meter(self, address: str, conn_id: int, data: bytes) -> None:
        endpoint = self._served.get(address)
        if endpoint is None:
            self.dropped += 1
            return
        self.delivered += 1
        endpoint.deliver(conn_id, data)

    def _close_at_meter(self, address: str, conn_id: int) -> None:
        endpoint = self._served.get(address)
        self._meter_due.pop(conn_id, None)
        self._conn_address.pop(conn_id, None)
        if endpoint is not None:
            endpoint.closed(conn_id)

    def _to_client(self, conn_id: int, data: bytes) -> None:
        conn = self._connections.get(conn_id)
        if conn is None:
            self.dropped += 1
            return
        self.delivered += 1
        conn.inbox.put_nowait(data)

    def _to_sink(self, destination: str, sender: str, data: bytes) -> None:
        sink = self._sinks.get(destination)
        if sink is not None:
            self.delivered += 1
            sink.put_nowait((sender, data))
