"""TCP transport of the A-route (the meter's own IP stack, like ``broute/udp.py``): a listening
socket (DLMS wrapper, IEC 62056-47, default 127.0.0.1:4059; optionally a second one carrying
HDLC frames) and the push client.

Each accepted connection is served by a scheduler task that waits with ``readable(sock)``, so it
works on the real clock (selectors) and never blocks the loop; replies are written with a
non-blocking send that waits for room in short sleeps. The link conditions add their delay to
every chunk in both directions. No DLMS codec code lives here: bytes go to ``MeterConnection``.
"""
from __future__ import annotations

import errno
import logging
import socket

from sumame.firmware.core.scheduler import Priority, readable, sleep, yield_now

from .connection import MeterConnection
from .link import LinkConditions

log = logging.getLogger("sumame.aroute.tcp")
RECV_SIZE = 4096
IDLE_TIMEOUT_S = 300.0


def parse_address(text: str, default_port: int) -> tuple[str, int]:
    """"host:port", "[v6]:port" or "host" -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def send_all(sock: socket.socket, data: bytes, timeout_s: float = 10.0) -> None:
    """Write everything without blocking the loop (OSError when the peer is gone)."""
    view = memoryview(data)
    waited = 0.0
    while view:
        try:
            n = sock.send(view)
        except BlockingIOError:
            if waited >= timeout_s:
                raise TimeoutError("peer does not read") from None
            await sleep(0.01)
            waited += 0.01
            continue
        view = view[n:]


async def connect(host: str, port: int, timeout_s: float = 5.0) -> socket.socket:
    """Non-blocking connect (polls for completion in short sleeps)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setblocking(False)
    err = sock.connect_ex((host, port))
    waited = 0.0
    while err in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
        if waited >= timeout_s:
            sock.close()
            raise TimeoutError(f"connect to {format_address(host, port)} timed out")
        await sleep(0.01)
        waited += 0.01
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            break
        if err not in (errno.EINPROGRESS, errno.EALREADY):
            break
        err = errno.EINPROGRESS
    if err not in (0, errno.EISCONN):
        sock.close()
        raise ConnectionRefusedError(err, f"{format_address(host, port)}: {errno.errorcode.get(err, err)}")
    return sock


class TcpServer:
    """Listens on ``host:port`` (port 0 = any free port); one task per connection."""

    def __init__(self, make_connection, host: str, port: int, conditions: LinkConditions, *,
                 name: str = "dlms-tcp", idle_timeout_s: float = IDLE_TIMEOUT_S):
        self.make_connection, self.conditions, self.name = make_connection, conditions, name
        self.idle_timeout_s = idle_timeout_s
        self.listener = socket.socket(_family(host), socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.setblocking(False)
        try:
            self.listener.bind((host, port))
            self.listener.listen(16)
        except OSError:
            self.listener.close()
            raise
        self.address = self.listener.getsockname()[:2]
        self._tasks: list = []
        self._sockets: set[socket.socket] = set()
        self.accepted = 0

    def start(self, scheduler) -> None:
        self._scheduler = scheduler
        self._tasks.append(scheduler.spawn(self._accept(), name=f"{self.name} accept", priority=Priority.COMMS))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        for sock in list(self._sockets):
            sock.close()
        self._sockets.clear()
        self.listener.close()

    async def _accept(self) -> None:
        while True:
            await readable(self.listener)
            try:
                sock, peer = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            sock.setblocking(False)
            self.accepted += 1
            self._sockets.add(sock)
            conn = self.make_connection(format_address(*peer[:2]))
            self._tasks = [t for t in self._tasks if not t.done]
            self._tasks.append(self._scheduler.spawn(self._serve(sock, conn), name=f"{self.name} {peer[1]}",
                                                     priority=Priority.COMMS))

    async def _serve(self, sock: socket.socket, conn: MeterConnection) -> None:
        try:
            while True:
                if not await readable(sock, timeout=self.idle_timeout_s):
                    log.info("%s: %s idle, closing", self.name, conn.peer)
                    return
                try:
                    data = sock.recv(RECV_SIZE)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return
                if not data:
                    return
                delay = self.conditions.stream() if not self.conditions.ideal else 0.0
                if delay:
                    await sleep(delay)
                conn.feed(data)
                while conn.pending:              # one request per step (see connection.py)
                    out = conn.step(self._scheduler.clock.now())
                    if out:
                        if delay:
                            await sleep(self.conditions.stream())
                        await send_all(sock, b"".join(out))
                    await yield_now()
                if conn.broken:
                    log.warning("%s: %s sent a broken stream, closing", self.name, conn.peer)
                    return
        except (OSError, TimeoutError):
            return
        finally:
            conn.close()
            self._sockets.discard(sock)
            sock.close()


class TcpPushChannel:
    """Pushes as wrapper PDUs over a fresh TCP connection to the head-end each time."""

    def __init__(self, host: str, port: int, frame, conditions: LinkConditions, *, timeout_s: float = 5.0):
        self.host, self.port, self.frame, self.conditions = host, port, frame, conditions
        self.timeout_s = timeout_s

    async def send(self, apdu: bytes) -> bool:
        try:
            sock = await connect(self.host, self.port, self.timeout_s)
        except OSError as exc:
            log.info("push to %s failed: %s", format_address(self.host, self.port), exc)
            return False
        try:
            if not self.conditions.ideal:
                await sleep(self.conditions.stream())
            await send_all(sock, self.frame(apdu))
            return True
        except OSError:
            return False
        finally:
            sock.close()

    def send_now(self, apdu: bytes) -> bool:
        """Blocking best effort with a short timeout (last gasp on a dying meter)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(self.frame(apdu))
            return True
        except OSError:
            return False
