"""SKSTACK IP driver (pyserial): a ``RadioModem`` on a real or emulated Wi-SUN dongle.

Works on anything pyserial opens (``/dev/ttyUSB0``, a pty path, ``loop://``) or on an already
open serial-like object (``InProcessPort`` in tests). Both dialects: "se" (BP35A1 / RL7023 IPS)
and "c2" (BP35C2 / RS-WSUHA-P / RL7023 DSS); the dialect comes from EINFO's last token
(``identify()``), the payload format from ROPT (binary or hex; no WOPT flash write needed), and
on C2 the driver turns on SA2 for the LQI token.

Commands are queued and sent one at a time; each returns a ``SkTicket``. ``poll(now)`` is
non-blocking (reads ``in_waiting`` bytes) and returns typed events (``sumame.hal.radio``);
a scheduler task does ``await readable(modem, t)`` then ``modem.poll()``. ``SkTicket.wait()``
and the ``*_and_wait`` helpers block (tools, tests). ``FAIL ERxx`` becomes the typed errors of
``skstack_protocol`` (all ``CommsError``); garbage lines are counted in ``stats`` and logged.
"""
from __future__ import annotations

import logging
import time
from collections import Counter, deque
from typing import Callable

from sumame.hal.errors import CommsError
from sumame.hal.radio import (AuthFailed, CommandFailed, ModemNotice, PanFound, RadioIdentity, ScanDone,
                              SessionExpired, SessionJoined, SessionTerminated, TxLimit, UdpReceived,
                              UdpSent)

from .skstack_protocol import (EAppVer, EInfo, EPong, ESReg, EVer, Echo, Event, Fail, Garbage, HostParser, Layout,
                               Ok, PanDesc, RxUdp, SkTimeout, Text, error_for, link_local_text)
from .serial_port import PORT_ERRORS, open_port

log = logging.getLogger("sumame.drivers.skstack")

_EVENT_MAP = {
    0x22: lambda e: ScanDone(),
    0x24: lambda e: AuthFailed(e.addr or ""),
    0x25: lambda e: SessionJoined(e.addr or ""),
    0x26: lambda e: SessionTerminated(e.addr or "", by_peer=True),
    0x27: lambda e: SessionTerminated(e.addr or ""),
    0x28: lambda e: SessionTerminated(e.addr or "", timed_out=True),
    0x29: lambda e: SessionExpired(e.addr or ""),
    0x32: lambda e: TxLimit(True),
    0x33: lambda e: TxLimit(False),
}


def _as_text(item) -> str:
    """The response line an item came from (EVER/EAPPVER/EINFO/ESREG/plain text)."""
    if isinstance(item, Text):
        return item.line
    if isinstance(item, EVer):
        return f"EVER {item.version}"
    if isinstance(item, EAppVer):
        return f"EAPPVER {item.version}"
    if isinstance(item, EInfo):
        return f"EINFO {item.ip} {item.mac} {item.channel:02X} {item.pan_id:04X} {item.last}"
    if isinstance(item, ESReg):
        return f"ESREG {item.value}"
    return repr(item)


class SkTicket:
    """A queued SKSTACK command (``sumame.hal.radio.Ticket``)."""

    def __init__(self, modem: "SkstackModem", command: str, payload: bytes | None, kind: str,
                 timeout_s: float, on_done: Callable[["SkTicket"], None] | None):
        self.modem, self.command, self.payload, self.kind = modem, command, payload, kind
        self.timeout_s, self.on_done = timeout_s, on_done
        self.done = False
        self.error: Exception | None = None
        self.lines: list[str] = []
        self.items: list = []
        self.value: str | None = None      # "OK xx" value (ROPT, RUART)
        self.sent: UdpSent | None = None   # EVENT 21 of an SKSENDTO
        self.deadline: float | None = None

    @property
    def name(self) -> str:
        return self.command.split(" ")[0]

    def wait(self, timeout_s: float = 10.0) -> "SkTicket":
        self.modem._wait(lambda: self.done, timeout_s, f"{self.name} did not complete")
        if self.error is not None:
            raise self.error
        return self

    def __repr__(self) -> str:
        state = "done" if self.done else "pending"
        return f"<SkTicket {self.name} {state}{' ' + repr(self.error) if self.error else ''}>"


class SkstackModem:
    """See the module docstring. ``clock``: seconds for command timeouts (``time.monotonic``
    by default; pass ``timeline.now`` / ``clock.now`` in emulation so virtual time counts)."""

    def __init__(self, port, *, baudrate: int = 115200, command_timeout_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, read_timeout_s: float = 0.05,
                 dialect: str | None = None):
        port = open_port(port, baudrate=baudrate, read_timeout_s=read_timeout_s, what="Wi-SUN dongle")
        self.port = port
        self.forced_dialect = dialect
        """"se" / "c2" from the board ([wisun] dialect): EINFO's last token misleads on some sticks."""
        self.clock = clock
        self.command_timeout_s = command_timeout_s
        self.parser = HostParser(Layout("c2", rssi=False, hex_payload=True))
        self.stats: Counter[str] = Counter()
        self.identity: RadioIdentity | None = None
        self._queue: deque[SkTicket] = deque()
        self._current: SkTicket | None = None
        self._events: list = []

    # ------------------------------------------------------------------ RadioModem basics
    @property
    def dialect(self) -> str:
        return self.parser.layout.dialect

    def fileno(self) -> int:
        return self.port.fileno()

    def close(self) -> None:
        try:
            self.port.close()
        except PORT_ERRORS:
            pass

    def poll(self, now: float | None = None) -> list:
        """Non-blocking: read what is there, advance the queue, return the events."""
        self._read(block=False)
        self._check_timeout(self.clock() if now is None else now)
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------ queueing
    def command(self, text: str, *, payload: bytes | None = None, kind: str = "ok",
                timeout_s: float | None = None, on_done: Callable[[SkTicket], None] | None = None) -> SkTicket:
        """Queue one command line (without terminator). kind: "ok" (ends at OK/FAIL), "ll64"
        (ends at the address line), "cr" (product command, CR-terminated)."""
        ticket = SkTicket(self, text, payload, kind, timeout_s or self.command_timeout_s, on_done)
        self._queue.append(ticket)
        self._advance()
        return ticket

    def _advance(self) -> None:
        if self._current is not None or not self._queue:
            return
        ticket = self._current = self._queue.popleft()
        if ticket.payload is not None:
            data = ticket.command.encode("ascii") + b" " + ticket.payload
        else:
            data = ticket.command.encode("ascii") + (b"\r" if ticket.kind == "cr" else b"\r\n")
        ticket.deadline = self.clock() + ticket.timeout_s
        try:
            self.port.write(data)
            self.port.flush()
        except PORT_ERRORS as exc:
            self._finish(ticket, CommsError(f"{ticket.name}: write failed: {exc}"))

    def _finish(self, ticket: SkTicket, error: Exception | None = None) -> None:
        ticket.done, ticket.error = True, error
        if self._current is ticket:
            self._current = None
        if error is not None:
            self.stats["command-failed"] += 1
            log.warning("SKSTACK %s failed: %s", ticket.name, error)
            self._events.append(CommandFailed(ticket.name, error))
        if ticket.on_done is not None and error is None:
            ticket.on_done(ticket)
        self._advance()

    def _check_timeout(self, now: float) -> None:
        t = self._current
        if t is not None and t.deadline is not None and now > t.deadline:
            self._finish(t, SkTimeout(f"{t.name}: no answer within {t.timeout_s:g} s"))

    # ------------------------------------------------------------------ reading
    def _read(self, block: bool, timeout_s: float = 0.05) -> None:
        try:
            n = self.port.in_waiting
            if n:
                data = self.port.read(n)
            elif block:
                old = self.port.timeout
                self.port.timeout = timeout_s
                try:
                    data = self.port.read(1)
                finally:
                    self.port.timeout = old
            else:
                data = b""
        except PORT_ERRORS as exc:
            self.stats["port-error"] += 1
            error = CommsError(f"Wi-SUN dongle port failed: {exc}")
            if self._current is not None:
                self._finish(self._current, error)
            raise error from exc
        if data:
            self.parser.push(data)
            while (item := self.parser.pop()) is not None:
                self._handle(item)

    def _wait(self, done: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = self.clock() + timeout_s
        while not done():
            now = self.clock()
            self._check_timeout(now)
            if done():
                return
            if now >= deadline:
                raise SkTimeout(f"{what} within {timeout_s:g} s")
            self._read(block=True, timeout_s=min(0.05, max(0.001, deadline - now)))

    def wait_event(self, match: Callable[[object], bool], timeout_s: float):
        """Block until an event satisfying ``match`` arrives; returns it (removed from the
        pending events; the others stay for ``poll()``)."""
        found: list = []

        def check() -> bool:
            for i, ev in enumerate(self._events):
                if match(ev):
                    found.append(self._events.pop(i))
                    return True
            return False

        self._wait(check, timeout_s, "expected event did not arrive")
        return found[0]

    # ------------------------------------------------------------------ items
    def _handle(self, item) -> None:
        t = self._current
        if isinstance(item, Garbage):
            self.stats["garbage"] += 1
            log.warning("SKSTACK: ignored %r (%s)", item.data[:60], item.reason)
            return
        if isinstance(item, Echo):
            return
        if isinstance(item, RxUdp):
            self._events.append(UdpReceived(item.sender, item.dest, item.rport, item.lport, item.sender_lla,
                                            item.secured, item.payload, item.rssi, item.side))
            return
        if isinstance(item, PanDesc):
            self._events.append(PanFound(item.channel, item.channel_page, item.pan_id, item.addr, item.lqi,
                                         item.pairing_id, item.side))
            return
        if isinstance(item, Event):
            if item.num == 0x21:
                sent = UdpSent(item.addr or "", item.param if item.param is not None else 1)
                if t is not None and t.name == "SKSENDTO" and t.sent is None:
                    t.sent = sent
                self._events.append(sent)
            elif item.num == 0x20:
                pass  # EPANDESC follows
            elif item.num in _EVENT_MAP:
                self._events.append(_EVENT_MAP[item.num](item))
            else:
                self._events.append(ModemNotice(f"EVENT {item.num:02X} {item.addr or ''}".strip()))
            return
        if isinstance(item, EPong):
            self._events.append(ModemNotice(f"EPONG {item.addr}"))
            return
        if t is None:
            self.stats["unsolicited"] += 1
            log.info("SKSTACK: unsolicited %r", item)
            return
        if isinstance(item, Ok):
            t.value = item.value
            self._finish(t)
        elif isinstance(item, Fail):
            self._finish(t, error_for(t.name, item.code))
        else:
            t.items.append(item)
            t.lines.append(_as_text(item))
            if isinstance(item, Text) and t.kind == "ll64" and item.line.startswith("FE80:"):
                t.value = item.line
                self._finish(t)

    # ------------------------------------------------------------------ start-up
    def identify(self, timeout_s: float = 10.0) -> RadioIdentity:
        """SKVER, SKINFO, ROPT (blocking): learn dialect and payload format; C2: SA2 1."""
        ver = self.command("SKVER").wait(timeout_s)
        info_t = self.command("SKINFO").wait(timeout_s)
        version = next((i.version for i in ver.items if isinstance(i, EVer)), "")
        info = next((i for i in info_t.items if isinstance(i, EInfo)), None)
        if info is None:
            raise CommsError("SKINFO gave no EINFO line")
        hex_payload = True
        try:
            ropt = self.command("ROPT", kind="cr").wait(timeout_s)
            hex_payload = int(ropt.value or "0", 16) & 1 == 1
        except CommsError as exc:
            if getattr(exc, "code", None) != 4:
                raise
        dialect = self.forced_dialect or info.dialect
        self.parser.layout = Layout(dialect, False, hex_payload)
        if dialect == "c2":
            self._set_sa2().wait(timeout_s)
        self.identity = RadioIdentity(info.mac, info.ip, version, dialect, info.channel, info.pan_id)
        return self.identity

    def _set_sa2(self) -> SkTicket:
        def on(t):
            self.parser.layout = Layout("c2", True, self.parser.layout.hex_payload)
        return self.command("SKSREG SA2 1", on_done=on)

    # ------------------------------------------------------------------ RadioModem commands
    def reset(self) -> SkTicket:
        def on(t):
            self.parser.layout = Layout(self.dialect, False, self.parser.layout.hex_payload)
        ticket = self.command("SKRESET", on_done=on)
        if self.dialect == "c2":
            ticket = self._set_sa2()
        return ticket

    def set_credentials(self, rbid: str, password: str) -> SkTicket:
        if len(rbid) != 32 or not rbid.isascii():
            raise ValueError("route-B ID must be 32 ASCII characters")
        if not 1 <= len(password) <= 32 or not password.isascii() or " " in password:
            raise ValueError("route-B password must be 1-32 ASCII characters without spaces")
        self.command(f"SKSETPWD {len(password):X} {password}")
        return self.command(f"SKSETRBID {rbid}")

    def start_pan(self, channel: int, pan_id: int, *, lifetime_s: int = 900, auto_reauth: bool = True) -> SkTicket:
        """Become the PAN coordinator / PANA authenticator (the meter's side), in the order the
        manual's B-route tutorial and the public coordinator scripts use: echo off (SFE 0),
        channel, PAN ID, session lifetime and auto-disconnect, beacon answers on (S15 1) —
        asked for explicitly, although the manual says SKSTART implies it — then SKSTART."""
        if not 33 <= channel <= 60:
            raise ValueError("channel must be 33-60")
        if not 0 <= pan_id < 0xFFFF:
            raise ValueError("PAN ID must be 0-0xFFFE")
        self.command("SKSREG SFE 0")
        self.command(f"SKSREG S2 {channel:02X}")
        self.command(f"SKSREG S3 {pan_id:04X}")
        self.command(f"SKSREG S16 {max(60, lifetime_s):X}")
        self.command(f"SKSREG S17 {int(auto_reauth)}")
        self.command("SKSREG S15 1")
        return self.command("SKSTART")

    def scan(self, duration: int = 6, channel_mask: int = 0xFFFFFFFF) -> SkTicket:
        side = " 0" if self.dialect == "c2" else ""
        return self.command(f"SKSCAN 2 {channel_mask:08X} {duration:X}{side}")

    def join(self, pan: PanFound) -> SkTicket:
        self.command(f"SKSREG S2 {pan.channel:02X}")
        self.command(f"SKSREG S3 {pan.pan_id:04X}")
        return self.command(f"SKJOIN {link_local_text(pan.mac)}")

    def send_udp(self, dst: str, port: int, payload: bytes, *, secured: bool = True, handle: int = 1) -> SkTicket:
        if not 1 <= len(payload) <= 0x4D0:
            raise ValueError("UDP payload must be 1-1232 octets")
        side = " 0" if self.dialect == "c2" else ""
        return self.command(f"SKSENDTO {handle} {dst} {port:04X} {1 if secured else 0}{side} {len(payload):04X}",
                            payload=bytes(payload))

    def terminate(self) -> SkTicket:
        return self.command("SKTERM")

    def link_local(self, mac: str) -> SkTicket:
        """SKLL64 (no OK line; ends at the address)."""
        return self.command(f"SKLL64 {mac}", kind="ll64")

    # ------------------------------------------------------------------ blocking helpers
    def scan_and_wait(self, duration: int = 6, channel_mask: int = 0xFFFFFFFF,
                      timeout_s: float = 120.0) -> list[PanFound]:
        self.scan(duration, channel_mask).wait(timeout_s)
        self.wait_event(lambda e: isinstance(e, ScanDone), timeout_s)
        found = [e for e in self._events if isinstance(e, PanFound)]
        self._events = [e for e in self._events if not isinstance(e, PanFound)]
        return found

    def join_and_wait(self, pan: PanFound, timeout_s: float = 60.0) -> SessionJoined:
        self.join(pan).wait(timeout_s)
        ev = self.wait_event(lambda e: isinstance(e, (SessionJoined, AuthFailed)), timeout_s)
        if isinstance(ev, AuthFailed):
            raise CommsError(f"PANA authentication with {ev.peer} failed (EVENT 24)")
        return ev
