"""One A-route connection on the meter side: framing (wrapper or HDLC) + COSEM sessions, with
framing errors reported to the event log.

Transports (TCP, UDP, in-process) own one ``MeterConnection`` per connection / UDP peer and
call ``receive(data, now)``; they send back every returned chunk and close the connection when
``broken`` is set (a wrapper stream that lost sync). Closing ends the associations on it.
"""
from __future__ import annotations

from sumame.firmware.net.dlms.hdlc import server_address
from sumame.firmware.net.dlms.ports import HdlcPort, WrapperPort

HDLC_PHYSICAL_ADDRESS = 0x11
"""Lower (physical) HDLC address of the meter's logical device 1 over HDLC-on-TCP."""
_FRAMING_ERRORS = ("bad_wrapper", "other_wport", "bad_frame", "other_address", "bad_client_address",
                   "not_connected", "frame_rejected", "bad_snrm", "sequence_error", "info_too_long",
                   "apdu_too_long", "bad_llc")


class MeterConnection:
    def __init__(self, server, limiter, *, framing: str = "wrapper", stream: bool = True, peer: str = ""):
        self.server, self.limiter, self.peer = server, limiter, peer
        self.framing = framing
        if framing == "hdlc":
            self.port = HdlcPort(server, server_address(1, HDLC_PHYSICAL_ADDRESS))
            self._counters = self.port.link.counters
        else:
            self.port = WrapperPort(server, stream=stream)
            self._counters = self.port.counters
        self.closed = False

    @property
    def broken(self) -> bool:
        return bool(getattr(self.port, "broken", False))

    def receive(self, data: bytes, now: float) -> list[bytes]:
        before = {k: self._counters[k] for k in _FRAMING_ERRORS}
        out = self.port.receive(data, now)
        for kind in _FRAMING_ERRORS:
            grew = self._counters[kind] - before[kind]
            if grew:
                self.limiter.record("dlms-bad-input", f"{self.framing} from {self.peer or 'peer'}: "
                                    f"{grew} x {kind.replace('_', ' ')} ({len(data)} bytes received)")
        return out

    def push(self, client: int, apdu: bytes) -> bytes:
        if self.framing == "hdlc":
            return b"".join(self.port.push(client, apdu))
        return self.port.push(client, apdu)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.port.close()
