"""SKSTACK IP text protocol: the pure line/event codec shared by the driver and the emulated dongle.

Host side: ``HostParser.feed(bytes)`` turns what a dongle prints into typed items (``Ok``,
``Fail``, ``Echo``, ``Event``, ``EVer``, ``EInfo``, ``ESReg``, ``PanDesc``, ``RxUdp``, ``Text``),
coping with reads split anywhere, CR-only product-command replies (``OK 01\\r``), binary ERXUDP
payloads that contain CR/LF (WOPT bit0 = 0) and garbage (reported as ``Garbage``, counted).
Device side: the ``fmt_*`` functions print events exactly as real modules do (reference §6);
``DeviceParser`` (``skstack_device_parser``) splits the host's byte stream into echo, command
lines and SKSENDTO headers + binary data.

Dialects: "se" (BP35A1 / RL7023 IPS: no SIDE tokens) and "c2" (BP35C2 / RS-WSUHA-P / RL7023
DSS: SIDE tokens; with SA2=1 an RSSI/LQI token in ERXUDP).
"""
from __future__ import annotations

from dataclasses import dataclass

from sumame.hal.errors import CommsError

# --------------------------------------------------------------------------- errors


class SkstackError(CommsError):
    """A ``FAIL ERxx`` answer from the module; ``code`` is the decimal number after ER."""

    code = 0

    def __init__(self, command: str = "", code: int | None = None, detail: str = ""):
        if code is not None:
            self.code = code
        self.command = command
        super().__init__(f"{command or 'command'}: FAIL ER{self.code:02d}{' ' + detail if detail else ''}")


class SkUnsupportedCommand(SkstackError):
    """ER04: the module does not know the command."""
    code = 4


class SkArgumentCount(SkstackError):
    """ER05: wrong number of arguments."""
    code = 5


class SkArgumentValue(SkstackError):
    """ER06: argument format or range."""
    code = 6


class SkUartInputError(SkstackError):
    """ER09: UART input error."""
    code = 9


class SkExecutionFailed(SkstackError):
    """ER10: accepted but could not be executed (no session, unused handle ...)."""
    code = 10


class SkTimeout(CommsError):
    """The module did not answer a command in time."""


class SkProtocolError(CommsError):
    """The module printed something the protocol does not allow at this point."""


FAIL_CLASSES = {c.code: c for c in (SkUnsupportedCommand, SkArgumentCount, SkArgumentValue,
                                    SkUartInputError, SkExecutionFailed)}


def error_for(command: str, code: int) -> SkstackError:
    cls = FAIL_CLASSES.get(code, SkstackError)
    return cls(command, code)


# --------------------------------------------------------------------------- items


@dataclass(frozen=True)
class Ok:
    value: str | None = None       # "OK 01" -> "01"


@dataclass(frozen=True)
class Fail:
    code: int
    line: str


@dataclass(frozen=True)
class Echo:
    line: str


@dataclass(frozen=True)
class Event:
    num: int
    addr: str | None
    side: int | None = None
    param: int | None = None


@dataclass(frozen=True)
class EVer:
    version: str


@dataclass(frozen=True)
class EAppVer:
    version: str


@dataclass(frozen=True)
class EInfo:
    ip: str
    mac: str
    channel: int
    pan_id: int
    last: str      # SE: ADDR16 "FFFE"; C2: side "0"

    @property
    def dialect(self) -> str:
        return "se" if self.last.upper() == "FFFE" else "c2"


@dataclass(frozen=True)
class ESReg:
    value: str


@dataclass(frozen=True)
class EPong:
    addr: str


@dataclass(frozen=True)
class PanDesc:
    channel: int
    channel_page: int
    pan_id: int
    addr: str
    lqi: int
    side: int | None
    pairing_id: str | None


@dataclass(frozen=True)
class RxUdp:
    sender: str
    dest: str
    rport: int
    lport: int
    sender_lla: str
    secured: bool
    payload: bytes
    rssi: int | None = None
    side: int | None = None


@dataclass(frozen=True)
class Text:
    """A line that is legal but carries no typed meaning here (table rows, SKLL64 answers)."""

    line: str


@dataclass(frozen=True)
class Garbage:
    """Bytes that are not a legal line (noise, a half line, a bad ERXUDP header)."""

    data: bytes
    reason: str


@dataclass(frozen=True)
class Layout:
    """How the host reads ERXUDP: dialect "se"/"c2", rssi token present (C2 + SA2=1),
    payload as hex ASCII (WOPT bit0 = 1) or binary."""

    dialect: str = "c2"
    rssi: bool = False
    hex_payload: bool = True

    @property
    def header_tokens(self) -> int:
        """Tokens after ``ERXUDP`` up to and including DATALEN."""
        return 7 + (1 if self.dialect == "c2" else 0) + (1 if self.rssi and self.dialect == "c2" else 0)


def _hex(token: str, what: str) -> int:
    try:
        return int(token, 16)
    except ValueError:
        raise SkProtocolError(f"{what} is not hex: {token!r}") from None


_PANDESC_KEYS = ("Channel", "Channel Page", "Pan ID", "Addr", "LQI", "Side", "PairID")


class HostParser:
    """Streaming parser of module output. ``layout`` may be changed between feeds."""

    MAX_LINE = 4096

    def __init__(self, layout: Layout | None = None):
        self.layout = layout or Layout()
        self._buf = bytearray()
        self._swallow_lf = False
        self._pandesc: dict[str, str] | None = None
        self.garbage = 0

    def feed(self, data: bytes) -> list:
        """Add bytes and return every complete item."""
        self.push(data)
        out: list = []
        while (item := self.pop()) is not None:
            out.append(item)
        return out

    def push(self, data: bytes) -> None:
        """Add bytes without parsing (use ``pop()`` to take items one at a time, e.g. when
        the layout changes between two items)."""
        self._buf += data

    def pop(self):
        """The next complete item, or None."""
        while True:
            item = self._next()
            if item is not _SKIP:
                return item

    def flush_pandesc(self) -> list:
        if self._pandesc is None:
            return []
        pd, self._pandesc = self._pandesc, None
        return [self._make_pandesc(pd)]

    def _next(self):
        buf = self._buf
        if self._swallow_lf and buf[:1] == b"\n":
            del buf[:1]
        if buf:
            self._swallow_lf = False
        if not buf:
            return None
        if buf.startswith(b"ERXUDP "):
            return self._erxudp()
        idx = -1
        for i, b in enumerate(buf):
            if b in (10, 13):
                idx = i
                break
        if idx < 0:
            if len(buf) > self.MAX_LINE:
                data = bytes(buf)
                buf.clear()
                self.garbage += 1
                return Garbage(data, "line longer than 4096 octets")
            return None
        raw = bytes(buf[:idx])
        term = buf[idx]
        del buf[:idx + 1]
        if term == 13:
            if buf[:1] == b"\n":
                del buf[:1]
            elif not buf:
                self._swallow_lf = True
        return self._line(raw)

    def _erxudp(self):
        buf = self._buf
        n = self.layout.header_tokens
        parts, pos = [], 7
        while len(parts) < n:
            sp = buf.find(b" ", pos)
            nl = buf.find(b"\r", pos)
            if nl >= 0 and (sp < 0 or nl < sp):
                line = bytes(buf[:nl])
                del buf[:nl + 1]
                self._swallow_lf = True
                if buf[:1] == b"\n":
                    del buf[:1]
                    self._swallow_lf = False
                self.garbage += 1
                return Garbage(line, f"ERXUDP with fewer than {n + 1} fields for layout {self.layout}")
            if sp < 0:
                if len(buf) > 200:
                    data = bytes(buf)
                    buf.clear()
                    self.garbage += 1
                    return Garbage(data, "ERXUDP header too long")
                return None
            parts.append(bytes(buf[pos:sp]).decode("ascii", "replace"))
            pos = sp + 1
        try:
            length = int(parts[-1], 16)
        except ValueError:
            return self._bad_erxudp(pos, f"DATALEN {parts[-1]!r} is not hex")
        width = length * 2 if self.layout.hex_payload else length
        if len(buf) < pos + width + 2:
            return None
        raw = bytes(buf[pos:pos + width])
        tail = bytes(buf[pos + width:pos + width + 2])
        del buf[:pos + width]
        if tail == b"\r\n":
            del buf[:2]
        if self.layout.hex_payload:
            try:
                payload = bytes.fromhex(raw.decode("ascii"))
            except ValueError:
                self.garbage += 1
                return Garbage(raw, "ERXUDP DATA is not hex")
        else:
            payload = raw
        try:
            return self._make_rx(parts, payload)
        except (SkProtocolError, IndexError) as exc:
            self.garbage += 1
            return Garbage(b" ".join(p.encode() for p in parts), str(exc))

    def _bad_erxudp(self, pos, reason):
        data = bytes(self._buf[:pos])
        del self._buf[:pos]
        self.garbage += 1
        return Garbage(data, reason)

    def _make_rx(self, p: list[str], payload: bytes) -> RxUdp:
        rssi = side = None
        if self.layout.dialect == "c2":
            if self.layout.rssi:
                rssi, sec, side = _hex(p[5], "RSSI"), p[6], _hex(p[7], "SIDE")
            else:
                sec, side = p[5], _hex(p[6], "SIDE")
        else:
            sec = p[5]
        if sec not in ("0", "1"):
            raise SkProtocolError(f"SECURED must be 0 or 1, got {sec!r}")
        return RxUdp(p[0], p[1], _hex(p[2], "RPORT"), _hex(p[3], "LPORT"), p[4], sec == "1",
                     payload, rssi, side)

    def _line(self, raw: bytes):
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            self.garbage += 1
            return Garbage(raw, "non-ASCII line")
        if self._pandesc is not None:
            if line.startswith("  ") and ":" in line:
                key, _, value = line[2:].partition(":")
                self._pandesc[key] = value
                if key == "PairID":
                    return self.flush_pandesc()[0]
                return _SKIP
            pending = self.flush_pandesc()[0]
            self._buf[:0] = raw + b"\r\n"
            return pending
        if line == "":
            return _SKIP
        try:
            return self._classify(line)
        except (SkProtocolError, ValueError, IndexError) as exc:
            self.garbage += 1
            return Garbage(raw, str(exc))

    def _classify(self, line: str):
        tok = line.split(" ")
        head = tok[0]
        if line == "OK" or (head == "OK" and len(tok) == 2):
            return Ok(tok[1] if len(tok) == 2 else None)
        if head == "FAIL":
            if len(tok) != 2 or not tok[1].startswith("ER") or not tok[1][2:].isdigit():
                raise SkProtocolError(f"malformed FAIL line {line!r}")
            return Fail(int(tok[1][2:]), line)
        if head.startswith("SK") or head in ("ROPT", "WOPT", "RUART", "WUART"):
            return Echo(line)
        if head == "EVENT":
            num = _hex(tok[1], "EVENT number")
            rest = tok[2:]
            addr = rest.pop(0) if rest and ":" in rest[0] else None
            side = param = None
            if self.layout.dialect == "c2" and addr is not None and rest:
                side = _hex(rest.pop(0), "SIDE")
            if rest:
                param = _hex(rest.pop(0), "PARAM")
            if rest:
                raise SkProtocolError(f"EVENT with extra tokens {line!r}")
            return Event(num, addr, side, param)
        if head == "EPANDESC" and len(tok) == 1:
            self._pandesc = {}
            return _SKIP
        if head == "EVER":
            return EVer(" ".join(tok[1:]))
        if head == "EAPPVER":
            return EAppVer(" ".join(tok[1:]))
        if head == "EINFO":
            if len(tok) != 6:
                raise SkProtocolError(f"EINFO needs 5 fields: {line!r}")
            return EInfo(tok[1], tok[2], _hex(tok[3], "channel"), _hex(tok[4], "PAN ID"), tok[5])
        if head == "ESREG" and len(tok) == 2:
            return ESReg(tok[1])
        if head == "EPONG" and len(tok) == 2:
            return EPong(tok[1])
        if all(32 <= ord(c) < 127 for c in line):
            return Text(line)
        raise SkProtocolError(f"unprintable line {line!r}")

    def _make_pandesc(self, d: dict[str, str]) -> PanDesc | Garbage:
        try:
            return PanDesc(_hex(d["Channel"], "Channel"), _hex(d["Channel Page"], "Channel Page"),
                           _hex(d["Pan ID"], "Pan ID"), d["Addr"], _hex(d["LQI"], "LQI"),
                           _hex(d["Side"], "Side") if "Side" in d else None, d.get("PairID"))
        except (KeyError, SkProtocolError) as exc:
            self.garbage += 1
            return Garbage(repr(d).encode(), f"incomplete EPANDESC: {exc}")


_SKIP = object()


# --------------------------------------------------------------------------- device side output


def fmt_event(num: int, addr: str | None, dialect: str, param: int | None = None, side: int = 0) -> bytes:
    parts = [f"EVENT {num:02X}"]
    if addr is not None:
        parts.append(addr)
        if dialect == "c2":
            parts.append(str(side))
    if param is not None:
        parts.append(f"{param:02X}")
    return (" ".join(parts) + "\r\n").encode()


def fmt_pandesc(channel: int, pan_id: int, addr: str, lqi: int, dialect: str,
                pairing_id: str | None, side: int = 0) -> bytes:
    lines = ["EPANDESC", f"  Channel:{channel:02X}", "  Channel Page:09", f"  Pan ID:{pan_id:04X}",
             f"  Addr:{addr}", f"  LQI:{lqi:02X}"]
    if dialect == "c2":
        lines.append(f"  Side:{side}")
    if pairing_id is not None:
        lines.append(f"  PairID:{pairing_id}")
    return ("\r\n".join(lines) + "\r\n").encode()


def fmt_erxudp(rx: RxUdp, layout: Layout) -> bytes:
    head = [rx.sender, rx.dest, f"{rx.rport:04X}", f"{rx.lport:04X}", rx.sender_lla]
    if layout.dialect == "c2":
        if layout.rssi:
            head.append(f"{rx.rssi or 0:02X}")
        head += ["1" if rx.secured else "0", str(rx.side or 0)]
    else:
        head.append("1" if rx.secured else "0")
    head.append(f"{len(rx.payload):04X}")
    data = rx.payload.hex().upper().encode() if layout.hex_payload else rx.payload
    return b"ERXUDP " + " ".join(head).encode() + b" " + data + b"\r\n"


def fmt_einfo(ip: str, mac: str, channel: int, pan_id: int, dialect: str) -> bytes:
    last = "FFFE" if dialect == "se" else "0"
    return f"EINFO {ip} {mac} {channel:02X} {pan_id:04X} {last}\r\n".encode()


# --------------------------------------------------------------------------- device side input
# (the module's view of the host's bytes lives in skstack_device_parser; re-exported here)

from .skstack_device_parser import (BadSendTo, CommandLine, DeviceParser, EchoBytes, SendToData,  # noqa: E402,F401
                                    SendToHeader)


def link_local_text(mac_hex: str) -> str:
    """SKLL64: ``001D129012345678`` -> ``FE80:0000:0000:0000:021D:1290:1234:5678``."""
    if len(mac_hex) != 16:
        raise ValueError("MAC must be 16 hex digits")
    b = bytes.fromhex(mac_hex)
    iid = bytes([b[0] ^ 0x02]) + b[1:]
    return "FE80:0000:0000:0000:" + ":".join(iid[i:i + 2].hex().upper() for i in range(0, 8, 2))
