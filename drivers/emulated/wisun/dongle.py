"""Emulated USB Wi-SUN dongle: the device side of SKSTACK IP (reference skstack-ip.md).

``EmulatedDongle`` parses the host's bytes (``DeviceParser``), echoes them byte by byte as
they arrive while SFE=1 (never SKSENDTO data), keeps
the registers (§5), answers per personality (§1, §14: EVER/EAPPVER/EINFO, SIDE tokens, SA2
RSSI token, WOPT binary/hex payloads, ROPT) and follows the ordering rules of §13 (SKSCAN: OK,
then EVENT 20 + EPANDESC per beacon, EVENT 22; SKSENDTO: echo header + CRLF, EVENT 21, OK;
SKJOIN: OK, EVENT 21 02, EVENT 02, PANA ERXUDP lines, EVENT 25/24). Malformed commands get the
real FAIL codes: ER04 unknown command, ER05 argument count, ER06 argument value, ER09 UART
input error (non-printable bytes, over-long line), ER10 execution failure. A stray CR LF after
SKSENDTO data is tolerated (an empty line prints nothing but its echo). C2-class modules accept
a trailing space before CR LF (a real EVER 1.5.2 answers ``SKSCAN 2 FFFFFFFF 4 0 `` with OK,
S14b); on BP35A1 the extra empty argument still counts (ER05). A malformed SKSENDTO header fails
at once (ER06 when DATALEN is not 4 hex digits in 1..0x4D0; other fields as soon as the header
is complete, the data that follows is swallowed); an SKSENDTO line that ends before DATALEN and
its space gets ER05. The ED scan prints OK, then ``EVENT 1F <own> [side]``, ``EEDSCAN`` and the
channel/RSSI pairs (1.2.10 firmware adds an empty line, S7). RUART answers ``OK 80`` on C2 (a real
RS-WSUHA-P, S12), ``OK 00`` on BP35A1 (manual default). Timing (UART pacing, module processing,
MAC, PANA, scans) comes from ``dongle_timing``; flash-kept state (MAC, WOPT, WUART, SKSAVE) from
``dongle_flash`` (a JSON file in the state dir when ``flash_path`` is given). Rarely used
commands (tables, TCP, manual security, SKPARAM, SKDSLEEP) live in ``dongle_more``.

The radio side lives in ``wisun_stack.WisunStack`` on a shared ``Air``. Output goes to the
sink set with ``attach_sink`` (a pty, or an in-process port), through the fault hooks
(``faults``: drop / corrupt / delay output, drop input; ``unplug()`` / ``replug()``). Field-quirk
profiles (issue 17) act through ``quirks`` (a ``quirks.wisun_hooks.DongleQuirks``, None = clean).
"""
from __future__ import annotations

import logging
import os
import random
from collections import Counter, deque
from typing import Callable

from sumame.firmware.net import lowpan

from ...skstack_protocol import (BadSendTo, CommandLine, DeviceParser, EchoBytes, Layout, RxUdp, SendToData,
                                SendToHeader, fmt_einfo, fmt_erxudp, fmt_event, fmt_pandesc, link_local_text)
from ..air import Air
from .dongle_faults import DongleFaults  # noqa: F401 - re-exported (the J11 dongle, tests)
from .dongle_flash import DongleFlash
from .dongle_models import _SAVED, _ZERO_ARG, PERSONALITIES, REGISTERS, Personality  # noqa: F401
from .dongle_more import CommandError, MoreCommands, hexarg as _hexarg, ipv6arg as _ipv6
from .dongle_quirk_api import QuirkSupport
from .dongle_timing import DongleTiming, for_air
from ..timeline import Timeline
from .stack import WisunStack

log = logging.getLogger("sumame.drivers.emulated.wisun.dongle")


class EmulatedDongle(MoreCommands, QuirkSupport):
    def __init__(self, air: Air, timeline: Timeline, *, personality: str = "bp35c2",
                 mac: str | None = None, seed: int | None = None, name: str = "dongle",
                 flash_path: str | os.PathLike | None = None, timing: DongleTiming | None = None):
        if personality not in PERSONALITIES:
            raise ValueError(f"unknown personality {personality!r}; known: {', '.join(PERSONALITIES)}")
        self.p = PERSONALITIES[personality]
        self.name = name
        self.timeline = timeline
        self.timing = timing or for_air(air.accurate)
        rng = random.Random(seed) if seed is not None else None
        self._random_bytes = (lambda n: bytes(rng.getrandbits(8) for _ in range(n))) if rng else os.urandom
        self.flash = DongleFlash.open(flash_path)
        self.mac_hex = (mac or self.flash.state.mac or (self.p.mac_prefix + self._random_bytes(4).hex())).upper()
        if self.flash.state.mac != self.mac_hex:
            self.flash.state.mac = self.mac_hex          # the factory-programmed address
            self.flash.commit()
        self.mac = bytes.fromhex(self.mac_hex)
        self.ll_text = link_local_text(self.mac_hex)
        self.faults = DongleFaults()
        self.quirks = None
        """A ``quirks.wisun_hooks.DongleQuirks`` (field-quirk profiles, issue 17) or None."""
        self.stats: Counter[str] = Counter()
        self._sink: Callable[[bytes], None] | None = None
        self.unplugged = False
        self._tx_free = self._rx_free = 0.0
        self.stack = WisunStack(air, timeline, self.mac, self, random_bytes=self._random_bytes,
                                timing=self.timing)
        self._power_on()

    # ------------------------------------------------------------------ flash-kept state
    @property
    def wopt(self) -> int:
        value = self.flash.state.wopt
        return self.p.wopt_default if value is None else value

    @property
    def ruart(self) -> int:
        value = self.flash.state.wuart
        return self.p.ruart_default if value is None else value

    # ------------------------------------------------------------------ life cycle
    def _power_on(self) -> None:
        self.parser = DeviceParser(6 if self.p.dialect == "c2" else 5)
        self._queue: deque = deque()
        self._busy = False
        self._skip_data = False
        self._reset_state()

    def _reset_state(self) -> None:
        self.regs: dict[int, object] = {k: v[0] for k, v in REGISTERS.items()}
        self.ports = [3610, 716, 0, 0, 0, 0]
        self._more_reset()
        self.stack.reset()
        saved = self.flash.state.saved_regs
        if saved and saved.get(0xFF) == 1:          # SFF=1: load the SKSAVE'd registers at start
            self.regs.update(saved)
        self._apply_regs()

    def _apply_regs(self) -> None:
        s = self.stack
        s.set_channel(self.regs[0x02])
        s.pan_id = self.regs[0x03]
        s.pairing_id = self.regs[0x0A]
        s.lifetime_s = self.regs[0x16]
        s.auto = bool(self.regs[0x17])
        if self.regs[0x15]:
            s.coordinator = True

    def attach_sink(self, sink: Callable[[bytes], None] | None) -> None:
        self._sink = sink

    def host_closed(self) -> None:
        """The host closed the port: the partly received line is gone (fresh line on reopen).
        With UART pacing, octets the host wrote before closing are still on their way: the line
        is cleared once they are in, before anything written after a reopen."""
        now = self.timeline.now()
        if self.timing.uart_bit_s and self._rx_free > now:
            self.timeline.call_at(self._rx_free, self._clear_line)
        else:
            self._clear_line()

    def _clear_line(self) -> None:
        if self.parser.pending_header() or self.parser.receiving_data:
            self.stats["host-closed-mid-line"] += 1
            log.info("%s: host closed the port mid-line; line buffer cleared", self.name)
        self.parser.reset()
        self._skip_data = False

    def unplug(self) -> None:
        """Pull the dongle out: no input is taken, no output is produced, state is lost."""
        self.unplugged = True
        self.stack.air.detach(self.stack)
        self.stack.reset()

    def replug(self) -> None:
        """Plug it back in: a power-on (registers at defaults unless SFF=1 with SKSAVE)."""
        self.unplugged = False
        self.stack.air.attach(self.stack)
        self._power_on()

    @property
    def layout(self) -> Layout:
        return Layout(self.p.dialect, bool(self.regs[0xA2]) and self.p.dialect == "c2", self.wopt & 1 == 1)

    # ------------------------------------------------------------------ output
    def _out(self, data: bytes) -> None:
        if self.unplugged or self._sink is None:
            return
        if self.quirks is not None:
            data = self.quirks.output(data)
            if data is None:
                return
        f = self.faults
        data = f.output(data, self.stats)
        if data is None:
            return
        delay = f.delay_s
        if self.timing.uart_bit_s:
            # one write per output, delivered when its last octet left the UART at 115 200 bit/s
            now = self.timeline.now()
            self._tx_free = max(now, self._tx_free) + self.timing.uart_s(len(data))
            delay += self._tx_free - now
        if delay:
            self.timeline.call_later(delay, self._deliver, data)
        else:
            self._sink(data)

    def _deliver(self, data: bytes) -> None:
        if not self.unplugged and self._sink is not None:
            self._sink(data)

    def _echo(self, data: bytes) -> None:
        if self.regs[0xFE]:
            self._out(data)

    def _ok(self, value: str | None = None, cr_only: bool = False) -> None:
        text = "OK" if value is None else f"OK {value}"
        self._out(text.encode() + (b"\r" if cr_only else b"\r\n"))

    def _fail(self, code: int, cr_only: bool = False) -> None:
        self.stats[f"fail-er{code:02d}"] += 1
        self._out(f"FAIL ER{code:02d}".encode() + (b"\r" if cr_only else b"\r\n"))

    # StackHost ----------------------------------------------------------
    def stack_event(self, num: int, addr: bytes | None, param: int | None = None) -> None:
        if self.quirks is not None and self.quirks.event(num, addr, param):
            return
        self.print_event(num, addr, param)

    def print_event(self, num: int, addr: bytes | None, param: int | None = None) -> None:
        text = lowpan.format_ipv6(addr) if addr is not None else None
        self._out(fmt_event(num, text, self.p.dialect, param))

    def stack_pandesc(self, channel, pan_id, addr, lqi, pairing_id) -> None:
        if self.quirks is not None:
            lqi = self.quirks.pandesc(lqi)
            if lqi is None:
                return
        self._out(fmt_pandesc(channel, pan_id, addr.hex().upper(), lqi, self.p.dialect, pairing_id))

    def stack_edscan(self, levels) -> None:
        pairs = " ".join(f"{c:02X} {r:02X}" for c, r in levels).encode()
        self._out(b"EEDSCAN\r\n" + pairs + b"\r\n" + (b"\r\n" if self.p.edscan_blank_line else b""))

    def stack_rx(self, dgram, src_mac: bytes, secured: bool, lqi: int) -> None:
        if self.quirks is not None:
            lqi = self.quirks.rx(dgram, lqi)
            if lqi is None:
                self.stats["quirk-dropped-rx"] += 1
                return
        rx = RxUdp(lowpan.format_ipv6(dgram.src), lowpan.format_ipv6(dgram.dst), dgram.src_port,
                   dgram.dst_port, src_mac.hex().upper(), secured, dgram.payload, lqi, 0)
        line = fmt_erxudp(rx, self.layout)
        delay = self.timing.rx_processing_s + (self.quirks.rx_delay(dgram) if self.quirks is not None else 0.0)
        if delay:
            self.timeline.call_later(delay, self._out, line)
        else:
            self._out(line)

    def port_open(self, port: int) -> bool:
        return port != 0 and port in self.ports

    # ------------------------------------------------------------------ input
    def feed(self, data: bytes) -> None:
        """Bytes from the host (pty master read or in-process port write)."""
        if self.unplugged:
            return
        if self.faults.input_lost(self.stats):
            return
        if self.timing.uart_bit_s:
            # the module has the bytes once they crossed its UART at 115 200 bit/s
            now = self.timeline.now()
            self._rx_free = max(now, self._rx_free) + self.timing.uart_s(len(data))
            self.timeline.call_at(self._rx_free, self._received, data)
        else:
            self._received(data)

    def _received(self, data: bytes) -> None:
        if self.unplugged:
            return
        if self.asleep:
            self.stats["input-while-asleep"] += len(data)
            return
        for item in self.parser.feed(data):
            if isinstance(item, EchoBytes):
                self._echo(item.data)
            else:
                self._queue.append(item)
                self._drain()

    def _drain(self) -> None:
        while self._queue and not self._busy and not self.unplugged and not self.asleep:
            item = self._queue.popleft()
            if self.timing.command_s and isinstance(item, (CommandLine, SendToData)) and (
                    not isinstance(item, CommandLine) or item.raw):
                self._busy = True
                self.timeline.call_later(self.timing.command_s, self._run_later, item)
                return
            self._run(item)

    def _run_later(self, item) -> None:
        self._busy = False
        self._run(item)
        self._drain()

    def _run(self, item) -> None:
        if self.quirks is not None and self.quirks.command(item):
            self.stats["quirk-consumed-input"] += 1
            return
        if isinstance(item, CommandLine):
            self._command(item)
        elif isinstance(item, SendToHeader):
            self._sendto_header(item)
        elif isinstance(item, BadSendTo):
            self.stats["cmd-SKSENDTO"] += 1
            log.info("%s: SKSENDTO header with a bad DATALEN %r", self.name, item.tokens[-1:])
            self._fail(6)
        elif isinstance(item, SendToData):
            if self._skip_data:
                self._skip_data = False
                self.stats["sendto-data-swallowed"] += 1
            else:
                self._echo(b"\r\n")
                self._sendto(item)

    def _done(self) -> None:
        self._busy = False
        self._drain()

    def _command(self, item: CommandLine) -> None:
        raw = item.raw
        if raw == b"":
            return
        cr_only = item.terminator == b"\r"
        if any(b < 0x20 or b > 0x7E for b in raw) or not item.terminator:
            log.info("%s: UART input error (%d octets)", self.name, len(raw))
            self._fail(9, cr_only)
            return
        text = item.text.rstrip(" ") if self.p.trailing_space else item.text
        tokens = text.split(" ")
        name, args = tokens[0], tokens[1:]
        if name == "SKSENDTO":            # the line ended before DATALEN and its space
            self.stats["cmd-SKSENDTO"] += 1
            self._fail(5, cr_only)
            return
        handler = getattr(self, "_cmd_" + name, None)
        if handler is None or (name in ("ROPT", "WOPT") and not self.p.ropt):
            log.info("%s: unknown command %r", self.name, name[:20])
            self._fail(4, cr_only)
            return
        if name in _ZERO_ARG and args:
            self._fail(5, cr_only)
            return
        self.stats[f"cmd-{name}"] += 1
        try:
            handler(args)
        except CommandError as err:
            self._fail(err.code, cr_only)

    # ------------------------------------------------------------------ commands
    def _cmd_SKVER(self, a):
        self._out(f"EVER {self.p.version}\r\n".encode())
        self._ok()

    def _cmd_SKAPPVER(self, a):
        self._out(f"EAPPVER {self.p.appver}\r\n".encode())
        self._ok()

    def _cmd_SKINFO(self, a):
        self._out(fmt_einfo(self.ll_text, self.mac_hex, self.regs[0x02], self.regs[0x03], self.p.dialect))
        self._ok()

    def _cmd_SKRESET(self, a):
        self._reset_state()
        self._ok()

    def _cmd_SKSREG(self, a):
        if len(a) not in (1, 2):
            raise CommandError(5)
        name = a[0].upper()
        if not name.startswith("S") or len(name) < 2:
            raise CommandError(6)
        reg = _hexarg(name[1:], 2)
        if reg not in REGISTERS:
            raise CommandError(6)
        default, width, lo, hi, writable = REGISTERS[reg]
        if len(a) == 1:
            value = self.regs[reg]
            if reg == 0x07:
                value = self.stack.tx_counter
            elif reg == 0xFB:
                value = int(self.stack.tx_limited or (self.quirks is not None and self.quirks.tx_limited()))
            elif reg == 0xFD:
                value = int(self.stack.air.tx_time_in_window(self.stack) * 1000)
            text = value if width == 0 else f"{value:0{width}X}" if width > 1 else f"{value:X}"
            self._out(f"ESREG {text}\r\n".encode())
            self._ok()
            return
        if not writable:
            raise CommandError(6)
        if width == 0:
            if len(a[1]) != 8 or any(not 0x20 < ord(c) < 0x7F for c in a[1]):
                raise CommandError(6)
            value = a[1]
        else:
            value = _hexarg(a[1], max(width, 2), lo, hi)
        self.regs[reg] = value
        self._apply_regs()
        self._ok()

    def _cmd_SKSETPWD(self, a):
        if len(a) != 2:
            raise CommandError(5)
        n = _hexarg(a[0], 2, 1, 0x20)
        if len(a[1]) != n:
            raise CommandError(6)
        self.stack.password, self.stack.psk_override = a[1], None
        self._ok()

    def _cmd_SKSETPSK(self, a):
        if len(a) != 2:
            raise CommandError(5)
        if _hexarg(a[0], 2) != 0x10 or len(a[1]) != 32:
            raise CommandError(6)
        _hexarg(a[1][:16], 16)
        _hexarg(a[1][16:], 16)
        self.stack.psk_override = bytes.fromhex(a[1])
        self._ok()

    def _cmd_SKSETRBID(self, a):
        if len(a) != 1:
            raise CommandError(5)
        if len(a[0]) != 32:
            raise CommandError(6)
        self.stack.rbid = a[0]
        self.regs[0x0A] = a[0][-8:]
        self._apply_regs()
        self._ok()

    def _cmd_SKSCAN(self, a):
        if len(a) != (4 if self.p.dialect == "c2" else 3):
            raise CommandError(5)
        mode = _hexarg(a[0], 2)
        if mode not in (0, 2, 3):
            raise CommandError(6)
        mask = _hexarg(a[1], 8)
        duration = _hexarg(a[2], 2, 0, 0x0E)
        if len(a) == 4:
            _hexarg(a[3], 1, 0, 1)
        if self.stack.scanning:
            raise CommandError(10)
        self._ok()
        self.stack.scan(mode, mask, duration)

    def _cmd_SKLL64(self, a):
        if len(a) != 1:
            raise CommandError(5)
        if len(a[0]) != 16:
            raise CommandError(6)
        _hexarg(a[0][:8], 8)
        _hexarg(a[0][8:], 8)
        self._out(link_local_text(a[0].upper()).encode() + b"\r\n")

    def _cmd_SKJOIN(self, a):
        if len(a) != 1:
            raise CommandError(5)
        peer = _ipv6(a[0])
        if not self.stack.rbid or not (self.stack.password or self.stack.psk_override):
            raise CommandError(10)
        if peer[:8] != lowpan.LINK_LOCAL_PREFIX:
            raise CommandError(6)
        self._ok()
        self.stack.join(peer)

    def _cmd_SKREJOIN(self, a):
        if not self.stack.rejoin():
            raise CommandError(10)
        self._ok()

    def _cmd_SKTERM(self, a):
        if not self.stack.has_session:
            raise CommandError(10)
        self._ok()
        self.stack.terminate()

    def _cmd_SKSTART(self, a):
        if not self.stack.rbid or not (self.stack.password or self.stack.psk_override) or self.regs[0x03] == 0xFFFF:
            raise CommandError(10)
        self.regs[0x15] = 1
        self.stack.start_paa()
        self._ok()

    def _cmd_SKUDPPORT(self, a):
        if len(a) != 2:
            raise CommandError(5)
        handle = _hexarg(a[0], 1, 1, 6)
        port = _hexarg(a[1], 4, 0, 0xFFFE)
        self.ports[handle - 1] = port
        self._ok()

    def _cmd_SKADDNBR(self, a):
        if len(a) != 2:
            raise CommandError(5)
        _ipv6(a[0])
        if len(a[1]) != 16:
            raise CommandError(6)
        self.stack.neighbours.add(bytes.fromhex(a[1]))
        self._ok()

    def _cmd_SKPING(self, a):
        if len(a) not in (1, 2):
            raise CommandError(5)
        peer = _ipv6(a[0])
        self._ok()
        try:
            there = self.stack.probe(lowpan.eui64_of(peer))
        except lowpan.LowpanError:
            there = False
        if there:                          # echo request + reply on air, then EPONG
            t = self.timing
            rtt = 2 * (t.csma_s + self.stack.air.airtime(80) + t.rx_processing_s)
            self.timeline.call_later(rtt, self._out, f"EPONG {lowpan.format_ipv6(peer)}\r\n".encode())

    def _cmd_SKSAVE(self, a):
        self.flash.state.saved_regs = {k: self.regs[k] for k in _SAVED}
        self.flash.commit()
        self._ok()

    def _cmd_SKLOAD(self, a):
        if not self.flash.state.saved_regs:
            raise CommandError(10)
        self.regs.update(self.flash.state.saved_regs)
        self._apply_regs()
        self._ok()

    def _cmd_SKERASE(self, a):
        self.flash.state.saved_regs = None
        self.flash.commit()
        self._ok()

    def _cmd_SKRFLO(self, a):
        if len(a) != 1:
            raise CommandError(5)
        _hexarg(a[0], 1, 0, 1)
        self._ok()

    def _cmd_ROPT(self, a):
        self._ok(f"{self.wopt:02X}", cr_only=True)

    def _cmd_WOPT(self, a):
        if len(a) != 1:
            raise CommandError(5)
        self.flash.state.wopt = _hexarg(a[0], 2, 0, 1)
        self.stats["flash-writes"] += 1
        self.flash.commit()
        self._ok(cr_only=True)

    def _cmd_RUART(self, a):
        self._ok(f"{self.ruart:02X}", cr_only=True)

    def _cmd_WUART(self, a):
        if len(a) != 1:
            raise CommandError(5)
        self.flash.state.wuart = _hexarg(a[0], 2, 0, 0xFF)   # applies after a restart (S1 §4.36)
        self.flash.commit()
        self._ok(cr_only=True)

    # ------------------------------------------------------------------ SKSENDTO
    def _sendto_header(self, item: SendToHeader) -> None:
        """The header is complete: check it now (a real module fails before the data)."""
        self.stats["cmd-SKSENDTO"] += 1
        a = item.tokens
        try:
            handle = _hexarg(a[0], 1, 1, 6)
            dst = _ipv6(a[1])
            if len(a[2]) != 4:
                raise CommandError(6)
            port = _hexarg(a[2], 4, 1, 0xFFFE)
            if a[3] not in ("0", "1", "2"):
                raise CommandError(6)
            if self.p.dialect == "c2":
                _hexarg(a[4], 1, 0, 1)
            if self.ports[handle - 1] == 0:
                raise CommandError(10)
        except CommandError as err:
            log.info("%s: SKSENDTO header refused (ER%02d): %s", self.name, err.code, " ".join(a)[:120])
            self._skip_data = True
            self._fail(err.code)
            return
        self._pending = (self.ports[handle - 1], dst, port, int(a[3]))

    def _sendto(self, item: SendToData) -> None:
        src_port, dst, port, sec = self._pending
        if self.stack.tx_limited:
            self.stack_event(0x21, dst, 1)
            self._ok()
            return
        self._busy = True
        if self.quirks is not None and self.quirks.sendto(dst, item.data):
            return                       # the quirk ends it with end_sendto

        def done(result: int) -> None:
            self.stack_event(0x21, dst, result)
            self._ok()
            self._done()

        self.stack.sendto(src_port, dst, port, sec, item.data, done)
