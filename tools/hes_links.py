"""Head-end side transports to a meter: TCP, UDP (real sockets on the scheduler) or the
in-process network of a virtual-time run. All present ``send(bytes)``, ``await recv(timeout)``
and ``close()``; ``stream`` says whether wrapper PDUs must be re-assembled from a byte stream.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass

from sumame.firmware.routes.aroute.tcp import _family, connect, parse_address
from sumame.firmware.scheduler import readable

RECV_SIZE = 65536


@dataclass(frozen=True)
class MeterTarget:
    """Where a meter is: ``transport`` "tcp", "udp" or "inproc"; ``address`` "host:port" (sockets)
    or the meter's address on the in-process network."""

    transport: str
    address: str

    def __str__(self) -> str:
        return f"{self.transport}://{self.address}"

    @classmethod
    def parse(cls, text: str) -> "MeterTarget":
        """"tcp://127.0.0.1:4059", "udp://host:port", "inproc://SERIAL", or bare "host:port" (TCP)."""
        if "://" in text:
            transport, address = text.split("://", 1)
        else:
            transport, address = "tcp", text
        if transport not in ("tcp", "udp", "inproc"):
            raise ValueError(f"unknown transport {transport!r} in {text!r} (tcp, udp or inproc)")
        return cls(transport, address)


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
        return InProcLink(await network.connect(target.address))
    host, port = parse_address(target.address, 4059)
    if target.transport == "tcp":
        return TcpLink(await connect(host, port, timeout_s))
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect((host, port))
    return UdpLink(sock)
