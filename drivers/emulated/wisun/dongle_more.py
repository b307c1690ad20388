"""SKSTACK commands the HEMS clients rarely send, as the real modules answer them (mixin of
``EmulatedDongle``): tables, the TCP family, manual link security, SKPARAM, deep sleep.

* ``SKTABLE`` 1 EADDR, 2 ENEIGHBOR, E EPORT (ports in decimal, the four TCP ports after an
  empty line), F EHANDLE [S1 §4.30, §5.5-5.10]. Modes 9 and A exist only on the dual-stack
  (HAN-extension) builds — Skyley's SKSTACK API accepts them for that model only, the generic
  model refuses them [S8 SKTable.java]; on the single-hop BP35A1 they get ``FAIL ER06``. On C2,
  9 prints ``ENBR`` (one row per neighbour holding a link key, in the comma-separated
  key:value layout of S8 SKENbr.java) and A prints ``ESEC`` (header only: its row layout is
  not public). Both end with ``OK``.
* TCP [S1 §4.8-4.10, §4.23, §5.4, §7]: ``SKTCPPORT <1-4> <port>`` sets a listen port;
  ``SKCONNECT`` answers OK and, as a route-B meter runs no TCP, ``ETCP 3`` after the 12 s
  connect timeout; ``SKSEND``/``SKCLOSE`` on a handle with no connection fail with ER10.
* Manual MAC security [S1 §4.13-4.17]: SKSETKEY / SKRMKEY / SKREGDEV / SKRMDEV /
  SKSECENABLE keep their tables; SKSECENABLE 1 installs the key set last for that peer (the
  same CCM* protection PANA would install).
* ``SKPARAM``: present on C2 firmware (RATOC's BP35C2 demo requires OK to ``SKPARAM 1 1 3``
  [S14c]; semantics not public: the values are kept, nothing else changes); ER04 on BP35A1.
* ``SKDSLEEP``: OK, then the module sleeps — radio off, UART input ignored — until its WKUP
  pin (``wake()``) wakes it with ``EVENT C0`` (no address) [S1 §4.31; S7 event C0].
"""
from __future__ import annotations

from sumame.firmware.net import lowpan
from sumame.firmware.net.pana_codec import LinkKey

from ...skstack_protocol import link_local_text

TCP_CONNECT_TIMEOUT_S = 12.0      # S1 §7


class CommandError(Exception):
    def __init__(self, code: int):
        self.code = code


def hexarg(token: str, max_digits: int, lo: int = 0, hi: int | None = None) -> int:
    if not token or len(token) > max_digits or any(c not in "0123456789ABCDEFabcdef" for c in token):
        raise CommandError(6)
    value = int(token, 16)
    if value < lo or (hi is not None and value > hi):
        raise CommandError(6)
    return value


def ipv6arg(token: str) -> bytes:
    try:
        return lowpan.parse_ipv6(token)
    except lowpan.LowpanError:
        raise CommandError(6) from None


def macarg(token: str) -> bytes:
    if len(token) != 16:
        raise CommandError(6)
    hexarg(token[:8], 8)
    hexarg(token[8:], 8)
    return bytes.fromhex(token)


class MoreCommands:
    """Needs from the host class: p, stack, ports, timeline, timing, _out, _ok, stats."""

    def _more_reset(self) -> None:
        self.tcp_ports = [3610, 0, 0, 0]
        self.sec_keys: dict[int, bytes] = {}
        self.sec_devices: set[bytes] = set()
        self.skparam: dict[str, list[str]] = {}
        self.asleep = False

    # ------------------------------------------------------------------ tables
    def _cmd_SKTABLE(self, a):
        if len(a) != 1:
            raise CommandError(5)
        mode = hexarg(a[0], 1)
        if mode == 1:
            self._out(f"EADDR\r\n{self.ll_text}\r\n".encode())
        elif mode == 2:
            rows = "".join(f"{link_local_text(m.hex().upper())} {m.hex().upper()} FFFF\r\n"
                           for m in sorted(self.stack.neighbours))
            self._out(f"ENEIGHBOR\r\n{rows}".encode())
        elif mode == 0xE:
            self._out(("EPORT\r\n" + "".join(f"{p}\r\n" for p in self.ports) + "\r\n"
                       + "".join(f"{p}\r\n" for p in self.tcp_ports)).encode())
        elif mode == 0xF:
            zero = "0000:0000:0000:0000:0000:0000:0000:0000"
            self._out(("EHANDLE\r\n" + "".join(f"{i} {zero} 0000 0000\r\n" for i in range(1, 7))).encode())
        elif mode in (9, 0xA) and self.p.dialect == "c2":
            self._out(self._han_table(mode))
        else:
            raise CommandError(6)
        self._ok()

    def _han_table(self, mode: int) -> bytes:
        if mode == 0xA:
            return b"ESEC\r\n"
        rows = []
        for peer, key in sorted(self.stack.keys.items()):
            counter = max((c for (src, _), c in self.stack.rx_counters.items() if src == peer), default=0)
            rows.append(f"{link_local_text(peer.hex().upper())},security:1,mac addr:{peer.hex().upper()},"
                        f"next hop:0000000000000000,frame counter:{counter:08X},auth cnt:0,"
                        f"session id:{self.stack.session_id_with(peer):08X},key id avp:{key.index:08X},"
                        f"psk:{self.stack.psk().hex().upper()}\r\n")
        return ("ENBR\r\n" + "".join(rows)).encode()

    # ------------------------------------------------------------------ TCP
    def _cmd_SKTCPPORT(self, a):
        if len(a) != 2:
            raise CommandError(5)
        index = hexarg(a[0], 1, 1, 4)
        self.tcp_ports[index - 1] = hexarg(a[1], 4, 0, 0xFFFE)
        self._ok()

    def _cmd_SKCONNECT(self, a):
        if len(a) != 3:
            raise CommandError(5)
        ipv6arg(a[0])
        hexarg(a[1], 4, 1, 0xFFFE)
        lport = hexarg(a[2], 4, 1, 0xFFFE)
        if lport not in self.tcp_ports:
            raise CommandError(6)
        self._ok()
        # the route-B peer runs no TCP: the SYNs go unanswered until the connect timeout
        delay = TCP_CONNECT_TIMEOUT_S if self.timing.realistic else 0.0
        self.timeline.call_later(delay, self._out, b"ETCP 3 0\r\n")

    def _cmd_SKSEND(self, a):
        if len(a) < 2:
            raise CommandError(5)
        hexarg(a[0], 1, 1, 6)
        raise CommandError(10)          # no TCP connection on that handle

    def _cmd_SKCLOSE(self, a):
        if len(a) != 1:
            raise CommandError(5)
        hexarg(a[0], 1, 1, 6)
        raise CommandError(10)

    # ------------------------------------------------------------------ manual link security
    def _cmd_SKSETKEY(self, a):
        if len(a) != 2:
            raise CommandError(5)
        index = hexarg(a[0], 2)
        if len(a[1]) != 32:
            raise CommandError(6)
        self.sec_keys[index] = macarg(a[1][:16]) + macarg(a[1][16:])
        self._last_key = index
        self._ok()

    def _cmd_SKRMKEY(self, a):
        if len(a) != 1:
            raise CommandError(5)
        if self.sec_keys.pop(hexarg(a[0], 2), None) is None:
            raise CommandError(10)
        self._ok()

    def _cmd_SKREGDEV(self, a):
        if len(a) != 1:
            raise CommandError(5)
        self.sec_devices.add(ipv6arg(a[0]))
        self._ok()

    def _cmd_SKRMDEV(self, a):
        if len(a) != 1:
            raise CommandError(5)
        addr = ipv6arg(a[0])
        if addr not in self.sec_devices:
            raise CommandError(10)
        self.sec_devices.discard(addr)
        self._ok()

    def _cmd_SKSECENABLE(self, a):
        if len(a) != 3:
            raise CommandError(5)
        mode = hexarg(a[0], 1, 0, 1)
        ipv6arg(a[1])
        peer = macarg(a[2])
        if mode == 1:
            index = getattr(self, "_last_key", None)
            if index not in self.sec_keys:
                raise CommandError(10)
            self.stack.keys[peer] = LinkKey(self.sec_keys[index], index or 1)
            self.stack.air.note_link_key(self.sec_keys[index], index or 1)
        else:
            self.stack.keys.pop(peer, None)
        self._ok()

    # ------------------------------------------------------------------ SKPARAM, sleep
    def _cmd_SKPARAM(self, a):
        if self.p.dialect != "c2":
            raise CommandError(4)
        if not 1 <= len(a) <= 3:
            raise CommandError(5)
        for token in a:
            hexarg(token, 8)
        self.skparam[a[0].upper()] = a[1:]
        self._ok()

    def _cmd_SKDSLEEP(self, a):
        self._ok()
        self.asleep = True
        self.stack.air.detach(self.stack)

    def wake(self) -> None:
        """The WKUP pin: end SKDSLEEP (EVENT C0); ignored when awake."""
        if not self.asleep or self.unplugged:
            return
        self.asleep = False
        self.stack.air.attach(self.stack)
        self._out(b"EVENT C0\r\n")
