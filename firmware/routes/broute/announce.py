"""Spontaneous notifications (AIF §3.1.1, §3.2.1).

* Instance list (node profile D5) by INF at start-up and whenever a medium asks (a Wi-SUN PANA
  session coming up, an INF_REQ is answered by the node itself).
* The newest fixed-time values (LV EA/EB, HV E3/C3) within 5 minutes after every :00 and :30
  JST: ``delay_s`` after the boundary, by INF (multicast / every client) or by INFC to every
  admitted client, repeated every ``retry_s`` until that client's INFC_Res (same TID) arrives,
  at most ``max_tries`` times.
"""
from __future__ import annotations

from sumame.firmware.net.echonet import CONTROLLER, NODE_PROFILE, Esv, Frame, Property
from sumame.firmware.core.scheduler import Event, sleep_until

SLOT_S = 1800


class Announcer:
    def __init__(self, service, *, mode: str = "inf", delay_s: float = 20.0,
                 retry_s: float = 30.0, max_tries: int = 5):
        if mode not in ("inf", "infc"):
            raise ValueError(f"announcement mode must be 'inf' or 'infc', got {mode!r}")
        if not 0 <= delay_s < 300:
            raise ValueError("fixed-time values must be announced within 5 minutes (AIF §3.2.1)")
        self.service, self.mode = service, mode
        self.delay_s, self.retry_s, self.max_tries = delay_s, retry_s, max_tries
        self._pending: dict[tuple, int] = {}   # client key -> TID awaiting INFC_Res
        self._acked = Event()
        self.sent = 0

    # ---------------------------------------------------------------- instance list
    def instance_list_frame(self) -> Frame:
        profile = self.service.node.objects[0]
        return Frame(self.service.next_tid(), NODE_PROFILE, NODE_PROFILE, Esv.INF,
                     (Property(0xD5, profile.get(0xD5)),))

    # ---------------------------------------------------------------- fixed-time values
    def fixed_time_frames(self) -> list[Frame]:
        frames = []
        for dev in self.service.node.objects[1:]:
            props = tuple(Property(e, dev.get(e) or b"") for e in dev.fixed_time_epcs)
            esv = Esv.INF if self.mode == "inf" else Esv.INFC
            frames.append(Frame(0, dev.eoj, CONTROLLER, esv, props))
        return frames

    def acknowledge(self, key: tuple, tid: int) -> bool:
        """An INFC_Res arrived from ``key``; True if it matched the pending TID."""
        if self._pending.get(key) == tid:
            del self._pending[key]
            self._acked.set()
            return True
        return False

    async def run(self) -> None:
        svc = self.service
        svc.broadcast(self.instance_list_frame())
        while True:
            boundary = svc.readings.latest_boundary(30) + SLOT_S
            await sleep_until(boundary + self.delay_s)
            for frame in self.fixed_time_frames():
                if self.mode == "inf":
                    svc.broadcast(Frame(svc.next_tid(), frame.seoj, frame.deoj, frame.esv,
                                        frame.props))
                    self.sent += 1
                else:
                    await self._confirmed(frame, boundary + SLOT_S)

    async def _confirmed(self, frame: Frame, give_up_at: float) -> None:
        svc = self.service
        self._pending = {c.key: svc.next_tid() for c in svc.guard.clients.values()}
        targets = {c.key: c for c in svc.guard.clients.values()}
        for _ in range(self.max_tries):
            if not self._pending:
                return
            for key, tid in self._pending.items():
                client = targets[key]
                svc.send_to(key[0], client.address,
                            Frame(tid, frame.seoj, frame.deoj, Esv.INFC, frame.props))
                self.sent += 1
            deadline = min(svc.clock.now() + self.retry_s, give_up_at)
            while self._pending and svc.clock.now() < deadline:
                self._acked.clear()
                await self._acked.wait(timeout=deadline - svc.clock.now())
        if self._pending:
            svc.events.record("b-route-infc-unacked", source="b-route",
                              detail=f"no INFC_Res from {', '.join(f'{m} {a}' for m, a in self._pending)}"
                                     f" after {self.max_tries} tries")
            self._pending = {}
