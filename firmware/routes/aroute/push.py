"""Pushes to the head-end: 30-minute (or, by the soft switch, 15-minute) interval data, and
alarms (last gasp, power restored). DataNotification, general-glo-ciphered when the head-end's
association is ciphered.

Interval push (0.0.25.9.0.255), sent ``delay_s`` (+ a per-meter spread in
``[0, randomisation_s)``, seeded by the serial, so a fleet does not answer all at once) after
every boundary of the transmitted grid. Body = structure of the push object list:

    0 octet-string  logical name of the push setup
    1 visible-str   device ID (serial)
    2 unsigned      the soft switch: 30 or 15, the grid of the rows
    3 array         the last ``entries`` rows of the transmitted profile (1.0.99.1.0.255 or
                    1.0.99.2.0.255), columns as its capture objects; data_index of that push
                    object = how many rows (our convention for "latest rows of a buffer")

Sending the previous interval again in every push lets the head-end fill one lost push without
polling. A push that cannot be handed over (TCP: no connection) is retried ``retries`` times
``retry_delay_s`` apart; UDP and in-process pushes are unconfirmed (the head-end polls for gaps).

Alarm push (0.4.25.9.0.255): push setup name, device ID, the last power event code
(0.0.96.11.0.255: 1 power fail, 2 restore) and the supply status (``liveness``) — sent at once
from the outage monitor's last-gasp hook when the board has hold-up energy, and at boot when the
meter comes back from an outage.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Protocol

from sumame.firmware.core.events import Severity
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.cosem.base import Level, RequestContext
from sumame.firmware.net.dlms.cosem.profile import SELECTOR_ENTRY, CaptureObject, capture
from sumame.firmware.net.dlms.cosem.push import TRANSPORT_TCP, TRANSPORT_UDP, PushSetup
from sumame.firmware.net.dlms.descriptors import SelectiveAccess
from sumame.firmware.core.scheduler import sleep, sleep_until
from sumame.hal.jst import next_boundary

from . import obis_codes as oc
from .server import SOURCE

log = logging.getLogger("sumame.aroute.push")


class PushChannel(Protocol):
    """Where pushes go (the transport): ``send`` hands an APDU over (True) or fails (False);
    ``send_now`` is the synchronous best effort of a dying meter."""

    async def send(self, apdu: bytes) -> bool: ...

    def send_now(self, apdu: bytes) -> bool: ...


def spread_s(serial: str, randomisation_s: float) -> float:
    """This meter's fixed offset in [0, randomisation_s), s."""
    if randomisation_s <= 0:
        return 0.0
    h = int.from_bytes(hashlib.sha256(f"push spread|{serial}".encode()).digest()[:4], "big")
    return (h / 2 ** 32) * randomisation_s


class Pusher:
    """Builds and sends the pushes of one meter (see the module docstring)."""

    def __init__(self, server, readings, events, *, channel: PushChannel | None, ciphered: bool,
                 destination: str = "", transport: str = "tcp", entries: int = 2, delay_s: float = 5.0,
                 randomisation_s: float = 0.0, retries: int = 2, retry_delay_s: float = 60.0):
        self.server, self.readings, self.events = server, readings, events
        self.channel = channel
        self.ciphered = ciphered
        self.entries = entries
        self.delay_s = delay_s + spread_s(readings.identity.serial, randomisation_s)
        self.retries, self.retry_delay_s = retries, retry_delay_s
        kind = TRANSPORT_UDP if transport == "udp" else TRANSPORT_TCP
        common = dict(destination=destination.encode(), transport=kind, read=self._read,
                      randomisation_start_interval=int(randomisation_s), number_of_retries=retries,
                      repetition_delay=int(retry_delay_s), read_level=Level.LOW, method_level=Level.HIGH)
        self.interval = PushSetup(oc.PUSH_INTERVAL, self._interval_objects(), send=self._method_send, **common)
        self.alarm = PushSetup(oc.PUSH_ALARM, [capture(40, oc.PUSH_ALARM, 1), capture(1, oc.DEVICE_ID, 2),
                                               capture(1, oc.POWER_EVENT_CODE, 2),
                                               capture(1, oc.SUPPLY_STATUS, 2)],
                               send=self._method_send, **common)
        self.sent = 0
        self.failed = 0
        self.failing = 0
        """Interval pushes failed in a row."""

    @property
    def objects(self) -> list:
        return [self.interval, self.alarm]

    def _interval_objects(self) -> list[CaptureObject]:
        profile = oc.PROFILE_BY_MINUTES[self.readings.transmitted_interval_min]
        return [capture(40, oc.PUSH_INTERVAL, 1), capture(1, oc.DEVICE_ID, 2),
                capture(1, oc.SOFT_SWITCH, 2), capture(7, profile, 2, self.entries)]

    def _read(self, capture: CaptureObject, ctx: RequestContext):
        if capture.class_id == 7 and capture.attribute_index == 2 and capture.data_index:
            profile = self.server.find(7, capture.logical_name)
            if profile is None:
                return axdr.null()
            n = profile.source.entries_in_use()
            access = SelectiveAccess(SELECTOR_ENTRY, axdr.structure(
                axdr.double_long_unsigned(max(1, n - capture.data_index + 1)), axdr.double_long_unsigned(n),
                axdr.long_unsigned(1), axdr.long_unsigned(0)))
            return profile.get(2, ctx, access)
        return self.server.read_attribute(capture.class_id, capture.logical_name, capture.attribute_index, ctx)

    def _apdu(self, setup: PushSetup) -> bytes:
        ctx = RequestContext(self.readings.now(), Level.HIGH, 0)
        if setup is self.interval:
            setup.push_objects = tuple(self._interval_objects())
        apdu = setup.notification(ctx).encode()
        return self.server.protect_notification(apdu) if self.ciphered else apdu

    def _method_send(self, setup: PushSetup, apdu: bytes) -> None:
        """Push setup method 1 (push) invoked by a client: send at once, best effort."""
        if self.channel is None or not self.channel.send_now(self._apdu(setup)):
            self.failed += 1
            return
        self.sent += 1

    # ---------------------------------------------------------------- periodic interval push
    async def run(self) -> None:
        clock = self.readings
        while True:
            boundary = next_boundary(clock.now(), self.readings.transmitted_interval_min)
            await sleep_until(boundary + self.delay_s)
            await self.push_interval()

    async def push_interval(self) -> bool:
        """One interval push with its retries. The event log gets one ``push-failed`` when pushes
        start failing and one ``push-resumed`` when they get through again (not one per push)."""
        apdu = self._apdu(self.interval)
        for attempt in range(self.retries + 1):
            if self.channel is not None and await self.channel.send(apdu):
                self.sent += 1
                if self.failing:
                    self.events.record("push-resumed", source=SOURCE,
                                       detail=f"interval pushes delivered again after {self.failing} failed")
                    self.failing = 0
                return True
            if attempt < self.retries:
                await sleep(self.retry_delay_s)
        self.failed += 1
        if not self.failing:
            self.events.record("push-failed", source=SOURCE, severity=Severity.WARNING,
                               detail=f"interval push to {self.interval.destination.decode(errors='replace')} "
                                      f"not delivered after {self.retries + 1} attempts (the head-end polls "
                                      f"for missing values)")
        self.failing += 1
        return False

    # ---------------------------------------------------------------- alarms
    def alarm_now(self, why: str) -> bool:
        """Send the alarm push synchronously (last gasp: the meter may die any moment)."""
        ok = self.channel is not None and self.channel.send_now(self._apdu(self.alarm))
        self.sent += ok
        self.failed += not ok
        log.info("alarm push (%s) %s", why, "sent" if ok else "not sent")
        return ok
