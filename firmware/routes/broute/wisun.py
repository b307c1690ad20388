"""The Wi-SUN B-route medium: the meter's own route-B dongle (PAA) feeding the ECHONET node.

The radio is a ``RadioModem`` (hal/radio.py) — in practice ``drivers/skstack.py`` on a real
dongle (``/dev/ttyUSB0``) or on the emulated dongle's pty; the firmware does not know which.
It is opened through the factory the board puts in ``hardware.extras["wisun_modem"]``.

What it does: configures the PAN (route-B ID and password, channel and PAN ID), then handles
the modem's events as a scheduler task:

* a home device joins over PANA (``SessionJoined``) -> the D5 instance list is announced to
  ff02::1 (AIF §3.1.1); the device counts against the B-route device limit (shared with IP);
* encrypted UDP 3610 datagrams go to the same node, guard and rate limiter as the IP B-route;
  unencrypted ones are dropped and counted;
* a failed authentication or a refused second device is a security event;
* session end / expiry frees the device's slot; ARIB duty limit (EVENT 32/33) pauses sending;
* a port that disappears (dongle unplugged) is reopened with back-off.
"""
from __future__ import annotations

import logging

from sumame.firmware.core.events import Severity
from sumame.firmware.net.ieee802154 import pan_from_mac
from sumame.firmware.core.scheduler import Priority, readable, sleep, yield_now
from sumame.hal.errors import CommsError, HalError
from sumame.hal.radio import (AuthFailed, CommandFailed, SessionExpired, SessionJoined,
                              SessionTerminated, TxLimit, UdpReceived)

log = logging.getLogger("sumame.broute.wisun")
MEDIUM = "wi-sun"
ALL_NODES = "FF02:0000:0000:0000:0000:0000:0000:0001"
ECHONET_PORT = 3610


class WisunBRoute:
    """Runs while a comms unit with Wi-SUN is in the meter. ``start()`` spawns the task."""

    def __init__(self, service, events, scheduler, clock, modem_factory, *, rbid: str, password: str,
                 channel: int | None = None, pan_id: int | None = None, lifetime_s: int = 86400):
        self.service, self.events, self.scheduler, self.clock = service, events, scheduler, clock
        self.factory = modem_factory
        self.rbid, self.password = rbid, password
        self.channel, self.pan_id, self.lifetime_s = channel, pan_id, lifetime_s
        self.modem = None
        self.peers: set[str] = set()
        self.tx_blocked = False
        self.counters: dict[str, int] = {}
        self._task = None
        self.identity = None
        self._pan_ticket = None
        self._pan_detail = ""

    def start(self) -> None:
        self._task = self.scheduler.spawn(self._run(), name="b-route-wisun", priority=Priority.COMMS)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._close()
        self.service.media.pop(MEDIUM, None)
        for peer in list(self.peers):
            self.service.release_client(MEDIUM, peer)
        self.peers.clear()

    def _count(self, what: str) -> None:
        self.counters[what] = self.counters.get(what, 0) + 1

    # ---------------------------------------------------------------- task
    async def _run(self) -> None:
        """Open, serve, and on any hardware error (dongle absent at boot, unplugged, wedged)
        close and retry with back-off (2 s doubling to 5 min); one event per outage of the
        dongle, one when it is back."""
        backoff = 2.0
        failing = False
        while True:
            try:
                self._open()
                if failing:
                    self.events.record("wisun-restored", source="b-route-wisun",
                                       detail="route-B dongle answering again")
                failing, backoff = False, 2.0
                await self._serve()
            except HalError as exc:
                self._count("faults")
                if not failing:
                    self.events.record("wisun-fault", source="b-route-wisun", severity=Severity.WARNING,
                                       detail=f"route-B dongle: {exc}; retrying with back-off")
                else:
                    log.warning("route-B dongle still failing (%s); next try in %.0f s", exc, backoff)
                failing = True
            self._close()
            self.service.media.pop(MEDIUM, None)
            await sleep(backoff)
            backoff = min(backoff * 2, 300.0)

    def _open(self) -> None:
        modem = self.modem = self.factory()
        self.identity = ident = modem.identify()
        channel, pan_id = pan_from_mac(ident.mac)
        channel = self.channel or channel
        pan_id = self.pan_id if self.pan_id is not None else pan_id
        modem.reset()
        modem.set_credentials(self.rbid, self.password)
        self._pan_ticket = modem.start_pan(channel, pan_id, lifetime_s=self.lifetime_s)
        self._pan_detail = (f"PAN up on channel {channel} (PAN ID 0x{pan_id:04X}) with "
                            f"{ident.version} ({ident.dialect} dialect), MAC {ident.mac}")
        self.service.attach_medium(MEDIUM, self._send, self._broadcast)

    def _close(self) -> None:
        if self.modem is not None:
            try:
                self.modem.close()
            except Exception:  # noqa: BLE001 - closing a broken port
                pass
            self.modem = None

    async def _serve(self) -> None:
        modem = self.modem
        while True:
            await readable(modem, timeout=1.0)
            for event in modem.poll(self.clock.now()):
                self._handle(event)
                await yield_now()        # one received frame per step, like the other routes
            ticket = self._pan_ticket
            if ticket is not None and ticket.done:
                self._pan_ticket = None
                if ticket.error is not None:
                    raise CommsError(f"could not start the PAN: {ticket.error}")
                self.events.record("wisun-pan", source="b-route-wisun", detail=self._pan_detail)

    def _handle(self, ev) -> None:
        if isinstance(ev, UdpReceived):
            ext = self.service.external
            if ev.dst_port != ECHONET_PORT:
                if ext is not None and ext.gate(f"{MEDIUM}:{ev.src}", len(ev.payload)):
                    ext.frame(f"{MEDIUM}:{ev.src}", "in", len(ev.payload), "not-allowed")
                return
            if not ev.secured:
                self._count("unsecured-dropped")
                if ext is not None and ext.gate(f"{MEDIUM}:{ev.src}", len(ev.payload)):
                    ext.frame(f"{MEDIUM}:{ev.src}", "in", len(ev.payload), "auth-failed")
                return
            self._count("received")
            self.service.deliver(MEDIUM, ev.src, ev.payload)
        elif isinstance(ev, SessionJoined):
            self.peers.add(ev.peer)
            self.events.record("wisun-joined", source="b-route-wisun", detail=f"{ev.peer} joined over PANA")
            self.service.announce_instance_list(MEDIUM)
        elif isinstance(ev, AuthFailed):
            ext = self.service.external
            if ext is not None and ext.gate(f"{MEDIUM}:{ev.peer}", 0):
                ext.frame(f"{MEDIUM}:{ev.peer}", "in", 0, "auth-failed")
            self.events.record("security", source="b-route-wisun", severity=Severity.WARNING,
                               detail=f"PANA authentication failed or refused for {ev.peer}"
                                      + (f": {ev.reason}" if ev.reason else ""))
        elif isinstance(ev, (SessionTerminated, SessionExpired)):
            self.peers.discard(ev.peer)
            self.service.release_client(MEDIUM, ev.peer)
            how = "expired" if isinstance(ev, SessionExpired) else "ended"
            self.events.record("wisun-left", source="b-route-wisun", detail=f"session with {ev.peer} {how}")
        elif isinstance(ev, TxLimit):
            self.tx_blocked = ev.active
            self.events.record("wisun-duty", source="b-route-wisun",
                               severity=Severity.WARNING if ev.active else Severity.INFO,
                               detail="ARIB transmit-time limit reached: sending paused" if ev.active
                               else "ARIB transmit-time limit released")
        elif isinstance(ev, CommandFailed):
            log.warning("route-B dongle command %s failed: %s", ev.command, ev.error)

    # ---------------------------------------------------------------- sending
    def _send(self, data: bytes, address) -> None:
        if self.modem is None or self.tx_blocked:
            self._count("send-skipped")
            return
        try:
            self.modem.send_udp(str(address), ECHONET_PORT, data)
        except CommsError as exc:
            self._count("send-failed")
            log.warning("route-B dongle send to %s failed: %s", address, exc)

    def _broadcast(self, data: bytes) -> None:
        self._send(data, ALL_NODES)
