"""Device side of the SKSTACK IP UART: what a module makes of the host's byte stream.

``DeviceParser.feed(bytes)`` returns, in arrival order:

* ``EchoBytes`` — the octets a module with SFE=1 echoes, as they arrive (byte by byte: a
  half-typed line is echoed at once, reference §2 "echo is byte-by-byte and immediate"); never
  the binary DATA of SKSENDTO;
* ``CommandLine`` — one line ended by CR LF, CR (product commands) or, when longer than 1024
  octets, none (the module's UART input error);
* ``SendToHeader`` — the SKSTACK header of an SKSENDTO is complete (up to the space after
  DATALEN) and DATALEN is 4 hex digits in 1..0x4D0: DATALEN raw octets follow;
* ``SendToData`` — those octets have all arrived;
* ``BadSendTo`` — the header is complete but DATALEN is not 4 hex digits in range: the module
  fails at once (it cannot know where data would end); what follows is read as new input.

``reset()`` clears the line buffer (the host closed the port: a USB CDC module sees its UART
input stop and starts a fresh line when the port is opened again).
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 1024
MAX_SENDTO = 0x4D0
_SENDTO = b"SKSENDTO "


@dataclass(frozen=True)
class EchoBytes:
    data: bytes


@dataclass(frozen=True)
class CommandLine:
    """One command line from the host. ``terminator`` is b"\\r\\n", b"\\r" or b"" (overlong)."""

    text: str
    terminator: bytes
    raw: bytes


@dataclass(frozen=True)
class SendToHeader:
    tokens: list[str]
    header: bytes
    length: int


@dataclass(frozen=True)
class SendToData:
    """An SKSENDTO command: its header tokens and the DATALEN raw octets that followed."""

    tokens: list[str]
    data: bytes
    header: bytes


@dataclass(frozen=True)
class BadSendTo:
    tokens: list[str]
    header: bytes


class DeviceParser:
    """See the module docstring. ``sendto_args`` = SKSENDTO arguments before DATA (5 SE, 6 C2)."""

    def __init__(self, sendto_args: int = 6):
        self.sendto_args = sendto_args
        self.reset()

    def reset(self) -> None:
        self._buf = bytearray()
        self._echoed = 0                       # octets at the start of _buf already echoed
        self._data_need: int | None = None
        self._header: tuple[list[str], bytes] | None = None
        self._swallow_lf = False

    @property
    def receiving_data(self) -> bool:
        return self._data_need is not None

    def pending_header(self) -> bytes:
        """Bytes of a not-yet-terminated line (what an echoing module has shown so far)."""
        return bytes(self._buf) if self._data_need is None else b""

    def feed(self, data: bytes) -> list:
        self._buf += data
        out: list = []
        while (item := self._next(out)) is not None:
            out.append(item)
        if self._data_need is None:
            end = self._echo_limit()
            if end > self._echoed:
                out.append(EchoBytes(bytes(self._buf[self._echoed:end])))
                self._echoed = end
        return out

    # ------------------------------------------------------------------ internals
    def _consume(self, n: int) -> bytes:
        taken = bytes(self._buf[:n])
        del self._buf[:n]
        self._echoed = max(0, self._echoed - n)
        return taken

    def _echo_rest(self, out: list, upto: int) -> None:
        if upto > self._echoed:
            out.append(EchoBytes(bytes(self._buf[self._echoed:upto])))
            self._echoed = upto

    def _header_end(self) -> int | None:
        """Length of a complete SKSENDTO header at the start of the buffer, else None."""
        buf = self._buf
        if not buf.startswith(_SENDTO):
            return None
        pos, spaces = 0, 0
        while spaces < self.sendto_args + 1:
            sp = buf.find(b" ", pos)
            line_end = min((i for i in (buf.find(b"\r", pos), buf.find(b"\n", pos)) if i >= 0), default=-1)
            if sp < 0 or (0 <= line_end < sp):
                return None
            pos, spaces = sp + 1, spaces + 1
        return pos

    def _echo_limit(self) -> int:
        """How much of the unterminated buffer is line/header (echoed), not SKSENDTO data."""
        end = self._header_end()
        return len(self._buf) if end is None else end

    def _next(self, out: list):
        buf = self._buf
        if self._data_need is not None:
            if len(buf) < self._data_need:
                return None
            data = self._consume(self._data_need)
            tokens, header = self._header
            self._data_need = self._header = None
            self._echoed = 0
            return SendToData(tokens, data, header)
        if self._swallow_lf and buf[:1] == b"\n":
            self._echo_rest(out, 1)
            self._consume(1)
        if buf:
            self._swallow_lf = False
        if not buf:
            return None
        hdr_len = self._header_end()
        if hdr_len is not None:
            self._echo_rest(out, hdr_len)
            header = self._consume(hdr_len)
            args = [t.decode("ascii", "replace") for t in header[len(_SENDTO):-1].split(b" ")]
            dl = args[-1]
            if len(dl) == 4 and all(c in "0123456789ABCDEFabcdef" for c in dl) and 0 < int(dl, 16) <= MAX_SENDTO:
                self._data_need, self._header = int(dl, 16), (args, header)
                return SendToHeader(args, header, int(dl, 16))
            return BadSendTo(args, header)
        for i, b in enumerate(buf):
            if b in (10, 13):
                end = i + 1
                term = bytes(buf[i:i + 1])
                if term == b"\r" and buf[i + 1:i + 2] == b"\n":
                    end, term = i + 2, b"\r\n"
                elif term == b"\r" and end == len(buf):
                    self._swallow_lf = True
                self._echo_rest(out, end)
                raw = self._consume(end)[:i]
                return CommandLine(raw.decode("latin-1"), term, raw)
        if len(buf) > MAX_LINE:
            self._echo_rest(out, len(buf))
            raw = self._consume(len(buf))
            return CommandLine(raw.decode("latin-1"), b"", raw)
        return None
