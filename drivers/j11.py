"""ROHM BP35C0-J11 driver (pyserial), HEMS role: join a smart meter's route-B PAN and exchange
UDP datagrams (ECHONET Lite on 3610) through a RATOC RS-WSUHA-J11 / BP35C2-J11-T01 dongle.

Works on anything pyserial opens (``/dev/ttyUSB0``, a pty path) or on an open serial-like
object (``InProcessPort`` in tests). One request at a time: ``request()`` writes a frame and
blocks until its response (command | 0x2000, or 0xFFFF / 0x2FFF) or ``timeout_s``;
notifications that arrive meanwhile are kept for ``poll()`` / ``wait_notice()``. A result other
than 0x01 raises ``J11CommandError`` (with the spec's meaning); corrupt input from the dongle
is counted in ``stats``, logged and skipped. ``connect()`` runs the route-B pairing sequence::

    00D9 reset -> 6019, 006B version, 005F (channel 4), 0054 credentials, 0051 scan with the
    pairing ID -> 4051 per channel + 2051, 005F (the meter's channel), 0053 -> 2053 meter
    link, 0005 open 3610, 0056 -> 6028 PANA result

Times are seconds; ``clock`` is ``time.monotonic`` by default (pass ``timeline.now`` in
emulation so virtual time counts).
"""
from __future__ import annotations

import logging
import select
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable

from sumame.hal.errors import CommsError

from . import j11_messages as m
from . import j11_protocol as p
from .j11_protocol import Command, J11CommandError, Notice
from .serial_port import PORT_ERRORS, open_port

log = logging.getLogger("sumame.drivers.j11")


class J11Timeout(CommsError):
    """The dongle did not answer in time."""


class J11AuthFailed(CommsError):
    """PANA authentication with the meter failed (wrong route-B ID / password)."""


@dataclass(frozen=True)
class Started:
    """6019: the module finished starting (after 00D9 or power-on)."""


_NOTICE_TYPES: dict[int, Callable[[bytes], object]] = {
    Notice.SCAN_RESULT: m.ScanResult.decode,
    Notice.DATA_RECEIVED: m.DataReceived.decode,
    Notice.STARTED: lambda data: Started(),
    Notice.CONNECTION_STATUS: m.ConnectionStatus.decode,
    Notice.PANA_RESULT: m.PanaResult.decode,
}


def scan_time_s(duration: int, channels: int) -> float:
    """Active-scan time: 9.64 ms x 2^duration per channel."""
    return channels * 0.00964 * 2 ** duration


class J11Modem:
    """One J11 dongle. ``port``: a device path / pyserial URL or an open serial-like object;
    ``timeout_s``: default wait for a response (s); ``clock``: seconds, monotonic."""

    def __init__(self, port, *, baudrate: int = 115200, timeout_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, read_timeout_s: float = 0.05):
        port = open_port(port, baudrate=baudrate, read_timeout_s=read_timeout_s, what="J11 dongle")
        self.port = port
        self.clock = clock
        self.timeout_s = timeout_s
        self.reader = p.FrameReader(p.RESPONSE_CODE)
        self.stats: Counter[str] = Counter()
        self.link: m.RouteBLink | None = None
        self.version: m.Version | None = None
        self._responses: deque[p.Frame] = deque()
        self._notices: deque = deque()
        try:
            self._fd: int | None = port.fileno()
        except (OSError, AttributeError, ValueError):
            self._fd = None

    # ------------------------------------------------------------------ port
    def fileno(self) -> int:
        return self.port.fileno()

    def close(self) -> None:
        try:
            self.port.close()
        except PORT_ERRORS:
            pass

    def _read(self, timeout_s: float) -> None:
        try:
            n = self.port.in_waiting
            if n:
                data = self.port.read(n)
            elif self._fd is not None:               # a tty: wait with select, no termios calls
                data = b""
                if select.select([self._fd], [], [], timeout_s)[0]:
                    data = self.port.read(self.port.in_waiting or 1)
            else:                                    # serial-like object without a descriptor
                old = self.port.timeout
                self.port.timeout = timeout_s
                try:
                    data = self.port.read(1)
                finally:
                    self.port.timeout = old
        except PORT_ERRORS as exc:
            self.stats["port-error"] += 1
            raise CommsError(f"J11 dongle port failed: {exc}") from exc
        if data:
            self._push(data)

    def _push(self, data: bytes) -> None:
        for item in self.reader.feed(data):
            if isinstance(item, p.Fault):
                self.stats[f"bad-{item.kind}"] += 1
                log.warning("J11: dropped %d octets from the dongle (%s)", item.octets, item.kind)
            elif item.is_response or item.command == p.HEADER_CHECKSUM_RESPONSE:
                self._responses.append(item)
            else:
                decode = _NOTICE_TYPES.get(item.command)
                if decode is None:
                    self.stats["unknown-notice"] += 1
                    log.info("J11: notification 0x%04X ignored", item.command)
                    continue
                try:
                    self._notices.append(decode(item.data))
                except p.PayloadError as exc:
                    self.stats["bad-notice"] += 1
                    log.warning("J11: notification 0x%04X undecodable: %s", item.command, exc)

    def _write(self, frame: bytes) -> None:
        try:
            self.port.write(frame)
            self.port.flush()
        except PORT_ERRORS as exc:
            raise CommsError(f"J11 dongle write failed: {exc}") from exc

    def _until(self, found: Callable[[], object], timeout_s: float, what: str):
        deadline = self.clock() + timeout_s
        while True:
            value = found()
            if value is not None:
                return value
            now = self.clock()
            if now >= deadline:
                raise J11Timeout(f"{what} within {timeout_s:g} s")
            self._read(min(0.05, max(0.001, deadline - now)))

    # ------------------------------------------------------------------ requests
    def request(self, command: int, data: bytes = b"", timeout_s: float | None = None) -> bytes:
        """Send one request; return the response data after the result octet."""
        want = command | p.RESPONSE_FLAG
        self._responses.clear()
        self._write(p.encode_frame(command, data))

        def match():
            while self._responses:
                frame = self._responses.popleft()
                if frame.command in (want, p.UNKNOWN_COMMAND_RESPONSE, p.HEADER_CHECKSUM_RESPONSE):
                    return frame
                self.stats["stray-response"] += 1
            return None

        frame = self._until(match, timeout_s or self.timeout_s, f"no answer to J11 command 0x{command:04X}")
        if frame.command != want:
            raise J11CommandError(command, p.result_of(frame))
        return p.check_result(frame)

    def poll(self) -> list:
        """Non-blocking: the notifications received so far (typed payload objects)."""
        try:
            if self.port.in_waiting:
                self._read(0)
        except PORT_ERRORS as exc:
            raise CommsError(f"J11 dongle port failed: {exc}") from exc
        out = list(self._notices)
        self._notices.clear()
        return out

    def wait_notice(self, kind: type, timeout_s: float, match: Callable[[object], bool] = lambda n: True):
        """Block for the next notification of type ``kind`` satisfying ``match`` (removed from the
        queue; the others stay for ``poll()``)."""
        def find():
            for i, n in enumerate(self._notices):
                if isinstance(n, kind) and match(n):
                    del self._notices[i]
                    return n
            return None
        return self._until(find, timeout_s, f"no {kind.__name__} notification")

    # ------------------------------------------------------------------ commands
    def reset(self, timeout_s: float = 10.0) -> None:
        """00D9 hardware reset; returns at the 6019 start-up notification."""
        self._notices.clear()
        self.reader.reset()
        self.link = None
        self._write(p.encode_frame(Command.HARDWARE_RESET))
        self.wait_notice(Started, timeout_s)

    def get_version(self) -> m.Version:
        self.version = m.Version.decode(self.request(Command.GET_VERSION))
        return self.version

    def initial_settings(self, channel: int, *, mode: int = p.OperationMode.DUAL, tx_power: int = 0) -> None:
        self.request(Command.SET_INITIAL, m.InitialSettings(mode, False, channel, tx_power).encode())

    def get_initial(self) -> m.InitialSettings:
        return m.InitialSettings.decode(self.request(Command.GET_INITIAL))

    def set_credentials(self, rbid: str, password: str) -> None:
        self.request(Command.SET_ROUTE_B_AUTH, m.Credentials(rbid, password).encode())

    def scan(self, duration: int = 6, channel_mask: int = p.ALL_CHANNELS_MASK,
             pairing_id: str | None = None) -> list[m.ScanResult]:
        """0051 active scan; the 4051 results (one per channel) that came before the 2051."""
        req = m.ScanRequest(duration, channel_mask, None if pairing_id is None else pairing_id.encode("ascii"))
        budget = scan_time_s(duration, len(req.channels)) * 1.5 + self.timeout_s
        self._notices = deque(n for n in self._notices if not isinstance(n, m.ScanResult))
        self.request(Command.ACTIVE_SCAN, req.encode(), timeout_s=budget)
        results = [n for n in self._notices if isinstance(n, m.ScanResult)]
        self._notices = deque(n for n in self._notices if not isinstance(n, m.ScanResult))
        return results

    def start_route_b(self, timeout_s: float = 30.0) -> m.RouteBLink:
        self.link = m.RouteBLink.decode(self.request(Command.START_ROUTE_B, timeout_s=timeout_s))
        return self.link

    def open_udp_port(self, port: int = 3610) -> bool:
        """True when opened now, False when it already was open."""
        try:
            self.request(Command.OPEN_UDP_PORT, port.to_bytes(2, "big"))
        except J11CommandError as exc:
            if exc.result == p.Result.PORT_ALREADY_OPEN:
                return False
            raise
        return True

    def start_pana(self, timeout_s: float = 45.0) -> m.PanaResult:
        self._notices = deque(n for n in self._notices if not isinstance(n, m.PanaResult))
        self.request(Command.START_ROUTE_B_PANA)
        result = self.wait_notice(m.PanaResult, timeout_s)
        if result.outcome == p.PanaOutcome.NO_RESPONSE:
            raise J11Timeout(f"the meter {result.mac.hex().upper()} did not answer PANA")
        if result.outcome != p.PanaOutcome.SUCCESS:
            raise J11AuthFailed(f"PANA with {result.mac.hex().upper()} failed (result 0x{result.outcome:02X})")
        return result

    def terminate(self) -> None:
        self.request(Command.TERMINATE_ROUTE_B_PANA)

    def send_udp(self, dst: bytes, payload: bytes, *, src_port: int = 3610, dst_port: int = 3610) -> m.TransmitResult:
        return m.TransmitResult.decode(self.request(Command.TRANSMIT_DATA,
                                                    m.TransmitRequest(dst, src_port, dst_port, payload).encode()))

    def receive(self, timeout_s: float, port: int | None = 3610) -> m.DataReceived:
        """The next datagram (6018) for ``port`` (None = any)."""
        return self.wait_notice(m.DataReceived, timeout_s, lambda d: port is None or d.dst_port == port)

    def connect(self, rbid: str, password: str, *, duration: int = 6,
                channel_mask: int = p.ALL_CHANNELS_MASK, pana_timeout_s: float = 45.0) -> m.RouteBLink:
        """The route-B pairing sequence; returns the meter's link (``link.address`` is its IPv6)."""
        self.reset()
        self.get_version()
        self.initial_settings(p.CHANNELS[0])
        self.set_credentials(rbid, password)
        found = [r for r in self.scan(duration, channel_mask, rbid[-8:]) if r.beacons]
        if not found:
            raise J11Timeout(f"no meter answered the active scan (duration {duration})")
        self.initial_settings(found[0].channel)
        link = self.start_route_b()
        self.open_udp_port(3610)
        self.start_pana(pana_timeout_s)
        return link
