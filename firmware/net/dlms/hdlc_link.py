"""HDLC data-link state machines (IEC 62056-46 normal response mode, window 1).

Pure: frames in, frames out. :class:`HdlcServerLink` is the meter's side (one per server address
on a line, a state per client SAP): SNRM -> UA (parameter negotiation), I-frames with N(S)/N(R)
checks, segmentation both ways (S bit, RR to continue), DISC -> UA / DM, FRMR for frames it
cannot accept. Bad frames (CRC, length) are dropped and counted, as the standard says.
:class:`HdlcClientLink` is the head-end side of the same procedures.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from .errors import HdlcError
from .hdlc import (LLC_REQUEST, LLC_RESPONSE, FrameKind, HdlcAddress, HdlcFrame, LinkParameters,
                   control_i, control_rr, control_u)

log = logging.getLogger("sumame.dlms.hdlc")
MAX_APDU = 0xFFFF   # reassembly bound (bytes)

# on_apdu(client_sap, apdu) -> response APDU or None
ApduHandler = Callable[[int, bytes], "bytes | None"]


@dataclass
class _Station:
    """Sequence state and segmentation buffers of one connection."""

    params: LinkParameters = field(default_factory=LinkParameters)
    vs: int = 0                       # next N(S) to send
    vr: int = 0                       # next N(S) expected
    rx: bytearray = field(default_factory=bytearray)
    tx: list = field(default_factory=list)     # information segments still to send
    last_sent: bytes | None = None

    def split(self, info: bytes, size: int) -> None:
        size = max(size, 16)
        self.tx = [info[i:i + size] for i in range(0, len(info), size)] or [b""]


class HdlcServerLink:
    """The meter's HDLC secondary station for one server address.

    address:   our server address (e.g. server_address(1, 0x11))
    on_apdu:   called with (client SAP, APDU) for each complete request; returns the response
    on_disconnect: called with the client SAP when its link is reset or closed (the COSEM
               association bound to it ends)
    limits:    our own max information field lengths (bytes); windows are always 1
    """

    def __init__(self, address: HdlcAddress, on_apdu: ApduHandler, *,
                 on_disconnect: Callable[[int], None] | None = None,
                 limits: LinkParameters = LinkParameters()):
        self.address = address
        self.on_apdu = on_apdu
        self.on_disconnect = on_disconnect
        self.limits = limits
        self.stations: dict[int, _Station] = {}
        self.counters: Counter[str] = Counter()

    # ------------------------------------------------------------------ entry point
    def receive(self, raw: bytes) -> list[bytes]:
        """Handle one received frame (with flags); returns the frames to transmit."""
        try:
            frame = HdlcFrame.decode(raw)
        except HdlcError as exc:
            self.counters["bad_frame"] += 1
            log.warning("HDLC frame dropped: %s", exc)
            return []
        if not self._for_us(frame.destination):
            self.counters["other_address"] += 1
            return []
        if frame.source.size != 1:
            self.counters["bad_client_address"] += 1
            return []
        return [f.encode() for f in self._handle(frame)]

    def _for_us(self, dest: HdlcAddress) -> bool:
        if dest.upper != self.address.upper:
            return False
        return self.address.lower is None or dest.lower in (self.address.lower, None)

    def _reply(self, client: HdlcAddress, control: int, info: bytes = b"", segmented: bool = False) -> HdlcFrame:
        return HdlcFrame(client, self.address, control, info, segmented)

    def _handle(self, frame: HdlcFrame) -> list[HdlcFrame]:
        sap = frame.source.upper
        kind = frame.kind
        station = self.stations.get(sap)
        if kind is FrameKind.SNRM:
            return [self._snrm(frame, sap)]
        if kind is FrameKind.DISC:
            if station is None:
                return [self._reply(frame.source, control_u(FrameKind.DM))]
            self._drop(sap)
            return [self._reply(frame.source, control_u(FrameKind.UA))]
        if station is None:
            self.counters["not_connected"] += 1
            return [self._reply(frame.source, control_u(FrameKind.DM))] if frame.pf else []
        if kind is FrameKind.I:
            return self._information(frame, station)
        if kind is FrameKind.RR:
            return self._receive_ready(frame, station)
        if kind is FrameKind.UI:
            self.counters["ui_ignored"] += 1
            return []
        self.counters["frame_rejected"] += 1
        log.warning("HDLC %s frame from client %d rejected (FRMR)", kind, sap)
        return [self._reply(frame.source, control_u(FrameKind.FRMR))]

    def _snrm(self, frame: HdlcFrame, sap: int) -> HdlcFrame:
        try:
            proposed = LinkParameters.decode(frame.information)
        except HdlcError as exc:
            self.counters["bad_snrm"] += 1
            log.warning("SNRM parameters rejected: %s", exc)
            return self._reply(frame.source, control_u(FrameKind.FRMR))
        if sap in self.stations:
            self._drop(sap)
        agreed = LinkParameters(
            max_info_tx=max(16, min(self.limits.max_info_tx, proposed.max_info_rx)),
            max_info_rx=max(16, min(self.limits.max_info_rx, proposed.max_info_tx)),
            window_tx=1, window_rx=1)
        self.stations[sap] = _Station(agreed)
        self.counters["connected"] += 1
        return self._reply(frame.source, control_u(FrameKind.UA), agreed.encode())

    def _drop(self, sap: int) -> None:
        self.stations.pop(sap, None)
        if self.on_disconnect is not None:
            self.on_disconnect(sap)

    def _information(self, frame: HdlcFrame, st: _Station) -> list[HdlcFrame]:
        if frame.ns != st.vr:
            # a repeat of the frame we already answered: our answer was lost, send it again
            if (frame.ns + 1) % 8 == st.vr and st.last_sent is not None:
                self.counters["retransmitted"] += 1
                return [HdlcFrame.decode(st.last_sent)]
            self.counters["sequence_error"] += 1
            return [self._send(frame.source, st, control_rr(st.vr))]
        if len(frame.information) > st.params.max_info_rx:
            self.counters["info_too_long"] += 1
            return [self._reply(frame.source, control_u(FrameKind.FRMR))]
        st.vr = (st.vr + 1) % 8
        st.rx += frame.information
        if len(st.rx) > MAX_APDU + 3:
            st.rx.clear()
            self.counters["apdu_too_long"] += 1
            return [self._reply(frame.source, control_u(FrameKind.FRMR))]
        if frame.segmented:
            return [self._send(frame.source, st, control_rr(st.vr))]
        message, st.rx = bytes(st.rx), bytearray()
        if not message.startswith(LLC_REQUEST):
            self.counters["bad_llc"] += 1
            log.warning("HDLC I-frame without LLC header E6 E6 00 dropped")
            return [self._send(frame.source, st, control_rr(st.vr))]
        response = self.on_apdu(frame.source.upper, message[3:])
        if response is None:
            return [self._send(frame.source, st, control_rr(st.vr))]
        st.split(LLC_RESPONSE + response, st.params.max_info_tx)
        return [self._next_segment(frame.source, st)]

    def _receive_ready(self, frame: HdlcFrame, st: _Station) -> list[HdlcFrame]:
        if st.tx and frame.nr == st.vs:
            return [self._next_segment(frame.source, st)]
        if frame.nr != st.vs and st.last_sent is not None:
            self.counters["retransmitted"] += 1
            return [HdlcFrame.decode(st.last_sent)]
        return [self._send(frame.source, st, control_rr(st.vr))]

    def _next_segment(self, client: HdlcAddress, st: _Station) -> HdlcFrame:
        chunk = st.tx.pop(0)
        frame = self._reply(client, control_i(st.vs, st.vr), chunk, segmented=bool(st.tx))
        st.vs = (st.vs + 1) % 8
        st.last_sent = frame.encode()
        return frame

    def _send(self, client: HdlcAddress, st: _Station, control: int) -> HdlcFrame:
        frame = self._reply(client, control)
        st.last_sent = frame.encode()
        return frame

    def push(self, client_sap: int, apdu: bytes) -> list[bytes]:
        """Unsolicited APDU (DataNotification) as UI frame(s) to ``client_sap``."""
        client = HdlcAddress(client_sap)
        st = self.stations.get(client_sap)
        size = st.params.max_info_tx if st else self.limits.max_info_tx
        info = LLC_RESPONSE + apdu
        chunks = [info[i:i + size] for i in range(0, len(info), size)]
        return [self._reply(client, control_u(FrameKind.UI), c, segmented=i < len(chunks) - 1).encode()
                for i, c in enumerate(chunks)]


class HdlcClientLink:
    """The head-end's HDLC primary station (window 1). Feed every received frame to
    :meth:`receive`; it returns ``(frames_to_send, apdu_or_None)``."""

    def __init__(self, client: HdlcAddress, server: HdlcAddress, limits: LinkParameters = LinkParameters()):
        self.client = client
        self.server = server
        self.limits = limits
        self.station: _Station | None = None
        self.connected = False
        self.counters: Counter[str] = Counter()

    def _frame(self, control: int, info: bytes = b"", segmented: bool = False) -> bytes:
        return HdlcFrame(self.server, self.client, control, info, segmented).encode()

    def connect(self) -> bytes:
        self.station = _Station(self.limits)
        return self._frame(control_u(FrameKind.SNRM), self.limits.encode())

    def disconnect(self) -> bytes:
        return self._frame(control_u(FrameKind.DISC))

    def send_apdu(self, apdu: bytes) -> bytes:
        """First frame of ``apdu``; the remaining segments go out as the server sends RR."""
        st = self._require()
        st.split(LLC_REQUEST + apdu, st.params.max_info_rx if self.connected else 128)
        return self._next(st)

    def _next(self, st: _Station) -> bytes:
        chunk = st.tx.pop(0)
        raw = self._frame(control_i(st.vs, st.vr), chunk, segmented=bool(st.tx))
        st.vs = (st.vs + 1) % 8
        return raw

    def _require(self) -> _Station:
        if self.station is None:
            raise HdlcError("HDLC link not connected")
        return self.station

    def receive(self, raw: bytes) -> tuple[list[bytes], bytes | None]:
        try:
            frame = HdlcFrame.decode(raw)
        except HdlcError:
            self.counters["bad_frame"] += 1
            return [], None
        kind = frame.kind
        st = self.station
        if kind is FrameKind.UA and st is not None:
            server_view = LinkParameters.decode(frame.information)
            # the UA is the server's view: its tx is our rx
            st.params = LinkParameters(server_view.max_info_rx, server_view.max_info_tx, 1, 1)
            st.vs = st.vr = 0
            self.connected = True
            return [], None
        if kind in (FrameKind.DM, FrameKind.FRMR):
            self.connected = False
            self.counters[kind.value] += 1
            return [], None
        if kind is FrameKind.UI:
            info = frame.information
            return [], info[3:] if info.startswith(LLC_RESPONSE) else info
        if st is None:
            return [], None
        if kind is FrameKind.RR:
            if st.tx:
                return [self._next(st)], None
            return [], None
        if kind is FrameKind.I:
            if frame.ns != st.vr:
                self.counters["sequence_error"] += 1
                return [self._frame(control_rr(st.vr))], None
            st.vr = (st.vr + 1) % 8
            st.rx += frame.information
            if frame.segmented:
                return [self._frame(control_rr(st.vr))], None
            message, st.rx = bytes(st.rx), bytearray()
            return [], message[3:] if message.startswith(LLC_RESPONSE) else message
        return [], None
