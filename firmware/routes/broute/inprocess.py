"""In-process B-route medium for virtual-time tests and benches: datagrams travel through
scheduler queues instead of sockets.

``InProcessMedium(service, scheduler)`` registers medium "inproc" with the service and runs the
meter-side receive task. Peers are ``InProcessPeer`` objects with an address and an inbox.
``cpu_cost_s`` models the meter's CPU in virtual time: each frame advances the virtual clock by
the cost of what the guard/node did with it (the CPU is busy, so other tasks run late), and the
task yields every ``batch`` frames like the UDP task does.
"""
from __future__ import annotations

from collections import deque

from sumame.firmware.net.echonet import Frame, decode, encode
from sumame.firmware.core.scheduler import Priority, Queue, QueueFull, Event, yield_now

DEFAULT_COSTS = {"answered": 0.0, "refused": 0.0}


class InProcessPeer:
    """A home device on the in-process medium."""

    def __init__(self, medium: "InProcessMedium", address: str):
        self.medium, self.address = medium, address
        self.inbox: deque[tuple[float, bytes]] = deque()
        self.arrived = Event()

    def send(self, data: bytes, multicast: bool = False) -> bool:
        """Queue a datagram to the meter; False if the meter's receive buffer was full."""
        return self.medium.submit(self.address, data, multicast)

    async def request(self, frame: Frame, timeout: float = 20.0) -> Frame | None:
        """Send ``frame`` and wait for the reply with the same TID (None on timeout)."""
        self.send(encode(frame))
        clock = self.medium.service.clock
        deadline = clock.now() + timeout
        while True:
            while self.inbox:
                _, data = self.inbox.popleft()
                reply = decode(data)
                if reply.tid == frame.tid:
                    return reply
            remaining = deadline - clock.now()
            if remaining <= 0:
                return None
            self.arrived.clear()
            if not await self.arrived.wait(timeout=remaining):
                return None

    def deliver(self, data: bytes) -> None:
        self.inbox.append((self.medium.service.clock.now(), data))
        self.arrived.set()


class InProcessMedium:
    """buffer:    datagrams the meter's receive buffer holds (a full buffer drops, like a socket)
    cpu_cost_s:   status -> virtual seconds of CPU per frame (default 0: free)
    batch:        frames handled before yielding to other tasks
    """

    name = "inproc"

    def __init__(self, service, scheduler, *, buffer: int = 64, cpu_cost_s=None, batch: int = 8,
                 multicast: bool = True):
        self.service, self.scheduler = service, scheduler
        self.queue = Queue(maxsize=buffer)
        self.costs = dict(cpu_cost_s or {})
        self.batch = batch
        self.peers: dict[str, InProcessPeer] = {}
        self.dropped_full = 0
        self.dropped_down = 0
        self.available = True
        """False while the comms unit carrying this medium is out: nothing gets through."""
        self.handled = 0
        self.busy_s = 0.0
        service.attach_medium(self.name, self._send, self._broadcast if multicast else None)
        self.task = scheduler.spawn(self._receive(), name="b-route-inproc", priority=Priority.COMMS)

    def peer(self, address: str) -> InProcessPeer:
        return self.peers.setdefault(address, InProcessPeer(self, address))

    def submit(self, address: str, data: bytes, multicast: bool) -> bool:
        if not self.available:
            self.dropped_down += 1
            return False
        try:
            self.queue.put_nowait((address, data, multicast))
            return True
        except QueueFull:
            self.dropped_full += 1
            return False

    def _send(self, data: bytes, address) -> None:
        peer = self.peers.get(address)
        if peer is not None and self.available:
            peer.deliver(data)

    def _broadcast(self, data: bytes) -> None:
        if not self.available:
            return
        for peer in self.peers.values():
            peer.deliver(data)

    async def _receive(self) -> None:
        clock = self.service.clock
        while True:
            address, data, multicast = await self.queue.get()
            n = 0
            while True:
                status = self.service.deliver(self.name, address, data, multicast=multicast)
                self.handled += 1
                cost = self.costs.get(status, self.costs.get("default", 0.0))
                if cost and clock.virtual:
                    self.busy_s += cost
                    clock.advance_to(clock.now() + cost)   # the CPU is busy for this long
                n += 1
                if n >= self.batch or not len(self.queue):
                    break
                address, data, multicast = self.queue.get_nowait()
            await yield_now()
