"""The quirk hook of an emulated SKSTACK dongle (HEMS side): ``DongleQuirks``.

The dongle (``drivers/emulated/wisun/dongle.py``) consults its ``quirks`` object, when one is set, at
the points where a real module's behaviour shows on the UART: a command (or SKSENDTO header /
data) about to run, a datagram about to be sent for SKSENDTO, an EVENT line, an EPANDESC, a
received datagram about to become an ERXUDP line, and every octet string it writes. Each active
``WisunQuirk`` may consume the item (and answer itself with real SKSTACK lines), change an LQI,
or drop a line. Quirks act only on this dongle's bytes and its own radio state; they never see
the meter's registers or journal.

Every activation and every line a quirk changes is recorded through the engine's ``_record``
(``QuirkEngine``) when one is given, else in ``self.log`` with the same fields
(t, quirk, what, detail). ``attach(world, quirk, engine)`` puts a profile on the HEMS dongle of
a running emulator (in the runner thread when the world is served on a pty).
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from sumame.firmware.net import lowpan

from ...skstack_protocol import BadSendTo, CommandLine, SendToData, SendToHeader
from .base import Quirk
from .wisun_traffic import WisunTraffic

log = logging.getLogger("sumame.quirks.wisun")

PANA_PORT = 716
EV_UDP_SENT, EV_BEACON, EV_PANA_FAIL, EV_PANA_OK, EV_EXPIRED = 0x21, 0x20, 0x24, 0x25, 0x29


def lqi_of_dbm(dbm: float) -> int:
    """SKSTACK LQI of an RSSI in dBm (RSSI = 0.275 x LQI - 104.27, reference skstack-ip.md)."""
    return max(0, min(255, round((dbm + 104.27) / 0.275)))


def dbm_of_lqi(lqi: int) -> float:
    return 0.275 * lqi - 104.27


def item_name(item) -> str:
    """The command an item of the dongle's input queue is: SKVER, SKSENDTO, SKSENDTO-DATA…"""
    if isinstance(item, CommandLine):
        return item.text.split(" ", 1)[0]
    if isinstance(item, (SendToHeader, BadSendTo)):
        return "SKSENDTO"
    if isinstance(item, SendToData):
        return "SKSENDTO-DATA"
    return type(item).__name__


class WisunQuirk(Quirk):
    """A profile acting on the SKSTACK bytes of the HEMS-side emulated dongle. Hooks get the
    ``DongleQuirks`` (``dq``) they run in; the defaults change nothing."""

    surface = "wisun"

    def on_attach(self, dq: "DongleQuirks") -> None:
        """Switched on at this dongle (``dq.now()``); set timers here."""

    def on_detach(self, dq: "DongleQuirks") -> None:
        """Switched off: cancel timers, give back what was changed."""

    def on_command(self, dq: "DongleQuirks", name: str, item) -> bool:
        """An input item about to run; True = consumed (the quirk answered or stays mute)."""
        return False

    def on_sendto(self, dq: "DongleQuirks", dst: bytes, data: bytes) -> bool:
        """SKSENDTO data about to go on air; True = consumed (the quirk must end it with
        ``dq.send_result``)."""
        return False

    def on_event(self, dq: "DongleQuirks", num: int, addr: bytes | None, param: int | None) -> bool:
        """An EVENT about to be printed; True = swallowed."""
        return False

    def on_pandesc(self, dq: "DongleQuirks", lqi: int) -> int | None:
        """An EPANDESC about to be printed: its LQI, or None = not printed."""
        return lqi

    def on_rx(self, dq: "DongleQuirks", dgram, lqi: int) -> int | None:
        """A received datagram about to become ERXUDP: its LQI / RSSI token, or None = dropped."""
        return lqi

    def on_output(self, dq: "DongleQuirks", data: bytes) -> bytes | None:
        """Octets about to go to the host; None = not written."""
        return data

    def rx_delay(self, dq: "DongleQuirks", dgram) -> float:
        """Extra s before a received datagram's ERXUDP line is printed."""
        return 0.0


class DongleQuirks:
    """The active wisun profiles of one emulated dongle (``dongle.quirks``)."""

    def __init__(self, dongle, engine=None, endpoint=None):
        self.dongle = dongle
        self.engine = engine
        self.endpoint = endpoint           # PtyEndpoint serving the dongle (replug), if any
        self.quirks: dict[str, WisunQuirk] = {}
        self.log: list[dict] = []
        self._from_engine: set[str] = set()
        self._broken: set[int] = set()
        self.traffic = WisunTraffic()
        self.supported = hasattr(dongle, "print_event")
        """False for a dongle without the SKSTACK text interface (J11): profiles are not attached."""
        if not self.supported:
            log.warning("%s: the %s dialect takes no wisun quirk profiles", getattr(dongle, "name", "dongle"),
                        type(dongle).__name__)
        self._syncing = False
        self._follow_timer = None
        self.session_peer: bytes | None = None   # link-local of the PAA while a session is up
        self.session_up_at: float | None = None
        stack = dongle.stack
        if stack.keys and stack.pac_peer is not None:   # attached to a running session
            self.session_peer, self.session_up_at = lowpan.link_local(stack.pac_peer), self.now()

    # ------------------------------------------------------------------ switching
    def add(self, quirk: WisunQuirk) -> WisunQuirk:
        if quirk.name in self.quirks:
            self.remove(quirk.name)
        if quirk.switched_on_at is None:
            quirk.switch_on(self.now())
        self.quirks[quirk.name] = quirk
        quirk.on_attach(self)
        if self.engine is None:
            self.record(quirk.name, "on", quirk.describe())
        return quirk

    def remove(self, name: str) -> None:
        quirk = self.quirks.pop(name, None)
        if quirk is not None:
            quirk.on_detach(self)
            if self.engine is None:
                self.record(name, "off", f"after {quirk.fired} lines")

    def _active(self) -> list[WisunQuirk]:
        if self.engine is not None and getattr(self.engine, "paused", False):
            return []
        self.sync()
        return list(self.quirks.values())

    def sync(self) -> None:
        """Take over the engine's wisun profiles: ones switched on there (``--quirk``, ``ctl quirk
        … on``) are attached here, ones switched off are detached."""
        if self.engine is None or self._syncing or not self.supported:
            return
        self._syncing = True
        try:
            wanted = {n: q for n, q in list(self.engine.quirks.items())
                      if isinstance(q, WisunQuirk) and id(q) not in self._broken}
            for name in list(self._from_engine):
                if wanted.get(name) is not self.quirks.get(name):
                    self._from_engine.discard(name)
                    self.remove(name)
            for name, quirk in wanted.items():
                if self.quirks.get(name) is not quirk:
                    self.add(quirk)
                    self._from_engine.add(name)
        finally:
            self._syncing = False

    def follow(self, every_s: float = 0.5) -> "DongleQuirks":
        """Sync with the engine every ``every_s`` s of the dongle's timeline (so profiles with
        timers start at once even while the host is idle); real-time worlds only."""
        if self._follow_timer is not None:
            self._follow_timer.cancel()

        def tick():
            self.sync()
            self._follow_timer = self.later(every_s, tick)
        self._follow_timer = self.later(0.0, tick)
        return self

    # ------------------------------------------------------------------ helpers for profiles
    def now(self) -> float:
        return self.dongle.timeline.now()

    def later(self, delay_s: float, fn: Callable, *args):
        return self.dongle.timeline.call_later(delay_s, fn, *args)

    def record(self, name: str, what: str, detail: str) -> None:
        now = self.now()
        if what == "dropped":
            self.traffic.dropped(now)
        if self.engine is not None and hasattr(self.engine, "_record"):
            self.engine._record(now, name, what, detail)
        else:
            self.log.append({"t": now, "quirk": name, "what": what, "detail": detail})
            log.info("quirk %s %s: %s", name, what, detail)

    def emit_event(self, num: int, addr: bytes | None, param: int | None = None) -> None:
        """Print an EVENT line as the dongle would (past the quirks)."""
        self.dongle.print_event(num, addr, param)

    def send_result(self, dst: bytes, result: int, delay_s: float = 0.0) -> None:
        """End a consumed SKSENDTO: ``EVENT 21 <dst> <result>`` and OK after ``delay_s``."""
        self.dongle.end_sendto(dst, result, delay_s)

    def fail(self, code: int, item) -> None:
        """Answer a consumed command with ``FAIL ERnn`` (an SKSENDTO's data is swallowed)."""
        if isinstance(item, SendToHeader):
            self.dongle.skip_sendto_data()
        if not isinstance(item, SendToData):
            self.dongle.fail(code)

    def drop_session(self) -> None:
        """This dongle forgets its PANA session (keys, PaC state); the meter's side is not told."""
        self.dongle.stack.drop_local_session()
        self.session_peer = self.session_up_at = None

    def peer_ll(self) -> bytes | None:
        if self.session_peer is not None:
            return self.session_peer
        pac = self.dongle.stack.pac_peer
        return lowpan.link_local(pac) if pac is not None else None

    # ------------------------------------------------------------------ hooks (called by the dongle)
    def _call(self, quirk: WisunQuirk, hook: str, default, *args):
        """One profile's hook; a profile that raises is switched off (logged), the dongle goes on."""
        try:
            return getattr(quirk, hook)(self, *args)
        except Exception as exc:  # noqa: BLE001 - a broken profile must not stop the dongle
            log.error("quirk %s: %s failed (%s: %s); switched off", quirk.name, hook, type(exc).__name__, exc)
            self.record(quirk.name, "error", f"{hook}: {type(exc).__name__}: {exc}")
            self.quirks.pop(quirk.name, None)
            self._broken.add(id(quirk))              # not taken over from the engine again
            return default

    def command(self, item) -> bool:
        name = item_name(item)
        if name != "SKSENDTO-DATA" and not (isinstance(item, CommandLine) and item.raw == b""):
            self.traffic.command(name)
        return any(self._call(q, "on_command", False, name, item) for q in self._active())

    def sendto(self, dst: bytes, data: bytes) -> bool:
        self.traffic.sent(data, self.now())
        return any(self._call(q, "on_sendto", False, dst, data) for q in self._active())

    def event(self, num: int, addr: bytes | None, param: int | None) -> bool:
        for q in self._active():
            if self._call(q, "on_event", False, num, addr, param):
                return True
        if num == EV_PANA_OK:
            self.session_peer, self.session_up_at = addr, self.now()
        elif num in (EV_PANA_FAIL, EV_EXPIRED, 0x26, 0x27, 0x28) and addr == self.session_peer:
            self.session_peer = self.session_up_at = None
        return False

    def pandesc(self, lqi: int) -> int | None:
        for q in self._active():
            lqi = self._call(q, "on_pandesc", lqi, lqi)
            if lqi is None:
                return None
        return lqi

    def rx(self, dgram, lqi: int) -> int | None:
        for q in self._active():
            lqi = self._call(q, "on_rx", lqi, dgram, lqi)
            if lqi is None:
                return None
        if not (dgram.src_port == PANA_PORT and dgram.dst_port == PANA_PORT):
            self.traffic.answered(self.now())
        return lqi

    def rx_delay(self, dgram) -> float:
        return sum(self._call(q, "rx_delay", 0.0, dgram) for q in self._active())

    def output(self, data: bytes) -> bytes | None:
        for q in self._active():
            data = self._call(q, "on_output", data, data)
            if data is None:
                return None
        return data

    def tx_limited(self) -> bool:
        """A profile holds the transmit-time limit (SKSREG SFB reads 1)."""
        return any(getattr(q, "limited", False) for q in self._active())

    def report(self) -> dict:
        """Per profile how often it fired, and how the host's traffic on this dongle went."""
        return {"profiles": {n: {"params": dict(q.params), "evidence": q.evidence, "fired": q.fired}
                             for n, q in self.quirks.items()},
                "traffic": self.traffic.report(), "log": self.log[-2000:]}


def hems_quirks(world, engine=None) -> DongleQuirks:
    """The ``DongleQuirks`` of a world's HEMS dongle (created on first use). With ``engine``
    (a ``QuirkEngine``) every wisun profile switched on there acts on this dongle too::

        hems_quirks(world, engine).follow()     # sumame emulate: once, after the world is built
    """
    dongle = world.hems_dongle
    dq = getattr(dongle, "quirks", None)
    if dq is None:
        dq = DongleQuirks(dongle, engine, getattr(world, "hems_endpoint", None))
        dongle.quirks = dq
    elif engine is not None and dq.engine is None:
        dq.engine = engine
    return dq


def _in_runner(world, fn: Callable, timeout_s: float = 5.0) -> None:
    """Run ``fn`` in the world's runner thread (and wait for it), or here if none runs."""
    runner = getattr(world, "runner", None)
    if runner is None or runner._thread is None or not runner._thread.is_alive() \
            or runner._thread is threading.current_thread():
        fn()
        return
    done = threading.Event()

    def call():
        try:
            fn()
        finally:
            done.set()
    runner.call(call)
    done.wait(timeout_s)


def attach(world, quirk: WisunQuirk, engine=None) -> DongleQuirks:
    """Switch ``quirk`` on at the HEMS dongle of ``world`` (thread-safe for a served world)."""
    if not hasattr(world.hems_dongle, "print_event"):
        raise TypeError(f"quirk {quirk.name}: the {type(world.hems_dongle).__name__} HEMS dongle has no "
                        "SKSTACK text interface (the J11 binary dialect takes no wisun quirks)")
    dq = hems_quirks(world, engine)
    _in_runner(world, lambda: dq.add(quirk))
    return dq


def detach(world, name: str) -> None:
    dq = getattr(world.hems_dongle, "quirks", None)
    if dq is not None:
        _in_runner(world, lambda: dq.remove(name))
