"""Glue between the framings and the COSEM server (pure: bytes and time in, bytes out).

* :class:`HdlcPort` - one serial line / byte stream: FrameSplitter -> HdlcServerLink -> sessions
  (one per client SAP; an HDLC disconnect or SNRM ends that client's association).
* :class:`WrapperPort` - one TCP connection (stream) or one UDP peer (datagrams): wrapper PDUs
  -> sessions by client wPort; responses go back with the wPorts swapped.

The transport task (sockets, serial port, latency/loss) owns a port per connection and calls
``receive(data, now)`` - or ``frames(data)`` and then ``handle(frame, now)`` for each, yielding
to other tasks in between so one burst of frames cannot hold the scheduler; it writes back
every returned chunk, and calls ``close()`` when the connection drops. Unsolicited pushes are framed with ``push(client, apdu)``.
"""
from __future__ import annotations

import logging
from collections import Counter

from .errors import WrapperError
from .hdlc import FrameSplitter, HdlcAddress, LinkParameters
from .hdlc_link import HdlcServerLink
from .server import CosemServer, Session
from .wrapper import WrapperPdu, WrapperStream

log = logging.getLogger("sumame.dlms.ports")


class HdlcPort:
    def __init__(self, server: CosemServer, address: HdlcAddress, limits: LinkParameters = LinkParameters()):
        self.server = server
        self.sessions: dict[int, Session] = {}
        self.splitter = FrameSplitter()
        self.link = HdlcServerLink(address, self._on_apdu, on_disconnect=self._on_disconnect, limits=limits)
        self._now = 0.0

    def _session(self, sap: int) -> Session:
        session = self.sessions.get(sap)
        if session is None:
            session = self.sessions[sap] = self.server.open_session(sap)
        return session

    def _on_apdu(self, sap: int, apdu: bytes) -> bytes | None:
        return self._session(sap).handle(apdu, self._now)

    def _on_disconnect(self, sap: int) -> None:
        session = self.sessions.pop(sap, None)
        if session is not None:
            session.close()

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Bytes from the line -> frames to write back."""
        out: list[bytes] = []
        for frame in self.frames(data):
            out += self.handle(frame, now)
        return out

    def frames(self, data: bytes) -> list[bytes]:
        """Split bytes from the line into frames (cheap); ``handle`` each one (a transport can
        yield to other tasks between frames)."""
        return self.splitter.feed(data)

    def handle(self, frame: bytes, now: float) -> list[bytes]:
        self._now = now
        return self.link.receive(frame)

    def push(self, client_sap: int, apdu: bytes) -> list[bytes]:
        return self.link.push(client_sap, apdu)

    def close(self) -> None:
        for sap in list(self.sessions):
            self._on_disconnect(sap)
        self.link.stations.clear()


class WrapperPort:
    """``stream=True`` for TCP (re-assembly; a broken header closes the connection),
    False for UDP datagrams (a bad datagram is dropped)."""

    def __init__(self, server: CosemServer, *, stream: bool = True, server_wport: int = 1):
        self.server = server
        self.stream = WrapperStream(max_apdu=max(server.max_receive_pdu, 64) + 64) if stream else None
        self.server_wport = server_wport
        self.sessions: dict[int, Session] = {}
        self.counters: Counter[str] = Counter()
        self.broken = False

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Bytes (TCP chunk or one UDP datagram) -> wrapper PDUs to send back. After a framing
        error on a stream ``broken`` is True and the transport should close the connection."""
        out: list[bytes] = []
        for pdu in self.frames(data):
            out += self.handle(pdu, now)
        return out

    def frames(self, data: bytes) -> list[WrapperPdu]:
        """Split received bytes into wrapper PDUs (cheap); ``handle`` each one (a transport can
        yield to other tasks between them)."""
        try:
            return self.stream.feed(data) if self.stream is not None else [WrapperPdu.decode(data)]
        except WrapperError as exc:
            self.counters["bad_wrapper"] += 1
            log.warning("wrapper PDU rejected: %s", exc)
            if self.stream is not None:
                self.broken = True
            return []

    def handle(self, pdu: WrapperPdu, now: float) -> list[bytes]:
        if pdu.destination != self.server_wport:
            self.counters["other_wport"] += 1
            log.warning("wrapper PDU for wPort %d dropped (we are %d)", pdu.destination, self.server_wport)
            return []
        session = self.sessions.get(pdu.source)
        if session is None:
            session = self.sessions[pdu.source] = self.server.open_session(pdu.source)
        response = session.handle(pdu.apdu, now)
        if response is None:
            return []
        return [WrapperPdu(self.server_wport, pdu.source, response).encode()]

    def push(self, client_wport: int, apdu: bytes) -> bytes:
        return WrapperPdu(self.server_wport, client_wport, apdu).encode()

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()
