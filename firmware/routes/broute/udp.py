"""UDP transport of the IP B-route (LV Wi-Fi, HV Ethernet): port 3610 on configured addresses.

One non-blocking socket per local address (IPv4 or IPv6, loopback included); with
``multicast=True`` an extra socket per family is bound to the group (224.0.23.0 / ff02::1) and
joined on the interface of the configured address. Replies always leave from the unicast
socket of the address the peer talked to, and always go to the peer's ECHONET Lite port (3610,
the transport's ``port``), never to the request's source port: ECHONET Lite Spec Ver.1.14
Part 2 §1.2 (position in the communication layers) fixes 3610 as the UDP port every node
receives unicast and multicast on, and a response (Get_Res, Set_Res, the SNAs, the INF that
answers an INF_REQ) is a unicast to the requesting node, so it goes to that node's 3610.
A client that sends from another port (npm echonet-lite sends from 23610, PyPI echonetlite
from an ephemeral port, both listen on 3610) is answered on 3610; the odd port is logged once
per peer. A datagram whose source is one of our own endpoints (a peer on our own address is
answered on our 3610; our looped-back multicast) is our own: counted ``own-echo``, not handed on.
Each socket is served by a scheduler task that
waits with ``readable(sock)`` and drains up to ``batch`` datagrams per wake-up, so it works on
the real clock (selectors) and never blocks the loop. ``batch`` is 8 like the in-process medium:
the costliest accepted frame (a Get answered up to ``max_opc`` properties) takes ~4 ms, so a
step stays far inside the watchdog budget (32 such frames took ~350 ms on a loaded host). This is the meter's own IP stack: the
only firmware module that opens sockets.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import struct

from sumame.firmware.core.scheduler import Priority, readable, yield_now

log = logging.getLogger("sumame.broute.udp")
MCAST_V4 = "224.0.23.0"
MCAST_V6 = "ff02::1"
MAX_DATAGRAM = 1500
ROUTES_HELD = 1024
"""Peer hosts whose receiving socket is remembered for the reply (a forgotten one is answered
from the first unicast socket of its family)."""


class UdpTransport:
    name = "ip"

    def __init__(self, service, addresses, port: int = 3610, *, multicast: bool = False,
                 batch: int = 8):
        self.service, self.port, self.batch = service, port, batch
        self.multicast = multicast
        self.sockets: list[tuple[socket.socket, bool]] = []   # (socket, is_multicast)
        self._unicast: dict[int, socket.socket] = {}         # family -> first unicast socket
        self._route: dict[str, socket.socket] = {}           # peer host -> socket it used
        self._odd_ports: set[str] = set()                    # peers already logged
        self._tasks = []
        self.endpoints: list[tuple[str, int]] = []
        try:
            for addr in addresses:
                self._open(addr)
        except OSError:
            self.close()
            raise
        service.attach_medium(self.name, self.send, self.broadcast if multicast else None)

    # ---------------------------------------------------------------- sockets
    def _open(self, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%")[0])
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, self.port, 0, _scope(address)))
        else:
            sock.bind((address, self.port))
        self.sockets.append((sock, False))
        self._unicast.setdefault(family, sock)
        bound = sock.getsockname()
        self.endpoints.append((bound[0], bound[1]))
        if self.multicast:
            self._join(family, address, str(ip))

    def _join(self, family: int, address: str, ip: str) -> None:
        msock = socket.socket(family, socket.SOCK_DGRAM)
        msock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        msock.setblocking(False)
        usock = self.sockets[-1][0]
        if family == socket.AF_INET:
            msock.bind((MCAST_V4, self.port))
            mreq = struct.pack("=4s4s", socket.inet_aton(MCAST_V4), socket.inet_aton(ip))
            msock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            usock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
            usock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        else:
            index = _scope(address) or _interface_of(ip)
            msock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            msock.bind((MCAST_V6, self.port, 0, index))
            mreq = socket.inet_pton(socket.AF_INET6, MCAST_V6) + struct.pack("@I", index)
            msock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
            usock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        self.sockets.append((msock, True))

    def start(self, scheduler) -> None:
        for sock, is_mcast in self.sockets:
            self._tasks.append(scheduler.spawn(self._serve(sock, is_mcast),
                                               name=f"b-route-udp {sock.getsockname()[0]}",
                                               priority=Priority.COMMS))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for sock, _ in self.sockets:
            sock.close()
        self.sockets.clear()

    # ---------------------------------------------------------------- receive / send
    async def _serve(self, sock: socket.socket, is_mcast: bool) -> None:
        deliver = self.service.deliver
        while True:
            await readable(sock)
            for _ in range(self.batch):
                try:
                    data, peer = sock.recvfrom(MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:   # e.g. ICMP port unreachable reported on a later recv
                    log.debug("recv on %s: %s", sock.getsockname(), exc)
                    continue
                if (peer[0], peer[1]) in self.endpoints:
                    # our own datagram heard back (a peer sharing our address gets its answers on
                    # our 3610 — loopback; or our multicast looped): no peer's frame, not logged
                    self.service.counters["own-echo"] += 1
                    continue
                if not is_mcast and self._route.get(peer[0]) is not sock:
                    self._route.pop(peer[0], None)
                    self._route[peer[0]] = sock
                    if len(self._route) > ROUTES_HELD:    # forged sources: oldest forgotten
                        del self._route[next(iter(self._route))]
                if peer[1] != self.port:
                    self._note_odd_port(peer)
                deliver(self.name, peer, data, multicast=is_mcast)
            await yield_now()

    def _note_odd_port(self, peer) -> None:
        self.service.counters["odd-source-port"] += 1
        if peer[0] not in self._odd_ports and len(self._odd_ports) < 1024:
            self._odd_ports.add(peer[0])
            log.info("request from %s port %d: answers go to its port %d (ECHONET Lite Part 2 §1.2)",
                     peer[0], peer[1], self.port)

    def send(self, data: bytes, address) -> None:
        """Unicast ``data`` to the peer ``address`` (host, any port[, flow, scope]) at its ECHONET
        Lite port ``self.port`` (Part 2 §1.2; see the module docstring), IPv4 or IPv6."""
        address = (address[0], self.port, *address[2:])
        sock = self._route.get(address[0])
        if sock is None:
            family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
            sock = self._unicast.get(family)
            if sock is None:
                raise OSError(f"no local {('IPv6' if family == socket.AF_INET6 else 'IPv4')} "
                              f"address to reach {address[0]}")
        sock.sendto(data, address)

    def broadcast(self, data: bytes) -> None:
        for family, sock in self._unicast.items():
            if family == socket.AF_INET:
                sock.sendto(data, (MCAST_V4, self.port))
            else:
                sock.sendto(data, (MCAST_V6, self.port, 0, _interface_of(sock.getsockname()[0])))


def _scope(address: str) -> int:
    """Interface index of a scoped IPv6 address "fe80::1%eth0" (0 when unscoped)."""
    if "%" not in address:
        return 0
    name = address.split("%", 1)[1]
    return int(name) if name.isdigit() else socket.if_nametoindex(name)


def _interface_of(ip: str) -> int:
    """Interface index for IPv6 multicast: the interface holding ``ip`` (Linux
    /proc/net/if_inet6), loopback for ::1, else 0 (the system's default)."""
    try:
        packed = ipaddress.IPv6Address(ip).packed.hex()
        with open("/proc/net/if_inet6", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) >= 6 and fields[0] == packed:
                    return int(fields[1], 16)
    except (OSError, ValueError):
        pass
    if ip == "::1":
        try:
            return socket.if_nametoindex("lo")
        except OSError:
            return 0
    return 0
