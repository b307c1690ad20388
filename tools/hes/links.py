"""Head-end side transports to a meter: TCP, UDP (real sockets on the scheduler) or the
in-process network of a virtual-time run. All present ``send(bytes)``, ``await recv(timeout)``
and ``close()``; ``stream`` says whether wrapper PDUs must be re-assembled from a byte stream.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from sumame.firmware.routes.aroute.tcp import _family, connect, parse_address
from sumame.firmware.core.scheduler import readable

RECV_SIZE = 65536
SERVER_WPORT = 1
UDP_RCVBUF = 4 << 20
"""Receive buffer asked for the push socket, bytes (the kernel caps it at net.core.rmem_max)."""
"""Wrapper port of a meter's management logical device (the default destination)."""


@dataclass(frozen=True)
class MeterTarget:
    """Where a meter is: ``transport`` "tcp", "udp" or "inproc"; ``address`` "host:port" (sockets)
    or the meter's address on the in-process network; ``wport``: the wrapper destination port
    (the server's SAP) the head-end addresses, 1 (the management logical device) unless the
    target says ``/WPORT`` — many meters behind one UDP socket (``sumame fleet``) are told apart
    by it, as logical devices behind one IP endpoint are."""

    transport: str
    address: str
    wport: int = SERVER_WPORT

    def __str__(self) -> str:
        tail = "" if self.wport == SERVER_WPORT else f"/{self.wport}"
        return f"{self.transport}://{self.address}{tail}"

    @classmethod
    def parse(cls, text: str) -> "MeterTarget":
        """"tcp://127.0.0.1:4059", "udp://host:port", "udp://host:port/WPORT" (wrapper destination
        port 1..65535), "inproc://SERIAL", or bare "host:port" (TCP)."""
        if "://" in text:
            transport, address = text.split("://", 1)
        else:
            transport, address = "tcp", text
        if transport not in ("tcp", "udp", "inproc"):
            raise ValueError(f"unknown transport {transport!r} in {text!r} (tcp, udp or inproc)")
        wport = SERVER_WPORT
        if transport != "inproc" and "/" in address:
            address, _, port_text = address.rpartition("/")
            if not port_text.isdigit() or not 1 <= int(port_text) <= 0xFFFF:
                raise ValueError(f"wrapper port {port_text!r} in {text!r}: expected 1..65535")
            wport = int(port_text)
        return cls(transport, address, wport)


class TcpLink:
    stream = True

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    async def recv(self, timeout: float) -> bytes:
        if not await readable(self.sock, timeout=timeout):
            raise TimeoutError("no answer from the meter")
        data = self.sock.recv(RECV_SIZE)
        if not data:
            raise ConnectionResetError("the meter closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


class UdpLink:
    stream = False

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.send(data)

    async def recv(self, timeout: float) -> bytes:
        while True:
            if not await readable(self.sock, timeout=timeout):
                raise TimeoutError("no answer from the meter")
            try:
                return self.sock.recv(RECV_SIZE)
            except BlockingIOError:
                continue
            except ConnectionRefusedError:
                raise ConnectionRefusedError("meter port unreachable") from None

    def close(self) -> None:
        self.sock.close()


class InProcLink:
    stream = True

    def __init__(self, conn):
        self.conn = conn

    def send(self, data: bytes) -> None:
        self.conn.send(data)

    async def recv(self, timeout: float) -> bytes:
        try:
            return await self.conn.recv(timeout)
        except TimeoutError:
            raise TimeoutError("no answer from the meter") from None

    def close(self) -> None:
        self.conn.close()


async def open_link(target: MeterTarget, *, network=None, timeout_s: float = 5.0):
    """Connect to a meter; raises OSError / TimeoutError when it cannot be reached."""
    if target.transport == "inproc":
        if network is None:
            raise ValueError("an in-process target needs the in-process network")
        link = InProcLink(await network.connect(target.address))
    else:
        host, port = parse_address(target.address, 4059)
        if target.transport == "tcp":
            link = TcpLink(await connect(host, port, timeout_s))
        else:
            sock = socket.socket(_family(host), socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect((host, port))
            link = UdpLink(sock)
    link.server_wport = target.wport
    return link


class PushListener:
    """Receives meters' pushes on real sockets: a TCP listener (one wrapper stream per
    connection) and a UDP socket on the same ``host:port``; every wrapper PDU goes to ``queue``
    as (peer, bytes)."""

    def __init__(self, scheduler, address: str, queue, *, udp: bool = True):
        from sumame.firmware.net.dlms.wrapper import WrapperStream
        from sumame.firmware.core.scheduler import Priority

        self._stream_cls, self._priority = WrapperStream, Priority.ROUTE
        self.scheduler, self.queue = scheduler, queue
        host, port = parse_address(address, 4060)
        self.tcp = socket.socket(_family(host), socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.setblocking(False)
        self.tcp.bind((host, port))
        self.tcp.listen(64)
        self.address = self.tcp.getsockname()[:2]
        self.udp = None
        if udp:
            self.udp = socket.socket(_family(host), socket.SOCK_DGRAM)
            try:        # a fleet's push burst must not overflow the kernel's default ~200 KiB
                self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
            except OSError:
                pass
            self.udp.setblocking(False)
            self.udp.bind((host, self.address[1]))
        self.tasks = [scheduler.spawn(self._accept(), name="hes-push-tcp", priority=self._priority, group="hes")]
        if self.udp is not None:
            self.tasks.append(scheduler.spawn(self._datagrams(), name="hes-push-udp", priority=self._priority,
                                              group="hes"))
        self.received = 0
        self.rejected = 0

    async def _accept(self) -> None:
        while True:
            await readable(self.tcp)
            try:
                sock, peer = self.tcp.accept()
            except (BlockingIOError, InterruptedError):
                continue
            sock.setblocking(False)
            self.tasks.append(self.scheduler.spawn(self._read(sock, peer), name="hes-push-conn",
                                                   priority=self._priority, group="hes"))

    async def _read(self, sock, peer) -> None:
        stream = self._stream_cls()
        try:
            while True:
                if not await readable(sock, timeout=60.0):
                    return
                data = sock.recv(RECV_SIZE)
                if not data:
                    return
                try:
                    for pdu in stream.feed(data):
                        self.received += 1
                        self.queue.put_nowait((peer, pdu.encode()))
                except ValueError:
                    self.rejected += 1
                    return
        except OSError:
            return
        finally:
            sock.close()

    async def _datagrams(self) -> None:
        while True:
            await readable(self.udp)
            self.drain()

    def drain(self) -> int:
        """Move every datagram waiting in the UDP socket to the queue (each time it is readable,
        and at shutdown after the loop stopped: what has arrived is stored, not dropped with the
        socket); returns the count."""
        moved = 0
        while self.udp is not None:
            try:
                data, peer = self.udp.recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue
            self.received += 1
            moved += 1
            self.queue.put_nowait((peer, data))
        return moved

    def udp_drops(self) -> int | None:
        """Datagrams the kernel dropped on the UDP socket (receive buffer full), from
        /proc/net/udp{,6} (Linux); None where that is not readable."""
        if self.udp is None:
            return None
        try:
            inode = str(os.fstat(self.udp.fileno()).st_ino)
            for name in ("/proc/net/udp", "/proc/net/udp6"):
                with open(name) as fh:
                    for line in fh:
                        cols = line.split()
                        if len(cols) > 12 and cols[9] == inode:
                            return int(cols[-1])
        except (OSError, ValueError):
            return None
        return None

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tcp.close()
        if self.udp is not None:
            self.udp.close()
