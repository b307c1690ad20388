"""One A-route connection on the meter side: framing (wrapper or HDLC) + COSEM sessions, with
framing errors reported to the event log.

Transports (TCP, UDP, in-process) own one ``MeterConnection`` per connection / UDP peer,
``feed(data)`` it what arrives and call ``step(now)`` while frames are ``pending``, yielding to
the scheduler between steps (one step = one request, bounded by its work budget, so no burst of
input can hold the loop past the watchdog budget); they send back every returned chunk and close
the connection when ``broken`` is set (a wrapper stream that lost sync). Closing ends the associations on it.
"""
from __future__ import annotations

from collections import deque

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
        self._queue: deque = deque()

    @property
    def broken(self) -> bool:
        return bool(getattr(self.port, "broken", False))

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Everything in ``data`` at once (tests, tools); transports use ``feed`` + ``step``."""
        self.feed(data)
        out: list[bytes] = []
        while self.pending:
            out += self.step(now)
        return out

    def feed(self, data: bytes) -> None:
        """Split received bytes into frames (cheap); they wait in ``pending``."""
        before = self._snapshot()
        self._queue.extend(self.port.frames(data))
        self._report(before, len(data))

    @property
    def pending(self) -> int:
        return len(self._queue)

    def step(self, now: float) -> list[bytes]:
        """Handle the next pending frame (at most one request's work budget); replies to send."""
        if not self._queue:
            return []
        frame = self._queue.popleft()
        before = self._snapshot()
        out = self.port.handle(frame, now)
        self._report(before, len(frame) if isinstance(frame, bytes) else len(frame.apdu) + 8)
        return out

    def _snapshot(self) -> dict[str, int]:
        return {k: self._counters[k] for k in _FRAMING_ERRORS}

    def _report(self, before: dict[str, int], size: int) -> None:
        for kind in _FRAMING_ERRORS:
            grew = self._counters[kind] - before[kind]
            if grew:
                self.limiter.record("dlms-bad-input", f"{self.framing} from {self.peer or 'peer'}: "
                                    f"{grew} x {kind.replace('_', ' ')} ({size} bytes received)")

    def push(self, client: int, apdu: bytes) -> bytes:
        if self.framing == "hdlc":
            return b"".join(self.port.push(client, apdu))
        return self.port.push(client, apdu)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.clear()
            self.port.close()
